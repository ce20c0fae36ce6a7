//! Writing ingested events: one transaction per batch.
//!
//! The store does not keep every event. It keeps what an incident console
//! needs, at a cost per event of one small insert:
//! - a 64-bit key per event id (`event_keys`), so re-ingesting is harmless;
//! - per incident: counts, first/last seen, distinct users (a 64-bit key per
//!   incident and user, `user_keys`), per-minute counts, tenants, regions,
//!   releases and flags;
//! - a few whole events per incident and release (`samples`): the
//!   representative (the first) and the next ones up to
//!   [`SAMPLES_PER_RELEASE`], so the Incident view can show the stack of
//!   each deploy.
//!
//! Keys are the first 8 bytes of a SHA-256; two different ids share a key
//! with probability n²/2⁶⁵ (one in 37 million for a million events), and
//! then the second counts as a duplicate.

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use rusqlite::{Transaction, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::keys::{KeySets, Kind};
use super::{Ranker, Result, Store, StoreError, append_audit, one, upsert_incident};
use crate::model::{ErrorEvent, Incident, IncidentStatus, Millis};

/// Whole events kept per incident and release.
pub const SAMPLES_PER_RELEASE: u32 = 3;

/// How many minutes of per-minute rate an incident keeps (24 hours).
pub const RATE_MINUTES: usize = 24 * 60;

/// No value (for the interned dimension indices of [`EventKey`]).
pub const NONE: u32 = u32::MAX;

fn key64(parts: &[&[u8]]) -> i64 {
    // Each part followed by a 0 byte, hashed in one call (one buffer on the
    // stack for the usual short ids).
    let len: usize = parts.iter().map(|p| p.len() + 1).sum();
    let d = if len <= 128 {
        let mut buf = [0u8; 128];
        let mut at = 0;
        for p in parts {
            buf[at..at + p.len()].copy_from_slice(p);
            at += p.len() + 1;
        }
        Sha256::digest(&buf[..len])
    } else {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
            h.update([0]);
        }
        h.finalize()
    };
    i64::from_be_bytes(d[..8].try_into().expect("a sha256 digest has 32 bytes"))
}

/// The dedup key of an event id.
pub fn event_key(id: &str) -> i64 {
    key64(&[b"event", id.as_bytes()])
}

/// The distinct-user key of a user (its keyed hash) within an incident.
pub fn user_key(incident_id: &str, user: u64) -> i64 {
    key64(&[b"user", incident_id.as_bytes(), &user.to_be_bytes()])
}

/// Parses a stored user key (`user:0123456789abcdef`) into its number.
pub fn parse_user(text: &str) -> Option<u64> {
    u64::from_str_radix(text.strip_prefix("user:")?, 16).ok()
}

/// One incident a batch touches: found by fingerprint, or created from the
/// skeleton (made from its first event).
#[derive(Debug, Clone)]
pub struct BatchIncident {
    pub skeleton: Incident,
}

/// One event, reduced to what the aggregates need. Dimension values are
/// indices into [`Batch::strings`] ([`NONE`] when absent).
#[derive(Debug, Clone, Copy)]
pub struct EventKey {
    pub key: i64,
    /// Index into [`Batch::incidents`].
    pub incident: u32,
    pub ts: Millis,
    pub user: Option<u64>,
    pub tenant: u32,
    pub region: u32,
    pub release: u32,
    pub service: u32,
    /// Index into [`Batch::flag_sets`], or [`NONE`].
    pub flags: u32,
}

/// Events to write in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    pub incidents: Vec<BatchIncident>,
    pub strings: Vec<String>,
    /// Sets of `key=variant` strings (indices into `strings`).
    pub flag_sets: Vec<Vec<u32>>,
    pub events: Vec<EventKey>,
    /// Whole events to keep, with the index of their incident.
    pub samples: Vec<(u32, ErrorEvent)>,
    /// Message groups founded or widened (`(seed, template)`, see `triage::drain`).
    pub message_groups: Vec<(String, String)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
    pub fn clear(&mut self) {
        self.incidents.clear();
        self.strings.clear();
        self.flag_sets.clear();
        self.events.clear();
        self.samples.clear();
        self.message_groups.clear();
    }
}

/// What one ingest batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub added: usize,
    /// The id of each of the batch's incidents, in order.
    pub ids: Vec<String>,
    /// Incidents that got new events.
    pub touched: Vec<String>,
}

#[derive(Default, Clone, Copy)]
struct Delta {
    count: u64,
    users: u64,
    first: Millis,
    last: Millis,
}

impl Store {
    /// Writes a batch in one transaction: resolves or creates its incidents,
    /// skips events already stored, updates each touched incident's
    /// aggregates (a resolved incident that gets new events is marked
    /// regressed), keeps samples, re-ranks every incident with `rank`, and
    /// appends one audit entry.
    pub fn ingest_batch(&mut self, batch: &Batch, rank: Ranker<'_>, actor: &str, at: Millis) -> Result<Ingested> {
        let result = ingest_in_tx(&mut self.conn, &mut self.keys, self.signer.as_ref(), batch, rank, actor, at);
        if result.is_err() {
            // The transaction rolled back: memory may hold keys the file does not.
            self.keys = KeySets::default();
        }
        result
    }

    /// The message groups grouping learned, in founding order (`(seed, template)`).
    pub fn message_groups(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached("SELECT seed, template FROM message_groups ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// How many samples an incident (by fingerprint) keeps of a release.
    pub fn sample_count(&self, fingerprint: &str, release: Option<&str>) -> Result<u32> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM samples s JOIN incidents i ON s.incident_id = i.id WHERE i.fingerprint = ?1 AND s.release IS ?2",
            params![fingerprint, release],
            |r| r.get(0),
        )?)
    }

    /// The whole events kept for an incident, oldest first.
    pub fn samples(&self, incident_id: &str) -> Result<Vec<ErrorEvent>> {
        let mut stmt = self.conn.prepare_cached("SELECT id, body FROM samples WHERE incident_id = ?1 ORDER BY ts, id")?;
        let rows = stmt.query_map([incident_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row?;
            out.push(super::decode("samples", id, &body)?);
        }
        Ok(out)
    }
}

fn ingest_in_tx(
    conn: &mut rusqlite::Connection,
    keys: &mut KeySets,
    signer: Option<&crate::audit::sign::Signers>,
    batch: &Batch,
    rank: Ranker<'_>,
    actor: &str,
    at: Millis,
) -> Result<Ingested> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    keys.catch_up(&tx)?;
    let ids = batch.incidents.iter().map(|b| resolve_incident(&tx, &b.skeleton)).collect::<Result<Vec<String>>>()?;
    let mut deltas = vec![Delta { first: Millis::MAX, last: Millis::MIN, ..Default::default() }; ids.len()];
    // Per event: its key, then one entry per (incident, minute, release)
    // and one per distinct set of dimensions; expanded per table below.
    let mut per_minute: HashMap<(u32, i64, u32), (Millis, i64)> = HashMap::default();
    let mut pairs: HashSet<(u32, u64)> = HashSet::default();
    let mut dim_sets: HashSet<(u32, [u32; 5])> = HashSet::default();
    let mut added = 0;
    let fresh = keys.add(&tx, Kind::Event, batch.events.iter().map(|e| e.key))?;
    for (e, _) in batch.events.iter().zip(&fresh).filter(|(_, new)| **new) {
        added += 1;
        let d = &mut deltas[e.incident as usize];
        d.count += 1;
        d.first = d.first.min(e.ts);
        d.last = d.last.max(e.ts);
        let m = per_minute.entry((e.incident, e.ts.div_euclid(60_000), e.release)).or_insert((e.ts, 0));
        m.0 = m.0.min(e.ts);
        m.1 += 1;
        if let Some(u) = e.user {
            pairs.insert((e.incident, u));
        }
        dim_sets.insert((e.incident, [e.tenant, e.region, e.release, e.service, e.flags]));
    }
    let mut minutes: HashMap<(u32, i64), i64> = HashMap::default();
    let mut releases: HashMap<u32, Millis> = HashMap::default();
    let mut per_release: HashMap<(u32, u32), (Millis, i64)> = HashMap::default();
    for ((inc, minute, rel), (first, n)) in &per_minute {
        *minutes.entry((*inc, *minute)).or_default() += n;
        if *rel != NONE {
            let r = releases.entry(*rel).or_insert(*first);
            *r = (*r).min(*first);
            let p = per_release.entry((*inc, *rel)).or_insert((*first, 0));
            p.0 = p.0.min(*first);
            p.1 += n;
        }
    }
    let mut dims: HashSet<(u32, &'static str, u32)> = HashSet::default();
    for (inc, [tenant, region, release, service, flags]) in &dim_sets {
        for (kind, v) in [("tenant", tenant), ("region", region), ("release", release), ("service", service)] {
            if *v != NONE {
                dims.insert((*inc, kind, *v));
            }
        }
        if *flags != NONE {
            for f in &batch.flag_sets[*flags as usize] {
                dims.insert((*inc, "flag", *f));
            }
        }
    }
    if added > 0 {
        let keyed: Vec<(i64, u32)> = pairs.iter().map(|(inc, u)| (user_key(&ids[*inc as usize], *u), *inc)).collect();
        let fresh = keys.add(&tx, Kind::User, keyed.iter().map(|(k, _)| *k))?;
        for ((_, inc), _) in keyed.iter().zip(&fresh).filter(|(_, new)| **new) {
            deltas[*inc as usize].users += 1;
        }
        let mut minute = tx.prepare_cached(
            "INSERT INTO incident_minutes(incident_id, minute, n) VALUES (?1, ?2, ?3)
             ON CONFLICT(incident_id, minute) DO UPDATE SET n = n + excluded.n",
        )?;
        for ((inc, m), n) in &minutes {
            minute.execute(params![ids[*inc as usize], m, n])?;
        }
        let mut dim = tx.prepare_cached("INSERT OR IGNORE INTO incident_dims(incident_id, kind, value) VALUES (?1, ?2, ?3)")?;
        for (inc, kind, v) in &dims {
            dim.execute(params![ids[*inc as usize], kind, batch.strings[*v as usize]])?;
        }
        let mut release = tx.prepare_cached(
            "INSERT INTO releases(release, first_seen) VALUES (?1, ?2)
             ON CONFLICT(release) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen)",
        )?;
        for (r, ts) in &releases {
            release.execute(params![batch.strings[*r as usize], ts])?;
        }
        let mut inc_release = tx.prepare_cached(
            "INSERT INTO incident_releases(incident_id, release, first_seen, n) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(incident_id, release) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), n = n + excluded.n",
        )?;
        for ((inc, r), (first, n)) in &per_release {
            inc_release.execute(params![ids[*inc as usize], batch.strings[*r as usize], first, n])?;
        }
    }
    {
        let mut group = tx.prepare_cached(
            "INSERT INTO message_groups(seed, template) VALUES (?1, ?2)
             ON CONFLICT(seed) DO UPDATE SET template = excluded.template",
        )?;
        for (seed, template) in &batch.message_groups {
            group.execute(params![seed, template])?;
        }
    }
    {
        let mut sample =
            tx.prepare_cached("INSERT OR IGNORE INTO samples(incident_id, id, ts, release, body) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        for (inc, ev) in &batch.samples {
            sample.execute(params![ids[*inc as usize], ev.id, ev.timestamp, ev.release, serde_json::to_string(ev)?])?;
        }
    }
    let mut touched = BTreeSet::new();
    if added > 0 {
        for (i, d) in deltas.iter().enumerate().filter(|(_, d)| d.count > 0) {
            let id = &ids[i];
            let mut inc = one::<Incident>(&tx, "incidents", "SELECT id, body FROM incidents WHERE id = ?1", id)?
                .ok_or_else(|| StoreError::NotFound { what: "incident", id: id.clone() })?;
            if inc.status == IncidentStatus::Resolved && inc.count > 0 {
                inc.status = IncidentStatus::Regressed;
            }
            inc.first_seen = if inc.count == 0 { d.first } else { inc.first_seen.min(d.first) };
            inc.last_seen = if inc.count == 0 { d.last } else { inc.last_seen.max(d.last) };
            inc.count += d.count;
            inc.users += d.users;
            refresh(&tx, &mut inc)?;
            upsert_incident(&tx, &inc)?;
            touched.insert(id.clone());
        }
        let mut all: Vec<Incident> = super::list(&tx, "incidents", "SELECT id, body FROM incidents")?;
        let now: Millis = tx.query_row("SELECT coalesce(max(last_seen), 0) FROM incidents", [], |r| r.get(0))?;
        let (n_releases, newest): (i64, Option<Millis>) =
            tx.query_row("SELECT count(*), max(first_seen) FROM releases", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        // With a single release nothing is "new since the deploy".
        rank(&mut all, now, if n_releases >= 2 { newest } else { None });
        for inc in &all {
            upsert_incident(&tx, inc)?;
        }
        #[derive(Serialize)]
        struct Payload<'a> {
            events: usize,
            incidents: &'a BTreeSet<String>,
        }
        append_audit(&tx, signer, at, actor, "ingest", "events", &Payload { events: added, incidents: &touched })?;
    }
    tx.commit()?;
    Ok(Ingested { added, ids, touched: touched.into_iter().collect() })
}

/// The incident of a fingerprint, created from the skeleton when new. A new
/// incident's short id is lengthened when another fingerprint has it already.
fn resolve_incident(tx: &Transaction<'_>, skeleton: &Incident) -> Result<String> {
    use rusqlite::OptionalExtension;
    let found: Option<String> =
        tx.query_row("SELECT id FROM incidents WHERE fingerprint = ?1", [&skeleton.fingerprint], |r| r.get(0)).optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    let mut inc = skeleton.clone();
    let mut len = 6;
    loop {
        inc.id = format!("INC-{}", skeleton.fingerprint[..len.min(skeleton.fingerprint.len())].to_ascii_uppercase());
        let taken: Option<i64> = tx.query_row("SELECT 1 FROM incidents WHERE id = ?1", [&inc.id], |r| r.get(0)).optional()?;
        if taken.is_none() || len >= skeleton.fingerprint.len() {
            break;
        }
        len += 2;
    }
    inc.count = 0;
    upsert_incident(tx, &inc)?;
    Ok(inc.id)
}

/// Re-reads an incident's rate series and dimensions from the aggregate tables.
fn refresh(tx: &Transaction<'_>, inc: &mut Incident) -> Result<()> {
    let id = inc.id.clone();
    let dims = |kind: &str| -> Result<Vec<String>> {
        let mut stmt = tx.prepare_cached("SELECT value FROM incident_dims WHERE incident_id = ?1 AND kind = ?2 ORDER BY value")?;
        let rows = stmt.query_map(params![id, kind], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    };
    inc.tenants = dims("tenant")?;
    inc.regions = dims("region")?;
    inc.releases = dims("release")?;
    inc.flags = dims("flag")?;
    inc.services = dims("service")?;
    let last_minute = inc.last_seen.div_euclid(60_000);
    let first_minute = (last_minute - RATE_MINUTES as i64 + 1).max(inc.first_seen.div_euclid(60_000));
    let mut rate = vec![0u32; (last_minute - first_minute + 1).max(0) as usize];
    let mut stmt = tx.prepare_cached("SELECT minute, n FROM incident_minutes WHERE incident_id = ?1 AND minute >= ?2")?;
    for row in stmt.query_map(params![id, first_minute], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
        let (m, n) = row?;
        if let Some(slot) = rate.get_mut((m - first_minute) as usize) {
            *slot = u32::try_from(n).unwrap_or(u32::MAX);
        }
    }
    inc.rate_start = first_minute * 60_000;
    inc.rate = rate;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_sha256_of_nul_terminated_parts_whatever_their_length() {
        for id in ["e1".to_string(), "x".repeat(200)] {
            let text = format!("event\0{id}\0");
            let want = i64::from_be_bytes(Sha256::digest(text.as_bytes())[..8].try_into().unwrap());
            assert_eq!(event_key(&id), want, "id of {} bytes", id.len());
        }
        // Stored keys must stay findable: pinned to Python's
        // hashlib.sha256(b"event\x00e1\x00"), first 8 bytes, big-endian.
        assert_eq!(event_key("e1"), 458_267_161_812_234_109);
    }
}
