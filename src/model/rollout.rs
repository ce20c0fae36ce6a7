//! Rollouts (canary steps and weights), their analyses and guardrails.
//!
//! A rollout is the record `suture serve`'s controller works from: it lives in
//! the store, so a restarted controller resumes from it and every change to it
//! is written with a compare-and-set on (`current_step`, `status`, `revision`)
//! together with its audit entry. Nothing here does I/O.

use serde::{Deserialize, Serialize};

use super::Millis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutStep {
    /// Percentage of traffic to the canary at this step (0-100).
    pub weight: u8,
    /// How long to hold the step before judging (or moving on), in seconds.
    pub pause_secs: u64,
    /// Whether the judge runs at the end of the step.
    pub analysis: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStatus {
    /// Asked for; the controller has not brought the canary up yet.
    Pending,
    Progressing,
    /// Held by a person; the step's clock stops.
    Paused,
    /// Every step passed; a person (or the tier-3 rule) promoted it.
    Promoted,
    /// Every step passed and the canary carries all traffic, waiting for a
    /// person to promote (tiers 1 and 2).
    AwaitingPromotion,
    /// Stopped by a person.
    Aborted,
    /// Stopped by the controller: a failed analysis, a guardrail, lost metrics.
    RolledBack,
}

impl RolloutStatus {
    pub fn label(self) -> &'static str {
        match self {
            RolloutStatus::Pending => "pending",
            RolloutStatus::Progressing => "progressing",
            RolloutStatus::Paused => "paused",
            RolloutStatus::Promoted => "promoted",
            RolloutStatus::AwaitingPromotion => "awaiting promotion",
            RolloutStatus::Aborted => "aborted",
            RolloutStatus::RolledBack => "rolled back",
        }
    }

    /// Whether the controller still has work to do for it.
    pub fn is_live(self) -> bool {
        matches!(self, RolloutStatus::Pending | RolloutStatus::Progressing | RolloutStatus::Paused | RolloutStatus::AwaitingPromotion)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub id: String,
    pub patch_id: String,
    pub backend: String,
    pub steps: Vec<RolloutStep>,
    pub current_step: usize,
    /// When the current step's weight took effect (None until it has).
    #[serde(default)]
    pub step_started: Option<Millis>,
    /// Time spent paused during the current step, which its clock does not count.
    #[serde(default)]
    pub paused_ms: u64,
    #[serde(default)]
    pub paused_at: Option<Millis>,
    /// Desired canary weight; the backend reports the actual one.
    pub desired_weight: u8,
    pub actual_weight: Option<u8>,
    pub status: RolloutStatus,
    pub started: Millis,
    #[serde(default)]
    pub updated: Millis,
    /// Who asked for it.
    #[serde(default)]
    pub requested_by: String,
    /// Bumped by every write; writers compare it before they write.
    #[serde(default)]
    pub revision: u64,
    #[serde(default)]
    pub verdicts: Vec<CanaryVerdict>,
    #[serde(default)]
    pub guardrails: Vec<GuardrailState>,
    /// The patch's kill-switch flag, when it has one.
    #[serde(default)]
    pub kill_switch: Option<String>,
    /// Whether the kill switch has been thrown (the patched code is off).
    #[serde(default)]
    pub killed: bool,
    /// Consecutive intervals without usable metrics.
    #[serde(default)]
    pub metrics_lost: u32,
    /// The latest thing worth telling a person, in one line.
    #[serde(default)]
    pub message: String,
}

impl Rollout {
    /// Milliseconds the current step has run, paused time excluded.
    pub fn step_elapsed(&self, now: Millis) -> u64 {
        let Some(start) = self.step_started else { return 0 };
        let end = self.paused_at.unwrap_or(now);
        (end.saturating_sub(start).max(0) as u64).saturating_sub(self.paused_ms)
    }

    /// Milliseconds until the current step ends (0 when due, None when the
    /// step has not started or the rollout is not running).
    pub fn step_remaining(&self, now: Millis) -> Option<u64> {
        if self.status != RolloutStatus::Progressing {
            return None;
        }
        let step = self.steps.get(self.current_step)?;
        self.step_started?;
        Some((step.pause_secs * 1000).saturating_sub(self.step_elapsed(now)))
    }

    pub fn step(&self) -> Option<&RolloutStep> {
        self.steps.get(self.current_step)
    }

    pub fn is_last_step(&self) -> bool {
        self.current_step + 1 >= self.steps.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricVerdict {
    Pass,
    High,
    Low,
    NoData,
}

impl MetricVerdict {
    pub fn label(self) -> &'static str {
        match self {
            MetricVerdict::Pass => "pass",
            MetricVerdict::High => "high",
            MetricVerdict::Low => "low",
            MetricVerdict::NoData => "no data",
        }
    }
}

/// One metric's part of an analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricOutcome {
    pub name: String,
    pub verdict: MetricVerdict,
    /// One sentence: what was compared and what came out.
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub baseline_n: usize,
    #[serde(default)]
    pub canary_n: usize,
    #[serde(default)]
    pub critical: bool,
}

/// One judgement of canary against baseline (Kayenta's method).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryVerdict {
    pub step: usize,
    pub at: Millis,
    /// 0-100.
    pub score: f64,
    pub metrics: Vec<MetricOutcome>,
    /// `pass`, `marginal` or `fail` against the configured thresholds.
    pub outcome: String,
    /// Why the score is what it is.
    #[serde(default)]
    pub reason: String,
    /// The interval judged.
    #[serde(default)]
    pub from: Millis,
    #[serde(default)]
    pub to: Millis,
}

/// A guardrail's state: consecutive breaching intervals against its limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailState {
    pub name: String,
    /// Human form of the rule, e.g. "canary error rate > 2x baseline for 3 intervals".
    pub rule: String,
    pub breaches: u32,
    pub limit: u32,
    #[serde(default)]
    pub canary: Option<f64>,
    #[serde(default)]
    pub baseline: Option<f64>,
    #[serde(default)]
    pub tripped: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout() -> Rollout {
        Rollout {
            id: "R1".into(),
            patch_id: "P".into(),
            backend: "local".into(),
            steps: vec![
                RolloutStep { weight: 10, pause_secs: 10, analysis: true },
                RolloutStep { weight: 100, pause_secs: 5, analysis: false },
            ],
            current_step: 0,
            step_started: Some(1_000),
            paused_ms: 0,
            paused_at: None,
            desired_weight: 10,
            actual_weight: None,
            status: RolloutStatus::Progressing,
            started: 1_000,
            updated: 1_000,
            requested_by: "carol".into(),
            revision: 0,
            verdicts: vec![],
            guardrails: vec![],
            kill_switch: None,
            killed: false,
            metrics_lost: 0,
            message: String::new(),
        }
    }

    #[test]
    fn the_step_clock_stops_while_paused() {
        let mut r = rollout();
        assert_eq!(r.step_remaining(4_000), Some(7_000));
        r.status = RolloutStatus::Paused;
        r.paused_at = Some(4_000);
        assert_eq!(r.step_remaining(9_000), None);
        assert_eq!(r.step_elapsed(9_000), 3_000);
        r.status = RolloutStatus::Progressing;
        r.paused_ms += 9_000 - 4_000;
        r.paused_at = None;
        assert_eq!(r.step_remaining(9_000), Some(7_000));
        assert_eq!(r.step_remaining(30_000), Some(0));
        assert!(!r.is_last_step());
    }
}
