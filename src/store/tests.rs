use super::*;
use crate::model::{Actor, IncidentStatus, PatchKind, RiskAssessment, Role, Tier};

fn incident(id: &str, score: f64) -> Incident {
    Incident {
        id: id.into(),
        fingerprint: format!("fp-{id}"),
        title: format!("TypeError in {id}"),
        status: IncidentStatus::Open,
        count: 1,
        first_seen: 10,
        last_seen: 20,
        score,
        ..Default::default()
    }
}

fn event(id: &str) -> ErrorEvent {
    ErrorEvent { id: id.into(), timestamp: 15, ..Default::default() }
}

#[test]
fn migrations_run_once_and_set_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/suture.db");
    drop(Store::open(&path).unwrap());
    let s = Store::open(&path).unwrap();
    let v: u32 = s.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(v, schema_version());
    let mode: String = s.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let s = Store::open(&path).unwrap();
    s.conn.pragma_update(None, "user_version", 99).unwrap();
    drop(s);
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::NewerSchema { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("upgrade suture"));
}

/// A batch of `events`, each with the index of its incident in `incidents`.
fn batch(incidents: &[Incident], events: &[(u32, &ErrorEvent)], samples: bool) -> Batch {
    let mut b = Batch { incidents: incidents.iter().map(|i| BatchIncident { skeleton: i.clone() }).collect(), ..Default::default() };
    let mut intern = |s: &Option<String>| match s {
        None => NONE,
        Some(s) => match b.strings.iter().position(|x| x == s) {
            Some(i) => i as u32,
            None => {
                b.strings.push(s.clone());
                (b.strings.len() - 1) as u32
            }
        },
    };
    let mut keys = Vec::new();
    for (inc, e) in events {
        keys.push(EventKey {
            key: event_key(&e.id),
            incident: *inc,
            ts: e.timestamp,
            user: e.user.as_deref().and_then(parse_user_key),
            tenant: intern(&e.tenant),
            region: intern(&e.region),
            release: intern(&e.release),
            service: intern(&e.service),
            flags: NONE,
        });
    }
    b.events = keys;
    if samples {
        b.samples = events.iter().map(|(i, e)| (*i, (*e).clone())).collect();
    }
    b
}

#[test]
fn ingest_is_idempotent_and_ranks_incidents() {
    let mut s = Store::open_in_memory().unwrap();
    let (a, b) = (incident("A", 1.0), incident("B", 5.0));
    let evs = [event("e1"), event("e2")];
    let one_batch = batch(&[a.clone(), b.clone()], &[(0, &evs[0]), (0, &evs[1])], true);
    let no_rank = |_: &mut [Incident], _: Millis, _: Option<Millis>| {};
    let done = s.ingest_batch(&one_batch, &no_rank, "test", 1).unwrap();
    assert_eq!(done.added, 2);
    assert_eq!(done.ids, ["INC-FP-A", "INC-FP-B"], "new incidents get ids from their fingerprints");
    assert_eq!(s.ingest_batch(&one_batch, &no_rank, "test", 2).unwrap().added, 0);
    assert_eq!(s.event_count().unwrap(), 2);
    assert!(s.has_event("e1").unwrap() && !s.has_event("e3").unwrap());
    let ids: Vec<String> = s.incidents().unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(ids, ["INC-FP-B", "INC-FP-A"]);
    assert_eq!(s.incident_by_fingerprint("fp-A").unwrap().unwrap().count, 2);
    assert_eq!(s.event("e1").unwrap().unwrap().timestamp, 15);
    assert_eq!(s.samples("INC-FP-A").unwrap().len(), 2);
    assert_eq!(s.sample_count("fp-A", None).unwrap(), 2);
    assert_eq!(s.audit_entries().unwrap().len(), 1, "the empty second batch is not audited");
}

#[test]
fn two_writers_on_one_file_count_each_event_and_user_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let (mut w1, mut w2) = (Store::open(&path).unwrap(), Store::open(&path).unwrap());
    let no_rank = |_: &mut [Incident], _: Millis, _: Option<Millis>| {};
    let a = incident("A", 1.0);
    let with_user = |id: &str| ErrorEvent { user: Some("user:00000000000000aa".into()), ..event(id) };
    let (e1, e2, e3) = (with_user("e1"), with_user("e2"), with_user("e3"));
    assert_eq!(w1.ingest_batch(&batch(std::slice::from_ref(&a), &[(0, &e1), (0, &e2)], false), &no_rank, "t", 1).unwrap().added, 2);
    // The second writer has never looked; it must still see e2 as known.
    assert_eq!(w2.ingest_batch(&batch(std::slice::from_ref(&a), &[(0, &e2), (0, &e3)], false), &no_rank, "t", 2).unwrap().added, 1);
    // And the first must see e3, which it never wrote.
    assert_eq!(w1.ingest_batch(&batch(std::slice::from_ref(&a), &[(0, &e3)], false), &no_rank, "t", 3).unwrap().added, 0);
    let inc = Store::open(&path).unwrap().incident_by_fingerprint("fp-A").unwrap().unwrap();
    assert_eq!((inc.count, inc.users), (3, 1), "one user across both writers");
    assert_eq!(w2.event_count().unwrap(), 3);
}

#[test]
fn short_ids_that_collide_are_lengthened() {
    let mut s = Store::open_in_memory().unwrap();
    let a = Incident { fingerprint: "abcdef01".into(), ..Default::default() };
    let b = Incident { fingerprint: "abcdef02".into(), ..Default::default() };
    let (e1, e2) = (event("1"), event("2"));
    let no_rank = |_: &mut [Incident], _: Millis, _: Option<Millis>| {};
    let done = s.ingest_batch(&batch(&[a, b], &[(0, &e1), (1, &e2)], false), &no_rank, "t", 1).unwrap();
    assert_eq!(done.ids, ["INC-ABCDEF", "INC-ABCDEF02"]);
}

#[test]
fn another_connection_sees_commits_through_data_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let reader = Store::open(&path).unwrap();
    let mut writer = Store::open(&path).unwrap();
    let v0 = reader.data_version().unwrap();
    writer.set_meta("k", "v").unwrap();
    assert_ne!(reader.data_version().unwrap(), v0);
    assert_eq!(reader.meta("k").unwrap().as_deref(), Some("v"));
}

#[test]
fn patch_transitions_are_checked_written_and_audited_together() {
    let mut s = Store::open_in_memory().unwrap();
    let mut p = Patch::new(PatchKind::Code, "t", "diff", "base", vec![], Actor::bot("suture/templates"), None, 1);
    p.risk = Some(RiskAssessment { score: 0.2, tier: Tier::T1, reasons: vec![], failure_class: None });
    s.add_patch(&p, 1).unwrap();
    let approve = Transition::Approve { who: Actor::person("alice"), role: Role::Reviewer, comment: String::new(), at: 2 };
    let err = s.transition_patch(&p.id, approve).unwrap_err();
    assert!(matches!(err, StoreError::Lifecycle(LifecycleError::Illegal { from: PatchState::Proposed, .. })), "{err}");
    assert_eq!(s.audit_entries().unwrap().len(), 1, "a refused transition writes no audit entry");
    let to = s.transition_patch(&p.id, Transition::StartVerification { by: Actor::person("bob"), at: 3 }).unwrap();
    assert_eq!(to, PatchState::Verifying);
    assert_eq!(s.patch(&p.id).unwrap().unwrap().state, PatchState::Verifying);
    let log = s.audit_entries().unwrap();
    assert_eq!(log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["propose", "start verification"]);
    assert_eq!(chain::verify(&log), Ok(2));
    assert!(matches!(
        s.transition_patch("nope", Transition::StartVerification { by: Actor::person("b"), at: 1 }),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn a_corrupt_record_is_an_error_naming_it_not_a_panic() {
    let s = Store::open_in_memory().unwrap();
    s.conn.execute("INSERT INTO incidents VALUES ('X', 'fp', 'open', 1, 1, 1, 1.0, '{not json')", []).unwrap();
    let err = s.incidents().unwrap_err();
    assert!(err.to_string().contains("incidents (X)"), "{err}");
}

#[test]
fn aggregates_follow_events_across_batches_and_resolved_incidents_regress() {
    let mut s = Store::open_in_memory().unwrap();
    let rank = |incs: &mut [Incident], now: Millis, deploy: Option<Millis>| {
        for i in incs.iter_mut() {
            i.score = i.count as f64;
            i.new_since_deploy = deploy.is_some_and(|d| i.first_seen >= d) && now > 0;
        }
    };
    let ev = |id: &str, t: Millis, user: &str, release: &str| ErrorEvent {
        id: id.into(),
        timestamp: t,
        user: Some(user.into()),
        tenant: Some("acme".into()),
        release: Some(release.into()),
        ..Default::default()
    };
    let first = [ev("1", 60_000, "user:01", "r1"), ev("2", 61_000, "user:02", "r1")];
    let id = "INC-FP-A";
    s.ingest_batch(&batch(&[incident("A", 0.0)], &[(0, &first[0]), (0, &first[1])], false), &rank, "t", 1).unwrap();
    let a = s.incident(id).unwrap().unwrap();
    assert_eq!((a.count, a.users, a.first_seen, a.last_seen, a.rate.clone()), (2, 2, 60_000, 61_000, vec![2]));
    assert_eq!(a.releases, ["r1"]);
    // Someone resolves it; events of a new release bring it back.
    let mut resolved = a.clone();
    resolved.status = IncidentStatus::Resolved;
    s.put_incidents(&[resolved]).unwrap();
    let second = [ev("3", 180_000, "user:01", "r2")];
    s.ingest_batch(&batch(&[incident("A", 0.0)], &[(0, &second[0])], false), &rank, "t", 2).unwrap();
    let a = s.incident(id).unwrap().unwrap();
    assert_eq!((a.count, a.users, a.rate.clone()), (3, 2, vec![2, 0, 1]));
    assert_eq!(a.status, IncidentStatus::Regressed);
    assert_eq!(a.releases, ["r1", "r2"]);
    assert_eq!(a.score, 3.0, "ranked in the same transaction");
    assert_eq!(s.incident_releases(id).unwrap(), [("r1".to_string(), 60_000, 2), ("r2".to_string(), 180_000, 1)]);
}

#[test]
fn a_version_2_store_migrates_its_events_into_keys_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for (v, sql) in migrations::MIGRATIONS.iter().take(2) {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", v).unwrap();
        }
        let body =
            serde_json::to_string(&ErrorEvent { id: "e1".into(), timestamp: 5, release: Some("r".into()), ..Default::default() }).unwrap();
        conn.execute(
            "INSERT INTO incidents VALUES ('A', 'fp', 'open', 1, 5, 5, 1.0, ?1)",
            [serde_json::to_string(&incident("A", 1.0)).unwrap()],
        )
        .unwrap();
        conn.execute("INSERT INTO events VALUES ('e1', 'A', 5, ?1)", [body]).unwrap();
        conn.execute("INSERT INTO incident_users VALUES ('A', 'user:00000000000000ff')", []).unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert!(s.has_event("e1").unwrap());
    assert_eq!(s.event_count().unwrap(), 1);
    assert_eq!(s.samples("A").unwrap()[0].release.as_deref(), Some("r"));
    assert!(
        super::keys::contains(&s.conn, super::keys::Kind::User, user_key("A", 0xff)).unwrap(),
        "the user key is the one ingest computes"
    );
    assert!(!super::keys::contains(&s.conn, super::keys::Kind::User, user_key("A", 0xfe)).unwrap());
}
