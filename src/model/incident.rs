//! Incidents: clusters of error events that share a fingerprint.

use serde::{Deserialize, Serialize};

use super::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    #[default]
    Open,
    Mitigated,
    Resolved,
    /// Came back after being resolved.
    Regressed,
    Ignored,
}

impl IncidentStatus {
    pub fn label(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Mitigated => "mitigated",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Regressed => "regressed",
            IncidentStatus::Ignored => "ignored",
        }
    }
}

/// A ranked cluster of events. Counters are maintained by triage as events arrive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Incident {
    pub id: String,
    pub fingerprint: String,
    pub title: String,
    /// `module.function` of the innermost in-app frame, when there is one.
    pub culprit: Option<String>,
    pub status: IncidentStatus,
    pub count: u64,
    pub first_seen: Millis,
    pub last_seen: Millis,
    pub users: u64,
    /// Services the events came from.
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub tenants: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    /// Deploy SHAs (releases) the events came from.
    #[serde(default)]
    pub releases: Vec<String>,
    /// Feature flags present in the events, as `key=variant`.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Events per minute from `rate_start`, oldest first (at most 24 hours).
    #[serde(default)]
    pub rate: Vec<u32>,
    #[serde(default)]
    pub rate_start: Millis,
    pub score: f64,
    /// Each factor of the score and its points, for the "why ranked" view.
    #[serde(default)]
    pub score_factors: Vec<(String, f64)>,
    /// First seen after the latest deploy started.
    #[serde(default)]
    pub new_since_deploy: bool,
    pub representative_event: Option<String>,
    /// The fingerprint's components: why these events were grouped together.
    #[serde(default)]
    pub grouping: Vec<String>,
    /// The grouping configuration that made the fingerprint.
    #[serde(default)]
    pub grouping_version: String,
}

/// An incident's rate around a moment (a mitigation): events per minute in
/// the `window` minutes before it and in the minutes since (up to `window`,
/// and only whole minutes the record covers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateAround {
    pub before_per_min: f64,
    pub after_per_min: Option<f64>,
    /// Whole minutes of record after the moment (0: nothing measured yet).
    pub after_minutes: usize,
}

impl Incident {
    /// The rate before and after `at`, from the per-minute record.
    pub fn rate_around(&self, at: Millis, window: usize) -> RateAround {
        let minute = |t: Millis| (t - self.rate_start).div_euclid(60_000);
        let m = minute(at);
        let get = |i: i64| if i < 0 { 0 } else { self.rate.get(i as usize).copied().unwrap_or(0) };
        let before: u64 = (m - window as i64..m).map(|i| u64::from(get(i))).sum();
        // Minutes after the one the moment fell in, that the record reaches.
        let recorded = self.rate.len() as i64;
        let after_minutes = (recorded - (m + 1)).clamp(0, window as i64) as usize;
        let after: u64 = (m + 1..m + 1 + after_minutes as i64).map(|i| u64::from(get(i))).sum();
        RateAround {
            before_per_min: before as f64 / window.max(1) as f64,
            after_per_min: (after_minutes > 0).then(|| after as f64 / after_minutes as f64),
            after_minutes,
        }
    }

    /// A short, stable, human-typable id derived from the fingerprint.
    pub fn short_id(fingerprint: &str) -> String {
        format!("INC-{}", &fingerprint[..fingerprint.len().min(6)].to_ascii_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_id_is_prefix_of_fingerprint() {
        assert_eq!(Incident::short_id("a1b2c3d4e5"), "INC-A1B2C3");
        assert_eq!(Incident::short_id("ab"), "INC-AB");
    }

    #[test]
    fn the_rate_around_a_mitigation_compares_the_minutes_before_and_since() {
        let inc = Incident { rate_start: 0, rate: vec![4, 6, 8, 2, 0, 0, 1], ..Default::default() };
        // Mitigated during minute 3: minutes 0-2 before, 4-6 since.
        let r = inc.rate_around(3 * 60_000 + 10_000, 3);
        assert_eq!((r.before_per_min, r.after_per_min, r.after_minutes), (6.0, Some(1.0 / 3.0), 3));
        // Nothing recorded since yet.
        let r = inc.rate_around(6 * 60_000 + 1, 10);
        assert_eq!((r.after_per_min, r.after_minutes), (None, 0));
        assert!((r.before_per_min - 2.0).abs() < 1e-9, "minutes 0-5 over a 10-minute window");
    }
}
