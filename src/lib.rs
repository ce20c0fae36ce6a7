//! Suture: a terminal incident console for surgical hotfixes.
//!
//! The library holds the engine (model, store, config, signals, triage, …) and
//! the TUI; `main.rs` is a thin CLI over it. Dependencies point one way:
//! `model` ← engine modules ← `tui` and the CLI.

pub mod audit;
pub mod canary;
pub mod cli;
pub mod config;
pub mod deliver;
pub mod demo;
pub mod encode;
pub mod follow;
pub mod govern;
pub mod highlight;
pub mod ingest;
pub mod inspect;
pub mod model;
pub mod policy;
pub mod propose;
pub mod repro;
pub mod review;
pub mod serve;
pub mod serve_lock;
pub mod signals;
pub mod source;
pub mod store;
pub mod triage;
pub mod tui;
pub mod verify;
