//! Proposals: candidate patches for an incident, and the diffs they are made of.
//!
//! - [`patch`]: unified diffs — parse, print, apply with offset and fuzz, path safety, digest.
//! - [`localize`]: suspicious lines from the stack and, with coverage, Ochiai.
//! - [`templates`]: repair templates on tree-sitter syntax trees (Python, JavaScript).

pub mod ask;
pub mod llm;
pub mod localize;
pub mod patch;
pub mod record;
pub mod search;
pub mod templates;
