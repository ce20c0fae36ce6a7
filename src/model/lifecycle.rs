//! The patch lifecycle: the one place a patch's state changes.
//!
//! ```text
//! Proposed → Verifying → Verified | Failed → Approved | Vetoed → Canary(step) → Promoted | RolledBack
//!                                            Approved → Mitigated (flag-only fixes)
//! ```
//!
//! Every transition is checked here and an illegal one is a typed
//! [`LifecycleError`]; nothing else in Suture assigns `Patch::state`. The
//! invariants of the design hold in this file:
//! - a patch is Verified only with a complete report whose repro failed on the
//!   base and passed with the patch; otherwise verification ends in Failed;
//! - the proposer never approves, nor does the person who asked for the patch;
//! - a deploy needs the approvals its tier requires; tier 0 has no deploy;
//!   automatic deploys and promotions refuse flaky evidence; automatic
//!   promotion is for tier 3 and the failure classes the policy names.
//!
//! Choices the design left open, made here: a Failed patch may be verified again
//! (sandbox timeouts happen; the earlier report stays in the audit log); a veto
//! is possible at any point before a canary starts; once traffic has moved,
//! the way out is a rollback, never a veto; a promoted or mitigated patch can
//! still be rolled back.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::patch::StateChange;
use super::{Actor, ActorKind, Approval, Decision, Millis, Patch, PatchKind, Role, Tier, VerificationReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PatchState {
    Proposed,
    Verifying,
    Verified,
    Failed,
    Approved,
    Vetoed,
    Canary { step: usize },
    Promoted,
    RolledBack,
    Mitigated,
}

impl PatchState {
    pub fn label(self) -> String {
        match self {
            PatchState::Canary { step } => format!("canary {}", step + 1),
            other => other.name().to_string(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            PatchState::Proposed => "proposed",
            PatchState::Verifying => "verifying",
            PatchState::Verified => "verified",
            PatchState::Failed => "failed",
            PatchState::Approved => "approved",
            PatchState::Vetoed => "vetoed",
            PatchState::Canary { .. } => "canary",
            PatchState::Promoted => "promoted",
            PatchState::RolledBack => "rolled back",
            PatchState::Mitigated => "mitigated",
        }
    }

    /// No transition leads out of a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(self, PatchState::Vetoed | PatchState::RolledBack)
    }
}

impl std::fmt::Display for PatchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// A request to move a patch forward (or back). Carries who asks and when.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    StartVerification {
        by: Actor,
        at: Millis,
    },
    /// The gauntlet finished; the lifecycle decides Verified or Failed from the evidence.
    VerificationFinished {
        report: VerificationReport,
        at: Millis,
    },
    Approve {
        who: Actor,
        role: Role,
        comment: String,
        at: Millis,
    },
    Veto {
        who: Actor,
        role: Role,
        reason: String,
        at: Millis,
    },
    /// A reviewer asks for changes: recorded, the state stays, and the patch
    /// cannot be deployed until that reviewer approves (a changed diff is a new patch).
    RequestChanges {
        who: Actor,
        role: Role,
        comment: String,
        at: Millis,
    },
    /// A commander approves in an emergency, standing in for the approvals the
    /// tier needs. A reason is required; the evidence is not bypassed.
    BreakGlass {
        who: Actor,
        role: Role,
        reason: String,
        at: Millis,
    },
    StartCanary {
        by: Actor,
        at: Millis,
    },
    AdvanceCanary {
        by: Actor,
        total_steps: usize,
        at: Millis,
    },
    Promote {
        by: Actor,
        total_steps: usize,
        auto_promote_classes: Vec<String>,
        at: Millis,
    },
    RollBack {
        by: Actor,
        reason: String,
        at: Millis,
    },
    Mitigate {
        by: Actor,
        at: Millis,
    },
}

impl Transition {
    pub fn name(&self) -> &'static str {
        match self {
            Transition::StartVerification { .. } => "start verification",
            Transition::VerificationFinished { .. } => "finish verification",
            Transition::Approve { .. } => "approve",
            Transition::Veto { .. } => "veto",
            Transition::RequestChanges { .. } => "request changes",
            Transition::BreakGlass { .. } => "break-glass",
            Transition::StartCanary { .. } => "start canary",
            Transition::AdvanceCanary { .. } => "advance canary",
            Transition::Promote { .. } => "promote",
            Transition::RollBack { .. } => "roll back",
            Transition::Mitigate { .. } => "mitigate",
        }
    }

    fn actor(&self) -> &Actor {
        match self {
            Transition::StartVerification { by, .. }
            | Transition::StartCanary { by, .. }
            | Transition::AdvanceCanary { by, .. }
            | Transition::Promote { by, .. }
            | Transition::RollBack { by, .. }
            | Transition::Mitigate { by, .. } => by,
            Transition::Approve { who, .. }
            | Transition::Veto { who, .. }
            | Transition::RequestChanges { who, .. }
            | Transition::BreakGlass { who, .. } => who,
            Transition::VerificationFinished { .. } => &VERIFIER,
        }
    }

    fn at(&self) -> Millis {
        match self {
            Transition::StartVerification { at, .. }
            | Transition::VerificationFinished { at, .. }
            | Transition::Approve { at, .. }
            | Transition::Veto { at, .. }
            | Transition::RequestChanges { at, .. }
            | Transition::BreakGlass { at, .. }
            | Transition::StartCanary { at, .. }
            | Transition::AdvanceCanary { at, .. }
            | Transition::Promote { at, .. }
            | Transition::RollBack { at, .. }
            | Transition::Mitigate { at, .. } => *at,
        }
    }
}

static VERIFIER: Actor = Actor { name: String::new(), kind: ActorKind::Bot };

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LifecycleError {
    #[error("cannot {action} a patch that is {from}")]
    Illegal { from: PatchState, action: &'static str },
    #[error("the verification report is for patch {got}, not {expected}")]
    EvidenceForAnotherPatch { expected: String, got: String },
    #[error("the verification report is incomplete: steps are still pending or running")]
    IncompleteReport,
    #[error("{who} proposed this patch and cannot approve it")]
    ProposerCannotApprove { who: String },
    #[error("{who} asked for this patch and cannot approve their own change")]
    SelfApproval { who: String },
    #[error("{who} has already decided on this patch")]
    AlreadyDecided { who: String },
    #[error("{} cannot decide on patches; reviewers and commanders can", role.with_article())]
    RoleCannotApprove { role: Role },
    #[error("break-glass is for commanders; {} cannot use it", role.with_article())]
    BreakGlassNeedsCommander { role: Role },
    #[error("{who} asked for changes; the patch cannot be deployed until they approve")]
    ChangesRequested { who: String },
    #[error("only people approve or veto, not bots ({who})")]
    BotCannotDecide { who: String },
    #[error("a reason is required to {action}")]
    ReasonRequired { action: &'static str },
    #[error("the patch has no risk assessment, so its tier is unknown")]
    TierUnknown,
    #[error("tier 0 is observe only: no deploy action exists")]
    Tier0NoDeploy,
    #[error("tier {tier} needs {need} approval(s) before this step; it has {have}")]
    InsufficientApprovals { tier: u8, need: usize, have: usize },
    #[error("the evidence is flaky, so this cannot happen automatically")]
    FlakyNoAuto,
    #[error("automatic promotion needs tier 3 and a failure class the policy names; this is tier {tier}, class {class:?}")]
    NotAutoPromotable { tier: u8, class: Option<String> },
    #[error("automatic promotion only after the last canary step ({step} of {total})")]
    CanaryNotFinished { step: usize, total: usize },
    #[error("the canary has no step after {step} of {total}")]
    NoNextStep { step: usize, total: usize },
    #[error("only a flag-only patch can be applied as a mitigation")]
    NotAFlagFix,
    #[error("a flag-only patch is applied as a mitigation, not by canary")]
    FlagFixNotCanaried,
}

impl Patch {
    /// Applies a transition, or explains why it is not allowed. On success the
    /// state, the evidence and approvals, and the history are updated together.
    pub fn apply(&mut self, t: Transition) -> Result<PatchState, LifecycleError> {
        let from = self.state;
        let to = self.next_state(&t)?;
        let note = match &t {
            Transition::Approve { comment, .. } | Transition::RequestChanges { comment, .. } => comment.clone(),
            Transition::Veto { reason, .. } | Transition::RollBack { reason, .. } | Transition::BreakGlass { reason, .. } => reason.clone(),
            _ => String::new(),
        };
        let by = t.actor().name.clone();
        let at = t.at();
        match t {
            Transition::VerificationFinished { report, .. } => self.verification = Some(report),
            Transition::Approve { who, role, comment, at } => {
                self.approvals.push(Approval { who, role, decision: Decision::Approve, comment, at, origin: None })
            }
            Transition::Veto { who, role, reason, at } => {
                self.approvals.push(Approval { who, role, decision: Decision::Veto, comment: reason, at, origin: None })
            }
            Transition::RequestChanges { who, role, comment, at } => {
                self.approvals.push(Approval { who, role, decision: Decision::RequestChanges, comment, at, origin: None })
            }
            Transition::BreakGlass { who, role, reason, at } => {
                self.approvals.push(Approval { who, role, decision: Decision::BreakGlass, comment: reason, at, origin: None })
            }
            _ => {}
        }
        self.state = to;
        let by = if by.is_empty() { "suture/verifier".to_string() } else { by };
        self.history.push(StateChange { from, to, by, at, note });
        Ok(to)
    }

    /// Approvals that count: human approvals from people allowed to approve.
    pub fn approval_count(&self) -> usize {
        self.approvals.iter().filter(|a| a.decision == Decision::Approve).count()
    }

    /// The commander who broke the glass on this patch, if one did.
    pub fn break_glass(&self) -> Option<&Approval> {
        self.approvals.iter().find(|a| a.decision == Decision::BreakGlass)
    }

    /// Reviewers whose request for changes still stands (they have not approved since).
    pub fn changes_requested(&self) -> Vec<&Actor> {
        let mut out: Vec<&Actor> = Vec::new();
        for a in &self.approvals {
            match a.decision {
                Decision::RequestChanges if !out.contains(&&a.who) => out.push(&a.who),
                Decision::Approve | Decision::BreakGlass => out.retain(|w| **w != a.who),
                _ => {}
            }
        }
        out
    }

    fn tier(&self) -> Result<Tier, LifecycleError> {
        self.risk.as_ref().map(|r| r.tier).ok_or(LifecycleError::TierUnknown)
    }

    fn is_flaky(&self) -> bool {
        self.verification.as_ref().is_some_and(|v| v.is_flaky())
    }

    /// Decides the target state without changing anything.
    pub fn next_state(&self, t: &Transition) -> Result<PatchState, LifecycleError> {
        use PatchState as S;
        let illegal = || LifecycleError::Illegal { from: self.state, action: t.name() };
        match (self.state, t) {
            (S::Proposed | S::Failed, Transition::StartVerification { .. }) => Ok(S::Verifying),

            (S::Verifying, Transition::VerificationFinished { report, .. }) => {
                if report.patch_digest != self.digest {
                    return Err(LifecycleError::EvidenceForAnotherPatch {
                        expected: self.digest.clone(),
                        got: report.patch_digest.clone(),
                    });
                }
                if !report.is_complete() {
                    return Err(LifecycleError::IncompleteReport);
                }
                Ok(if report.proves_fix() && !report.has_failures() { S::Verified } else { S::Failed })
            }

            (S::Verified | S::Approved | S::Canary { .. }, Transition::Approve { who, role, comment: _, .. }) => {
                self.check_decider(who, *role, true)?;
                Ok(match self.state {
                    S::Verified => S::Approved,
                    other => other,
                })
            }

            (S::Proposed | S::Verified | S::Failed | S::Approved, Transition::RequestChanges { who, role, comment, .. }) => {
                if comment.trim().is_empty() {
                    return Err(LifecycleError::ReasonRequired { action: "request changes" });
                }
                self.check_decider(who, *role, false)?;
                Ok(self.state)
            }

            (S::Verified, Transition::BreakGlass { who, role, reason, .. }) => {
                if reason.trim().is_empty() {
                    return Err(LifecycleError::ReasonRequired { action: "break the glass" });
                }
                if who.kind == ActorKind::Bot {
                    return Err(LifecycleError::BotCannotDecide { who: who.name.clone() });
                }
                if *role != Role::Commander {
                    return Err(LifecycleError::BreakGlassNeedsCommander { role: *role });
                }
                // The proposer still never approves; asking for the fix does
                // not stop a commander from pushing it through in an emergency.
                if *who == self.proposer {
                    return Err(LifecycleError::ProposerCannotApprove { who: who.name.clone() });
                }
                if self.tier()? == Tier::T0 {
                    return Err(LifecycleError::Tier0NoDeploy);
                }
                Ok(S::Approved)
            }

            (S::Proposed | S::Verifying | S::Verified | S::Failed | S::Approved, Transition::Veto { who, role, reason, .. }) => {
                if reason.trim().is_empty() {
                    return Err(LifecycleError::ReasonRequired { action: "veto" });
                }
                self.check_decider(who, *role, false)?;
                Ok(S::Vetoed)
            }

            (S::Verified | S::Approved, Transition::StartCanary { by, .. }) => {
                if self.kind == PatchKind::FlagFlip {
                    return Err(LifecycleError::FlagFixNotCanaried);
                }
                self.check_deploy_allowed(by)?;
                Ok(S::Canary { step: 0 })
            }

            (S::Canary { step }, Transition::AdvanceCanary { total_steps, .. }) => {
                if step + 1 >= *total_steps {
                    return Err(LifecycleError::NoNextStep { step: step + 1, total: *total_steps });
                }
                Ok(S::Canary { step: step + 1 })
            }

            (S::Canary { step }, Transition::Promote { by, total_steps, auto_promote_classes, .. }) => {
                if by.kind == ActorKind::Bot {
                    let tier = self.tier()?;
                    let class = self.risk.as_ref().and_then(|r| r.failure_class.clone());
                    let named = class.as_ref().is_some_and(|c| auto_promote_classes.contains(c));
                    if tier != Tier::T3 || !named {
                        return Err(LifecycleError::NotAutoPromotable { tier: tier.number(), class });
                    }
                    if self.is_flaky() {
                        return Err(LifecycleError::FlakyNoAuto);
                    }
                    if step + 1 < *total_steps {
                        return Err(LifecycleError::CanaryNotFinished { step: step + 1, total: *total_steps });
                    }
                } else if self.approval_count() == 0 && self.break_glass().is_none() {
                    // Tier 2 went to canary without a review; a person promotes only after one.
                    let tier = self.tier()?;
                    return Err(LifecycleError::InsufficientApprovals { tier: tier.number(), need: 1, have: 0 });
                }
                Ok(S::Promoted)
            }

            (S::Canary { .. } | S::Promoted | S::Mitigated, Transition::RollBack { reason, .. }) => {
                if reason.trim().is_empty() {
                    return Err(LifecycleError::ReasonRequired { action: "roll back" });
                }
                Ok(S::RolledBack)
            }

            (S::Approved, Transition::Mitigate { by, .. }) => {
                if self.kind != PatchKind::FlagFlip {
                    return Err(LifecycleError::NotAFlagFix);
                }
                self.check_deploy_allowed(by)?;
                Ok(S::Mitigated)
            }

            _ => Err(illegal()),
        }
    }

    fn check_decider(&self, who: &Actor, role: Role, approving: bool) -> Result<(), LifecycleError> {
        if who.kind == ActorKind::Bot {
            return Err(LifecycleError::BotCannotDecide { who: who.name.clone() });
        }
        // Separation of duties first: it is the clearer answer whatever the role.
        if approving && *who == self.proposer {
            return Err(LifecycleError::ProposerCannotApprove { who: who.name.clone() });
        }
        if approving && self.requested_by.as_ref() == Some(who) {
            return Err(LifecycleError::SelfApproval { who: who.name.clone() });
        }
        if !matches!(role, Role::Reviewer | Role::Commander) {
            return Err(LifecycleError::RoleCannotApprove { role });
        }
        if !approving {
            return Ok(());
        }
        if self.approvals.iter().any(|a| a.who == *who && a.decision != Decision::RequestChanges) {
            return Err(LifecycleError::AlreadyDecided { who: who.name.clone() });
        }
        Ok(())
    }

    fn check_deploy_allowed(&self, by: &Actor) -> Result<(), LifecycleError> {
        let tier = self.tier()?;
        let need = tier.approvals_before_canary().ok_or(LifecycleError::Tier0NoDeploy)?;
        if let Some(who) = self.changes_requested().first() {
            return Err(LifecycleError::ChangesRequested { who: who.name.clone() });
        }
        if self.break_glass().is_some() {
            return Ok(());
        }
        let have = self.approval_count();
        if have < need {
            return Err(LifecycleError::InsufficientApprovals { tier: tier.number(), need, have });
        }
        if have == 0 && by.kind == ActorKind::Bot && self.is_flaky() {
            return Err(LifecycleError::FlakyNoAuto);
        }
        if have == 0 && by.kind == ActorKind::Person {
            // Without any approval only the deployer bot may start a canary (tier 2/3 policy);
            // a person must first get the review the policy would otherwise skip.
            return Err(LifecycleError::InsufficientApprovals { tier: tier.number(), need: 1, have: 0 });
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
