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

impl Incident {
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
}
