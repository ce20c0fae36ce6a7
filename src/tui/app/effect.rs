/// Tags a background request; a result for a superseded request is dropped.
pub type RequestId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Load a fresh [`super::Snapshot`] from the store.
    Load {
        request: RequestId,
    },
    /// Load one incident in full ([`crate::inspect::load`]) for the Incident view.
    LoadIncident {
        request: RequestId,
        id: String,
    },
    /// Run an incident's repro in a scratch workspace (the background job runner).
    RunRepro {
        request: RequestId,
        incident: String,
    },
    /// Run the gauntlet on a stored patch and record the result.
    Verify {
        request: RequestId,
        patch: String,
    },
    /// Propose fixes for an incident and record the verified ones.
    Propose {
        request: RequestId,
        incident: String,
    },
    /// Record a person's decision on a patch (signed, audited).
    Decide {
        request: RequestId,
        patch: String,
        choice: crate::govern::Choice,
    },
    /// Steer a rollout: promote, pause, resume, abort, kill switch (signed, audited).
    Steer {
        request: RequestId,
        rollout: String,
        command: crate::canary::controller::Command,
    },
    /// Write a patch's signed attestation, or an incident's post-mortem, to a file.
    WriteRecord {
        request: RequestId,
        record: Record,
    },
    /// Read a step's log from the store.
    LoadLog {
        request: RequestId,
        log_ref: String,
    },
    Quit,
}

/// A record the console writes to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Attestation { patch: String },
    Postmortem { incident: String },
}
