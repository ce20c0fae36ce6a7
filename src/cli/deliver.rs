//! `suture rollout …`, `suture flag …` and the delivery half of `suture serve`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::json;

use super::propose::Exit;
use super::{demo_root, now_ms, open_store_as, session, store_path};
use crate::canary::controller::{self, Command, Env};
use crate::config::{Loaded, RolloutCfg, paths};
use crate::model::{Role, Rollout};
use crate::store::Store;
use crate::tui::widgets::text::inert;

fn fail(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit { code: 1, message: message.into() })
}

/// The rollout settings in force: the config's, or in the demo world (when
/// the config names no service) the demo's `rollout.toml`.
pub fn rollout_cfg(loaded: &Loaded, is_demo: bool) -> Result<RolloutCfg> {
    let cfg = loaded.config.rollout.clone();
    if is_demo && cfg.service.command.is_empty() {
        let p = demo_root(loaded).join("rollout.toml");
        let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let demo: RolloutCfg = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        return Ok(RolloutCfg { listen: cfg.listen, ..demo });
    }
    Ok(cfg)
}

/// The deployment's live flag file. In the demo world it is a copy of the
/// demo's flag file in the data dir (made on first use), so the user's tree
/// is never written.
pub fn flags_path(loaded: &Loaded, cfg: &RolloutCfg, is_demo: bool) -> Result<PathBuf> {
    let data = paths::data_dir().context("no data directory for the deployment's flag file")?;
    match &cfg.flag_file {
        Some(f) => Ok(data.join(f)),
        None if is_demo => {
            let path = data.join("demo-deploy").join("flags.json");
            if !path.exists() {
                let from = demo_root(loaded).join("service/flags/flags.json");
                std::fs::create_dir_all(path.parent().unwrap_or(&data))?;
                std::fs::copy(&from, &path).with_context(|| format!("copying {} to {}", from.display(), path.display()))?;
            }
            Ok(path)
        }
        None => anyhow::bail!("set rollout.flag_file: the flag file the deployment reads (kill switches are thrown there)"),
    }
}

fn kill_prefix(loaded: &Loaded, is_demo: bool) -> Result<String> {
    let p = super::propose::propose_cfg(loaded, is_demo)?;
    Ok(p.kill_switch.map(|k| k.prefix).unwrap_or_default())
}

/// What `suture serve` runs the controller with.
pub fn env(loaded: &Loaded, is_demo: bool, proxy: Option<&str>) -> Result<Env> {
    let mut cfg = rollout_cfg(loaded, is_demo)?;
    if let Some(p) = proxy {
        cfg.listen = p.to_string();
    }
    controller::plan(&cfg).map_err(|e| anyhow::anyhow!(e))?;
    let setup = super::verify::setup(loaded, is_demo, None)?;
    let flags = flags_path(loaded, &cfg, is_demo)?;
    let replay_file = match &cfg.replay.file {
        Some(f) => Some(PathBuf::from(f)),
        None if is_demo => Some(demo_root(loaded).join("traffic/recorded.jsonl")),
        None => None,
    };
    let replay = match replay_file {
        Some(f) => Some(Arc::new(crate::deliver::replay::load(&f).map_err(|e| anyhow::anyhow!(e))?)),
        None => None,
    };
    Ok(Env {
        cfg,
        source: setup.source,
        workspaces: setup.workspaces,
        flags,
        tier3_classes: loaded.config.policy.tier3_classes.clone(),
        replay,
        now: now_ms,
    })
}

pub fn start(loaded: &Loaded, patch: &str) -> Result<()> {
    let s = session(loaded)?;
    if s.read_only {
        return Err(fail(format!("{} is read-only here: a rollout changes production", s.person.name)));
    }
    if !matches!(s.person.role, Role::Commander | Role::Reviewer) {
        return Err(fail(format!(
            "{} is {}: starting a rollout takes a reviewer or a commander",
            s.person.name,
            s.person.role.with_article()
        )));
    }
    let (mut store, _, is_demo) = open_store_as(loaded, &s)?;
    let cfg = rollout_cfg(loaded, is_demo)?;
    let r = controller::start(&mut store, patch, &s.person.actor(), &cfg, &kill_prefix(loaded, is_demo)?, now_ms())
        .map_err(|e| fail(format!("cannot start a rollout of {patch}: {e}")))?;
    println!("{} started for patch {}: {}", r.id, r.patch_id, steps_line(&r));
    if let Some(k) = &r.kill_switch {
        println!("kill switch: {k}");
    }
    println!("suture serve runs it; watch with: suture rollout status {} --watch", r.id);
    Ok(())
}

fn steps_line(r: &Rollout) -> String {
    r.steps
        .iter()
        .map(|s| format!("{}% for {} s{}", s.weight, s.pause_secs, if s.analysis { " + analysis" } else { "" }))
        .collect::<Vec<_>>()
        .join(" → ")
}

pub fn command(loaded: &Loaded, id: &str, cmd: Command) -> Result<()> {
    let s = session(loaded)?;
    if s.read_only {
        return Err(fail(format!("{} is read-only here: cannot {} a rollout", s.person.name, cmd.name())));
    }
    let needs_role = matches!(cmd, Command::Promote | Command::Resume);
    if needs_role && !matches!(s.person.role, Role::Commander | Role::Reviewer) {
        return Err(fail(format!("{} is {}: {} takes a reviewer or a commander", s.person.name, s.person.role.with_article(), cmd.name())));
    }
    let (mut store, _, is_demo) = open_store_as(loaded, &s)?;
    let cfg = rollout_cfg(loaded, is_demo)?;
    let flags = flags_path(loaded, &cfg, is_demo)?;
    let r = controller::command(&mut store, id, &cmd, &s.person.actor(), &flags, now_ms())
        .map_err(|e| fail(format!("cannot {} {id}: {e}", cmd.name())))?;
    println!("{}: {} ({})", r.id, r.status.label(), inert(&r.message));
    Ok(())
}

pub fn status(loaded: &Loaded, id: Option<&str>, json_out: bool, watch: bool) -> Result<()> {
    let (path, _) = store_path(loaded)?;
    loop {
        let store = Store::open(&path).with_context(|| format!("opening the store {}", path.display()))?;
        let rollouts = match id {
            Some(id) => vec![controller::find(&store, id).map_err(fail)?],
            None => store.rollouts()?,
        };
        if json_out {
            let now = now_ms();
            let v: Vec<serde_json::Value> = rollouts
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    v["step_remaining_ms"] = json!(r.step_remaining(now));
                    v
                })
                .collect();
            println!("{}", serde_json::to_string(&v)?);
        } else {
            if watch {
                // Clear and home: a plain, honest redraw for a pipe-friendly command.
                print!("\x1b[H\x1b[2J");
            }
            if rollouts.is_empty() {
                println!("no rollouts");
            }
            for r in &rollouts {
                print_rollout(r);
            }
        }
        let live = rollouts.iter().any(|r| r.status.is_live());
        if !watch || !live {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

fn print_rollout(r: &Rollout) {
    let now = now_ms();
    println!("{}  patch {}  {}", r.id, r.patch_id, r.status.label().to_uppercase());
    println!(
        "  step {}/{}  weight set {}%  actual {}",
        r.current_step + 1,
        r.steps.len(),
        r.desired_weight,
        r.actual_weight.map(|w| format!("{w}%")).unwrap_or_else(|| "-".into())
    );
    if let Some(ms) = r.step_remaining(now) {
        println!("  next step in {} s", ms.div_ceil(1000));
    }
    for v in &r.verdicts {
        println!("  analysis step {}: {} score {:.0} ({})", v.step + 1, v.outcome, v.score, inert(&v.reason));
        for m in &v.metrics {
            println!("    {:<12} {:<7} {}", inert(&m.name), m.verdict.label(), inert(&m.reason));
        }
    }
    for g in &r.guardrails {
        println!("  guardrail {}: {} of {}{}", inert(&g.name), g.breaches, g.limit, if g.tripped { "  TRIPPED" } else { "" });
    }
    if let Some(k) = &r.kill_switch {
        println!("  kill switch {}: {}", inert(k), if r.killed { "thrown (patched code off)" } else { "armed" });
    }
    println!("  {}", inert(&r.message));
}

pub fn flag_set(loaded: &Loaded, key: &str, value: &str, segment: Option<&str>) -> Result<()> {
    use crate::deliver::flags::{FlagBackend, Segment, Setting};
    let s = session(loaded)?;
    if s.read_only {
        return Err(fail(format!("{} is read-only here: a flag change is a production change", s.person.name)));
    }
    if !matches!(s.person.role, Role::Commander | Role::Reviewer) {
        return Err(fail(format!(
            "{} is {}: changing a flag takes a reviewer or a commander",
            s.person.name,
            s.person.role.with_article()
        )));
    }
    let (mut store, _, is_demo) = open_store_as(loaded, &s)?;
    let cfg = rollout_cfg(loaded, is_demo)?;
    let flags = flags_path(loaded, &cfg, is_demo)?;
    let segment: Option<Segment> = match segment {
        Some(text) => Some(text.parse().map_err(|e| fail(format!("--segment {text}: {e}")))?),
        None => None,
    };
    let setting = Setting::parse(value);
    let backend = crate::deliver::flags::flagd::FlagdFile::new(&flags);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let change = rt.block_on(backend.set(key, &setting, segment.as_ref())).map_err(|e| fail(format!("cannot set {key}: {e}")))?;
    let payload = json!({ "flag": key, "value": value, "segment": segment.as_ref().map(|s| s.to_string()), "backend": backend.name(), "detail": change.detail });
    store.audit(now_ms(), &s.person.name, "flag set", &format!("flag:{key}"), &payload)?;
    println!("{key}: {} ({})", inert(&change.detail), flags.display());
    Ok(())
}

/// What a flag patch changes, flag by flag: the setting to apply to the
/// deployment's flag file. The patch is applied to a scratch copy of the
/// source's flag file and the two are compared.
fn flag_changes(source_flags: &std::path::Path, rel: &str, diff: &str) -> Result<Vec<(String, crate::deliver::flags::Setting)>> {
    use crate::deliver::flags::Setting;
    let scratch = tempfile_dir()?;
    let target = scratch.join(rel);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let before_text = std::fs::read_to_string(source_flags).with_context(|| format!("reading {}", source_flags.display()))?;
    std::fs::write(&target, &before_text)?;
    let applied = crate::verify::apply::apply(&scratch, diff);
    let after_text = std::fs::read_to_string(&target);
    let _ = std::fs::remove_dir_all(&scratch);
    applied.map_err(|e| anyhow::anyhow!("the patch does not apply to {}: {e}", source_flags.display()))?;
    let parse = |t: &str| -> Result<serde_json::Value> { Ok(serde_json::from_str(t)?) };
    let (before, after) = (parse(&before_text)?, parse(&after_text?)?);
    let mut out = Vec::new();
    let empty = serde_json::Map::new();
    let flags_after = after["flags"].as_object().unwrap_or(&empty);
    for (key, new) in flags_after {
        let old = &before["flags"][key];
        if old["state"] != new["state"]
            && let Some(state) = new["state"].as_str()
        {
            out.push((key.clone(), Setting::Enabled(state == "ENABLED")));
        }
        if old["defaultVariant"] != new["defaultVariant"]
            && let Some(v) = new["defaultVariant"].as_str()
        {
            out.push((key.clone(), Setting::Variant(v.to_string())));
        }
    }
    if out.is_empty() {
        anyhow::bail!("the patch changes no flag's state or default variant");
    }
    Ok(out)
}

fn tempfile_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir().join(format!("suture-mitigate-{}-{}", std::process::id(), now_ms()));
    std::fs::create_dir_all(&base)?;
    Ok(base)
}

/// `suture mitigate PATCH [--segment …]`: applies an approved flag patch
/// (a config-flag proposal) to the deployment's flag file, for everyone or
/// for a segment, and records the mitigation.
pub fn mitigate(loaded: &Loaded, patch: &str, segment: Option<&str>) -> Result<()> {
    use crate::deliver::flags::{Segment, Setting};
    let s = session(loaded)?;
    if s.read_only {
        return Err(fail(format!("{} is read-only here: a mitigation changes production", s.person.name)));
    }
    let (mut store, _, is_demo) = open_store_as(loaded, &s)?;
    let p = crate::govern::find_patch(&store, patch).map_err(|e| fail(e.to_string()))?;
    if p.kind != crate::model::PatchKind::FlagFlip {
        return Err(fail(format!("patch {} changes code, not a flag: it goes out by canary (suture rollout start)", p.id)));
    }
    // The approval rules first, on a copy: nothing is written if they refuse.
    let t = crate::model::Transition::Mitigate { by: s.person.actor(), at: now_ms() };
    p.clone().apply(t.clone()).map_err(|e| fail(format!("cannot mitigate with {}: {e}", p.id)))?;
    let segment: Option<Segment> = match segment {
        Some(text) => Some(text.parse().map_err(|e| fail(format!("--segment {text}: {e}")))?),
        None => None,
    };
    let setup = super::verify::setup(loaded, is_demo, None)?;
    let rel = p.files.first().cloned().unwrap_or_default();
    let changes = flag_changes(&setup.source.join(&rel), &rel, &p.diff)?;
    let cfg = rollout_cfg(loaded, is_demo)?;
    let flags = flags_path(loaded, &cfg, is_demo)?;
    let file = crate::deliver::flags::flagd::FlagdFile::new(&flags);
    let mut applied = Vec::new();
    for (key, setting) in changes {
        // A segment cannot have a flag disabled: it gets the variant whose value is false.
        let setting = match (&segment, setting) {
            (Some(_), Setting::Enabled(false)) => Setting::Value(serde_json::Value::Bool(false)),
            (_, other) => other,
        };
        let change = file.set_sync(&key, &setting, segment.as_ref()).map_err(|e| fail(format!("cannot set {key}: {e}")))?;
        println!("{key}: {} ({})", inert(&change.detail), flags.display());
        applied.push(json!({ "flag": key, "detail": change.detail }));
    }
    store.transition_patch(&p.id, t)?;
    let payload =
        json!({ "patch": p.id, "flags": applied, "segment": segment.as_ref().map(|s| s.to_string()), "file": flags.display().to_string() });
    store.audit(now_ms(), &s.person.name, "mitigation applied", &format!("patch:{}", p.id), &payload)?;
    println!("{} mitigated by {}{}", p.id, s.person.name, segment.map(|s| format!(" for {s}")).unwrap_or_default());
    if let Some(inc) = p.incident_id.as_deref().map(|id| store.incident(id)).transpose()?.flatten() {
        let r = inc.rate_around(now_ms(), 10);
        println!(
            "{}: {:.1} events/min in the 10 min before; the Incident view shows the rate since, as events arrive",
            inc.id, r.before_per_min
        );
    }
    Ok(())
}
