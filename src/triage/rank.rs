//! Priority score. Documented so an on-call engineer can check it by hand:
//!
//! ```text
//! score = 3·ln(1 + distinct users)
//!       + 2·ln(1 + events in the last hour)
//!       + 5 if the incident is new since the latest deploy
//!       + 4 if it came back after being resolved
//!       + 4·ln(1 + error-budget burn rate over the last hour)
//! ```
//!
//! The burn rate needs an SLO for the incident's service (`[[slo]]` in the
//! config): the incident's error ratio over the last hour (its events over
//! the requests the service serves in an hour, `requests_per_minute · 60`)
//! divided by the error budget `1 − objective`. A burn rate of 1 spends the
//! budget exactly over the SLO window; 14.4 spends a 30-day budget's 2% in
//! an hour (the usual fast-burn page). Without an SLO the factor is 0.
//!
//! "Now" is the newest event the store holds, not the wall clock, so a replay
//! of recorded events ranks the same whenever it is opened. Error-budget burn
//! joins the score when SLOs are configured (Signals and triage work).

use crate::config::Slo;
use crate::model::{Incident, IncidentStatus, Millis};

const HOUR: Millis = 3_600_000;

/// Ranks incidents in place and sorts them, highest score first.
/// `latest_deploy` is when the newest release was first seen.
pub fn rank(incidents: &mut [Incident], now: Millis, latest_deploy: Option<Millis>) {
    rank_with_slos(incidents, now, latest_deploy, &[])
}

/// Error-budget burn rate of `events` errors in an hour for `slo`.
pub fn burn_rate(slo: &Slo, events_last_hour: u64) -> f64 {
    let requests = slo.requests_per_minute * 60.0;
    let budget = 1.0 - slo.objective;
    if requests <= 0.0 || budget <= 0.0 {
        return 0.0;
    }
    (events_last_hour as f64 / requests) / budget
}

/// [`rank`] with the configured SLOs, for the error-budget factor.
pub fn rank_with_slos(incidents: &mut [Incident], now: Millis, latest_deploy: Option<Millis>, slos: &[Slo]) {
    for inc in incidents.iter_mut() {
        let users = inc.users as f64;
        let last_hour: u64 =
            inc.rate.iter().enumerate().filter(|(i, _)| inc.rate_start + *i as i64 * 60_000 > now - HOUR).map(|(_, c)| u64::from(*c)).sum();
        let novel = latest_deploy.is_some_and(|d| inc.first_seen >= d);
        let regressed = inc.status == IncidentStatus::Regressed;
        let slo = slos.iter().find(|s| inc.services.contains(&s.service));
        let burn = slo.map_or(0.0, |s| burn_rate(s, last_hour));
        let factors = [
            ("users", 3.0 * (1.0 + users).ln()),
            ("last hour", 2.0 * (1.0 + last_hour as f64).ln()),
            ("new since deploy", if novel { 5.0 } else { 0.0 }),
            ("regression", if regressed { 4.0 } else { 0.0 }),
            ("budget burn", 4.0 * (1.0 + burn).ln()),
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
        assert_eq!(v[1].score_factors[4], ("budget burn".to_string(), 0.0), "no SLO, no burn");
    }

    #[test]
    fn an_slo_adds_the_budget_burn() {
        let slo = Slo { service: "shop".into(), objective: 0.999, requests_per_minute: 100.0 };
        // 60 errors in an hour of 6,000 requests: 1% errors against a 0.1% budget, burn 10.
        assert!((burn_rate(&slo, 60) - 10.0).abs() < 1e-9);
        let inc = Incident { id: "A".into(), services: vec!["shop".into()], rate_start: 0, rate: vec![1; 60], ..Default::default() };
        let other = Incident { id: "B".into(), services: vec!["billing".into()], ..inc.clone() };
        let mut v = vec![other, inc];
        rank_with_slos(&mut v, 59 * 60_000, None, &[slo]);
        assert_eq!(v[0].id, "A");
        let burn = v[0].score_factors.iter().find(|f| f.0 == "budget burn").unwrap().1;
        assert!((burn - (4.0 * 11f64.ln() * 100.0).round() / 100.0).abs() < 1e-9, "{burn}");
        assert!((v[0].score - v[1].score - 4.0 * 11f64.ln()).abs() < 1e-9);
    }
}
