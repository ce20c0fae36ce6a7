use crate::inspect::IncidentDetail;
use crate::model::{AuditEntry, Incident, Patch};

use super::RequestId;
use crate::tui::keymap::Command;

/// What the store held at one moment, loaded in one go.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub incidents: Vec<Incident>,
    pub patches: Vec<Patch>,
    pub audit: Vec<AuditEntry>,
    /// `Ok(n)` when the audit chain verified n entries; `Err` names the first bad one.
    pub chain: Result<usize, String>,
    pub events: u64,
    /// Rollouts, newest first, and the newest one's per-second measurements.
    pub rollouts: Vec<crate::model::Rollout>,
    pub rollout_points: Vec<crate::store::Point>,
    /// The wall clock when it was read (for "next step in").
    pub clock: crate::model::Millis,
}

impl Default for Snapshot {
    fn default() -> Snapshot {
        Snapshot {
            incidents: Vec::new(),
            patches: Vec::new(),
            audit: Vec::new(),
            chain: Ok(0),
            events: 0,
            rollouts: Vec::new(),
            rollout_points: Vec::new(),
            clock: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A command from the keymap.
    Command(Command),
    /// A key that no binding knows; shown as a hint, never an error.
    UnboundKey(String),
    Resize(u16, u16),
    /// Another process (or this one) committed to the store.
    StoreChanged,
    Loaded {
        request: RequestId,
        snapshot: Box<Snapshot>,
    },
    LoadFailed {
        request: RequestId,
        error: String,
    },
    /// The Incident view's detail arrived.
    IncidentLoaded {
        request: RequestId,
        detail: Box<IncidentDetail>,
    },
    IncidentFailed {
        request: RequestId,
        error: String,
    },
    /// A character typed into the filter line.
    FilterInput(char),
    FilterBackspace,
    /// Output of the running repro.
    ReproOutput {
        request: RequestId,
        text: String,
    },
    ReproDone {
        request: RequestId,
        result: Result<String, String>,
    },
    /// A step of the running verification started, printed or finished.
    VerifyEvent {
        request: RequestId,
        event: crate::verify::Event,
    },
    VerifyDone {
        request: RequestId,
        result: Result<String, String>,
    },
    LogLoaded {
        request: RequestId,
        result: Result<String, String>,
    },
    /// A character typed into the log's search line.
    SearchInput(char),
    SearchBackspace,
    /// A key typed into the approve/veto dialog.
    DialogKey(crossterm::event::KeyEvent),
    /// A decision was recorded (`Ok(what happened)`) or refused (`Err(why)`).
    Decided {
        request: RequestId,
        result: Result<String, String>,
    },
    /// A record was written (`Ok(path and what)`) or could not be (`Err(why)`).
    Wrote {
        request: RequestId,
        result: Result<String, String>,
    },
    /// SIGTERM, SIGHUP or the like: leave cleanly.
    Terminate,
}
