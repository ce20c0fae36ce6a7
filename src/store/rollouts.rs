//! Rollout records and their per-second measurements.
//!
//! Every write of a rollout is a compare-and-set on its `revision`, in one
//! transaction with the patch's lifecycle transition (if any) and the audit
//! entry, so two controllers (or a controller and a person at the CLI) can
//! never both apply the same step, and a crash leaves either all of it or none.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError, append_audit, decode, transition_in};
use crate::model::{Millis, PatchState, Rollout, Transition};

/// One cohort's measurements over one second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub t: Millis,
    pub cohort: String,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

/// The audit entry that goes with a rollout write.
pub struct RolloutAudit<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub payload: serde_json::Value,
}

impl Store {
    /// Records a new rollout and moves its patch into the canary (the
    /// transition may refuse: approvals missing, a flag-only fix…).
    pub fn start_rollout(&mut self, rollout: &Rollout, start: Transition) -> Result<PatchState> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let to = transition_in(&tx, self.signer.as_ref(), self.origin.as_deref(), &rollout.patch_id, start)?;
        write(&tx, rollout)?;
        let payload = serde_json::json!({ "rollout": rollout.id, "steps": rollout.steps, "backend": rollout.backend });
        append_audit(&tx, self.signer.as_ref(), rollout.started, &rollout.requested_by, "rollout start", &subject(rollout), &payload)?;
        tx.commit()?;
        Ok(to)
    }

    /// Writes `next` when the stored rollout is still at `next.revision - 1`,
    /// with the patch's transition and the audit entry, all or nothing.
    pub fn update_rollout(&mut self, next: &Rollout, transition: Option<Transition>, audit: Option<RolloutAudit<'_>>) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let found: Option<i64> = tx.query_row("SELECT revision FROM rollouts WHERE id = ?1", [&next.id], |r| r.get(0)).optional()?;
        let Some(found) = found else { return Err(StoreError::NotFound { what: "rollout", id: next.id.clone() }) };
        let expected = next.revision.saturating_sub(1);
        if found as u64 != expected || next.revision == 0 {
            return Err(StoreError::Conflict { what: "rollout", id: next.id.clone(), expected, found: found as u64 });
        }
        if let Some(t) = transition {
            transition_in(&tx, self.signer.as_ref(), self.origin.as_deref(), &next.patch_id, t)?;
        }
        write(&tx, next)?;
        if let Some(a) = audit {
            append_audit(&tx, self.signer.as_ref(), next.updated, a.actor, a.action, &subject(next), &a.payload)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn rollout(&self, id: &str) -> Result<Option<Rollout>> {
        let row: Option<(String, String)> =
            self.conn.query_row("SELECT id, body FROM rollouts WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        row.map(|(id, body)| decode("rollouts", id, &body)).transpose()
    }

    /// Every rollout, newest first.
    pub fn rollouts(&self) -> Result<Vec<Rollout>> {
        super::list(&self.conn, "rollouts", "SELECT id, body FROM rollouts ORDER BY json_extract(body, '$.started') DESC, id")
    }

    /// Keeps measurements (a later write for the same second and cohort replaces it).
    pub fn put_rollout_points(&mut self, rollout: &str, points: &[Point]) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO rollout_points(rollout_id, t, cohort, requests, errors, p50_ms, p95_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for p in points {
                stmt.execute(params![rollout, p.t, p.cohort, p.requests as i64, p.errors as i64, p.p50_ms, p.p95_ms])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Measurements from `since` on, oldest first.
    pub fn rollout_points(&self, rollout: &str, since: Millis) -> Result<Vec<Point>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT t, cohort, requests, errors, p50_ms, p95_ms FROM rollout_points WHERE rollout_id = ?1 AND t >= ?2 ORDER BY t, cohort",
        )?;
        let rows = stmt.query_map(params![rollout, since], |r| {
            Ok(Point {
                t: r.get(0)?,
                cohort: r.get(1)?,
                requests: r.get::<_, i64>(2)? as u64,
                errors: r.get::<_, i64>(3)? as u64,
                p50_ms: r.get(4)?,
                p95_ms: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

/// Rollout entries are about the patch (so its attestation and post-mortem
/// carry them); the rollout's id is in the payload.
fn subject(r: &Rollout) -> String {
    format!("patch:{}", r.patch_id)
}

fn write(tx: &rusqlite::Transaction<'_>, r: &Rollout) -> Result<()> {
    let body = serde_json::to_string(r)?;
    tx.prepare_cached(
        "INSERT INTO rollouts(id, patch_id, status, revision, updated, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET status = excluded.status, revision = excluded.revision, updated = excluded.updated, body = excluded.body",
    )?
    .execute(params![r.id, r.patch_id, r.status.label(), r.revision as i64, r.updated, body])?;
    Ok(())
}
