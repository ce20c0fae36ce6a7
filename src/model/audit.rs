//! Audit entries: one per state transition, hash-chained.

use serde::{Deserialize, Serialize};

use super::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: Millis,
    pub actor: String,
    pub action: String,
    /// What the action was about, e.g. `patch:3f2a…` or `incident:INC-1A2B3C`.
    pub subject: String,
    /// sha256 of the canonical payload, hex.
    pub payload_digest: String,
    pub prev_hash: String,
    pub hash: String,
    /// ed25519 signature over `hash`, hex; empty until signing is set up.
    pub signature: String,
}
