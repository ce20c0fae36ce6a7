//! Hash chain over audit entries: each entry's hash covers its content and the
//! previous entry's hash, so rewriting any entry breaks every later link.

use sha2::{Digest, Sha256};

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
