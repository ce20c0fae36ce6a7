//! Incidents from events: each event's fingerprint names its incident; the
//! first event of a fingerprint gives the incident its title, culprit and
//! representative. Counters, users, rates and dimensions are aggregated by
//! the store as events arrive (`Store::ingest`), so they stay right across
//! any number of ingests and processes.

use super::fingerprint::Grouper;
use crate::model::{ErrorEvent, Incident, IncidentStatus, Millis, StackFrame};

/// The incident an event starts, before any aggregation (built-in grouping).
pub fn skeleton(ev: &ErrorEvent) -> Incident {
    skeleton_with(&Grouper::default(), ev)
}

/// The incident an event starts under a grouping configuration.
pub fn skeleton_with(grouper: &Grouper, ev: &ErrorEvent) -> Incident {
    let mut buf = String::new();
    let rule = grouper.components_into(ev, &mut buf);
    let g = grouper.fingerprint(ev);
    let title = rule.and_then(|r| grouper.rule_title(r)).map(str::to_string).unwrap_or_else(|| ev.title());
    Incident {
        id: Incident::short_id(&g.hash),
        fingerprint: g.hash,
        grouping_version: grouper.version().to_string(),
        title,
        culprit: ev.culprit().map(culprit_name),
        status: IncidentStatus::Open,
        first_seen: ev.timestamp,
        last_seen: ev.timestamp,
        representative_event: Some(ev.id.clone()),
        grouping: g.components,
        ..Default::default()
    }
}

fn culprit_name(f: &StackFrame) -> String {
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
    use crate::model::ExceptionInfo;

    fn ev(id: &str, func: &str) -> ErrorEvent {
        ErrorEvent {
            id: id.into(),
            timestamp: 60_000,
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
    fn a_skeleton_names_and_explains_its_incident() {
        let a = skeleton(&ev("1", "f"));
        assert_eq!(a.id, skeleton(&ev("2", "f")).id, "same fingerprint, same incident");
        assert_ne!(a.id, skeleton(&ev("3", "g")).id);
        assert_eq!(a.culprit.as_deref(), Some("app.x in f"));
        assert_eq!(a.grouping, ["type:TypeError", "frame:app.x:f"]);
        assert_eq!(a.representative_event.as_deref(), Some("1"));
    }

    #[test]
    fn rebucketing_spreads_minutes_over_buckets() {
        let inc = Incident { rate_start: 60_000, rate: vec![1, 1, 1], ..Default::default() };
        assert_eq!(rebucket(&inc, 0, 240_000, 2), [1, 2]);
        assert_eq!(rebucket(&inc, 0, 240_000, 0), Vec::<u64>::new());
    }
}
