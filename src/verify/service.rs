//! Verification as the CLI and the console use it: what to run (from the
//! configuration), which repro a patch answers to, and recording the result
//! on the patch in the store.

use std::path::{Path, PathBuf};

use super::{Plan, Verified};
use crate::config::VerifyCfg;
use crate::model::{Actor, Patch, PatchState, ReproSpec, StepKind, StepStatus, Transition, VerificationReport, VerificationStep};
use crate::repro::runner::Options;
use crate::store::{Store, StoreError};

/// Everything needed to verify patches of one source tree.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The target's source tree; workspaces are made from it, it is never written.
    pub source: PathBuf,
    pub specs: Vec<ReproSpec>,
    pub cfg: VerifyCfg,
    pub opts: Options,
    /// Where workspaces are made.
    pub workspaces: PathBuf,
}

impl Setup {
    pub fn plan(&self, spec: &ReproSpec) -> Plan {
        Plan { spec: spec.clone(), cfg: self.cfg.clone(), opts: self.opts.clone() }
    }

    /// The spec a patch answers to: the named one, else the one whose
    /// expected module is a file the patch changes (when exactly one is).
    pub fn spec_for_patch(&self, diff: &str) -> Result<&ReproSpec, String> {
        let touched = super::apply::touched_files(diff);
        let hits: Vec<&ReproSpec> = self
            .specs
            .iter()
            .filter(|s| s.expect.module.as_deref().is_some_and(|m| touched.iter().any(|f| module_is_file(m, f))))
            .collect();
        match hits.as_slice() {
            [one] => Ok(one),
            [] => Err(format!("no repro spec's module is among the files the patch changes ({})", touched.join(", "))),
            many => Err(format!(
                "several repro specs match the files the patch changes ({}); name one",
                many.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

/// `app.pricing` is `app/pricing.py` (or a package's `__init__.py`).
fn module_is_file(module: &str, file: &str) -> bool {
    let m = module.replace('.', "/");
    file == format!("{m}.py") || file == format!("{m}/__init__.py") || file.trim_end_matches(".go").ends_with(&m)
}

/// The demo world's gauntlet settings, for a demo store whose configuration
/// names no test command.
pub fn demo_cfg(demo_root: &Path) -> Result<VerifyCfg, String> {
    let p = demo_root.join("verify.toml");
    let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
}

/// A report for a verification that could not start, so the patch does not
/// stay in `verifying`: step (b) failed, saying why; the rest not run.
pub fn not_started(patch: &Patch, why: &str) -> Verified {
    let now = crate::model::now_millis();
    let steps = super::ORDER
        .iter()
        .map(|k| VerificationStep {
            kind: *k,
            status: if *k == StepKind::ReproPatched { StepStatus::Failed } else { StepStatus::Skipped },
            duration_ms: 0,
            detail: if *k == StepKind::ReproPatched { why.to_string() } else { "not run: the verification could not start".into() },
            log_ref: None,
        })
        .collect();
    Verified {
        report: VerificationReport {
            patch_digest: patch.digest.clone(),
            started: now,
            finished: Some(now),
            repro_on_base: None,
            repro_on_patched: None,
            steps,
            regression_test: None,
        },
        logs: [(StepKind::ReproPatched, format!("{why}\n"))].into_iter().collect(),
        base: patch.base_rev.clone(),
    }
}

/// Moves a stored patch into `verifying` (from proposed, or failed for a
/// second try); a patch already verifying stays so.
pub fn start(store: &mut Store, patch_id: &str, by: &Actor) -> Result<(), StoreError> {
    let p = store.patch(patch_id)?.ok_or_else(|| StoreError::NotFound { what: "patch", id: patch_id.into() })?;
    if p.state != PatchState::Verifying {
        store.transition_patch(patch_id, Transition::StartVerification { by: by.clone(), at: crate::model::now_millis() })?;
    }
    Ok(())
}

/// Stores the logs and finishes the verification; the lifecycle decides
/// verified or failed from the evidence.
pub fn finish(store: &mut Store, patch_id: &str, v: &Verified) -> Result<PatchState, StoreError> {
    let logs: Vec<(String, String)> = v.logs.iter().map(|(k, t)| (step_name(*k).to_string(), t.clone())).collect();
    store.put_step_logs(patch_id, &logs)?;
    let mut report = v.report.clone();
    for s in &mut report.steps {
        if v.logs.get(&s.kind).is_some_and(|t| !t.is_empty()) {
            s.log_ref = Some(format!("{patch_id}/{}", step_name(s.kind)));
        }
    }
    store.transition_patch(patch_id, Transition::VerificationFinished { report, at: crate::model::now_millis() })
}

/// A step's name in log references and JSON.
pub fn step_name(k: StepKind) -> &'static str {
    match k {
        StepKind::ReproBase => "repro_base",
        StepKind::ReproPatched => "repro_patched",
        StepKind::Tests => "tests",
        StepKind::Flakiness => "flakiness",
        StepKind::StaticChecks => "static_checks",
        StepKind::Perf => "perf",
        StepKind::RegressionTest => "regression_test",
    }
}

/// The letter the issue gives each step, for compact listings.
pub fn step_letter(k: StepKind) -> char {
    match k {
        StepKind::ReproBase => 'a',
        StepKind::ReproPatched => 'b',
        StepKind::Tests => 'c',
        StepKind::Flakiness => 'd',
        StepKind::StaticChecks => 'e',
        StepKind::Perf => 'f',
        StepKind::RegressionTest => 'g',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_is_matched_to_the_spec_whose_module_it_changes() {
        let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
        let setup = Setup {
            source: demo.join("service"),
            specs: crate::repro::runner::load_specs(&demo.join("repros")).unwrap(),
            cfg: demo_cfg(&demo).unwrap(),
            opts: Options::default(),
            workspaces: PathBuf::from("/nonexistent"),
        };
        let d = |f| std::fs::read_to_string(demo.join("patches").join(f)).unwrap();
        assert_eq!(setup.spec_for_patch(&d("pricing-swallow.diff")).unwrap().id, "pricing-null-discount");
        assert_eq!(setup.spec_for_patch(&d("checkout-legacy-tax.diff")).unwrap().id, "checkout-legacy-tax");
        assert!(setup.spec_for_patch("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n").unwrap_err().contains("x.py"));
    }

    #[test]
    fn verifying_records_logs_and_the_lifecycle_decides() {
        let mut store = Store::open_in_memory().unwrap();
        let p = Patch::new(crate::model::PatchKind::Code, "t", "diff", "base", vec![], Actor::person("ann"), None, 1);
        store.add_patch(&p, 1).unwrap();
        start(&mut store, &p.id, &Actor::person("ann")).unwrap();
        start(&mut store, &p.id, &Actor::person("ann")).unwrap();
        let v = not_started(&p, "making the base workspace: No space left on device");
        assert_eq!(finish(&mut store, &p.id, &v).unwrap(), PatchState::Failed);
        let stored = store.patch(&p.id).unwrap().unwrap();
        let step = &stored.verification.unwrap().steps[1];
        assert_eq!(step.log_ref.as_deref(), Some(format!("{}/repro_patched", p.id).as_str()));
        assert!(store.step_log(step.log_ref.as_deref().unwrap()).unwrap().unwrap().contains("No space left"));
        // Verified again after failing: the logs are replaced.
        start(&mut store, &p.id, &Actor::person("ann")).unwrap();
        assert_eq!(store.patch(&p.id).unwrap().unwrap().state, PatchState::Verifying);
    }
}
