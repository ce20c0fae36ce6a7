//! Rollouts (canary steps and weights) and the canary judge's verdicts.

use serde::{Deserialize, Serialize};

use super::Millis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutStep {
    /// Percentage of traffic to the canary at this step (0-100).
    pub weight: u8,
    /// How long to hold the step before judging, in seconds.
    pub pause_secs: u64,
    /// Whether the judge runs at the end of the step.
    pub analysis: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStatus {
    Pending,
    Progressing,
    Paused,
    Promoted,
    Aborted,
    RolledBack,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub id: String,
    pub patch_id: String,
    pub backend: String,
    pub steps: Vec<RolloutStep>,
    pub current_step: usize,
    /// Desired canary weight; the backend reports the actual one.
    pub desired_weight: u8,
    pub actual_weight: Option<u8>,
    pub status: RolloutStatus,
    pub started: Millis,
    #[serde(default)]
    pub verdicts: Vec<CanaryVerdict>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricVerdict {
    Pass,
    High,
    Low,
    NoData,
}

/// One judgement of canary against baseline (Kayenta's method).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryVerdict {
    pub step: usize,
    pub at: Millis,
    /// 0-100.
    pub score: f64,
    pub metrics: Vec<(String, MetricVerdict)>,
    /// `pass`, `marginal` or `fail` against the configured thresholds.
    pub outcome: String,
}
