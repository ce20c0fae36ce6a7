//! The statements `suture attest PATCH` signs: Suture's evidence for a patch
//! and its SLSA provenance (formats in `audit::attest`).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::audit::attest::{self, EVIDENCE_TYPE, SLSA_TYPE, Statement, Subject};
use crate::audit::sign::Key;
use crate::model::{AuditEntry, Patch, PatchState};

/// States in which a patch has been approved for production (or reached it).
pub fn attestable(state: PatchState) -> bool {
    matches!(
        state,
        PatchState::Approved | PatchState::Canary { .. } | PatchState::Promoted | PatchState::Mitigated | PatchState::RolledBack
    )
}

/// What goes into the statements besides the patch.
pub struct Facts<'a> {
    /// Each patched file and the sha256 of its content as the patch leaves it.
    pub files: Vec<(String, String)>,
    /// The audit entries about the patch.
    pub audit: &'a [AuditEntry],
    /// How far the audit log verified when the attestation was made.
    pub chain: Result<usize, String>,
    /// Where the source came from (a git URL or a directory).
    pub source: String,
}

/// The subjects both statements name.
pub fn subjects(patch: &Patch, files: &[(String, String)]) -> Vec<Subject> {
    let mut out = vec![Subject::sha256(format!("patch:{}", patch.id), patch.digest.clone())];
    out.extend(files.iter().map(|(path, digest)| Subject::sha256(path.clone(), digest.clone())));
    out
}

pub fn evidence(patch: &Patch, facts: &Facts) -> Value {
    let v = patch.verification.as_ref();
    let steps: Vec<Value> = v
        .map(|r| {
            r.steps
                .iter()
                .map(|s| json!({"step": s.kind.label(), "status": s.status, "duration_ms": s.duration_ms, "detail": s.detail}))
                .collect()
        })
        .unwrap_or_default();
    let canary: Vec<Value> = patch
        .history
        .iter()
        .filter(|h| matches!(h.to, PatchState::Canary { .. } | PatchState::Promoted | PatchState::RolledBack))
        .map(|h| json!({"to": h.to.label(), "by": h.by, "at": attest::rfc3339(h.at), "note": h.note}))
        .collect();
    json!({
        "patch": {
            "id": patch.id,
            "digest": patch.digest,
            "title": patch.title,
            "kind": patch.kind,
            "state": patch.state.label(),
            "base_rev": patch.base_rev,
            "files": patch.files,
            "proposer": patch.proposer,
            "requested_by": patch.requested_by,
            "created": attest::rfc3339(patch.created),
        },
        "incident": patch.incident_id,
        "repro": {
            "on_base": v.and_then(|r| r.repro_on_base),
            "on_patched": v.and_then(|r| r.repro_on_patched),
        },
        "gauntlet": {
            "steps": steps,
            "flaky": v.is_some_and(|r| r.is_flaky()),
            "proves_fix": v.is_some_and(|r| r.proves_fix()),
            "regression_test_sha256": v.and_then(|r| r.regression_test.as_ref()).map(|t| hex::encode(Sha256::digest(t.as_bytes()))),
        },
        "risk": patch.risk,
        "approvals": patch.approvals,
        "break_glass": patch.break_glass().is_some(),
        "canary": {
            "steps": canary,
            "verdicts": [],
            "note": if canary.is_empty() { "no canary has run for this patch" } else { "per-analysis verdicts are recorded by the rollout controller" },
        },
        "audit": {
            "entries": facts.audit.iter().map(|e| json!({"seq": e.seq, "action": e.action, "actor": e.actor, "hash": e.hash})).collect::<Vec<_>>(),
            "chain": match &facts.chain { Ok(n) => json!({"verified_to": n}), Err(e) => json!({"broken": e}) },
        },
    })
}

pub fn provenance(patch: &Patch, facts: &Facts) -> Value {
    let v = patch.verification.as_ref();
    let byproducts: Vec<Value> = v
        .and_then(|r| r.regression_test.as_ref())
        .map(|t| vec![json!({"name": "regression-test.diff", "digest": {"sha256": hex::encode(Sha256::digest(t.as_bytes()))}})])
        .unwrap_or_default();
    let dependency = if patch.base_rev.starts_with("tree:") {
        json!({"uri": format!("file://{}", facts.source), "digest": {"sha256": patch.base_rev.trim_start_matches("tree:")}})
    } else {
        json!({"uri": format!("git+file://{}", facts.source), "digest": {"gitCommit": patch.base_rev}})
    };
    attest::provenance(
        json!({
            "patch": patch.id,
            "incident": patch.incident_id,
            "diff_sha256": hex::encode(Sha256::digest(patch.diff.as_bytes())),
            "proposer": patch.proposer.name,
        }),
        json!({"tier": patch.risk.as_ref().map(|r| r.tier.number())}),
        vec![dependency],
        &format!("patch:{}/verification", patch.id),
        v.map_or(patch.created, |r| r.started),
        v.and_then(|r| r.finished),
        byproducts,
    )
}

/// The signed bundle (JSON lines of two DSSE envelopes).
pub fn bundle(patch: &Patch, facts: &Facts, key: &Key) -> String {
    let subjects = subjects(patch, &facts.files);
    let ev = Statement::new(subjects.clone(), EVIDENCE_TYPE, evidence(patch, facts));
    let prov = Statement::new(subjects, SLSA_TYPE, provenance(patch, facts));
    attest::bundle(&[attest::seal(&ev, key), attest::seal(&prov, key)])
}
