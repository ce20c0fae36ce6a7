//! The demo world groups into exactly its documented distinct failures
//! (fixtures/demo/README.md): the three bugs and five kinds of noise, with
//! Sentry events and OTLP records of a bug in the same incident, despite line
//! numbers that moved between the two releases.

use suture::model::Incident;
use suture::signals::redact::Redactor;
use suture::store::Store;

fn demo() -> Vec<Incident> {
    let mut store = Store::open_in_memory().unwrap();
    let root = suture::config::paths::builtin_demo_root();
    let loaded = suture::demo::load(&mut store, &root, &Redactor::new([4; 32]), 0).unwrap();
    assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
    assert_eq!(loaded.ingested, 5600);
    store.incidents().unwrap()
}

#[test]
fn the_demo_falls_into_exactly_its_eight_failures() {
    let incidents = demo();
    let mut seen: Vec<(String, u64)> = incidents.iter().map(|i| (i.title.clone(), i.count)).collect();
    seen.sort();
    let expect = [
        ("ConnectionResetError: [Errno 104] Connection reset by peer", 90),
        ("IndexError: list index out of range", 1650),
        ("InventoryError: inventory sync failed", 50),
        ("JSONDecodeError: Expecting value: line 1 column 1 (char 0)", 70),
        ("KeyError: 'EU-LEGACY'", 1000),
        ("TypeError: 'NoneType' object is not subscriptable", 2650),
        ("ZeroDivisionError: integer division or modulo by zero", 30),
    ];
    assert_eq!(incidents.len(), 8, "{seen:#?}");
    for (title, count) in expect {
        assert!(seen.iter().any(|(t, c)| t == title && *c == count), "no incident {title:?} with {count} events in {seen:#?}");
    }
    // The message-only timeouts are one incident whatever the numbers and addresses.
    let timeouts: Vec<&(String, u64)> = seen.iter().filter(|(t, _)| t.starts_with("timeout after")).collect();
    assert_eq!(timeouts.len(), 1, "{seen:#?}");
    assert_eq!(timeouts[0].1, 60);
}

#[test]
fn each_bug_spans_both_releases_and_both_sources() {
    let incidents = demo();
    let pricing = incidents.iter().find(|i| i.title.starts_with("TypeError")).unwrap();
    assert_eq!(pricing.releases.len(), 2, "line numbers moved between releases, the incident did not split: {:?}", pricing.releases);
    assert!(pricing.grouping.iter().any(|c| c == "frame:app.pricing:apply_discount"), "{:?}", pricing.grouping);
    let tax = incidents.iter().find(|i| i.title.starts_with("KeyError")).unwrap();
    assert!(tax.new_since_deploy, "the legacy-tax bug started with the second deploy");
    assert_eq!(tax.releases.len(), 1);
}
