//! Versioned schema migrations, applied in order at open. `PRAGMA user_version`
//! records the last applied one. Migrations are append-only: never edit one that
//! has shipped; add the next.

pub const MIGRATIONS: &[(u32, &str)] = &[(
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
)];

/// The schema version this build writes.
pub fn latest() -> u32 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}
