//! Priority score. Documented so an on-call engineer can check it by hand:
//!
//! ```text
//! score = 3·ln(1 + distinct users)
//!       + 2·ln(1 + events in the last hour)
//!       + 5 if the incident is new since the latest deploy
//!       + 4 if it came back after being resolved
//! ```
//!
//! "Now" is the newest event the store holds, not the wall clock, so a replay
//! of recorded events ranks the same whenever it is opened. Error-budget burn
//! joins the score when SLOs are configured (Signals and triage work).

use crate::model::{Incident, IncidentStatus, Millis};

const HOUR: Millis = 3_600_000;

/// Ranks incidents in place and sorts them, highest score first.
/// `latest_deploy` is when the newest release was first seen.
pub fn rank(incidents: &mut [Incident], now: Millis, latest_deploy: Option<Millis>) {
    for inc in incidents.iter_mut() {
        let users = inc.users as f64;
        let last_hour: u64 =
            inc.rate.iter().enumerate().filter(|(i, _)| inc.rate_start + *i as i64 * 60_000 > now - HOUR).map(|(_, c)| u64::from(*c)).sum();
        let novel = latest_deploy.is_some_and(|d| inc.first_seen >= d);
        let regressed = inc.status == IncidentStatus::Regressed;
        let factors = [
            ("users", 3.0 * (1.0 + users).ln()),
            ("last hour", 2.0 * (1.0 + last_hour as f64).ln()),
            ("new since deploy", if novel { 5.0 } else { 0.0 }),
            ("regression", if regressed { 4.0 } else { 0.0 }),
        ];
        inc.score = factors.iter().map(|f| f.1).sum();
        inc.score_factors = factors.iter().map(|(n, v)| (n.to_string(), (v * 100.0).round() / 100.0)).collect();
        inc.new_since_deploy = novel;
    }
    incidents.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_rate_and_novelty_raise_the_score() {
        let base = Incident { id: "A".into(), users: 10, first_seen: 0, rate_start: 0, rate: vec![1; 120], ..Default::default() };
        let many_users = Incident { id: "B".into(), users: 500, ..base.clone() };
        let novel = Incident { id: "C".into(), first_seen: 50 * 60_000, ..base.clone() };
        let mut v = vec![base, many_users, novel];
        rank(&mut v, 119 * 60_000, Some(40 * 60_000));
        let ids: Vec<&str> = v.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["B", "C", "A"]);
        let a = v.iter().find(|i| i.id == "A").unwrap();
        let expected = 3.0 * 11f64.ln() + 2.0 * 61f64.ln();
        assert!((a.score - expected).abs() < 1e-9, "{} vs {expected}", a.score);
        assert!(v[1].new_since_deploy);
        assert_eq!(v[1].score_factors[2], ("new since deploy".to_string(), 5.0));
    }
}
