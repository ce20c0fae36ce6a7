//! The store: SQLite (WAL) and the only module that writes Suture's state.
//!
//! Every write is a transaction; a change to a patch and the audit entry that
//! records it commit together or not at all. Several processes may share one
//! file: readers notice others' commits through [`Store::data_version`], which
//! the console polls. `synchronous=FULL` so a commit that returned survives a
//! crash of the writer (tested with `kill -9`, see `tests/store_durability.rs`).
//!
//! Never: hold a transaction open across an await or user input; store a raw
//! secret or a raw user identifier (signals redact before they get here).

mod ingest;
mod keys;
mod migrations;
mod rollouts;

pub use ingest::parse_user as parse_user_key;
pub use ingest::{Batch, BatchIncident, EventKey, Ingested, NONE, RATE_MINUTES, SAMPLES_PER_RELEASE, event_key, user_key};

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::audit::chain;
use crate::audit::sign::Signers;
use crate::model::{AuditEntry, ErrorEvent, Incident, LifecycleError, Millis, Patch, PatchState, Transition};

pub use migrations::latest as schema_version;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create the store directory {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    #[error("corrupt record in {table} ({id}): {source}")]
    Corrupt { table: &'static str, id: String, source: serde_json::Error },
    #[error("encoding a record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the store at {path} has schema version {found}, newer than this build of suture understands ({known}); upgrade suture")]
    NewerSchema { path: String, found: u32, known: u32 },
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error("signing the audit entry: {0}")]
    Sign(#[from] crate::audit::sign::KeyError),
    #[error("{what} {id} changed underneath this write (expected revision {expected}, found {found}); nothing was written")]
    Conflict { what: &'static str, id: String, expected: u64, found: u64 },
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub use rollouts::{Point, RolloutAudit};

pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
    /// The writer's copy of the key chunks (read on the first ingest).
    keys: keys::KeySets,
    /// Who signs the audit entries this connection appends; without it,
    /// entries are unsigned and `suture audit verify` reports them.
    signer: Option<Signers>,
    /// Where this connection's person works from (`ssh 203.0.113.7`), kept
    /// on the decisions they make.
    origin: Option<String>,
}

/// Orders incidents (and sets their scores): called inside the ingest
/// transaction with the newest event time and when the latest release started.
pub type Ranker<'a> = &'a dyn Fn(&mut [Incident], Millis, Option<Millis>);

impl Store {
    /// Opens (creating if needed) the store at `path` and runs pending migrations.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir { path: dir.to_path_buf(), source })?;
        }
        let conn = Connection::open(path)?;
        let mut store = Store { conn, path: Some(path.to_path_buf()), keys: keys::KeySets::default(), signer: None, origin: None };
        store.init()?;
        Ok(store)
    }

    /// A private in-memory store, for tests and dry runs.
    pub fn open_in_memory() -> Result<Store> {
        let mut store =
            Store { conn: Connection::open_in_memory()?, path: None, keys: keys::KeySets::default(), signer: None, origin: None };
        store.init()?;
        Ok(store)
    }

    fn init(&mut self) -> Result<()> {
        self.conn.busy_timeout(Duration::from_secs(5))?;
        let _mode: String = self.conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        // Ingest touches many pages per batch; 64 MiB of page cache keeps the
        // key tables' upper levels in memory.
        self.conn.pragma_update(None, "cache_size", -65536)?;
        migrations::register_functions(&self.conn)?;
        rusqlite::vtab::array::load_module(&self.conn)?;
        self.migrate()
    }

    fn migrate(&mut self) -> Result<()> {
        let found: u32 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = migrations::latest();
        if found > known {
            let path = self.path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| ":memory:".into());
            return Err(StoreError::NewerSchema { path, found, known });
        }
        for (version, sql) in migrations::MIGRATIONS.iter().filter(|m| m.0 > found) {
            // IMMEDIATE so two processes opening a fresh store do not both migrate.
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if now < *version {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", version)?;
            }
            tx.commit()?;
        }
        Ok(())
    }

    /// Signs every audit entry appended from now on with these keys.
    pub fn set_signer(&mut self, signer: Signers) {
        self.signer = Some(signer);
    }

    pub fn set_origin(&mut self, origin: Option<String>) {
        self.origin = origin;
    }

    pub fn with_signer(mut self, signer: Signers) -> Store {
        self.signer = Some(signer);
        self
    }

    /// Changes whenever another connection commits to the file. Cheap; poll it.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check`: `"ok"` when the file is sound.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Deletes every record, the audit log included. Only for rebuilding a
    /// demo store (`suture demo --reset`); callers check what the store holds.
    pub fn clear_all(&mut self) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "DELETE FROM incidents; DELETE FROM patches; DELETE FROM audit; DELETE FROM meta;
             DELETE FROM key_chunks; DELETE FROM incident_minutes; DELETE FROM incident_dims; DELETE FROM releases;
             DELETE FROM samples; DELETE FROM message_groups;",
        )?;
        tx.commit()?;
        self.keys = keys::KeySets::default();
        Ok(())
    }

    /// Replaces incidents (after re-ranking) without touching events.
    pub fn put_incidents(&mut self, incidents: &[Incident]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for inc in incidents {
            upsert_incident(&tx, inc)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Incidents, highest priority first.
    pub fn incidents(&self) -> Result<Vec<Incident>> {
        list(&self.conn, "incidents", "SELECT id, body FROM incidents ORDER BY score DESC, last_seen DESC, id")
    }

    pub fn incident(&self, id: &str) -> Result<Option<Incident>> {
        one(&self.conn, "incidents", "SELECT id, body FROM incidents WHERE id = ?1", id)
    }

    pub fn incident_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Incident>> {
        one(&self.conn, "incidents", "SELECT id, body FROM incidents WHERE fingerprint = ?1", fingerprint)
    }

    /// Events stored (each counted once, whatever its incident).
    pub fn event_count(&self) -> Result<u64> {
        keys::count(&self.conn, keys::Kind::Event)
    }

    pub fn has_event(&self, id: &str) -> Result<bool> {
        keys::contains(&self.conn, keys::Kind::Event, event_key(id))
    }

    /// A whole event, when it was kept as a sample (see `store::ingest`).
    pub fn event(&self, id: &str) -> Result<Option<ErrorEvent>> {
        one(&self.conn, "samples", "SELECT id, body FROM samples WHERE id = ?1", id)
    }

    /// The releases an incident's events came from: `(release, first event, events)`, oldest first.
    pub fn incident_releases(&self, incident_id: &str) -> Result<Vec<(String, Millis, u64)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT release, first_seen, n FROM incident_releases WHERE incident_id = ?1 ORDER BY first_seen, release")?;
        let rows = stmt.query_map([incident_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Millis>(1)?, r.get::<_, i64>(2)? as u64)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Every release and its first event anywhere (when it was deployed, as far as events tell), oldest first.
    pub fn releases(&self) -> Result<Vec<(String, Millis)>> {
        let mut stmt = self.conn.prepare_cached("SELECT release, first_seen FROM releases ORDER BY first_seen, release")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Millis>(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Stores a new patch (state `Proposed`) with an audit entry.
    pub fn add_patch(&mut self, patch: &Patch, at: Millis) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        write_patch(&tx, patch)?;
        append_audit(&tx, self.signer.as_ref(), at, &patch.proposer.name, "propose", &format!("patch:{}", patch.id), &patch.digest)?;
        tx.commit()?;
        Ok(())
    }

    pub fn patch(&self, id: &str) -> Result<Option<Patch>> {
        read_patch(&self.conn, id)
    }

    pub fn patches(&self) -> Result<Vec<Patch>> {
        list(&self.conn, "patches", "SELECT id, body FROM patches ORDER BY created DESC, id")
    }

    /// Moves a patch through its lifecycle: reads it, applies the transition
    /// (which may refuse), writes it back and appends the audit entry, all in one
    /// transaction so a concurrent writer cannot interleave.
    pub fn transition_patch(&mut self, id: &str, t: Transition) -> Result<PatchState> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let to = transition_in(&tx, self.signer.as_ref(), self.origin.as_deref(), id, t)?;
        tx.commit()?;
        Ok(to)
    }

    /// Keeps a verification's step logs for `patch_id`, replacing the last
    /// verification's; returns each step's log reference.
    pub fn put_step_logs(&mut self, patch_id: &str, logs: &[(String, String)]) -> Result<Vec<String>> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM step_logs WHERE patch_id = ?1", [patch_id])?;
        let mut refs = Vec::new();
        for (step, text) in logs {
            tx.execute("INSERT INTO step_logs(patch_id, step, text) VALUES (?1, ?2, ?3)", rusqlite::params![patch_id, step, text])?;
            refs.push(format!("{patch_id}/{step}"));
        }
        tx.commit()?;
        Ok(refs)
    }

    /// A step log by its reference (`<patch id>/<step>`).
    pub fn step_log(&self, log_ref: &str) -> Result<Option<String>> {
        let Some((patch, step)) = log_ref.split_once('/') else { return Ok(None) };
        let mut stmt = self.conn.prepare_cached("SELECT text FROM step_logs WHERE patch_id = ?1 AND step = ?2")?;
        let mut rows = stmt.query(rusqlite::params![patch, step])?;
        Ok(match rows.next()? {
            Some(r) => Some(r.get(0)?),
            None => None,
        })
    }

    /// Appends an audit entry on its own (for actions that change no record,
    /// such as a break-glass declaration).
    pub fn audit(&mut self, at: Millis, actor: &str, action: &str, subject: &str, payload: &impl Serialize) -> Result<AuditEntry> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let e = append_audit(&tx, self.signer.as_ref(), at, actor, action, subject, payload)?;
        tx.commit()?;
        Ok(e)
    }

    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        Ok(self.audit_log()?.into_iter().map(|(e, _)| e).collect())
    }

    /// Every entry with its payload (canonical JSON), in order.
    pub fn audit_log(&self) -> Result<Vec<(AuditEntry, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, at, actor, action, subject, payload_digest, prev_hash, hash, signature, payload FROM audit ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                AuditEntry {
                    seq: r.get::<_, i64>(0)? as u64,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    subject: r.get(4)?,
                    payload_digest: r.get(5)?,
                    prev_hash: r.get(6)?,
                    hash: r.get(7)?,
                    signature: r.get(8)?,
                },
                r.get(9)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The log's signed head (absent before the first signed append).
    pub fn audit_head(&self) -> Result<Option<chain::Head>> {
        match self.meta(HEAD_KEY)? {
            None => Ok(None),
            Some(text) => {
                serde_json::from_str(&text).map(Some).map_err(|source| StoreError::Corrupt { table: "meta", id: HEAD_KEY.into(), source })
            }
        }
    }
}

/// Applies a lifecycle transition to a patch inside `tx`: reads it, applies
/// the transition (which may refuse), writes it back and appends the audit entry.
fn transition_in(tx: &Transaction<'_>, signer: Option<&Signers>, origin: Option<&str>, id: &str, t: Transition) -> Result<PatchState> {
    let mut patch = read_patch(tx, id)?.ok_or_else(|| StoreError::NotFound { what: "patch", id: id.into() })?;
    let action = t.name();
    let decides = matches!(
        t,
        Transition::Approve { .. } | Transition::Veto { .. } | Transition::RequestChanges { .. } | Transition::BreakGlass { .. }
    );
    let to = patch.apply(t)?;
    let decision = if decides { patch.approvals.last_mut() } else { None };
    if let Some(d) = decision {
        d.origin = origin.map(str::to_string);
    }
    write_patch(tx, &patch)?;
    #[derive(Serialize)]
    struct Payload<'a> {
        change: &'a crate::model::StateChange,
        #[serde(skip_serializing_if = "Option::is_none")]
        decision: Option<&'a crate::model::Approval>,
    }
    if let Some(change) = patch.history.last() {
        let payload = Payload { change, decision: if decides { patch.approvals.last() } else { None } };
        append_audit(tx, signer, change.at, &change.by, action, &format!("patch:{id}"), &payload)?;
    }
    Ok(to)
}

/// The meta key the audit log's signed head is kept under.
const HEAD_KEY: &str = "audit.head";

fn upsert_incident(tx: &Transaction<'_>, inc: &Incident) -> Result<()> {
    let body = serde_json::to_string(inc)?;
    tx.prepare_cached(
        "INSERT INTO incidents(id, fingerprint, status, count, first_seen, last_seen, score, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(id) DO UPDATE SET status = excluded.status, count = excluded.count,
           first_seen = excluded.first_seen, last_seen = excluded.last_seen, score = excluded.score, body = excluded.body",
    )?
    .execute(params![
        inc.id,
        inc.fingerprint,
        inc.status.label(),
        inc.count as i64,
        inc.first_seen,
        inc.last_seen,
        inc.score,
        body
    ])?;
    Ok(())
}

fn write_patch(tx: &Transaction<'_>, p: &Patch) -> Result<()> {
    let body = serde_json::to_string(p)?;
    tx.prepare_cached(
        "INSERT INTO patches(id, incident_id, state, created, body) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(id) DO UPDATE SET state = excluded.state, body = excluded.body",
    )?
    .execute(params![p.id, p.incident_id, p.state.label(), p.created, body])?;
    Ok(())
}

fn read_patch(conn: &Connection, id: &str) -> Result<Option<Patch>> {
    one(conn, "patches", "SELECT id, body FROM patches WHERE id = ?1", id)
}

fn decode<T: DeserializeOwned>(table: &'static str, id: String, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|source| StoreError::Corrupt { table, id, source })
}

/// Every record a `SELECT id, body …` returns, decoded.
fn list<T: DeserializeOwned>(conn: &Connection, table: &'static str, sql: &str) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    rows.map(|row| {
        let (id, body) = row?;
        decode(table, id, &body)
    })
    .collect()
}

/// The record a `SELECT id, body … WHERE … = ?1` finds, decoded.
fn one<T: DeserializeOwned>(conn: &Connection, table: &'static str, sql: &str, key: &str) -> Result<Option<T>> {
    let row: Option<(String, String)> = conn.query_row(sql, [key], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    row.map(|(id, body)| decode(table, id, &body)).transpose()
}

/// Appends one entry inside the caller's transaction: hashed onto the chain,
/// signed by the actor's key when this connection has signers, and the signed
/// head moved to it, so the entry, the head and the change they record commit
/// together or not at all.
fn append_audit(
    tx: &Transaction<'_>,
    signer: Option<&Signers>,
    at: Millis,
    actor: &str,
    action: &str,
    subject: &str,
    payload: &impl Serialize,
) -> Result<AuditEntry> {
    let payload = serde_json::to_string(payload)?;
    let last: Option<(i64, String)> =
        tx.query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq as u64 + 1, hash),
        None => (1, chain::GENESIS.to_string()),
    };
    let mut e = AuditEntry {
        seq,
        at,
        actor: actor.into(),
        action: action.into(),
        subject: subject.into(),
        payload_digest: chain::payload_digest(&payload),
        prev_hash,
        hash: String::new(),
        signature: String::new(),
    };
    e.hash = chain::entry_hash(&e);
    if let Some(signer) = signer {
        let key = signer.key_for(actor)?;
        e.signature = key.sign(e.hash.as_bytes());
        let head = chain::Head {
            seq: e.seq,
            hash: e.hash.clone(),
            actor: actor.into(),
            signature: key.sign(&chain::head_message(e.seq, &e.hash)),
        };
        tx.prepare_cached("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")?
            .execute(params![HEAD_KEY, serde_json::to_string(&head)?])?;
    }
    tx.prepare_cached(
        "INSERT INTO audit(seq, at, actor, action, subject, payload_digest, prev_hash, hash, signature, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        e.seq as i64,
        e.at,
        e.actor,
        e.action,
        e.subject,
        e.payload_digest,
        e.prev_hash,
        e.hash,
        e.signature,
        payload
    ])?;
    Ok(e)
}

#[cfg(test)]
mod tests;
