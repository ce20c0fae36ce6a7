//! `suture propose INCIDENT` and `suture fix --workspace DIR --repro CMD`:
//! localize, generate, verify.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::verify::setup;
use super::{demo_root, grouper, identity, now_ms, open_store};
use crate::config::{Loaded, ProposeCfg, Source, TestsCfg, VerifyCfg, paths};
use crate::model::{Actor, Patch, PatchKind, ReproExpectation, ReproSpec};
use crate::policy::Policy;
use crate::propose::search::{self, Found, Job, Progress, Stage};
use crate::propose::templates::Settings;
use crate::tui::widgets::text::inert;
use crate::verify::service;

/// An error with its own exit code (2: bad input).
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

fn bad_input(message: impl Into<String>) -> anyhow::Error {
    Exit { code: 2, message: message.into() }.into()
}

/// The directory relative policy files are read from: the project config
/// file's, else the working directory.
fn config_dir(loaded: &Loaded) -> PathBuf {
    loaded
        .origins
        .values()
        .find_map(|s| match s {
            Source::Project(p) => p.parent().map(Path::to_path_buf),
            _ => None,
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The `[propose]` settings; in the demo world, the demo's own kill switch
/// and flag file when the configuration sets none.
pub fn propose_cfg(loaded: &Loaded, is_demo: bool) -> Result<ProposeCfg> {
    let mut cfg = loaded.config.propose.clone();
    if is_demo && cfg.kill_switch.is_none() && cfg.flag_file.is_none() {
        let p = demo_root(loaded).join("propose.toml");
        let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let demo: ProposeCfg = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        cfg.kill_switch = demo.kill_switch;
        cfg.flag_file = demo.flag_file;
    }
    Ok(cfg)
}

pub fn policy(loaded: &Loaded) -> Result<Policy> {
    Policy::new(&loaded.config.policy, &config_dir(loaded)).map_err(|e| anyhow::anyhow!("{e}"))
}

fn progress_printer(live: bool) -> impl Fn(Progress) + Sync {
    move |p: Progress| {
        if !live {
            return;
        }
        match p {
            Progress::Localized { suspects, candidates } => eprintln!("  localized {suspects} suspect line(s); {candidates} candidate(s)"),
            Progress::Trying { id, title } => eprintln!("  … {id}  {}", inert(&title)),
            Progress::Done { id, stage } => eprintln!("  {} {id}  {}", stage_symbol(&stage), inert(&stage_words(&stage))),
        }
    }
}

use crate::propose::record::{stage_symbol, stage_words};

pub struct ProposeArgs<'a> {
    pub incident: &'a str,
    pub proposer: &'a str,
    pub json: bool,
}

pub fn propose(loaded: &Loaded, args: &ProposeArgs<'_>) -> Result<()> {
    let (mut store, _, is_demo) = open_store(loaded)?;
    let setup = setup(loaded, is_demo, None)?;
    let id = args.incident.to_ascii_uppercase();
    if store.incident(&id)?.is_none() {
        bail!("no incident {}", inert(args.incident));
    }
    let spec = crate::repro::runner::spec_for_incident(&setup.specs, &store, &id, &grouper(loaded, is_demo))
        .map_err(|e| anyhow::anyhow!("{}", inert(&e)))?
        .with_context(|| format!("incident {id} has no repro spec, so no candidate can be verified"))?;
    let cfg = propose_cfg(loaded, is_demo)?;
    if args.proposer != "templates" {
        return propose_llm(loaded, &mut store, &setup, &spec, &id, args, &cfg);
    }
    let policy = policy(loaded)?;
    let job = Job::templates(&setup.source, &setup.workspaces, setup.plan(&spec), &policy, &cfg);
    let live = !args.json && std::io::stderr().is_terminal();
    if live {
        eprintln!("proposing fixes for {id} (repro {}) in {}", spec.id, setup.source.display());
    }
    let found = search::run(&job, &progress_printer(live)).map_err(|e| anyhow::anyhow!("{}", inert(&e)))?;
    let read_only = loaded.config.ui.read_only;
    let me = Actor::person(identity(loaded)?);
    let recorded = if read_only { Vec::new() } else { crate::propose::record::record_verified(&mut store, &found, &id, &me, &now_ms)? };
    let patch_of: BTreeMap<String, String> = recorded.into_iter().collect();
    if args.json {
        let out = serde_json::json!({
            "incident": id,
            "spec": spec.id,
            "proposer": "templates",
            "recorded": !read_only,
            "patches": patch_of,
            "found": found,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_found(&found, &patch_of);
    }
    if found.verified.is_empty() {
        bail!("no candidate passed the gauntlet ({} tried)", found.tried.iter().filter(|t| t.stage != Stage::NotTried).count());
    }
    Ok(())
}

/// `--proposer openai|anthropic`: one reply, streamed to the terminal,
/// checked, and verified like a template's candidate.
fn propose_llm(
    loaded: &Loaded,
    store: &mut crate::store::Store,
    setup: &crate::verify::service::Setup,
    spec: &ReproSpec,
    id: &str,
    args: &ProposeArgs<'_>,
    cfg: &ProposeCfg,
) -> Result<()> {
    use crate::propose::llm::{Api, Client};
    use std::io::Write;
    let (api, llm) = match args.proposer {
        "openai" => (Api::OpenAi, &cfg.openai),
        _ => (Api::Anthropic, &cfg.anthropic),
    };
    let client = Client::new(api, llm).map_err(|e| anyhow::anyhow!("{e}"))?;
    let policy = policy(loaded)?;
    let job = Job {
        settings: Settings::default(),
        flag_file: None,
        max_candidates: 1,
        parallel: 1,
        proposer: format!("suture/llm:{}", client.model()),
        ..Job::templates(&setup.source, &setup.workspaces, setup.plan(spec), &policy, cfg)
    };
    let title = store.incident(id)?.map(|i| i.title).unwrap_or_default();
    let live = !args.json && std::io::stderr().is_terminal();
    if live {
        eprintln!("asking {} ({}) at {} for a fix of {id}", api.name(), client.model(), client.base_url());
    }
    let mut on_text = |t: &str| {
        if live {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "{}", crate::tui::widgets::text::inert_keep_lines(t));
            let _ = e.flush();
        }
    };
    let asked = crate::propose::ask::ask(&job, &client, &title, &mut on_text).map_err(|e| anyhow::anyhow!("{}", inert(&e)))?;
    if live {
        eprintln!();
    }
    let mut patch_id = None;
    if asked.stage == Stage::Verified
        && !loaded.config.ui.read_only
        && let (Some(v), Some(diff)) = (&asked.verified, &asked.diff)
    {
        let bot = Actor::bot(asked.proposer.clone());
        let files = crate::verify::apply::touched_files(diff);
        let title = format!("{} fix for {id}", asked.proposer);
        let mut p = Patch::new(
            PatchKind::Code,
            title,
            diff.clone(),
            v.base.clone(),
            files,
            bot.clone(),
            Some(Actor::person(identity(loaded)?)),
            now_ms(),
        );
        p.incident_id = Some(id.to_string());
        p.risk = asked.assessment.as_ref().map(|a| a.risk.clone());
        if store.patch(&p.id)?.is_none() {
            store.add_patch(&p, now_ms())?;
            service::start(store, &p.id, &bot)?;
            service::finish(store, &p.id, v)?;
        }
        patch_id = Some(p.id);
    }
    if args.json {
        let out = serde_json::json!({ "incident": id, "proposer": asked.proposer, "patch": patch_id, "asked": asked });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("proposer    {}", asked.proposer);
        if let Some(a) = &asked.assessment {
            println!("risk        tier {} (score {:.2})", a.risk.tier.number(), a.risk.score);
        }
        println!("result      {} {}", stage_symbol(&asked.stage), inert(&stage_words(&asked.stage)));
        if let Some(p) = &patch_id {
            println!("patch       {p} (recorded in the store)");
        }
    }
    match &asked.stage {
        Stage::Verified => Ok(()),
        Stage::Rejected(r) => bail!("the reply was refused: {}", inert(&r.join("; "))),
        other => bail!("{}", inert(&stage_words(other))),
    }
}

fn print_found(found: &Found, patch_of: &BTreeMap<String, String>) {
    if !found.failure.exception.is_empty() {
        println!("failure     {}: {}", inert(&found.failure.exception), inert(&found.failure.message));
    }
    for (i, s) in found.suspects.iter().take(5).enumerate() {
        println!("{:<11} {}:{}  {:.2}  {}", if i == 0 { "suspects" } else { "" }, s.path, s.line, s.score, s.why);
    }
    for n in &found.notes {
        println!("note        {}", inert(n));
    }
    println!("candidates  {} generated, {} verified, {:.1} s", found.tried.len(), found.verified.len(), found.elapsed_ms as f64 / 1000.0);
    for t in &found.tried {
        if t.stage == Stage::NotTried && found.stopped.is_none() {
            continue;
        }
        let tier = t.assessment.as_ref().map(|a| format!("tier {}", a.risk.tier.number())).unwrap_or_default();
        println!("  {} {:<22} {:<7} {}", stage_symbol(&t.stage), t.candidate.id, tier, inert(&t.candidate.title));
        if t.stage != Stage::Verified {
            println!("      {}", inert(&stage_words(&t.stage)));
        }
    }
    if let Some(s) = &found.stopped {
        println!("stopped     {s}");
    }
    if let Some(ms) = found.first_verified_ms {
        println!("first       verified after {:.1} s", ms as f64 / 1000.0);
    }
    for t in found.verified() {
        let pid = patch_of.get(&t.candidate.id).map(|p| format!("patch {p}")).unwrap_or_else(|| "not recorded".into());
        println!("verified    {}  {}  ({} changed lines)", t.candidate.id, pid, t.candidate.changed_lines);
    }
}

/// Splits a command line into words (single and double quotes, backslash);
/// a line with shell operators runs under `sh -c`.
pub fn command_words(line: &str) -> Result<Vec<String>, String> {
    if line.trim().is_empty() {
        return Err("the command is empty".into());
    }
    if ["|", "&&", ";", ">", "<", "$(", "`", "||"].iter().any(|op| line.contains(op)) {
        return Ok(vec!["sh".into(), "-c".into(), line.to_string()]);
    }
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unbalanced ' in `{line}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => cur.extend(chars.next()),
                        Some(x) => cur.push(x),
                        None => return Err(format!("unbalanced \" in `{line}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// How a test command's per-test results are read, from its words.
fn test_format(words: &[String]) -> crate::verify::results::Format {
    use crate::verify::results::Format;
    let line = words.join(" ");
    if line.contains("pytest") {
        Format::Pytest
    } else if line.contains("go test") {
        Format::Go
    } else if line.contains("cargo test") {
        Format::Cargo
    } else if line.contains("node --test") || line.contains("node -test") {
        Format::Tap
    } else {
        Format::Unittest
    }
}

pub struct FixArgs<'a> {
    pub workspace: &'a Path,
    pub repro: &'a str,
    pub test: Option<&'a str>,
    pub budget: Option<u64>,
    pub json: bool,
}

/// `suture fix`: exit 0 with verified patches on stdout, 1 when none, 2 on bad input.
pub fn fix(loaded: &Loaded, args: &FixArgs<'_>) -> Result<()> {
    if !args.workspace.is_dir() {
        return Err(bad_input(format!("--workspace {}: not a directory", args.workspace.display())));
    }
    let repro = command_words(args.repro).map_err(|e| bad_input(format!("--repro: {e}")))?;
    let tests = match args.test {
        Some(t) => Some(command_words(t).map_err(|e| bad_input(format!("--test: {e}")))?),
        None => None,
    };
    if args.budget == Some(0) {
        return Err(bad_input("--budget: must be at least 1 second"));
    }
    let cfg = loaded.config.propose.clone();
    let policy = policy(loaded).map_err(|e| bad_input(format!("{e:#}")))?;
    let python = crate::verify::regression::is_python_command(&repro);
    let spec = ReproSpec {
        id: "fix".into(),
        title: format!("suture fix: {}", args.repro),
        command: repro.clone(),
        fixtures: Vec::new(),
        timeout_secs: 60,
        env: BTreeMap::new(),
        expect: ReproExpectation { exit: "nonzero".into(), exception_type: None, message_contains: None, function: None, module: None },
    };
    let vcfg = VerifyCfg {
        parallel: true,
        flaky_reruns: 2,
        tests: tests.map(|t| TestsCfg { format: test_format(&t), command: t, junit: None, rerun: Vec::new(), timeout_secs: 600 }),
        checks: Vec::new(),
        perf: None,
        regression: crate::config::RegressionCfg { enabled: python, dir: "tests".into() },
    };
    let workspaces = crate::verify::workspaces_dir(&paths::data_dir().context("no data directory for workspaces")?);
    let opts = crate::repro::runner::Options { pass: loaded.config.repro.pass_env.clone(), ..Default::default() };
    let job = Job {
        budget: Duration::from_secs(args.budget.unwrap_or(cfg.budget_secs)),
        ..Job::templates(args.workspace, &workspaces, crate::verify::Plan { spec, cfg: vcfg, opts }, &policy, &cfg)
    };
    let live = !args.json && std::io::stderr().is_terminal();
    let found = match search::run(&job, &progress_printer(live)) {
        Ok(f) => f,
        Err(e) => return Err(bad_input(inert(&e).into_owned())),
    };
    if args.json {
        let verified: Vec<serde_json::Value> = found
            .verified()
            .map(|t| {
                serde_json::json!({
                    "id": t.candidate.id,
                    "class": t.candidate.class,
                    "title": t.candidate.title,
                    "changed_lines": t.candidate.changed_lines,
                    "tier": t.assessment.as_ref().map(|a| a.risk.tier.number()),
                    "risk": t.assessment.as_ref().map(|a| &a.risk),
                    "diff": t.candidate.diff,
                    "regression_test": t.report.as_ref().and_then(|r| r.regression_test.clone()),
                })
            })
            .collect();
        let out = serde_json::json!({ "verified": verified, "found": found });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for t in found.verified() {
            print!("{}", t.candidate.diff);
        }
        eprintln!(
            "suture fix: {} verified of {} candidate(s) in {:.1} s{}",
            found.verified.len(),
            found.tried.len(),
            found.elapsed_ms as f64 / 1000.0,
            found.first_verified_ms.map(|ms| format!(" (first after {:.1} s)", ms as f64 / 1000.0)).unwrap_or_default()
        );
        if found.verified.is_empty() {
            for t in found.tried.iter().filter(|t| t.stage != Stage::NotTried).take(8) {
                eprintln!("  {} {}: {}", stage_symbol(&t.stage), t.candidate.id, inert(&stage_words(&t.stage)));
            }
            for n in &found.notes {
                eprintln!("  note: {}", inert(n));
            }
        }
    }
    if found.verified.is_empty() {
        return Err(Exit { code: 1, message: "no verified patch".into() }.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_split_like_a_shell() {
        assert_eq!(command_words("python3 repro/a.py 'x y' \"z\\\"w\"").unwrap(), ["python3", "repro/a.py", "x y", "z\"w"]);
        assert_eq!(command_words("make test && echo ok").unwrap(), ["sh", "-c", "make test && echo ok"]);
        assert!(command_words("python3 'open").is_err());
        assert!(command_words("  ").is_err());
    }
}
