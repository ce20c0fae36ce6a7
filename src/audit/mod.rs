//! The audit log's pure parts: how entries are hashed, chained and signed,
//! how a log is verified, and the attestations made from it. The store
//! appends entries (atomically, in the same transaction as the change they
//! record, with the signed head beside them).

pub mod attest;
pub mod chain;
pub mod sign;
