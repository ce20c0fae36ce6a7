//! Versioned schema migrations, applied in order at open. `PRAGMA user_version`
//! records the last applied one. Migrations are append-only: never edit one that
//! has shipped; add the next.

pub const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL,
    count       INTEGER NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    score       REAL NOT NULL,
    body        TEXT NOT NULL
);
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    ts          INTEGER NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX events_by_incident ON events(incident_id, ts);
CREATE TABLE patches (
    id          TEXT PRIMARY KEY,
    incident_id TEXT,
    state       TEXT NOT NULL,
    created     INTEGER NOT NULL,
    body        TEXT NOT NULL
);
CREATE TABLE audit (
    seq            INTEGER PRIMARY KEY,
    at             INTEGER NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    payload_digest TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL,
    signature      TEXT NOT NULL,
    payload        TEXT NOT NULL
);
"#,
    ),
    (
        2,
        r#"
-- Incident aggregates, maintained per inserted event so a batch costs O(batch):
-- distinct users, per-minute counts, tenants/regions/releases, and when each
-- release was first seen (for "new since the latest deploy").
CREATE TABLE incident_users (
    incident_id TEXT NOT NULL,
    user_key    TEXT NOT NULL,
    PRIMARY KEY (incident_id, user_key)
) WITHOUT ROWID;
CREATE TABLE incident_minutes (
    incident_id TEXT NOT NULL,
    minute      INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (incident_id, minute)
) WITHOUT ROWID;
CREATE TABLE incident_dims (
    incident_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (incident_id, kind, value)
) WITHOUT ROWID;
CREATE TABLE releases (
    release    TEXT PRIMARY KEY,
    first_seen INTEGER NOT NULL
);
INSERT OR IGNORE INTO incident_users
    SELECT incident_id, json_extract(body, '$.user') FROM events WHERE json_extract(body, '$.user') IS NOT NULL;
INSERT INTO incident_minutes
    SELECT incident_id, ts / 60000, count(*) FROM events GROUP BY incident_id, ts / 60000;
INSERT OR IGNORE INTO incident_dims
    SELECT incident_id, 'tenant', json_extract(body, '$.tenant') FROM events WHERE json_extract(body, '$.tenant') IS NOT NULL;
INSERT OR IGNORE INTO incident_dims
    SELECT incident_id, 'region', json_extract(body, '$.region') FROM events WHERE json_extract(body, '$.region') IS NOT NULL;
INSERT OR IGNORE INTO incident_dims
    SELECT incident_id, 'release', json_extract(body, '$.release') FROM events WHERE json_extract(body, '$.release') IS NOT NULL;
INSERT INTO releases
    SELECT json_extract(body, '$.release'), min(ts) FROM events WHERE json_extract(body, '$.release') IS NOT NULL GROUP BY 1;
"#,
    ),
    (
        3,
        r#"
-- Events are counted, not all kept: a 64-bit key per event id for dedup,
-- a 64-bit key per (incident, user) for distinct users, and a few whole
-- events per incident and release as samples (see store/ingest.rs).
CREATE TABLE event_keys (h INTEGER PRIMARY KEY);
CREATE TABLE user_keys (h INTEGER PRIMARY KEY);
CREATE TABLE samples (
    incident_id TEXT NOT NULL,
    id          TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    release     TEXT,
    body        TEXT NOT NULL,
    PRIMARY KEY (incident_id, id)
) WITHOUT ROWID;
CREATE INDEX samples_by_id ON samples(id);
-- Per incident and release: its first event and how many (the Incident view's timeline).
CREATE TABLE incident_releases (
    incident_id TEXT NOT NULL,
    release     TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (incident_id, release)
) WITHOUT ROWID;
INSERT INTO incident_releases
    SELECT incident_id, json_extract(body, '$.release'), min(ts), count(*) FROM events
    WHERE json_extract(body, '$.release') IS NOT NULL GROUP BY 1, 2;
INSERT OR IGNORE INTO event_keys SELECT suture_event_key(id) FROM events;
INSERT OR IGNORE INTO samples SELECT incident_id, id, ts, json_extract(body, '$.release'), body FROM events;
INSERT OR IGNORE INTO user_keys
    SELECT suture_user_key(incident_id, user_key) FROM incident_users WHERE suture_user_key(incident_id, user_key) IS NOT NULL;
DROP TABLE events;
DROP TABLE incident_users;
"#,
    ),
    (
        4,
        r#"
-- Keys move from B-tree tables (a random page per insert) to append-only
-- chunks: one sorted blob of little-endian 64-bit keys per kind and batch
-- (see store/keys.rs).
CREATE TABLE key_chunks (
    seq  INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('event', 'user')),
    keys BLOB NOT NULL
);
INSERT INTO key_chunks(kind, keys) SELECT 'event', suture_pack(h) FROM event_keys HAVING count(*) > 0;
INSERT INTO key_chunks(kind, keys) SELECT 'user', suture_pack(h) FROM user_keys HAVING count(*) > 0;
DROP TABLE event_keys;
DROP TABLE user_keys;
"#,
    ),
    (
        5,
        r#"
-- Message shapes learned by grouping (triage/drain.rs): a group's seed (its
-- stable name, in fingerprints) and its template now. Rowid order is founding order.
CREATE TABLE message_groups (
    seed     TEXT PRIMARY KEY,
    template TEXT NOT NULL
);
"#,
    ),
    (
        6,
        r#"
-- Full logs of a verification's steps (verify/), referenced by a step's
-- log_ref as `<patch id>/<step>`. Replaced when a patch is verified again.
CREATE TABLE step_logs (
    patch_id TEXT NOT NULL,
    step     TEXT NOT NULL,
    text     TEXT NOT NULL,
    PRIMARY KEY (patch_id, step)
);
"#,
    ),
    (
        7,
        r#"
-- Rollouts (canary/controller): the record `suture serve` works from. Writers
-- compare `revision` before they write, so a step is never applied twice.
CREATE TABLE rollouts (
    id       TEXT PRIMARY KEY,
    patch_id TEXT NOT NULL,
    status   TEXT NOT NULL,
    revision INTEGER NOT NULL,
    updated  INTEGER NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX rollouts_patch ON rollouts(patch_id);
-- One row per cohort per second of measurements, for the live charts.
CREATE TABLE rollout_points (
    rollout_id TEXT NOT NULL,
    t          INTEGER NOT NULL,
    cohort     TEXT NOT NULL,
    requests   INTEGER NOT NULL,
    errors     INTEGER NOT NULL,
    p50_ms     REAL,
    p95_ms     REAL,
    PRIMARY KEY (rollout_id, t, cohort)
);
"#,
    ),
];

/// SQL functions migrations use: the same keys the ingest path computes.
pub fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("suture_event_key", 1, flags, |ctx| Ok(super::event_key(&ctx.get::<String>(0)?)))?;
    conn.create_scalar_function("suture_user_key", 2, flags, |ctx| {
        let incident: String = ctx.get(0)?;
        let user: String = ctx.get(1)?;
        Ok(super::ingest::parse_user(&user).map(|u| super::user_key(&incident, u)))
    })?;
    conn.create_aggregate_function("suture_pack", 1, flags, super::keys::Pack)
}

/// The schema version this build writes.
pub fn latest() -> u32 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}
