//! A record the store said was committed survives `kill -9` of the writer.
//!
//! The test re-runs its own binary as the writer (selected by an environment
//! variable), which commits events one transaction at a time through the real
//! store API and prints each id only after `ingest` returned. The parent kills
//! it with SIGKILL in the middle of the loop, reopens the file, checks
//! `PRAGMA integrity_check`, looks for every id the child reported, and
//! verifies the signed audit log the writer left.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use suture::audit::sign::{BOT, Key, Keyring, Signers};
use suture::ingest::Ingestor;
use suture::model::ErrorEvent;
use suture::store::Store;

const CHILD_ENV: &str = "SUTURE_TEST_WRITE_LOOP_DB";

fn keys() -> (Key, Key) {
    (Key::from_seed("writer", [11; 32]), Key::from_seed(BOT, [12; 32]))
}

fn child_write_loop(path: &str) {
    let (me, bot) = keys();
    let mut store = Store::open(std::path::Path::new(path)).expect("child opens the store").with_signer(Signers::new(Some(me), Some(bot)));
    for i in 0.. {
        let ev = ErrorEvent { id: format!("ev-{i:06}"), timestamp: i, message: Some(format!("write {i}")), ..Default::default() };
        let id = ev.id.clone();
        // One transaction per event: finish() returns once it committed.
        let mut ing = Ingestor::new(&mut store, "writer", i);
        ing.push(ev).expect("push");
        ing.finish().expect("commit");
        println!("committed {id}");
    }
}

#[test]
fn committed_records_survive_kill_9() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child_write_loop(&path);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("durable.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "committed_records_survive_kill_9", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut committed = Vec::new();
    // Kill once enough commits have been reported: mid-loop, by construction.
    while committed.len() < 300 {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(id) = line.strip_prefix("committed ") {
                    committed.push(id.to_string());
                }
            }
            _ => break,
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    // Lines already written before the kill are commits too.
    for line in lines.map_while(Result::ok) {
        if let Some(id) = line.strip_prefix("committed ") {
            committed.push(id.to_string());
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the writer was killed, not finished");
    assert!(committed.len() >= 300, "the writer reported {} commits before dying", committed.len());

    let store = Store::open(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    for id in &committed {
        assert!(store.has_event(id).unwrap(), "committed event {id} was lost");
    }
    let stored = store.event_count().unwrap() as usize;
    assert!(stored >= committed.len(), "at most one commit may be unreported ({stored} stored, {} reported)", committed.len());
    assert!(stored <= committed.len() + 1, "{stored} stored but only {} reported: {:?}", committed.len(), committed.last());
    // The log a killed writer leaves verifies in full: chain, signatures and
    // the signed head, which commits with the entry it names.
    let (me, bot) = keys();
    let mut ring = Keyring::default();
    for k in [&me, &bot] {
        ring.admit(k, std::path::Path::new("k"), std::path::Path::new("f")).unwrap();
    }
    let log = store.audit_log().unwrap();
    let verified = suture::audit::chain::verify_log(&log, store.audit_head().unwrap().as_ref(), &ring);
    assert_eq!(verified.map(|v| v.entries), Ok(stored), "one signed audit entry per committed batch, chain and head intact");
}
