//! The ingest engine: parsed events are fingerprinted, assigned to incidents
//! and written to the store in batches (one transaction each, see
//! `Store::ingest`). Every source — the demo world, `suture ingest`, later
//! followed files and the OTLP receiver — goes through [`Ingestor`], so
//! grouping and counting are the same whatever the input.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::Path;

use crate::model::{ErrorEvent, Incident, Millis};
use crate::signals::redact::Redactor;
use crate::signals::{Rejection, sentry};
use crate::store::{NewEvent, Store, StoreError};
use crate::triage::{cluster, rank};

/// Events per store transaction: large enough to amortize the commit's fsync,
/// small enough that an open console sees progress.
pub const BATCH: usize = 2_000;

/// Rejection reasons kept verbatim; beyond this they are only counted.
pub const KEPT_REASONS: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub ingested: usize,
    /// Events already in the store (same id), skipped.
    pub duplicates: usize,
    pub rejected: usize,
    pub reasons: Vec<Rejection>,
    pub incidents: BTreeSet<String>,
}

impl Report {
    pub fn summary(&self) -> String {
        format!("{} ingested, {} rejected", self.ingested, self.rejected)
    }
}

pub struct Ingestor<'a> {
    store: &'a mut Store,
    actor: String,
    at: Millis,
    batch: Vec<(ErrorEvent, String)>,
    skeletons: BTreeMap<String, Incident>,
    report: Report,
}

impl<'a> Ingestor<'a> {
    pub fn new(store: &'a mut Store, actor: impl Into<String>, at: Millis) -> Ingestor<'a> {
        Ingestor { store, actor: actor.into(), at, batch: Vec::with_capacity(BATCH), skeletons: BTreeMap::new(), report: Report::default() }
    }

    pub fn push(&mut self, ev: ErrorEvent) -> Result<(), StoreError> {
        let skeleton = cluster::skeleton(&ev);
        let id = skeleton.id.clone();
        self.skeletons.entry(id.clone()).or_insert(skeleton);
        self.batch.push((ev, id));
        if self.batch.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    pub fn reject(&mut self, r: Rejection) {
        self.report.rejected += 1;
        if self.report.reasons.len() < KEPT_REASONS {
            self.report.reasons.push(r);
        }
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let events: Vec<NewEvent> = self.batch.iter().map(|(event, id)| NewEvent { event, incident_id: id }).collect();
        let skeletons: Vec<Incident> = std::mem::take(&mut self.skeletons).into_values().collect();
        let done = self.store.ingest(&events, &skeletons, &|incs, now, deploy| rank::rank(incs, now, deploy), &self.actor, self.at)?;
        self.report.ingested += done.added;
        self.report.duplicates += events.len() - done.added;
        self.report.incidents.extend(done.touched);
        self.batch.clear();
        Ok(())
    }

    pub fn finish(mut self) -> Result<Report, StoreError> {
        self.flush()?;
        Ok(self.report)
    }
}

/// Why a file could not be ingested at all (a bad record is a rejection, not this).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Longest line accepted; a longer one is rejected, not read into memory whole.
pub const MAX_LINE: usize = 8 << 20;

/// Ingests a Sentry JSON-lines file, streaming a line at a time. `progress`
/// is called with bytes read so far.
pub fn ingest_sentry_lines(
    path: &Path,
    redactor: &Redactor,
    ingestor: &mut Ingestor<'_>,
    mut progress: impl FnMut(u64),
) -> Result<(), IngestError> {
    let io = |source| IngestError::Io { path: path.display().to_string(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut read: u64 = 0;
    for lineno in 1.. {
        buf.clear();
        let n = read_line_capped(&mut reader, &mut buf, MAX_LINE).map_err(io)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        if lineno % 1024 == 0 {
            progress(read);
        }
        let location = || format!("{}:{lineno}", path.display());
        if n > MAX_LINE {
            ingestor.reject(Rejection { location: location(), reason: format!("line longer than {} MiB", MAX_LINE >> 20) });
            continue;
        }
        let line = match std::str::from_utf8(&buf) {
            Ok(l) => l.trim(),
            Err(e) => {
                ingestor.reject(Rejection { location: location(), reason: format!("not UTF-8 ({e})") });
                continue;
            }
        };
        if line.is_empty() {
            continue;
        }
        match sentry::parse_event(line, redactor) {
            Ok(ev) => ingestor.push(ev)?,
            Err(reason) => ingestor.reject(Rejection { location: location(), reason }),
        }
    }
    progress(read);
    Ok(())
}

/// Reads one line into `buf`, keeping at most `cap` bytes of it (the rest is
/// consumed and dropped). Returns the line's full length in bytes.
fn read_line_capped(r: &mut impl BufRead, buf: &mut Vec<u8>, cap: usize) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(total);
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if buf.len() < cap {
            let room = cap.saturating_sub(buf.len()).min(take);
            buf.extend_from_slice(&chunk[..room]);
        }
        total += take;
        r.consume(take);
        if done {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_lines_are_consumed_whole_but_kept_short() {
        let data = b"short\nmuch longer line here\nend";
        let mut r = std::io::BufReader::with_capacity(4, &data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut buf, 100).unwrap(), 6);
        assert_eq!(buf, b"short\n");
        buf.clear();
        assert_eq!(read_line_capped(&mut r, &mut buf, 4).unwrap(), 22);
        assert_eq!(buf, b"much");
        buf.clear();
        assert_eq!(read_line_capped(&mut r, &mut buf, 100).unwrap(), 3);
        assert_eq!(buf, b"end");
        buf.clear();
        assert_eq!(read_line_capped(&mut r, &mut buf, 100).unwrap(), 0);
    }

    #[test]
    fn ingesting_twice_counts_duplicates_and_merges_incidents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let ev = |id: &str, t: &str, user: &str| {
            format!(
                r#"{{"event_id":"{id}","timestamp":"{t}","release":"shop@1","user":{{"id":"{user}"}},"exception":{{"values":[{{"type":"TypeError","value":"x","stacktrace":{{"frames":[{{"module":"app.a","function":"f","in_app":true,"lineno":3}}]}}}}]}}}}"#
            )
        };
        let lines = [
            ev("a", "2026-11-20T10:00:00Z", "u1"),
            ev("b", "2026-11-20T10:01:00Z", "u2"),
            "{broken".into(),
            String::new(),
            ev("c", "2026-11-20T10:02:00Z", "u1"),
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let mut store = Store::open_in_memory().unwrap();
        let r = Redactor::new([9; 32]);
        for round in 0..2 {
            let mut ing = Ingestor::new(&mut store, "test", 0);
            ingest_sentry_lines(&path, &r, &mut ing, |_| {}).unwrap();
            let report = ing.finish().unwrap();
            assert_eq!(report.rejected, 1);
            assert!(report.reasons[0].location.ends_with("e.jsonl:3"), "{:?}", report.reasons);
            assert_eq!((report.ingested, report.duplicates), if round == 0 { (3, 0) } else { (0, 3) });
        }
        let incs = store.incidents().unwrap();
        assert_eq!(incs.len(), 1);
        assert_eq!((incs[0].count, incs[0].users), (3, 2));
        assert_eq!(incs[0].rate, [1, 1, 1]);
        assert!(incs[0].score > 0.0, "ranked inside the ingest transaction");
    }
}
