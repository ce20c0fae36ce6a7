//! Reproducing failures: scratch workspaces (`workspace`), a sandboxed
//! command runner (`sandbox`) and repro specs run and judged against an
//! incident's signature (`runner`).

pub mod runner;
pub mod sandbox;
pub mod workspace;
