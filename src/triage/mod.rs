//! Triage: groups events into incidents and ranks them.
//!
//! `fingerprint` decides which events belong together, `cluster` folds events
//! into incidents, `rank` orders incidents by a documented priority score.

pub mod cluster;
pub mod fingerprint;
pub mod rank;
