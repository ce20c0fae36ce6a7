//! Triage: groups events into incidents and ranks them.
//!
//! `fingerprint` decides which events belong together (`drain` learns the
//! shapes of messages without a stack), `cluster` folds events
//! into incidents, `rank` orders incidents by a documented priority score.

pub mod cluster;
pub mod drain;
pub mod fingerprint;
pub mod rank;
