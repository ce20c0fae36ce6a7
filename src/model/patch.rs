//! Patches: a unified diff against a base revision, with its provenance and the
//! evidence gathered about it. The state field changes only through
//! [`Patch::apply`](super::lifecycle) — see `lifecycle.rs`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Actor, Approval, Millis, PatchState, RiskAssessment, VerificationReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchKind {
    /// A change to source code, delivered by canary.
    Code,
    /// A configuration-only change (a flag flip), delivered as a mitigation.
    FlagFlip,
}

/// One recorded state change, kept on the patch for its timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    pub from: PatchState,
    pub to: PatchState,
    pub by: String,
    pub at: Millis,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patch {
    /// The first 12 hex digits of `digest`.
    pub id: String,
    pub incident_id: Option<String>,
    pub kind: PatchKind,
    pub title: String,
    /// Unified diff text.
    pub diff: String,
    pub base_rev: String,
    pub files: Vec<String>,
    /// Who (or which bot) wrote the patch.
    pub proposer: Actor,
    /// The person who asked for it, when it was asked for.
    pub requested_by: Option<Actor>,
    /// sha256 over the base revision and the normalized diff, hex.
    pub digest: String,
    pub created: Millis,
    pub state: PatchState,
    pub risk: Option<RiskAssessment>,
    pub verification: Option<VerificationReport>,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    #[serde(default)]
    pub history: Vec<StateChange>,
}

impl Patch {
    /// Creates a patch in `Proposed` state, computing its digest and id.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: PatchKind,
        title: impl Into<String>,
        diff: impl Into<String>,
        base_rev: impl Into<String>,
        files: Vec<String>,
        proposer: Actor,
        requested_by: Option<Actor>,
        created: Millis,
    ) -> Patch {
        let diff = diff.into();
        let base_rev = base_rev.into();
        let digest = Patch::digest_of(&base_rev, &diff);
        Patch {
            id: digest[..12].to_string(),
            incident_id: None,
            kind,
            title: title.into(),
            diff,
            base_rev,
            files,
            proposer,
            requested_by,
            digest,
            created,
            state: PatchState::Proposed,
            risk: None,
            verification: None,
            approvals: Vec::new(),
            history: Vec::new(),
        }
    }

    /// A stable digest: line endings normalized so the same change hashes the same
    /// whichever platform produced the diff.
    pub fn digest_of(base_rev: &str, diff: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"suture-patch-v1\0");
        h.update(base_rev.as_bytes());
        h.update(b"\0");
        h.update(diff.replace("\r\n", "\n").as_bytes());
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_stable_and_ignores_line_endings() {
        let a = Patch::digest_of("abc", "--- a/x\n+++ b/x\n");
        let b = Patch::digest_of("abc", "--- a/x\r\n+++ b/x\r\n");
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(a, Patch::digest_of("abd", "--- a/x\n+++ b/x\n"));
    }
}
