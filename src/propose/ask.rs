//! The language-model proposer: localize, ask the model for a diff with the
//! code, stack and repro output in the prompt, check the reply (a diff is
//! there, it parses, its paths are safe, it applies, the policy allows it),
//! then send it through the same gauntlet as a template's candidate.

use serde::Serialize;

use crate::model::VerificationReport;
use crate::policy::{Assessment, Locality, Subject};
use crate::propose::llm::{Client, PromptContext, Snippet, extract_diff, prompt};
use crate::propose::patch::{self, Diff};
use crate::propose::search::{self, Job, Stage};
use crate::verify::Verified;

/// What came of asking.
#[derive(Debug, Clone, Serialize)]
pub struct Asked {
    /// The proposer's identity (`suture/llm:<model>`).
    pub proposer: String,
    /// The whole reply, as the model wrote it.
    pub reply: String,
    /// The diff taken from the reply, when there was one.
    pub diff: Option<String>,
    /// Every reason the reply was refused before the gauntlet (empty if none).
    pub rejections: Vec<String>,
    pub assessment: Option<Assessment>,
    pub stage: Stage,
    #[serde(skip)]
    pub verified: Option<Verified>,
    pub notes: Vec<String>,
}

impl Asked {
    pub fn report(&self) -> Option<&VerificationReport> {
        self.verified.as_ref().map(|v| &v.report)
    }
}

/// Lines of code around each localized line sent in the prompt.
const AROUND: usize = 15;

/// Asks `client` for a fix of the failure `job` describes. `on_text` sees
/// the reply as it streams. `Err` when nothing could be asked: the repro
/// passes on the base, or the backend failed (down, slow, 429, malformed).
pub fn ask(job: &Job<'_>, client: &Client, title: &str, on_text: &mut (dyn FnMut(&str) + Send)) -> Result<Asked, String> {
    let loc = search::localize(job)?;
    let mut snippets = Vec::new();
    for s in loc.suspects.iter().take(5) {
        let Ok(text) = std::fs::read_to_string(loc.base_ws.path().join(&s.path)) else { continue };
        let lines: Vec<&str> = text.lines().collect();
        let first = s.line.saturating_sub(AROUND).max(1);
        let last = (s.line + AROUND).min(lines.len());
        if first > last {
            continue;
        }
        snippets.push(Snippet { path: s.path.clone(), first_line: first, text: lines[first - 1..last].join("\n") + "\n", score: s.score });
    }
    let stack = crate::signals::stacktext::parse(&loc.output).map(|_| loc.output.clone()).unwrap_or_default();
    let ctx = PromptContext {
        title: title.to_string(),
        stack,
        repro_output: loc.output.clone(),
        snippets,
        constraints: job.policy.constraints(),
    };
    let prompt = prompt::build(&ctx, client.context_bytes());
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("starting the HTTP runtime: {e}"))?;
    let reply = runtime
        .block_on(client.complete(&prompt, on_text))
        .map_err(|e| format!("{} at {}: {e}", client.api().name(), client.base_url()))?;
    let proposer = format!("suture/llm:{}", client.model());
    let mut asked = Asked {
        proposer: proposer.clone(),
        reply: reply.clone(),
        diff: None,
        rejections: Vec::new(),
        assessment: None,
        stage: Stage::NotTried,
        verified: None,
        notes: loc.notes.clone(),
    };
    let text = match extract_diff(&reply) {
        Ok(t) => t,
        Err(e) => return Ok(refused(asked, vec![e])),
    };
    let parsed = match Diff::parse(&text) {
        Ok(d) => d,
        Err(e) => return Ok(refused(asked, vec![format!("the reply's diff does not parse: {e}")])),
    };
    asked.diff = Some(parsed.to_string());
    let mut reasons: Vec<String> = patch::check_paths(loc.base_ws.path(), &parsed).iter().map(|p| p.to_string()).collect();
    if reasons.is_empty()
        && let Err(e) = patch::apply_tree(loc.base_ws.path(), &parsed)
    {
        reasons.push(format!("the diff does not apply to the base: {e}"));
    }
    let innermost = loc.suspects.first();
    let locality = match innermost {
        None => Locality::Unknown,
        Some(s) if parsed.paths().iter().all(|p| p == &s.path) => Locality::SameFile,
        Some(_) => Locality::OtherFiles,
    };
    let assessment = job.policy.assess(&Subject {
        diff: &parsed,
        failure_class: None,
        proposer: &proposer,
        from_llm: true,
        locality,
        coverage: None,
    })?;
    reasons.extend(assessment.rejections.iter().cloned());
    asked.assessment = Some(assessment);
    if !reasons.is_empty() {
        return Ok(refused(asked, reasons));
    }
    drop(loc);
    let diff = asked.diff.clone().unwrap_or_default();
    let (stage, verified) = search::validate(job, &job.plan.spec, &diff);
    asked.stage = stage;
    asked.verified = verified;
    Ok(asked)
}

fn refused(mut asked: Asked, reasons: Vec<String>) -> Asked {
    asked.stage = Stage::Rejected(reasons.clone());
    asked.rejections = reasons;
    asked
}
