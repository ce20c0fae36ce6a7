//! The verification gauntlet's report: the evidence a patch must carry.

use serde::{Deserialize, Serialize};

use super::{Millis, ReproVerdict};

/// The gauntlet's steps, in the order a reviewer reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// (a) the repro on the base must fail.
    ReproBase,
    /// (b) the repro on the patched tree must pass.
    ReproPatched,
    /// (c) the project's tests: nothing passing on base fails when patched.
    Tests,
    /// (d) reruns of changed and failing tests.
    Flakiness,
    /// (e) linters and analyzers: only new findings count.
    StaticChecks,
    /// (f) ratio of benchmark medians, patched over base.
    Perf,
    /// (g) a regression test made from the repro.
    RegressionTest,
}

impl StepKind {
    pub fn label(self) -> &'static str {
        match self {
            StepKind::ReproBase => "repro fails on base",
            StepKind::ReproPatched => "repro passes when patched",
            StepKind::Tests => "tests",
            StepKind::Flakiness => "flakiness reruns",
            StepKind::StaticChecks => "static checks",
            StepKind::Perf => "perf gate",
            StepKind::RegressionTest => "regression test",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Passed,
    Failed,
    /// Failed only sometimes; never auto-applied.
    Flaky,
    /// Not configured or not applicable; says why in the step's detail.
    Skipped,
}

impl StepStatus {
    /// A symbol so state never rests on colour alone.
    pub fn symbol(self) -> &'static str {
        match self {
            StepStatus::Pending => "·",
            StepStatus::Running => "…",
            StepStatus::Passed => "✔",
            StepStatus::Failed => "✖",
            StepStatus::Flaky => "⚠",
            StepStatus::Skipped => "-",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationStep {
    pub kind: StepKind,
    pub status: StepStatus,
    pub duration_ms: u64,
    pub detail: String,
    pub log_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationReport {
    pub patch_digest: String,
    pub started: Millis,
    pub finished: Option<Millis>,
    /// Verdict of the repro against the unpatched base (must be `Reproduced`).
    pub repro_on_base: Option<ReproVerdict>,
    /// Verdict of the repro against the patched tree (must be `Passed`).
    pub repro_on_patched: Option<ReproVerdict>,
    pub steps: Vec<VerificationStep>,
    /// The regression test the gauntlet wrote from the repro, as a diff that
    /// adds it; it travels with the patch.
    #[serde(default)]
    pub regression_test: Option<String>,
}

impl VerificationReport {
    /// The non-negotiable proof: the repro fails before and passes after.
    pub fn proves_fix(&self) -> bool {
        self.repro_on_base == Some(ReproVerdict::Reproduced) && self.repro_on_patched == Some(ReproVerdict::Passed)
    }

    pub fn has_failures(&self) -> bool {
        self.steps.iter().any(|s| s.status == StepStatus::Failed)
    }

    pub fn is_flaky(&self) -> bool {
        self.steps.iter().any(|s| s.status == StepStatus::Flaky)
    }

    pub fn is_complete(&self) -> bool {
        self.finished.is_some() && self.steps.iter().all(|s| !matches!(s.status, StepStatus::Pending | StepStatus::Running))
    }
}
