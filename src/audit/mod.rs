//! The audit log's pure parts: how entries are hashed and chained. The store
//! appends entries (atomically, in the same transaction as the change they
//! record); signing with ed25519 arrives with the Governance work and fills
//! `AuditEntry::signature`.

pub mod chain;
