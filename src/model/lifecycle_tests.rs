use proptest::prelude::*;

use super::*;
use crate::model::{Actor, ReproVerdict, RiskAssessment, StepKind, StepStatus, Tier, VerificationReport, VerificationStep};

const T: Millis = 1_700_000_000_000;

fn alice() -> Actor {
    Actor::person("alice")
}
fn carol() -> Actor {
    Actor::person("carol")
}
fn bob() -> Actor {
    Actor::person("bob")
}
fn templates() -> Actor {
    Actor::bot("suture/templates")
}
fn deployer() -> Actor {
    Actor::bot("suture/deployer")
}

fn patch(kind: PatchKind, tier: Tier, class: Option<&str>) -> Patch {
    let mut p = Patch::new(kind, "guard discount", "--- a/x\n+++ b/x\n", "base", vec!["x".into()], templates(), Some(bob()), T);
    p.risk = Some(RiskAssessment { score: 0.1, tier, reasons: vec![], failure_class: class.map(String::from) });
    p
}

fn step(kind: StepKind, status: StepStatus) -> VerificationStep {
    VerificationStep { kind, status, duration_ms: 5, detail: String::new(), log_ref: None }
}

fn report(p: &Patch, base: ReproVerdict, patched: ReproVerdict, extra: StepStatus) -> VerificationReport {
    VerificationReport {
        patch_digest: p.digest.clone(),
        started: T,
        finished: Some(T + 10),
        repro_on_base: Some(base),
        repro_on_patched: Some(patched),
        steps: vec![
            step(StepKind::ReproBase, StepStatus::Passed),
            step(StepKind::ReproPatched, StepStatus::Passed),
            step(StepKind::Tests, extra),
        ],
        regression_test: None,
    }
}

fn good_report(p: &Patch) -> VerificationReport {
    report(p, ReproVerdict::Reproduced, ReproVerdict::Passed, StepStatus::Passed)
}

const ALL_STATES: [PatchState; 11] = [
    PatchState::Proposed,
    PatchState::Verifying,
    PatchState::Verified,
    PatchState::Failed,
    PatchState::Approved,
    PatchState::Vetoed,
    PatchState::Canary { step: 0 },
    PatchState::Canary { step: 2 },
    PatchState::Promoted,
    PatchState::RolledBack,
    PatchState::Mitigated,
];

/// A patch in `state` with everything a transition could ask for in place:
/// tier 2, a good report, one approval from carol.
fn ready(state: PatchState) -> Patch {
    let mut p = patch(PatchKind::Code, Tier::T2, Some("null-guard"));
    p.verification = Some(good_report(&p));
    p.approvals.push(Approval {
        who: carol(),
        role: Role::Reviewer,
        decision: Decision::Approve,
        comment: "ok".into(),
        at: T,
        origin: None,
    });
    p.state = state;
    p
}

/// Every transition kind, each with valid actors and arguments.
fn palette(p: &Patch) -> Vec<Transition> {
    vec![
        Transition::StartVerification { by: bob(), at: T },
        Transition::VerificationFinished { report: good_report(p), at: T },
        Transition::Approve { who: alice(), role: Role::Reviewer, comment: "lgtm".into(), at: T },
        Transition::Veto { who: alice(), role: Role::Reviewer, reason: "too broad".into(), at: T },
        Transition::RequestChanges { who: alice(), role: Role::Reviewer, comment: "name the flag".into(), at: T },
        Transition::BreakGlass { who: alice(), role: Role::Commander, reason: "sev1, no reviewer".into(), at: T },
        Transition::StartCanary { by: deployer(), at: T },
        Transition::AdvanceCanary { by: deployer(), total_steps: 3, at: T },
        Transition::Promote { by: alice(), total_steps: 3, auto_promote_classes: vec![], at: T },
        Transition::RollBack { by: deployer(), reason: "error rate up".into(), at: T },
        Transition::Mitigate { by: deployer(), at: T },
    ]
}

/// The oracle: the only legal (state, transition) pairs, written out by hand.
fn expected(from: PatchState, t: &Transition) -> Result<PatchState, LifecycleError> {
    use PatchState as S;
    let ok = match (from, t.name()) {
        (S::Proposed | S::Failed, "start verification") => S::Verifying,
        (S::Verifying, "finish verification") => S::Verified,
        (S::Verified, "approve") => S::Approved,
        (S::Approved, "approve") => S::Approved,
        (S::Canary { step }, "approve") => S::Canary { step },
        (S::Proposed | S::Verifying | S::Verified | S::Failed | S::Approved, "veto") => S::Vetoed,
        (S::Proposed | S::Verified | S::Failed | S::Approved, "request changes") => from,
        (S::Verified, "break-glass") => S::Approved,
        (S::Verified | S::Approved, "start canary") => S::Canary { step: 0 },
        (S::Canary { step: 0 }, "advance canary") => S::Canary { step: 1 },
        (S::Canary { step: 2 }, "advance canary") => return Err(LifecycleError::NoNextStep { step: 3, total: 3 }),
        (S::Canary { .. }, "promote") => S::Promoted,
        (S::Canary { .. } | S::Promoted | S::Mitigated, "roll back") => S::RolledBack,
        (S::Approved, "mitigate") => return Err(LifecycleError::NotAFlagFix),
        _ => return Err(LifecycleError::Illegal { from, action: t.name() }),
    };
    Ok(ok)
}

#[test]
fn every_state_and_transition_pair_matches_the_oracle() {
    let mut legal = 0;
    for from in ALL_STATES {
        let probe = ready(from);
        for t in palette(&probe) {
            let mut p = ready(from);
            let before = p.clone();
            let want = expected(from, &t);
            let got = p.apply(t.clone());
            assert_eq!(got, want, "{from} --{}-->", t.name());
            match got {
                Ok(to) => {
                    legal += 1;
                    assert_eq!(p.state, to);
                    assert_eq!(p.history.last().map(|h| (h.from, h.to)), Some((from, to)));
                }
                Err(_) => assert_eq!(p, before, "a rejected transition must change nothing"),
            }
        }
    }
    assert_eq!(legal, 26, "the number of legal pairs in the table");
}

#[test]
fn terminal_states_accept_nothing() {
    for from in [PatchState::Vetoed, PatchState::RolledBack] {
        assert!(from.is_terminal());
        let p = ready(from);
        for t in palette(&p) {
            assert!(matches!(ready(from).apply(t), Err(LifecycleError::Illegal { .. })));
        }
    }
}

#[test]
fn verified_needs_fail_before_and_pass_after() {
    let cases = [
        (ReproVerdict::Passed, ReproVerdict::Passed),
        (ReproVerdict::Reproduced, ReproVerdict::Reproduced),
        (ReproVerdict::DifferentFailure, ReproVerdict::Passed),
        (ReproVerdict::Reproduced, ReproVerdict::DifferentFailure),
        (ReproVerdict::Error, ReproVerdict::Passed),
        (ReproVerdict::Reproduced, ReproVerdict::Error),
    ];
    for (base, patched) in cases {
        let mut p = patch(PatchKind::Code, Tier::T1, None);
        p.state = PatchState::Verifying;
        let r = report(&p, base, patched, StepStatus::Passed);
        assert_eq!(p.apply(Transition::VerificationFinished { report: r, at: T }), Ok(PatchState::Failed), "{base:?}/{patched:?}");
    }
    let mut p = patch(PatchKind::Code, Tier::T1, None);
    p.state = PatchState::Verifying;
    let r = report(&p, ReproVerdict::Reproduced, ReproVerdict::Passed, StepStatus::Failed);
    assert_eq!(p.apply(Transition::VerificationFinished { report: r, at: T }), Ok(PatchState::Failed), "a failed step fails the patch");
}

#[test]
fn a_missing_repro_verdict_is_not_proof() {
    let mut p = patch(PatchKind::Code, Tier::T1, None);
    p.state = PatchState::Verifying;
    let mut r = good_report(&p);
    r.repro_on_base = None;
    assert_eq!(p.apply(Transition::VerificationFinished { report: r, at: T }), Ok(PatchState::Failed));
}

#[test]
fn incomplete_or_foreign_reports_are_rejected() {
    let mut p = patch(PatchKind::Code, Tier::T1, None);
    p.state = PatchState::Verifying;
    let mut r = good_report(&p);
    r.steps.push(step(StepKind::Perf, StepStatus::Running));
    assert_eq!(p.apply(Transition::VerificationFinished { report: r, at: T }), Err(LifecycleError::IncompleteReport));
    let mut r = good_report(&p);
    r.finished = None;
    assert_eq!(p.apply(Transition::VerificationFinished { report: r, at: T }), Err(LifecycleError::IncompleteReport));
    let mut r = good_report(&p);
    r.patch_digest = "0".repeat(64);
    assert!(matches!(p.apply(Transition::VerificationFinished { report: r, at: T }), Err(LifecycleError::EvidenceForAnotherPatch { .. })));
    assert_eq!(p.state, PatchState::Verifying);
}

#[test]
fn the_proposer_never_approves() {
    let mut p = patch(PatchKind::Code, Tier::T1, None);
    p.proposer = alice();
    p.state = PatchState::Verified;
    assert_eq!(
        p.apply(Transition::Approve { who: alice(), role: Role::Reviewer, comment: String::new(), at: T }),
        Err(LifecycleError::ProposerCannotApprove { who: "alice".into() })
    );
    let mut p = patch(PatchKind::Code, Tier::T1, None);
    p.state = PatchState::Verified;
    assert_eq!(
        p.apply(Transition::Approve { who: templates(), role: Role::Reviewer, comment: String::new(), at: T }),
        Err(LifecycleError::BotCannotDecide { who: "suture/templates".into() })
    );
}

#[test]
fn nobody_approves_their_own_change_or_twice() {
    let mut p = patch(PatchKind::Code, Tier::T1, None);
    p.state = PatchState::Verified;
    let approve = |who: Actor, role| Transition::Approve { who, role, comment: String::new(), at: T };
    assert_eq!(p.apply(approve(bob(), Role::Reviewer)), Err(LifecycleError::SelfApproval { who: "bob".into() }));
    assert_eq!(p.apply(approve(alice(), Role::Engineer)), Err(LifecycleError::RoleCannotApprove { role: Role::Engineer }));
    assert_eq!(p.apply(approve(alice(), Role::Viewer)), Err(LifecycleError::RoleCannotApprove { role: Role::Viewer }));
    assert_eq!(p.apply(approve(alice(), Role::Reviewer)), Ok(PatchState::Approved));
    assert_eq!(p.apply(approve(alice(), Role::Commander)), Err(LifecycleError::AlreadyDecided { who: "alice".into() }));
    assert_eq!(p.approval_count(), 1);
}

#[test]
fn vetoes_and_rollbacks_need_a_reason() {
    let mut p = ready(PatchState::Verified);
    assert_eq!(
        p.apply(Transition::Veto { who: alice(), role: Role::Reviewer, reason: "  ".into(), at: T }),
        Err(LifecycleError::ReasonRequired { action: "veto" })
    );
    let mut p = ready(PatchState::Canary { step: 0 });
    assert_eq!(
        p.apply(Transition::RollBack { by: alice(), reason: String::new(), at: T }),
        Err(LifecycleError::ReasonRequired { action: "roll back" })
    );
}

#[test]
fn deploys_follow_the_tier() {
    let start = |by: Actor| Transition::StartCanary { by, at: T };
    let verified = |tier: Tier, approvals: usize, flaky: bool| {
        let mut p = patch(PatchKind::Code, tier, None);
        let mut r = good_report(&p);
        if flaky {
            r.steps.push(step(StepKind::Flakiness, StepStatus::Flaky));
        }
        p.verification = Some(r);
        p.state = PatchState::Verified;
        for i in 0..approvals {
            p.approvals.push(Approval {
                who: Actor::person(format!("r{i}")),
                role: Role::Reviewer,
                decision: Decision::Approve,
                comment: String::new(),
                at: T,
                origin: None,
            });
        }
        p
    };
    assert_eq!(verified(Tier::T0, 2, false).apply(start(deployer())), Err(LifecycleError::Tier0NoDeploy));
    assert_eq!(
        verified(Tier::T1, 0, false).apply(start(deployer())),
        Err(LifecycleError::InsufficientApprovals { tier: 1, need: 1, have: 0 })
    );
    assert_eq!(verified(Tier::T1, 1, false).apply(start(deployer())), Ok(PatchState::Canary { step: 0 }));
    assert_eq!(verified(Tier::T2, 0, false).apply(start(deployer())), Ok(PatchState::Canary { step: 0 }));
    assert_eq!(verified(Tier::T2, 0, true).apply(start(deployer())), Err(LifecycleError::FlakyNoAuto));
    assert_eq!(
        verified(Tier::T2, 0, false).apply(start(alice())),
        Err(LifecycleError::InsufficientApprovals { tier: 2, need: 1, have: 0 })
    );
    assert_eq!(
        verified(Tier::T2, 1, true).apply(start(alice())),
        Ok(PatchState::Canary { step: 0 }),
        "a reviewed flaky patch may be deployed by a person"
    );
    let mut unassessed = verified(Tier::T1, 1, false);
    unassessed.risk = None;
    assert_eq!(unassessed.apply(start(deployer())), Err(LifecycleError::TierUnknown));
}

#[test]
fn automatic_promotion_is_for_tier_3_named_classes_at_the_last_step() {
    let auto = |classes: &[&str]| Transition::Promote {
        by: deployer(),
        total_steps: 3,
        auto_promote_classes: classes.iter().map(|s| s.to_string()).collect(),
        at: T,
    };
    let at = |tier, class: Option<&str>, step| {
        let mut p = patch(PatchKind::Code, tier, class);
        p.verification = Some(good_report(&p));
        p.state = PatchState::Canary { step };
        p
    };
    assert_eq!(at(Tier::T3, Some("null-guard"), 2).apply(auto(&["null-guard"])), Ok(PatchState::Promoted));
    assert_eq!(
        at(Tier::T3, Some("null-guard"), 1).apply(auto(&["null-guard"])),
        Err(LifecycleError::CanaryNotFinished { step: 2, total: 3 })
    );
    assert!(matches!(
        at(Tier::T3, Some("off-by-one"), 2).apply(auto(&["null-guard"])),
        Err(LifecycleError::NotAutoPromotable { tier: 3, .. })
    ));
    assert!(matches!(
        at(Tier::T2, Some("null-guard"), 2).apply(auto(&["null-guard"])),
        Err(LifecycleError::NotAutoPromotable { tier: 2, .. })
    ));
    assert!(matches!(at(Tier::T3, None, 2).apply(auto(&["null-guard"])), Err(LifecycleError::NotAutoPromotable { .. })));
    let mut flaky = at(Tier::T3, Some("null-guard"), 2);
    if let Some(r) = flaky.verification.as_mut() {
        r.steps.push(step(StepKind::Flakiness, StepStatus::Flaky));
    }
    assert_eq!(flaky.apply(auto(&["null-guard"])), Err(LifecycleError::FlakyNoAuto));
    // A person promotes a tier-2 canary only after a review.
    let manual = Transition::Promote { by: alice(), total_steps: 3, auto_promote_classes: vec![], at: T };
    assert_eq!(at(Tier::T2, None, 1).apply(manual.clone()), Err(LifecycleError::InsufficientApprovals { tier: 2, need: 1, have: 0 }));
    let mut reviewed = at(Tier::T2, None, 1);
    assert_eq!(
        reviewed.apply(Transition::Approve { who: alice(), role: Role::Reviewer, comment: "post-hoc".into(), at: T }),
        Ok(PatchState::Canary { step: 1 })
    );
    assert_eq!(reviewed.apply(manual), Ok(PatchState::Promoted));
}

#[test]
fn flag_fixes_mitigate_and_never_canary() {
    let mut p = patch(PatchKind::FlagFlip, Tier::T1, Some("flag-off"));
    p.state = PatchState::Approved;
    p.approvals.push(Approval {
        who: alice(),
        role: Role::Commander,
        decision: Decision::Approve,
        comment: String::new(),
        at: T,
        origin: None,
    });
    assert_eq!(p.clone().apply(Transition::StartCanary { by: deployer(), at: T }), Err(LifecycleError::FlagFixNotCanaried));
    assert_eq!(p.apply(Transition::Mitigate { by: deployer(), at: T }), Ok(PatchState::Mitigated));
    assert_eq!(p.apply(Transition::RollBack { by: alice(), reason: "flag restored".into(), at: T }), Ok(PatchState::RolledBack));
}

#[test]
fn a_full_happy_path_records_history() {
    let mut p = patch(PatchKind::Code, Tier::T1, None);
    let r = good_report(&p);
    p.apply(Transition::StartVerification { by: bob(), at: T }).unwrap();
    p.apply(Transition::VerificationFinished { report: r, at: T + 1 }).unwrap();
    p.apply(Transition::Approve { who: alice(), role: Role::Reviewer, comment: "lgtm".into(), at: T + 2 }).unwrap();
    p.apply(Transition::StartCanary { by: deployer(), at: T + 3 }).unwrap();
    p.apply(Transition::AdvanceCanary { by: deployer(), total_steps: 2, at: T + 4 }).unwrap();
    assert_eq!(
        p.apply(Transition::Promote { by: alice(), total_steps: 2, auto_promote_classes: vec![], at: T + 5 }),
        Ok(PatchState::Promoted)
    );
    let path: Vec<String> = p.history.iter().map(|h| h.to.label()).collect();
    assert_eq!(path, ["verifying", "verified", "approved", "canary 1", "canary 2", "promoted"]);
    assert_eq!(p.history[1].by, "suture/verifier");
    assert_eq!(p.history[2].note, "lgtm");
}

fn arb_transition() -> impl Strategy<Value = (usize, usize, bool)> {
    (0usize..9, 0usize..4, any::<bool>())
}

proptest! {
    /// Whatever sequence of requests arrives, the invariants hold after each one.
    #[test]
    fn invariants_hold_under_any_sequence(seq in proptest::collection::vec(arb_transition(), 0..40), tier in 0u8..4) {
        let mut p = patch(PatchKind::Code, Tier::try_from(tier).unwrap(), Some("null-guard"));
        let people = [alice(), bob(), carol(), templates(), deployer()];
        for (kind, who, good) in seq {
            let actor = people[who].clone();
            let report = if good { good_report(&p) } else { report(&p, ReproVerdict::Passed, ReproVerdict::Passed, StepStatus::Passed) };
            let t = match kind {
                0 => Transition::StartVerification { by: actor, at: T },
                1 => Transition::VerificationFinished { report, at: T },
                2 => Transition::Approve { who: actor, role: Role::Reviewer, comment: String::new(), at: T },
                3 => Transition::Veto { who: actor, role: Role::Reviewer, reason: if good { "no".into() } else { String::new() }, at: T },
                4 => Transition::StartCanary { by: actor, at: T },
                5 => Transition::AdvanceCanary { by: actor, total_steps: 3, at: T },
                6 => Transition::Promote { by: actor, total_steps: 3, auto_promote_classes: vec!["null-guard".into()], at: T },
                7 => Transition::RollBack { by: actor, reason: "r".into(), at: T },
                _ => Transition::Mitigate { by: actor, at: T },
            };
            let before = p.state;
            if p.apply(t).is_err() {
                prop_assert_eq!(p.state, before);
            }
            prop_assert!(!p.approvals.iter().any(|a| a.decision == Decision::Approve && (a.who == p.proposer || Some(&a.who) == p.requested_by.as_ref())));
            let reached = |s: PatchState| p.history.iter().any(|h| h.to == s);
            if reached(PatchState::Verified) {
                prop_assert!(p.verification.as_ref().is_some_and(|v| v.proves_fix()));
            }
            if p.history.iter().any(|h| matches!(h.to, PatchState::Canary { .. })) {
                prop_assert!(tier > 0, "tier 0 never deploys");
                prop_assert!(reached(PatchState::Verified));
            }
            if tier == 1 && p.history.iter().any(|h| matches!(h.to, PatchState::Canary { .. })) {
                prop_assert!(p.approval_count() >= 1);
            }
        }
    }
}

fn approve(who: Actor, role: Role) -> Transition {
    Transition::Approve { who, role, comment: String::new(), at: T }
}

#[test]
fn requested_changes_block_the_deploy_until_that_reviewer_approves() {
    let mut p = ready(PatchState::Verified);
    p.approvals.clear();
    let ask = Transition::RequestChanges { who: carol(), role: Role::Reviewer, comment: "log the fallback".into(), at: T };
    let empty = Transition::RequestChanges { who: carol(), role: Role::Reviewer, comment: " ".into(), at: T };
    assert_eq!(p.apply(empty), Err(LifecycleError::ReasonRequired { action: "request changes" }));
    assert_eq!(p.apply(ask), Ok(PatchState::Verified));
    assert_eq!(p.apply(approve(alice(), Role::Reviewer)), Ok(PatchState::Approved));
    let start = |by: Actor| Transition::StartCanary { by, at: T };
    assert_eq!(p.clone().apply(start(alice())), Err(LifecycleError::ChangesRequested { who: "carol".into() }));
    assert_eq!(p.apply(approve(carol(), Role::Reviewer)), Ok(PatchState::Approved));
    assert!(p.changes_requested().is_empty());
    assert_eq!(p.apply(start(alice())), Ok(PatchState::Canary { step: 0 }));
}

#[test]
fn break_glass_is_a_commanders_with_a_reason_and_stands_in_for_approvals() {
    let glass = |who: Actor, role: Role, reason: &str| Transition::BreakGlass { who, role, reason: reason.into(), at: T };
    let mut p = ready(PatchState::Verified);
    p.approvals.clear();
    assert_eq!(p.apply(glass(alice(), Role::Reviewer, "sev1")), Err(LifecycleError::BreakGlassNeedsCommander { role: Role::Reviewer }));
    assert_eq!(p.apply(glass(alice(), Role::Commander, "")), Err(LifecycleError::ReasonRequired { action: "break the glass" }));
    assert_eq!(p.apply(glass(templates(), Role::Commander, "x")), Err(LifecycleError::BotCannotDecide { who: "suture/templates".into() }));
    // bob asked for the patch; as commander he may still push it through.
    assert_eq!(p.apply(glass(bob(), Role::Commander, "checkout down, no reviewer awake")), Ok(PatchState::Approved));
    assert_eq!(p.approval_count(), 0);
    assert_eq!(p.break_glass().map(|a| a.who.name.as_str()), Some("bob"));
    assert_eq!(p.history.last().map(|h| h.note.as_str()), Some("checkout down, no reviewer awake"));
    assert_eq!(p.apply(Transition::StartCanary { by: alice(), at: T }), Ok(PatchState::Canary { step: 0 }));
    let mut t0 = patch(PatchKind::Code, Tier::T0, None);
    t0.verification = Some(good_report(&t0));
    t0.state = PatchState::Verified;
    assert_eq!(t0.apply(glass(alice(), Role::Commander, "sev1")), Err(LifecycleError::Tier0NoDeploy));
}
