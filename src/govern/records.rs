//! The records made from the store, shared by the CLI and the console: a
//! patch's attestation bundle and an incident's post-mortem.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{attest, find_patch, postmortem};
use crate::audit::chain;
use crate::audit::sign::{Key, Keyring};
use crate::model::{AuditEntry, Millis, Patch, ReproSpec};
use crate::store::Store;

/// The audit entries whose subject is one of `subjects`.
pub fn entries_about(store: &Store, subjects: &[String]) -> Result<Vec<AuditEntry>, String> {
    Ok(store.audit_entries().map_err(|e| e.to_string())?.into_iter().filter(|e| subjects.contains(&e.subject)).collect())
}

/// How far the log verifies against `ring`: `Ok(entries)` or the first bad entry.
pub fn chain_status(store: &Store, ring: &Keyring) -> Result<Result<usize, String>, String> {
    let log = store.audit_log().map_err(|e| e.to_string())?;
    let head = store.audit_head().map_err(|e| e.to_string())?;
    Ok(chain::verify_log(&log, head.as_ref(), ring).map(|v| v.entries).map_err(|b| b.to_string()))
}

/// Each file the patch changes, with the sha256 of its content after the
/// patch, computed in a scratch copy of the base (the tree is never written).
pub fn patched_files(source: &Path, workspaces: &Path, patch: &Patch) -> Result<Vec<(String, String)>, String> {
    let base = Some(patch.base_rev.as_str()).filter(|b| !b.starts_with("tree:"));
    let ws = crate::repro::workspace::Workspace::create(source, base, workspaces)
        .map_err(|e| format!("making a scratch copy of the base: {e}"))?;
    let diff = crate::propose::patch::Diff::parse(&patch.diff).map_err(|e| format!("the patch's diff: {e}"))?;
    let mut out = Vec::new();
    for f in &diff.files {
        let path = f.path().to_string();
        let original = if f.is_new() { String::new() } else { std::fs::read_to_string(ws.path().join(&path)).unwrap_or_default() };
        let (after, _) = crate::propose::patch::apply_text(&original, f).map_err(|e| format!("{path}: {e}"))?;
        if !f.is_deleted() {
            out.push((path, hex::encode(Sha256::digest(after.as_bytes()))));
        }
    }
    Ok(out)
}

/// A patch's signed attestation bundle, or why it cannot have one.
pub fn attestation(
    store: &Store,
    ring: &Keyring,
    key: &Key,
    patch_id: &str,
    source: &Path,
    workspaces: &Path,
) -> Result<(Patch, String), String> {
    let patch = find_patch(store, patch_id).map_err(|e| e.to_string())?;
    if !attest::attestable(patch.state) {
        return Err(format!(
            "patch {} is {}: an attestation records a patch approved for production; approve it first",
            patch.id,
            patch.state.label()
        ));
    }
    let files = patched_files(source, workspaces, &patch)?;
    let audit = entries_about(store, &[format!("patch:{}", patch.id)])?;
    let facts = attest::Facts { files, audit: &audit, chain: chain_status(store, ring)?, source: source.display().to_string() };
    let text = attest::bundle(&patch, &facts, key);
    Ok((patch, text))
}

/// What a post-mortem needs besides the store.
pub struct PostmortemArgs<'a> {
    pub incident: &'a str,
    pub repro: Option<&'a ReproSpec>,
    pub tier3_classes: &'a [String],
    pub by: &'a str,
    pub at: Millis,
}

/// An incident's post-mortem, as Markdown.
pub fn postmortem(store: &Store, ring: &Keyring, a: &PostmortemArgs) -> Result<String, String> {
    let inc = store.incident(a.incident).map_err(|e| e.to_string())?.ok_or_else(|| format!("no incident with id {}", a.incident))?;
    let patches: Vec<Patch> =
        store.patches().map_err(|e| e.to_string())?.into_iter().filter(|p| p.incident_id.as_deref() == Some(inc.id.as_str())).collect();
    let mut subjects = vec![format!("incident:{}", inc.id)];
    subjects.extend(patches.iter().map(|p| format!("patch:{}", p.id)));
    let audit = entries_about(store, &subjects)?;
    Ok(postmortem::render(&postmortem::Input {
        incident: &inc,
        patches: &patches,
        audit: &audit,
        repro: a.repro,
        auto_promote_classes: a.tier3_classes,
        chain: chain_status(store, ring)?,
        generated_at: a.at,
        generated_by: a.by,
    }))
}
