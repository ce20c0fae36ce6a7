//! Ingest: turns error signals from outside into [`ErrorEvent`]s.
//!
//! Everything that arrives here is untrusted. Parsers never panic on bad input;
//! a bad record is rejected with a reason naming where it was (file and line).
//! Identifiers of people are replaced by keyed hashes (see [`redact`]) before
//! an event leaves this module, so raw values never reach the store.

pub mod redact;
pub mod sentry;

use std::io::BufRead;
use std::path::Path;

use crate::model::ErrorEvent;

/// Why one input record was not ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub location: String,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.reason)
    }
}

/// Reads a Sentry JSON-lines file, streaming: one line in memory at a time.
/// Calls `on_event` for each good event and collects rejections.
pub fn read_sentry_jsonl(
    path: &Path,
    redactor: &redact::Redactor,
    mut on_event: impl FnMut(ErrorEvent),
) -> std::io::Result<Vec<Rejection>> {
    let file = std::fs::File::open(path)?;
    let reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut rejected = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match sentry::parse_event(&line, redactor) {
            Ok(ev) => on_event(ev),
            Err(reason) => rejected.push(Rejection { location: format!("{}:{}", path.display(), i + 1), reason }),
        }
    }
    Ok(rejected)
}
