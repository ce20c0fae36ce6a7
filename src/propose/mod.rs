//! Proposals: candidate patches for an incident, and the diffs they are made of.
//!
//! - [`patch`]: unified diffs — parse, print, apply with offset and fuzz, path safety, digest.

pub mod patch;
