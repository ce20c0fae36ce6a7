//! Generate and validate: localize, generate template candidates, and send
//! them through the gauntlet, cheapest check first.
//!
//! 1. The repro runs once on the base. It must fail; its traceback is the
//!    stack for localization (plus coverage.py's spectrum when configured).
//! 2. Templates generate candidates (and the config-flag template, when a
//!    flag file is configured); the policy drops the ones it rejects, with
//!    their reasons kept.
//! 3. Workers (`parallel` at once) take candidates best first. Each is
//!    applied in a scratch workspace and the repro runs once: a candidate
//!    that does not make it pass stops there. The rest run the whole
//!    gauntlet ([`crate::verify::run`]).
//! 4. The search stops at the time budget or the candidate limit; the
//!    result lists every candidate tried and how far it got, and the verified
//!    ones smallest first.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::model::{ReproSpec, ReproVerdict, VerificationReport};
use crate::policy::{Assessment, Locality, Policy, Subject};
use crate::propose::localize::{self, Suspect};
use crate::propose::patch::Diff;
use crate::propose::templates::{self, Candidate, Class, Settings};
use crate::repro::workspace::Workspace;
use crate::verify::{self, Plan};

/// What a search needs.
pub struct Job<'a> {
    pub source: &'a Path,
    pub base: Option<&'a str>,
    /// Where scratch workspaces are made.
    pub under: &'a Path,
    pub plan: Plan,
    pub policy: &'a Policy,
    pub settings: Settings,
    /// A flagd file (relative to the tree) for the config-flag template.
    pub flag_file: Option<String>,
    /// `coverage.py` to measure a spectrum for Ochiai.
    pub coverage: bool,
    pub budget: Duration,
    pub max_candidates: usize,
    pub parallel: usize,
    /// The proposer's identity, for the policy.
    pub proposer: String,
}

impl<'a> Job<'a> {
    /// A template search with the `[propose]` settings: kill switch, flag
    /// file, coverage, budget, candidate limit and parallelism.
    pub fn templates(source: &'a Path, under: &'a Path, plan: Plan, policy: &'a Policy, cfg: &crate::config::ProposeCfg) -> Job<'a> {
        Job {
            source,
            base: None,
            under,
            coverage: localize::wants_coverage(&cfg.coverage, &plan.spec.command),
            plan,
            policy,
            settings: Settings { kill_switch: cfg.kill_switch.clone() },
            flag_file: cfg.flag_file.clone(),
            budget: Duration::from_secs(cfg.budget_secs),
            max_candidates: cfg.max_candidates,
            parallel: cfg.parallel,
            proposer: "suture/templates".into(),
        }
    }
}

/// How far a candidate got.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "stage", content = "detail")]
pub enum Stage {
    /// The policy refused it; nothing ran.
    Rejected(Vec<String>),
    /// The repro still fails (or fails differently) with it.
    ReproStillFails(String),
    /// The gauntlet ran and a step failed (named), or the result was flaky.
    GauntletFailed(String),
    /// Every step passed.
    Verified,
    /// The budget ran out before it was tried.
    NotTried,
}

/// A candidate and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Tried {
    pub candidate: Candidate,
    pub stage: Stage,
    pub assessment: Option<Assessment>,
    #[serde(skip)]
    pub report: Option<VerificationReport>,
    #[serde(skip)]
    pub logs: std::collections::BTreeMap<crate::model::StepKind, String>,
    /// The base revision the gauntlet ran against.
    pub base: Option<String>,
    /// Milliseconds from the search's start to this candidate's verdict.
    pub at_ms: u64,
}

/// What a search found.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub failure: localize::Failure,
    pub suspects: Vec<Suspect>,
    /// Every candidate, in the order they were ranked.
    pub tried: Vec<Tried>,
    /// Indexes into `tried` of the verified ones, smallest change first.
    pub verified: Vec<usize>,
    /// Milliseconds to the first verified candidate.
    pub first_verified_ms: Option<u64>,
    pub elapsed_ms: u64,
    /// Why the search stopped early, if it did.
    pub stopped: Option<String>,
    /// Notes for the reader: a localization without coverage, say.
    pub notes: Vec<String>,
}

impl Found {
    pub fn verified(&self) -> impl Iterator<Item = &Tried> {
        self.verified.iter().map(|i| &self.tried[*i])
    }
}

/// Progress, as it happens.
#[derive(Debug, Clone)]
pub enum Progress {
    Localized { suspects: usize, candidates: usize },
    Trying { id: String, title: String },
    Done { id: String, stage: Stage },
}

/// One validated candidate: its index, stage, gauntlet result and when.
type Outcome = (usize, Stage, Option<verify::Verified>, u64);

/// Whether a report clears every step: the repro proven fixed, nothing
/// failed, nothing flaky.
pub fn clears(report: &VerificationReport) -> bool {
    report.proves_fix() && !report.has_failures() && !report.is_flaky()
}

/// The failure on the base, localized.
pub struct Localized {
    pub failure: localize::Failure,
    pub suspects: Vec<Suspect>,
    /// The repro's output on the base (stdout, then stderr).
    pub output: String,
    pub notes: Vec<String>,
    /// The base workspace (removed when dropped).
    pub base_ws: Workspace,
}

/// Runs the repro on the base and localizes the failure. `Err` when the
/// base workspace cannot be made or the repro passes there.
pub fn localize(job: &Job<'_>) -> Result<Localized, String> {
    let base_ws = Workspace::create(job.source, job.base, job.under).map_err(|e| format!("making the base workspace: {e}"))?;
    let spec = &job.plan.spec;
    let judged = crate::repro::runner::run_once(spec, base_ws.path(), &job.plan.opts, &mut |_, _| {});
    if judged.verdict == ReproVerdict::Passed {
        return Err(format!("the repro `{}` passes on the base: there is nothing to fix", spec.command.join(" ")));
    }
    let output = format!(
        "{}\n{}",
        judged.outcome.text(crate::repro::sandbox::Stream::Stdout),
        judged.outcome.text(crate::repro::sandbox::Stream::Stderr)
    );
    let failure = localize::from_trace(&output, base_ws.path());
    let mut notes = Vec::new();
    if judged.verdict != ReproVerdict::Reproduced {
        notes.push(format!("the repro fails on the base, but not as its spec expects: {}", judged.reason));
    }
    let spectrum = if job.coverage {
        match job.plan.cfg.tests.as_ref() {
            Some(t) => match localize::coverage_py(base_ws.path(), &spec.command, &t.command, &spec.env) {
                Ok(s) => Some(s),
                Err(e) => {
                    notes.push(format!("localization from the stack only: {e}"));
                    None
                }
            },
            None => {
                notes.push("localization from the stack only: coverage needs a test command".into());
                None
            }
        }
    } else {
        None
    };
    let suspects = localize::combine(&failure.suspects, spectrum.as_ref(), 12);
    if suspects.is_empty() {
        notes.push("the failure's traceback names no file in the tree, so nothing could be localized".into());
    }
    Ok(Localized { failure, suspects, output, notes, base_ws })
}

/// Runs the search. `Err` only when it cannot start: the base workspace
/// cannot be made, or the repro does not fail on the base.
pub fn run(job: &Job<'_>, progress: &(dyn Fn(Progress) + Sync)) -> Result<Found, String> {
    let started = Instant::now();
    let Localized { failure, suspects, notes, base_ws, .. } = localize(job)?;
    let spec = &job.plan.spec;
    let tfail = templates::Failure { exception: failure.exception.clone(), message: failure.message.clone() };
    let mut candidates = templates::generate(base_ws.path(), &suspects, &tfail, &job.settings);
    if let Some(ff) = &job.flag_file {
        candidates.extend(templates::flag::candidates(base_ws.path(), &suspects, ff, &tfail));
    }
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.changed_lines.cmp(&b.changed_lines)).then(a.id.cmp(&b.id)));
    progress(Progress::Localized { suspects: suspects.len(), candidates: candidates.len() });

    let innermost = suspects.first().cloned();
    let mut tried: Vec<Tried> = Vec::new();
    let mut queue = VecDeque::new();
    let guarded = guarded_paths(job);
    for c in candidates {
        let assessment = assess(job, &c, innermost.as_ref(), base_ws.path()).map(|mut a| {
            for p in crate::verify::apply::touched_files(&c.diff) {
                if guarded.iter().any(|g| g == &p) || is_test_path(&p) {
                    a.rejections.push(format!("{p}: changes the repro or a test, which would only hide the failure"));
                }
            }
            a
        });
        let stage = match &assessment {
            Ok(a) if !a.allowed() => Some(Stage::Rejected(a.rejections.clone())),
            Err(e) => Some(Stage::Rejected(vec![e.clone()])),
            Ok(_) => None,
        };
        let idx = tried.len();
        let enqueue = stage.is_none() && queue.len() < job.max_candidates;
        tried.push(Tried {
            candidate: c,
            stage: stage.unwrap_or(Stage::NotTried),
            assessment: assessment.ok(),
            report: None,
            logs: Default::default(),
            base: None,
            at_ms: 0,
        });
        if enqueue {
            queue.push_back(idx);
        }
    }
    drop(base_ws);

    let queue = Mutex::new(queue);
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let stopped: Mutex<Option<String>> = Mutex::new(None);
    let snapshot: Vec<Candidate> = tried.iter().map(|t| t.candidate.clone()).collect();
    std::thread::scope(|scope| {
        for _ in 0..job.parallel.max(1) {
            scope.spawn(|| {
                loop {
                    if started.elapsed() >= job.budget {
                        *stopped.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(format!("the time budget of {} s ran out", job.budget.as_secs()));
                        break;
                    }
                    let Some(idx) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else { break };
                    let c = &snapshot[idx];
                    progress(Progress::Trying { id: c.id.clone(), title: c.title.clone() });
                    let (stage, verified) = validate(job, spec, &c.diff);
                    progress(Progress::Done { id: c.id.clone(), stage: stage.clone() });
                    results.lock().unwrap_or_else(|e| e.into_inner()).push((idx, stage, verified, started.elapsed().as_millis() as u64));
                }
            });
        }
    });
    for (idx, stage, verified, at) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        let t = &mut tried[idx];
        t.stage = stage;
        t.at_ms = at;
        if let Some(v) = verified {
            t.report = Some(v.report);
            t.logs = v.logs;
            t.base = Some(v.base);
        }
    }
    let mut verified: Vec<usize> = (0..tried.len()).filter(|i| tried[*i].stage == Stage::Verified).collect();
    verified.sort_by(|a, b| {
        let (a, b) = (&tried[*a].candidate, &tried[*b].candidate);
        a.changed_lines.cmp(&b.changed_lines).then(b.score.total_cmp(&a.score))
    });
    let first_verified_ms = verified.iter().map(|i| tried[*i].at_ms).min();
    let stopped = stopped.into_inner().unwrap_or_else(|e| e.into_inner());
    let stopped = stopped.filter(|_| tried.iter().any(|t| t.stage == Stage::NotTried));
    Ok(Found { failure, suspects, tried, verified, first_verified_ms, elapsed_ms: started.elapsed().as_millis() as u64, stopped, notes })
}

/// Files the repro command names (its script, its case file): a candidate
/// must not pass by editing them. (Its other fixtures, such as the flag
/// file, are the service's own configuration and may be patched.)
fn guarded_paths(job: &Job<'_>) -> Vec<String> {
    let spec = &job.plan.spec;
    spec.command.iter().filter(|a| job.source.join(a).is_file()).map(|a| a.trim_start_matches("./").to_string()).collect()
}

/// Test files by the common conventions (`tests/`, `test_*.py`, `*_test.go`, `*.test.js`).
pub fn is_test_path(p: &str) -> bool {
    let name = p.rsplit('/').next().unwrap_or(p);
    p.split('/').any(|c| matches!(c, "tests" | "test" | "__tests__" | "spec"))
        || name.starts_with("test_")
        || name.ends_with("_test.py")
        || name.ends_with("_test.go")
        || name.contains(".test.")
        || name.contains(".spec.")
}

fn assess(job: &Job<'_>, c: &Candidate, innermost: Option<&Suspect>, root: &Path) -> Result<Assessment, String> {
    let diff = Diff::parse(&c.diff).map_err(|e| format!("the candidate's diff does not parse: {e}"))?;
    let locality = match innermost {
        None => Locality::Unknown,
        Some(_) if c.class == Class::ConfigFlag => Locality::OtherFiles,
        Some(s) if s.path == c.path && same_function(root, &c.path, s.line, c.line) => Locality::SameFunction,
        Some(s) if s.path == c.path => Locality::SameFile,
        Some(_) => Locality::OtherFiles,
    };
    job.policy.assess(&Subject {
        diff: &diff,
        failure_class: Some(c.class.name()),
        proposer: &job.proposer,
        from_llm: false,
        locality,
        coverage: None,
    })
}

/// Whether two lines of a file are in the same function (by indentation:
/// the nearest `def`/`function` line above each).
fn same_function(root: &Path, path: &str, a: usize, b: usize) -> bool {
    let Ok(text) = std::fs::read_to_string(root.join(path)) else { return false };
    let lines: Vec<&str> = text.lines().collect();
    let def_above = |n: usize| {
        (0..n.min(lines.len())).rev().find(|i| {
            let l = lines[*i].trim_start();
            l.starts_with("def ") || l.starts_with("async def ") || l.starts_with("function ") || l.contains("=> {")
        })
    };
    def_above(a) == def_above(b)
}

/// The cheap check (the repro, once), then the gauntlet.
pub fn validate(job: &Job<'_>, spec: &ReproSpec, diff: &str) -> (Stage, Option<verify::Verified>) {
    let ws = match Workspace::create(job.source, job.base, job.under) {
        Ok(ws) => ws,
        Err(e) => return (Stage::GauntletFailed(format!("making a workspace: {e}")), None),
    };
    if let Err(e) = verify::apply::apply(ws.path(), diff) {
        return (Stage::ReproStillFails(e), None);
    }
    let judged = crate::repro::runner::run_once(spec, ws.path(), &job.plan.opts, &mut |_, _| {});
    drop(ws);
    if judged.verdict != ReproVerdict::Passed {
        return (Stage::ReproStillFails(judged.reason), None);
    }
    match verify::run(&job.plan, job.source, job.base, diff, job.under, &|_| {}) {
        Err(e) => (Stage::GauntletFailed(e), None),
        Ok(v) => {
            let stage = if clears(&v.report) {
                Stage::Verified
            } else {
                let failed: Vec<String> = v
                    .report
                    .steps
                    .iter()
                    .filter(|s| matches!(s.status, crate::model::StepStatus::Failed | crate::model::StepStatus::Flaky))
                    .map(|s| format!("{} {}: {}", verify::service::step_letter(s.kind), verify::service::step_name(s.kind), s.detail))
                    .collect();
                Stage::GauntletFailed(if failed.is_empty() { "the repro was not proven fixed".into() } else { failed.join("; ") })
            };
            (stage, Some(v))
        }
    }
}
