//! Folds events into incidents: counts, first and last seen, distinct users,
//! tenants, regions, releases and a per-minute rate series.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::fingerprint::{Grouping, fingerprint};
use crate::model::{ErrorEvent, Incident, IncidentStatus, Millis};

/// How many minutes of per-minute rate an incident keeps (24 hours).
pub const RATE_MINUTES: usize = 24 * 60;

#[derive(Default)]
struct Acc {
    incident: Incident,
    grouping: Vec<String>,
    users: BTreeSet<String>,
    tenants: BTreeSet<String>,
    regions: BTreeSet<String>,
    releases: BTreeSet<String>,
    minutes: BTreeMap<i64, u32>,
}

/// Builds incidents from a stream of events.
#[derive(Default)]
pub struct Clusterer {
    by_fp: HashMap<String, Acc>,
}

impl Clusterer {
    /// Adds an event; returns the id of the incident it joined.
    pub fn add(&mut self, ev: &ErrorEvent) -> String {
        let Grouping { hash, components } = fingerprint(ev);
        let acc = self.by_fp.entry(hash.clone()).or_insert_with(|| Acc {
            incident: Incident {
                id: Incident::short_id(&hash),
                fingerprint: hash.clone(),
                title: ev.title(),
                culprit: ev.culprit().map(culprit_name),
                status: IncidentStatus::Open,
                first_seen: ev.timestamp,
                last_seen: ev.timestamp,
                representative_event: Some(ev.id.clone()),
                ..Default::default()
            },
            grouping: components,
            ..Default::default()
        });
        let inc = &mut acc.incident;
        inc.count += 1;
        inc.first_seen = inc.first_seen.min(ev.timestamp);
        if ev.timestamp >= inc.last_seen {
            inc.last_seen = ev.timestamp;
        }
        acc.users.extend(ev.user.clone());
        acc.tenants.extend(ev.tenant.clone());
        acc.regions.extend(ev.region.clone());
        acc.releases.extend(ev.release.clone());
        *acc.minutes.entry(ev.timestamp.div_euclid(60_000)).or_default() += 1;
        inc.id.clone()
    }

    /// The grouping components of each incident, by incident id.
    pub fn explanations(&self) -> BTreeMap<String, Vec<String>> {
        self.by_fp.values().map(|a| (a.incident.id.clone(), a.grouping.clone())).collect()
    }

    /// Finishes the incidents (unranked; see [`super::rank`]).
    pub fn finish(self) -> Vec<Incident> {
        let mut out: Vec<Incident> = self
            .by_fp
            .into_values()
            .map(|a| {
                let mut inc = a.incident;
                inc.users = a.users.len() as u64;
                inc.grouping = a.grouping;
                inc.tenants = a.tenants.into_iter().collect();
                inc.regions = a.regions.into_iter().collect();
                inc.releases = a.releases.into_iter().collect();
                let last_minute = inc.last_seen.div_euclid(60_000);
                let first_minute = (last_minute - RATE_MINUTES as i64 + 1).max(inc.first_seen.div_euclid(60_000));
                inc.rate_start = first_minute * 60_000;
                inc.rate = (first_minute..=last_minute).map(|m| a.minutes.get(&m).copied().unwrap_or(0)).collect();
                inc
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

fn culprit_name(f: &crate::model::StackFrame) -> String {
    let place = f.module.clone().or_else(|| f.filename.clone()).unwrap_or_else(|| "?".into());
    format!("{place} in {}", f.function.as_deref().unwrap_or("?"))
}

/// Events per minute re-bucketed into `n` buckets over `[from, to)`, for a
/// sparkline of a fixed width.
pub fn rebucket(inc: &Incident, from: Millis, to: Millis, n: usize) -> Vec<u64> {
    let mut out = vec![0u64; n];
    if n == 0 || to <= from {
        return out;
    }
    let span = (to - from) as f64;
    for (i, c) in inc.rate.iter().enumerate() {
        let t = inc.rate_start + i as i64 * 60_000;
        if t < from || t >= to || *c == 0 {
            continue;
        }
        let b = (((t - from) as f64 / span) * n as f64) as usize;
        out[b.min(n - 1)] += u64::from(*c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ExceptionInfo, StackFrame};

    fn ev(id: &str, t: Millis, user: &str, func: &str) -> ErrorEvent {
        ErrorEvent {
            id: id.into(),
            timestamp: t,
            user: Some(user.into()),
            tenant: Some("acme".into()),
            exceptions: vec![ExceptionInfo {
                kind: "TypeError".into(),
                value: "boom".into(),
                frames: vec![StackFrame {
                    module: Some("app.x".into()),
                    function: Some(func.into()),
                    in_app: Some(true),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn events_fold_into_incidents_with_counts_users_and_rates() {
        let mut c = Clusterer::default();
        let a = c.add(&ev("1", 60_000, "u1", "f"));
        let b = c.add(&ev("2", 180_000, "u1", "f"));
        let _ = c.add(&ev("3", 120_000, "u2", "f"));
        let other = c.add(&ev("4", 0, "u3", "g"));
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(c.explanations()[&a], ["type:TypeError", "frame:app.x:f"]);
        let incs = c.finish();
        let inc = incs.iter().find(|i| i.id == a).unwrap();
        assert_eq!((inc.count, inc.users, inc.first_seen, inc.last_seen), (3, 2, 60_000, 180_000));
        assert_eq!(inc.rate, [1, 1, 1]);
        assert_eq!(inc.rate_start, 60_000);
        assert_eq!(inc.culprit.as_deref(), Some("app.x in f"));
        assert_eq!(inc.grouping, ["type:TypeError", "frame:app.x:f"]);
        assert_eq!(rebucket(inc, 0, 240_000, 2), [1, 2]);
    }
}
