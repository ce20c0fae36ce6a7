//! Risk assessment and policy tiers.

use serde::{Deserialize, Serialize};

/// Policy tier, 0 (observe only) to 3 (may graduate automatically).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Tier {
    /// Observe only: no deploy action exists.
    T0,
    /// A reviewer's approval is needed before any deploy.
    T1,
    /// May go to canary automatically; a review is needed before promotion.
    T2,
    /// May graduate on canary success, for the failure classes the policy names.
    T3,
}

impl Tier {
    /// Approvals needed before the patch may enter a canary; `None` means never.
    pub fn approvals_before_canary(self) -> Option<usize> {
        match self {
            Tier::T0 => None,
            Tier::T1 => Some(1),
            Tier::T2 | Tier::T3 => Some(0),
        }
    }

    pub fn number(self) -> u8 {
        self.into()
    }
}

impl TryFrom<u8> for Tier {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            0 => Ok(Tier::T0),
            1 => Ok(Tier::T1),
            2 => Ok(Tier::T2),
            3 => Ok(Tier::T3),
            _ => Err(format!("tier must be 0-3, got {v}")),
        }
    }
}

impl From<Tier> for u8 {
    fn from(t: Tier) -> u8 {
        t as u8
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskAssessment {
    /// 0.0 (trivial) to 1.0 (dangerous).
    pub score: f64,
    pub tier: Tier,
    /// Each reason that moved the score, in words a reviewer can check.
    pub reasons: Vec<String>,
    /// The failure class the patch addresses (e.g. `null-guard`), for tier-3 rules.
    pub failure_class: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_round_trips_as_number_and_rejects_out_of_range() {
        assert_eq!(serde_json::to_string(&Tier::T2).unwrap(), "2");
        assert_eq!(serde_json::from_str::<Tier>("3").unwrap(), Tier::T3);
        assert!(serde_json::from_str::<Tier>("4").is_err());
    }
}
