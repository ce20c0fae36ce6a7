//! Running a repro spec in a workspace and judging the result against the
//! incident's signature.
//!
//! A run **reproduces** the incident when it exits the way the spec expects
//! (`exit = "nonzero"` or a code) and the traceback it prints (parsed by
//! `signals::stacktext`, Python, Java, Go or Node) names the expected
//! exception type, carries the expected text in its message, and has, as
//! its innermost frame inside the workspace, the expected function and
//! module (a Python module is the path below the workspace: `app/tax.py` →
//! `app.tax`). Exit 0 is **passed**. Any other failure is a **different
//! failure**, with what differed; a command that could not start, timed out
//! or was killed is an **error**, with why.
//!
//! The determinism check runs the spec N times (default 3) in the same
//! workspace; the repro is deterministic when every run has the same verdict
//! and, when reproduced, the same signature.

use std::path::Path;

use serde::Serialize;

use super::sandbox::{self, Limits, Outcome, Stream};
use crate::model::{ReproSpec, ReproVerdict};
use crate::signals::stacktext;

/// How runs are made: sandbox limits and the variables passed through.
#[derive(Debug, Clone)]
pub struct Options {
    pub limits: Limits,
    /// Names passed from Suture's environment (`repro.pass_env`).
    pub pass: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options { limits: Limits::default(), pass: sandbox::DEFAULT_PASS.iter().map(|s| s.to_string()).collect() }
    }
}

/// What a failing run's traceback says, at its innermost in-workspace frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signature {
    pub exception_type: String,
    pub message: String,
    pub module: Option<String>,
    pub function: Option<String>,
    pub line: Option<u32>,
}

/// One run, judged.
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    pub verdict: ReproVerdict,
    /// Why, in a sentence.
    pub reason: String,
    pub signature: Option<Signature>,
    pub outcome: Outcome,
}

/// N runs of one spec.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub spec_id: String,
    pub runs: Vec<Judged>,
    pub deterministic: bool,
    /// The verdict every run agreed on, or `Error` when they disagree.
    pub verdict: ReproVerdict,
    pub summary: String,
}

/// Runs `spec` once in `workspace`.
pub fn run_once(spec: &ReproSpec, workspace: &Path, opts: &Options, on_output: &mut dyn FnMut(Stream, &[u8])) -> Judged {
    for f in &spec.fixtures {
        if !workspace.join(f).exists() {
            let outcome = Outcome::not_started(Some(format!("fixture {f} is missing")));
            return Judged {
                verdict: ReproVerdict::Error,
                reason: format!("fixture {f} is missing from the workspace"),
                signature: None,
                outcome,
            };
        }
    }
    let mut sb = sandbox::Spec::new(spec.command.clone(), workspace);
    sb.env = spec.env.clone();
    sb.pass = opts.pass.clone();
    sb.limits = Limits { timeout: std::time::Duration::from_secs(spec.timeout_secs), ..opts.limits.clone() };
    let outcome = sandbox::run(&sb, on_output);
    judge(spec, workspace, outcome)
}

/// Judges a finished run against the spec's expectation.
pub fn judge(spec: &ReproSpec, workspace: &Path, outcome: Outcome) -> Judged {
    let done = |verdict, reason: String, signature| Judged { verdict, reason, signature, outcome: outcome.clone() };
    if !outcome.exited() {
        return done(ReproVerdict::Error, outcome.status(), None);
    }
    let code = outcome.exit_code.unwrap_or(-1);
    if code == 0 && spec.expect.exit != "0" {
        return done(ReproVerdict::Passed, "exit 0".into(), None);
    }
    let exit_ok = match spec.expect.exit.as_str() {
        "nonzero" => code != 0,
        want => want.parse::<i32>() == Ok(code),
    };
    let text = format!("{}\n{}", outcome.text(Stream::Stderr), outcome.text(Stream::Stdout));
    let signature = signature(&text, workspace);
    if !exit_ok {
        return done(ReproVerdict::DifferentFailure, format!("exit {code}, expected {}", spec.expect.exit), signature);
    }
    let e = &spec.expect;
    let Some(sig) = &signature else {
        if e.exception_type.is_none() && e.message_contains.is_none() && e.function.is_none() && e.module.is_none() {
            return done(ReproVerdict::Reproduced, format!("exit {code}"), None);
        }
        return done(ReproVerdict::DifferentFailure, format!("exit {code} without a traceback"), None);
    };
    let mut differs = Vec::new();
    if let Some(t) = &e.exception_type {
        let short = sig.exception_type.rsplit(['.', ':']).next().unwrap_or(&sig.exception_type);
        if short != t && sig.exception_type != *t {
            differs.push(format!("{} instead of {t}", sig.exception_type));
        }
    }
    if let Some(m) = &e.message_contains
        && !sig.message.contains(m.as_str())
    {
        differs.push(format!("message {:?} lacks {m:?}", sig.message));
    }
    if let Some(f) = &e.function
        && sig.function.as_deref() != Some(f)
    {
        differs.push(format!("raised in {} instead of {f}", sig.function.as_deref().unwrap_or("an unknown function")));
    }
    if let Some(m) = &e.module
        && sig.module.as_deref() != Some(m)
    {
        differs.push(format!("module {} instead of {m}", sig.module.as_deref().unwrap_or("unknown")));
    }
    if differs.is_empty() {
        let at = match (&sig.module, &sig.function, sig.line) {
            (Some(m), Some(f), Some(l)) => format!(" in {m}.{f} line {l}"),
            _ => String::new(),
        };
        done(ReproVerdict::Reproduced, format!("{}: {}{at}", sig.exception_type, sig.message), signature.clone())
    } else {
        done(ReproVerdict::DifferentFailure, differs.join("; "), signature.clone())
    }
}

/// The escaping exception of the last traceback in `text`, located at its
/// innermost frame inside `workspace` (the innermost frame at all if none is).
pub fn signature(text: &str, workspace: &Path) -> Option<Signature> {
    let parsed = stacktext::parse(text)?;
    let e = parsed.exceptions.last()?;
    let ws = std::fs::canonicalize(workspace).unwrap_or_else(|_| workspace.to_path_buf());
    let inside = |p: &str| {
        let p = Path::new(p);
        p.is_relative() || p.starts_with(&ws) || p.starts_with(workspace)
    };
    let frame = e.frames.iter().rev().find(|f| f.abs_path.as_deref().or(f.filename.as_deref()).is_some_and(inside)).or(e.frames.last());
    let module = frame.and_then(|f| {
        f.module.clone().or_else(|| {
            let path = Path::new(f.abs_path.as_deref().or(f.filename.as_deref())?);
            let rel = path.strip_prefix(&ws).or_else(|_| path.strip_prefix(workspace)).unwrap_or(path);
            let stem = rel.to_str()?.strip_suffix(".py")?;
            (!rel.is_absolute()).then(|| stem.trim_end_matches("/__init__").replace('/', "."))
        })
    });
    Some(Signature {
        exception_type: e.kind.clone(),
        message: e.value.clone(),
        module,
        function: frame.and_then(|f| f.function.clone()),
        line: frame.and_then(|f| f.lineno),
    })
}

/// Runs `spec` `runs` times (at least once) and checks it fails the same way each time.
pub fn run_repeated(
    spec: &ReproSpec,
    workspace: &Path,
    runs: usize,
    opts: &Options,
    on_output: &mut dyn FnMut(usize, Stream, &[u8]),
) -> Report {
    let mut judged = Vec::new();
    for i in 0..runs.max(1) {
        judged.push(run_once(spec, workspace, opts, &mut |s, b| on_output(i, s, b)));
    }
    let first = judged[0].verdict;
    let same = judged.iter().all(|j| j.verdict == first && j.signature == judged[0].signature);
    let n = judged.len();
    let reproduced = judged.iter().filter(|j| j.verdict == ReproVerdict::Reproduced).count();
    let summary = if same {
        match first {
            ReproVerdict::Reproduced => format!("reproduced {n} of {n} runs: {}", judged[0].reason),
            ReproVerdict::Passed => format!("not reproduced: passed {n} of {n} runs"),
            ReproVerdict::DifferentFailure => format!("a different failure, {n} of {n} runs: {}", judged[0].reason),
            ReproVerdict::Error => format!("could not run: {}", judged[0].reason),
        }
    } else {
        format!("not deterministic: reproduced {reproduced} of {n} runs")
    };
    Report { spec_id: spec.id.clone(), verdict: if same { first } else { ReproVerdict::Error }, deterministic: same, summary, runs: judged }
}

/// The spec whose expectation matches an incident's representative event:
/// the same exception type and, where the spec names them, the innermost
/// in-app frame's module and function.
pub fn spec_for<'s>(
    specs: &'s [ReproSpec],
    ev: &crate::model::ErrorEvent,
    grouper: &crate::triage::fingerprint::Grouper,
) -> Option<&'s ReproSpec> {
    let e = ev.primary_exception()?;
    let frame = e.frames.iter().rev().find(|f| grouper.in_app(&crate::triage::fingerprint::FrameRef::from(*f)));
    specs.iter().find(|s| {
        let x = &s.expect;
        x.exception_type.as_deref().is_some_and(|t| t == e.kind)
            && x.function.as_deref().is_none_or(|f| frame.and_then(|fr| fr.function.as_deref()) == Some(f))
            && x.module.as_deref().is_none_or(|m| frame.and_then(|fr| fr.module.as_deref()) == Some(m))
    })
}

/// The spec for a stored incident: its representative event matched with
/// [`spec_for`]. `Ok(None)` when the store has no such incident; an error
/// says what else was missing.
pub fn spec_for_incident(
    specs: &[ReproSpec],
    store: &crate::store::Store,
    id: &str,
    grouper: &crate::triage::fingerprint::Grouper,
) -> Result<Option<ReproSpec>, String> {
    let Some(inc) = store.incident(id).map_err(|e| e.to_string())? else { return Ok(None) };
    let ev_id = inc.representative_event.ok_or_else(|| format!("incident {id} has no stored event to match a repro spec against"))?;
    let ev = store.event(&ev_id).map_err(|e| e.to_string())?.ok_or_else(|| format!("incident {id}'s event {ev_id} is not in the store"))?;
    match spec_for(specs, &ev, grouper) {
        Some(s) => Ok(Some(s.clone())),
        None => Err(format!("no repro spec matches incident {id} ({} specs read)", specs.len())),
    }
}

/// Loads the repro specs of a directory (`*.toml`), sorted by id; a bad file
/// is an error naming it.
pub fn load_specs(dir: &Path) -> Result<Vec<ReproSpec>, String> {
    let mut specs = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(specs),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let spec: ReproSpec = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        specs.push(spec);
    }
    specs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(specs)
}

#[cfg(test)]
mod tests;
