//! The store's key sets: a 64-bit key per event id (dedup) and per incident
//! and user (distinct users).
//!
//! Keys are written as append-only chunks (`key_chunks`: one blob of
//! little-endian keys per kind and batch), never as rows of a B-tree: random
//! 64-bit keys inserted into a B-tree touch a page each, and at a million
//! events that was most of the cost of an ingest. The writer keeps every key
//! in memory (a hash set, about 16 bytes a key) and answers "is this new?"
//! there; before each batch it reads the chunks other writers appended since
//! it last looked, so two processes ingesting into one store stay exact.
//! After a failed transaction the sets are dropped and read again from the
//! file, so memory never holds a key the file does not.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use rusqlite::{Connection, params};

use super::Result;

/// Keys are SHA-256 prefixes, uniformly spread already: hashing them again
/// would only cost time.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_i64(&mut self, n: i64) {
        self.0 = n as u64;
    }
}

pub type KeySet = HashSet<i64, BuildHasherDefault<KeyHasher>>;

/// Which set a chunk belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Event,
    User,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::User => "user",
        }
    }
}

/// The writer's in-memory copy of the key chunks up to `seq`.
#[derive(Default)]
pub struct KeySets {
    seq: i64,
    event: KeySet,
    user: KeySet,
}

impl KeySets {
    fn set(&mut self, kind: Kind) -> &mut KeySet {
        match kind {
            Kind::Event => &mut self.event,
            Kind::User => &mut self.user,
        }
    }

    /// Reads the chunks appended since the last look (all of them the first time).
    pub fn catch_up(&mut self, conn: &Connection) -> Result<()> {
        let mut stmt = conn.prepare_cached("SELECT seq, kind, keys FROM key_chunks WHERE seq > ?1 ORDER BY seq")?;
        let mut rows = stmt.query([self.seq])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let kind = if row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)? == "user" { Kind::User } else { Kind::Event };
            let blob = row.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
            let set = self.set(kind);
            set.reserve(blob.len() / 8);
            set.extend(unpack(blob));
            self.seq = seq;
        }
        Ok(())
    }

    /// Adds keys of `kind` and writes the new ones as one chunk. Says, for
    /// each key in order, whether it was new (a key repeated within `keys`
    /// is new once). Call [`KeySets::catch_up`] first, in the same write
    /// transaction.
    pub fn add(&mut self, conn: &Connection, kind: Kind, keys: impl ExactSizeIterator<Item = i64>) -> Result<Vec<bool>> {
        let set = self.set(kind);
        set.reserve(keys.len());
        let mut fresh = Vec::with_capacity(keys.len());
        let mut new: Vec<i64> = Vec::new();
        for k in keys {
            let is_new = set.insert(k);
            if is_new {
                new.push(k);
            }
            fresh.push(is_new);
        }
        if !new.is_empty() {
            new.sort_unstable();
            let blob: Vec<u8> = new.iter().flat_map(|k| k.to_le_bytes()).collect();
            conn.prepare_cached("INSERT INTO key_chunks(kind, keys) VALUES (?1, ?2)")?.execute(params![kind.name(), blob])?;
            self.seq = conn.last_insert_rowid();
        }
        Ok(fresh)
    }
}

fn unpack(blob: &[u8]) -> impl Iterator<Item = i64> + '_ {
    blob.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("chunks_exact gives 8 bytes")))
}

/// How many keys of `kind` the file holds.
pub fn count(conn: &Connection, kind: Kind) -> Result<u64> {
    let bytes: i64 =
        conn.query_row("SELECT coalesce(sum(length(keys)), 0) FROM key_chunks WHERE kind = ?1", [kind.name()], |r| r.get(0))?;
    Ok(bytes as u64 / 8)
}

/// Whether the file holds `key` of `kind` (a scan of the chunks; for
/// occasional questions, not for ingest).
pub fn contains(conn: &Connection, kind: Kind, key: i64) -> Result<bool> {
    let mut stmt = conn.prepare_cached("SELECT keys FROM key_chunks WHERE kind = ?1")?;
    let mut rows = stmt.query([kind.name()])?;
    while let Some(row) = rows.next()? {
        let blob = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        // Chunks are sorted.
        let keys: Vec<i64> = unpack(blob).collect();
        if keys.binary_search(&key).is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `suture_pack(h)`: an aggregate packing keys into a chunk blob (for the
/// migration from key tables).
pub struct Pack;

impl rusqlite::functions::Aggregate<Vec<i64>, Vec<u8>> for Pack {
    fn init(&self, _: &mut rusqlite::functions::Context<'_>) -> rusqlite::Result<Vec<i64>> {
        Ok(Vec::new())
    }
    fn step(&self, ctx: &mut rusqlite::functions::Context<'_>, acc: &mut Vec<i64>) -> rusqlite::Result<()> {
        acc.push(ctx.get(0)?);
        Ok(())
    }
    fn finalize(&self, _: &mut rusqlite::functions::Context<'_>, acc: Option<Vec<i64>>) -> rusqlite::Result<Vec<u8>> {
        let mut keys = acc.unwrap_or_default();
        keys.sort_unstable();
        Ok(keys.iter().flat_map(|k| k.to_le_bytes()).collect())
    }
}
