//! `suture verify PATCH|DIFF-FILE`: the gauntlet from the command line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{demo_root, grouper, identity, now_ms, open_store, repro_specs};
use crate::config::{Loaded, paths};
use crate::model::{Actor, Patch, PatchKind, PatchState, ReproSpec};
use crate::store::Store;
use crate::tui::widgets::text::inert;
use crate::verify::service::{self, Setup};
use crate::verify::{Event, Verified};

pub struct Args<'a> {
    pub patch: &'a str,
    pub repro: Option<&'a str>,
    pub source: Option<&'a Path>,
    pub base: Option<&'a str>,
    pub sequential: bool,
    pub json: bool,
}

/// What verification needs, from the configuration (and in the demo world,
/// the demo's own service, specs and gauntlet settings).
pub fn setup(loaded: &Loaded, is_demo: bool, source: Option<&Path>) -> Result<Setup> {
    let source = match (source, &loaded.config.source.root) {
        (Some(s), _) => s.to_path_buf(),
        (None, Some(r)) => PathBuf::from(r),
        (None, None) if is_demo => demo_root(loaded).join("service"),
        (None, None) => bail!("no source tree: set source.root or pass --source DIR"),
    };
    let specs = repro_specs(loaded, is_demo)?;
    let mut cfg = loaded.config.verify.clone();
    if is_demo && cfg.tests.is_none() && cfg.checks.is_empty() && cfg.perf.is_none() {
        let demo = service::demo_cfg(&demo_root(loaded)).map_err(|e| anyhow::anyhow!("reading the demo's gauntlet settings: {e}"))?;
        cfg = crate::config::VerifyCfg { parallel: cfg.parallel, ..demo };
    }
    let opts = crate::repro::runner::Options { pass: loaded.config.repro.pass_env.clone(), ..Default::default() };
    let workspaces = crate::verify::workspaces_dir(&paths::data_dir().context("no data directory for workspaces")?);
    Ok(Setup { source, specs, cfg, opts, workspaces })
}

/// A stored patch by id or unique id prefix; `None` when there is none (the
/// argument is then a diff file).
fn stored_patch(store: &Store, id: &str) -> Result<Option<Patch>> {
    match crate::govern::find_patch(store, id) {
        Ok(p) => Ok(Some(p)),
        Err(crate::govern::GovernError::NoPatch(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The incident whose representative event this spec matches, if any.
fn incident_for_spec(loaded: &Loaded, store: &Store, is_demo: bool, spec: &ReproSpec) -> Result<Option<String>> {
    let g = grouper(loaded, is_demo);
    for inc in store.incidents()? {
        let Some(ev_id) = &inc.representative_event else { continue };
        if let Some(ev) = store.event(ev_id)?
            && crate::repro::runner::spec_for(std::slice::from_ref(spec), &ev, &g).is_some()
        {
            return Ok(Some(inc.id));
        }
    }
    Ok(None)
}

/// `--repro X`: a spec id, else an incident id, as its spec and incident.
fn named_repro(loaded: &Loaded, store: &Store, is_demo: bool, setup: &Setup, name: &str) -> Result<(ReproSpec, Option<String>)> {
    if let Some(s) = setup.specs.iter().find(|s| s.id == name) {
        return Ok((s.clone(), None));
    }
    let id = name.to_ascii_uppercase();
    let spec = crate::repro::runner::spec_for_incident(&setup.specs, store, &id, &grouper(loaded, is_demo))
        .map_err(|e| anyhow::anyhow!("{}", inert(&e)))?
        .with_context(|| format!("--repro {}: no repro spec or incident by that name", inert(name)))?;
    Ok((spec, Some(id)))
}

pub fn verify(loaded: &Loaded, args: &Args) -> Result<()> {
    use std::io::{IsTerminal, Write};
    let (mut store, _, is_demo) = open_store(loaded)?;
    let setup = setup(loaded, is_demo, args.source)?;
    let me = Actor::person(identity(loaded)?);
    let mut read_only = loaded.config.ui.read_only;

    // The patch: stored, or a diff file.
    let stored = stored_patch(&store, args.patch)?;
    let (diff, title, file) = match &stored {
        Some(p) => (p.diff.clone(), p.title.clone(), None),
        None => {
            let path = PathBuf::from(args.patch);
            if !path.is_file() {
                bail!("no patch `{}`: not a stored patch id, and no such file", inert(args.patch));
            }
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let text = String::from_utf8(bytes)
                .map_err(|e| anyhow::anyhow!("{}: not UTF-8 text (byte {})", path.display(), e.utf8_error().valid_up_to()))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            (text, name, Some(path))
        }
    };

    // The repro it must fix.
    let (spec, mut incident) = match (args.repro, &stored) {
        (Some(name), _) => named_repro(loaded, &store, is_demo, &setup, name)?,
        (None, Some(p)) if p.incident_id.is_some() => {
            let inc = p.incident_id.clone().unwrap_or_default();
            named_repro(loaded, &store, is_demo, &setup, &inc)?
        }
        (None, _) => {
            let s = setup.spec_for_patch(&diff).map_err(|e| anyhow::anyhow!("{e}; name the repro with --repro SPEC|INCIDENT"))?;
            (s.clone(), None)
        }
    };
    if incident.is_none() {
        incident = match &stored {
            Some(p) => p.incident_id.clone(),
            None => incident_for_spec(loaded, &store, is_demo, &spec)?,
        };
    }
    let base = args.base.map(str::to_string).or_else(|| stored.as_ref().map(|p| p.base_rev.clone()).filter(|b| !b.starts_with("tree:")));

    // Evidence is recorded on a patch that is proposed, failed or verifying;
    // past that, the lifecycle keeps what it was approved on, and this run
    // is a check only.
    let mut not_recorded = read_only.then(|| "read-only".to_string());
    if let Some(p) = &stored
        && !matches!(p.state, PatchState::Proposed | PatchState::Failed | PatchState::Verifying)
    {
        not_recorded = Some(format!("the patch is {} already, and keeps the evidence it has", p.state.label()));
        read_only = true;
    }
    if let Some(p) = &stored
        && !read_only
    {
        service::start(&mut store, &p.id, &me)?;
    }

    let live = !args.json && std::io::stderr().is_terminal();
    let mut plan = setup.plan(&spec);
    if args.sequential {
        plan.cfg.parallel = false;
    }
    let sink = |e: Event| {
        if !live {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = match e {
            Event::Started(k) => writeln!(err, "  … ({}) {}", service::step_letter(k), k.label()),
            Event::Finished(s) => writeln!(
                err,
                "  {} ({}) {} · {} ms · {}",
                s.status.symbol(),
                service::step_letter(s.kind),
                s.kind.label(),
                s.duration_ms,
                inert(&s.detail)
            ),
            Event::Output(..) => Ok(()),
        };
    };
    if live {
        eprintln!("verifying {} against repro {} in {}", inert(&title), spec.id, setup.source.display());
    }
    let result = crate::verify::run(&plan, &setup.source, base.as_deref(), &diff, &setup.workspaces, &sink);

    // Record it.
    let (v, patch_id, state) = match result {
        Ok(v) => {
            let risk = if stored.is_none() { hand_written_risk(loaded, &diff, &me.name)? } else { None };
            let (id, state) =
                record(&mut store, stored.as_ref(), file.as_deref(), &title, &diff, incident.as_deref(), &me, &v, read_only, risk)?;
            (v, id, state)
        }
        Err(why) => {
            if let Some(p) = &stored
                && !read_only
            {
                service::finish(&mut store, &p.id, &service::not_started(p, &why))?;
            }
            bail!("the verification could not start: {}", inert(&why));
        }
    };

    if args.json {
        let out = serde_json::json!({
            "patch": patch_id,
            "recorded": !read_only,
            "state": state.map(|s| s.label()),
            "spec": spec.id,
            "incident": incident,
            "base": v.base,
            "proves_fix": v.report.proves_fix(),
            "flaky": v.report.is_flaky(),
            "report": v.report,
            "regression_test": v.report.regression_test,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("patch       {patch_id}  {}", inert(&title));
        println!("repro       {}{}", spec.id, incident.as_deref().map(|i| format!("  (incident {i})")).unwrap_or_default());
        println!("base        {}", v.base);
        for s in &v.report.steps {
            println!(
                "{} ({}) {:<26} {:>7}  {}",
                s.status.symbol(),
                service::step_letter(s.kind),
                s.kind.label(),
                if s.duration_ms > 0 || !matches!(s.status, crate::model::StepStatus::Skipped) {
                    format!("{} ms", s.duration_ms)
                } else {
                    String::new()
                },
                inert(&s.detail)
            );
        }
        if v.report.regression_test.is_some() {
            println!("regression  a test made from the repro is added to the patch");
        }
        match &state {
            Some(st) => println!("state       {} (recorded in the store)", st.label()),
            None => println!("state       not recorded: {}", not_recorded.as_deref().unwrap_or("read-only")),
        }
    }
    if let Some(failed) = v.report.steps.iter().find(|s| s.status == crate::model::StepStatus::Failed) {
        bail!("verification failed at step ({}) {}: {}", service::step_letter(failed.kind), failed.kind.label(), inert(&failed.detail));
    }
    Ok(())
}

/// The policy's risk and tier for a hand-written diff (no template class, so
/// the class term is the policy's for unknown fixes). A diff the policy
/// rejects is refused here, with every reason.
fn hand_written_risk(loaded: &Loaded, diff: &str, who: &str) -> Result<Option<crate::model::RiskAssessment>> {
    let policy = super::propose::policy(loaded)?;
    let parsed = crate::propose::patch::Diff::parse(diff).map_err(|e| anyhow::anyhow!("the diff does not parse: {e}"))?;
    let subject = crate::policy::Subject {
        diff: &parsed,
        failure_class: None,
        proposer: who,
        from_llm: false,
        locality: crate::policy::Locality::Unknown,
        coverage: None,
    };
    let a = policy.assess(&subject).map_err(|e| anyhow::anyhow!("the policy: {e}"))?;
    if !a.allowed() {
        bail!("the policy refuses this patch: {}", a.rejections.join("; "));
    }
    Ok(Some(a.risk))
}

/// Records the verification on the stored patch, or stores the diff file as
/// a new patch (or finds it stored already, by digest) and records it there.
#[allow(clippy::too_many_arguments)]
fn record(
    store: &mut Store,
    stored: Option<&Patch>,
    file: Option<&Path>,
    title: &str,
    diff: &str,
    incident: Option<&str>,
    me: &Actor,
    v: &Verified,
    read_only: bool,
    risk: Option<crate::model::RiskAssessment>,
) -> Result<(String, Option<crate::model::PatchState>)> {
    let patch = match stored {
        Some(p) => p.clone(),
        None => {
            let files = crate::verify::apply::touched_files(diff);
            let mut p = Patch::new(PatchKind::Code, title, diff, v.base.clone(), files, me.clone(), None, now_ms());
            p.incident_id = incident.map(str::to_string);
            p.risk = risk;
            p
        }
    };
    if read_only {
        return Ok((patch.id, None));
    }
    if stored.is_none() {
        if store.patch(&patch.id)?.is_none() {
            store
                .add_patch(&patch, now_ms())
                .with_context(|| format!("storing {}", file.map(|f| f.display().to_string()).unwrap_or_default()))?;
        }
        service::start(store, &patch.id, me)?;
    }
    let state = service::finish(store, &patch.id, v)?;
    Ok((patch.id, Some(state)))
}
