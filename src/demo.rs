//! The demo world: `fixtures/demo/`, a small Python shop service with real
//! bugs, recorded error events, repro specs, a flag file and recorded traffic.
//! This module loads its events into a store. The demo always gets a store of
//! its own (`demo.db` in the data dir unless one is named), so demo data never
//! mixes with real incidents.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::model::Millis;
use crate::signals::redact::Redactor;
use crate::signals::{Rejection, read_sentry_jsonl};
use crate::store::{NewEvent, Store, StoreError};
use crate::triage::cluster::Clusterer;
use crate::triage::rank::rank;

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

/// Loads the demo's events into `store`, clustering and ranking them.
pub fn load(store: &mut Store, root: &Path, redactor: &Redactor, now: Millis) -> Result<Loaded, DemoError> {
    let path = sentry_events(root);
    if !path.exists() {
        return Err(DemoError::Missing(root.to_path_buf()));
    }
    let mut events = Vec::new();
    let rejected =
        read_sentry_jsonl(&path, redactor, |e| events.push(e)).map_err(|source| DemoError::Read { path: path.clone(), source })?;
    let mut clusterer = Clusterer::default();
    let ids: Vec<String> = events.iter().map(|e| clusterer.add(e)).collect();
    let mut incidents = clusterer.finish();
    let latest = events.iter().map(|e| e.timestamp).max().unwrap_or(now);
    rank(&mut incidents, latest, latest_deploy(&events));
    let batch: Vec<NewEvent> = events.iter().zip(&ids).map(|(event, id)| NewEvent { event, incident_id: id }).collect();
    let ingested = store.ingest(&batch, &incidents, "suture/demo", now)?;
    store.set_meta(WORLD_KEY, "demo")?;
    Ok(Loaded { ingested, rejected, incidents: incidents.len() })
}

/// When the newest release was first seen: the start of the latest deploy.
pub fn latest_deploy(events: &[crate::model::ErrorEvent]) -> Option<Millis> {
    let mut first_seen: std::collections::HashMap<&str, Millis> = std::collections::HashMap::new();
    for e in events {
        if let Some(r) = e.release.as_deref() {
            let t = first_seen.entry(r).or_insert(e.timestamp);
            *t = (*t).min(e.timestamp);
        }
    }
    if first_seen.len() < 2 {
        return None; // one release: nothing is "new since the deploy"
    }
    first_seen.values().copied().max()
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
