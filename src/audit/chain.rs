//! Hash chain over audit entries: each entry's hash covers its content and the
//! previous entry's hash, so rewriting any entry breaks every later link.

use sha2::{Digest, Sha256};

use super::sign::{self, Keyring};
use crate::model::AuditEntry;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// sha256 of a payload's canonical JSON (serde_json writes maps in key order
/// for `Value` built from our structs, and we never pretty-print it).
pub fn payload_digest(payload: &str) -> String {
    hex::encode(Sha256::digest(payload.as_bytes()))
}

/// The hash of an entry: fields joined with a separator that cannot occur in
/// them unescaped (each is length-prefixed).
pub fn entry_hash(e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    h.update(b"suture-audit-v1");
    for field in [e.seq.to_string().as_str(), e.at.to_string().as_str(), &e.actor, &e.action, &e.subject, &e.payload_digest, &e.prev_hash] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Why a chain does not verify, naming the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("entry {seq}: sequence gap (expected {expected})")]
    Gap { seq: u64, expected: u64 },
    #[error("entry {seq}: previous hash does not match entry {}", seq - 1)]
    BrokenLink { seq: u64 },
    #[error("entry {seq}: hash does not match its content")]
    BadHash { seq: u64 },
}

/// The signed head: the last entry's sequence and hash, signed by whoever
/// appended it and kept beside the log, so cutting entries off the end of the
/// log (which leaves a valid chain) is caught.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    pub actor: String,
    pub signature: String,
}

/// What a head's signature covers.
pub fn head_message(seq: u64, hash: &str) -> Vec<u8> {
    format!("suture-audit-head-v1\0{seq}\0{hash}").into_bytes()
}

/// The first bad entry of a log and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry #{seq}: {why}")]
pub struct Broken {
    pub seq: u64,
    pub why: String,
}

/// A log that verified: how many entries, and the head's signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: usize,
    pub head_signed_by: Option<String>,
}

/// Checks everything a reader can: the chain (sequence, links, hashes), each
/// payload against its digest, each entry's signature against the keyring
/// (by the entry's actor, bots by the install's bot key), and the signed head
/// against the last entry. Names the first bad entry.
pub fn verify_log(entries: &[(AuditEntry, String)], head: Option<&Head>, keyring: &Keyring) -> Result<Verified, Broken> {
    let mut prev = GENESIS.to_string();
    for (i, (e, payload)) in entries.iter().enumerate() {
        let expected = i as u64 + 1;
        let bad = |why: String| Err(Broken { seq: e.seq, why });
        if e.seq != expected {
            return Err(if e.seq > expected {
                Broken { seq: expected, why: format!("missing (the log goes from #{} to #{})", expected - 1, e.seq) }
            } else {
                Broken { seq: e.seq, why: format!("out of order (found where #{expected} belongs)") }
            });
        }
        if e.prev_hash != prev {
            return bad(format!("its previous hash does not match entry #{}", e.seq - 1));
        }
        if entry_hash(e) != e.hash {
            return bad("its hash does not match its content".into());
        }
        if payload_digest(payload) != e.payload_digest {
            return bad("its payload does not match the payload digest".into());
        }
        if let Err(why) = sign::check(keyring, &e.actor, e.hash.as_bytes(), &e.signature) {
            return bad(why);
        }
        prev = e.hash.clone();
    }
    let last = entries.last().map(|(e, _)| e);
    let Some(head) = head else {
        return match last {
            None => Ok(Verified { entries: 0, head_signed_by: None }),
            Some(e) => Err(Broken { seq: e.seq, why: "the log's signed head is missing".into() }),
        };
    };
    let signer = sign::check(keyring, &head.actor, &head_message(head.seq, &head.hash), &head.signature)
        .map_err(|why| Broken { seq: head.seq, why: format!("the log's head: {why}") })?;
    let n = last.map_or(0, |e| e.seq);
    if n < head.seq {
        return Err(Broken { seq: n + 1, why: format!("missing: the log ends at #{n} but its signed head is #{}", head.seq) });
    }
    if n > head.seq {
        return Err(Broken { seq: head.seq + 1, why: format!("appended after the signed head (#{})", head.seq) });
    }
    if last.is_some_and(|e| e.hash != head.hash) {
        return Err(Broken { seq: n, why: "it is not the entry the signed head names".into() });
    }
    Ok(Verified { entries: entries.len(), head_signed_by: Some(signer) })
}

/// Checks entries in order; returns how many verified.
pub fn verify(entries: &[AuditEntry]) -> Result<usize, ChainError> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let expected = i as u64 + 1;
        if e.seq != expected {
            return Err(ChainError::Gap { seq: e.seq, expected });
        }
        if e.prev_hash != prev {
            return Err(ChainError::BrokenLink { seq: e.seq });
        }
        if entry_hash(e) != e.hash {
            return Err(ChainError::BadHash { seq: e.seq });
        }
        prev = e.hash.clone();
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    seq,
                    at: 1000 + seq as i64,
                    actor: "alice".into(),
                    action: "approve".into(),
                    subject: format!("patch:{seq}"),
                    payload_digest: payload_digest("{}"),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                    signature: String::new(),
                };
                e.hash = entry_hash(&e);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn a_good_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn tampering_names_the_first_bad_entry() {
        let mut c = chain(5);
        c[2].actor = "mallory".into();
        assert_eq!(verify(&c), Err(ChainError::BadHash { seq: 3 }));
        let mut c = chain(5);
        c[2].hash = entry_hash(&AuditEntry { actor: "mallory".into(), ..c[2].clone() });
        c[2].actor = "mallory".into();
        assert_eq!(verify(&c), Err(ChainError::BrokenLink { seq: 4 }));
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c), Err(ChainError::Gap { seq: 3, expected: 2 }));
    }
}
