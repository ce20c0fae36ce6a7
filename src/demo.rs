//! The demo world: `fixtures/demo/`, a small Python shop service with real
//! bugs, recorded error events, repro specs, a flag file and recorded traffic.
//! This module loads its events into a store. The demo always gets a store of
//! its own (`demo.db` in the data dir unless one is named), so demo data never
//! mixes with real incidents.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::Triage;
use crate::ingest::{IngestError, Ingestor, ingest_path};
use crate::model::Millis;
use crate::signals::Rejection;
use crate::signals::redact::Redactor;
use crate::store::{Store, StoreError};

/// `meta` key naming what a store holds; `demo` for the demo world.
pub const WORLD_KEY: &str = "world";

#[derive(Debug, Error)]
pub enum DemoError {
    #[error("the demo world is not at {0}: set demo.root in suture.toml to where fixtures/demo is")]
    Missing(PathBuf),
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store holds `{0}`, not the demo world; refusing to reset it")]
    NotDemo(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub ingested: usize,
    pub rejected: Vec<Rejection>,
    pub incidents: usize,
}

/// The Sentry events file of a demo root.
pub fn sentry_events(root: &Path) -> PathBuf {
    root.join("events/sentry.jsonl")
}

/// The OpenTelemetry log records of a demo root: the same failures, seen
/// through an OTLP exporter (stack text instead of structured frames).
pub fn otlp_events(root: &Path) -> PathBuf {
    root.join("events/otlp-logs.json")
}

/// The demo world's grouping configuration: the service runs from
/// `/srv/shop/`, so frames under it are application code (stack text from
/// OTLP does not say).
pub fn triage() -> Triage {
    Triage { in_app: vec!["/srv/shop/".into()], ..Default::default() }
}

/// Loads the demo's events into `store` through the ingest engine.
pub fn load(store: &mut Store, root: &Path, redactor: &Redactor, now: Millis) -> Result<Loaded, DemoError> {
    let path = sentry_events(root);
    if !path.exists() {
        return Err(DemoError::Missing(root.to_path_buf()));
    }
    // One transaction: the demo world is the same store, audit log included, on every machine.
    let grouper = crate::triage::fingerprint::Grouper::new(&triage());
    // One transaction: the demo world is the same store, audit log included, on every machine.
    let mut ingestor =
        Ingestor::new(store, "suture/demo", now).with_grouper(grouper).with_flush_every(std::time::Duration::from_secs(24 * 3600));
    for file in [path.clone(), otlp_events(root)] {
        ingest_path(&file, redactor, &mut ingestor, |_| {}).map_err(|e| match e {
            IngestError::Io { source, .. } => DemoError::Read { path: file.clone(), source },
            IngestError::Format { reason, .. } => DemoError::Read { path: file.clone(), source: std::io::Error::other(reason) },
            IngestError::Store(e) => DemoError::Store(e),
        })?;
    }
    let report = ingestor.finish()?;
    store.set_meta(WORLD_KEY, "demo")?;
    Ok(Loaded { ingested: report.ingested, rejected: report.reasons, incidents: store.incidents()?.len() })
}

/// Empties a demo store and loads the demo again.
pub fn reset(store: &mut Store, root: &Path, redactor: &Redactor, now: Millis) -> Result<Loaded, DemoError> {
    match store.meta(WORLD_KEY)? {
        Some(w) if w != "demo" => return Err(DemoError::NotDemo(w)),
        _ => {}
    }
    store.clear_all()?;
    load(store, root, redactor, now)
}
