use super::*;
use crate::audit::chain;
use crate::audit::sign::{BOT, Key, Keyring, Signers};
use crate::config::RoleScope;
use crate::model::{PatchKind, RiskAssessment, Tier};

fn team() -> Team {
    Team {
        roles: Roles {
            reviewers: vec!["bob".into(), "rita".into()],
            commanders: vec!["carol".into()],
            viewers: vec!["victor".into()],
            scopes: vec![RoleScope { name: "rita".into(), paths: vec!["*/pricing.py".into()], tiers: vec![1, 2] }],
        },
        allow_env_user: false,
        source: "test".into(),
    }
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

#[test]
fn whoami_prefers_allowed_env_then_config_then_login_and_records_ssh() {
    let mut t = team();
    let p = t.whoami(None, &env(&[("USER", "bob"), ("SSH_CONNECTION", "203.0.113.7 5122 10.0.0.2 22")])).unwrap();
    assert_eq!((p.name.as_str(), p.role, p.via, p.origin.as_deref()), ("bob", Role::Reviewer, "login name", Some("ssh 203.0.113.7")));
    let p = t.whoami(Some("carol"), &env(&[("USER", "bob")])).unwrap();
    assert_eq!((p.name.as_str(), p.role, p.via), ("carol", Role::Commander, "identity.name"));
    let err = t.whoami(None, &env(&[("SUTURE_USER", "carol"), ("USER", "bob")])).unwrap_err().to_string();
    assert!(err.contains("SUTURE_USER names carol") && err.contains("allow_env_user"), "{err}");
    t.allow_env_user = true;
    let p = t.whoami(Some("x"), &env(&[("SUTURE_USER", "victor")])).unwrap();
    assert_eq!((p.name.as_str(), p.role, p.via), ("victor", Role::Viewer, "SUTURE_USER"));
    assert_eq!(t.whoami(None, &env(&[("USER", "dan")])).unwrap().role, Role::Engineer);
}

fn patch(files: &[&str], tier: Tier) -> Patch {
    let mut p = Patch::new(
        PatchKind::Code,
        "guard",
        format!("--- a/{f}\n+++ b/{f}\n", f = files[0]),
        "base",
        files.iter().map(|s| s.to_string()).collect(),
        Actor::bot("suture/templates"),
        Some(Actor::person("alice")),
        1,
    );
    p.risk = Some(RiskAssessment { score: 0.2, tier, reasons: vec![], failure_class: None });
    p
}

#[test]
fn scoped_roles_apply_only_to_their_paths_and_tiers() {
    let t = team();
    assert_eq!(t.role_for("rita", &patch(&["svc/pricing.py"], Tier::T2)).unwrap(), Role::Reviewer);
    let err = t.role_for("rita", &patch(&["svc/cart.py"], Tier::T2)).unwrap_err().to_string();
    assert!(err.contains("rita is a reviewer only for */pricing.py at tier 1/2") && err.contains("svc/cart.py at tier 2"), "{err}");
    assert!(t.role_for("rita", &patch(&["svc/pricing.py"], Tier::T3)).is_err());
    assert_eq!(t.role_for("bob", &patch(&["svc/cart.py"], Tier::T3)).unwrap(), Role::Reviewer);
}

fn signed_store(person: &str) -> (Store, Keyring) {
    let me = Key::from_seed(person, [7; 32]);
    let bot = Key::from_seed(BOT, [8; 32]);
    let mut ring = Keyring::default();
    ring.admit(&me, Path::new("k"), Path::new("f")).unwrap();
    ring.admit(&bot, Path::new("k"), Path::new("f")).unwrap();
    (Store::open_in_memory().unwrap().with_signer(Signers::new(Some(me), Some(bot))), ring)
}

fn verified(store: &mut Store, p: &Patch) {
    store.add_patch(p, 1).unwrap();
    // Stand in for the gauntlet: the lifecycle's own tests cover verification.
    store.transition_patch(&p.id, Transition::StartVerification { by: Actor::bot("suture/verifier"), at: 2 }).unwrap();
    let report = crate::model::VerificationReport {
        patch_digest: p.digest.clone(),
        started: 2,
        finished: Some(3),
        repro_on_base: Some(crate::model::ReproVerdict::Reproduced),
        repro_on_patched: Some(crate::model::ReproVerdict::Passed),
        steps: vec![],
        regression_test: None,
    };
    store.transition_patch(&p.id, Transition::VerificationFinished { report, at: 3 }).unwrap();
}

#[test]
fn decisions_are_checked_signed_and_carry_their_origin() {
    let (mut store, ring) = signed_store("bob");
    let p = patch(&["svc/pricing.py"], Tier::T1);
    verified(&mut store, &p);
    let t = team();
    let bob = Person { name: "bob".into(), role: Role::Reviewer, origin: Some("ssh 203.0.113.7".into()), via: "test" };
    let ro = decide(&mut store, &t, &bob, true, &p.id[..6], Choice::Approve { comment: "ok".into() }, 4).unwrap_err();
    assert!(ro.to_string().contains("read-only mode: approve"), "{ro}");
    let (after, state) = decide(&mut store, &t, &bob, false, &p.id[..6], Choice::Approve { comment: "ok".into() }, 4).unwrap();
    assert_eq!(state, PatchState::Approved);
    assert_eq!(after.approvals[0].origin.as_deref(), Some("ssh 203.0.113.7"));
    let log = store.audit_log().unwrap();
    assert_eq!(log.last().unwrap().0.action, "approve");
    assert!(log.last().unwrap().1.contains("203.0.113.7"));
    let v = chain::verify_log(&log, store.audit_head().unwrap().as_ref(), &ring).unwrap();
    assert_eq!(v.entries, 4);
    let victor = Person { name: "victor".into(), role: Role::Viewer, origin: None, via: "test" };
    assert!(
        decide(&mut store, &t, &victor, false, &p.id, Choice::Veto { reason: "no".into() }, 5).unwrap_err().to_string().contains("viewer")
    );
    assert!(matches!(decide(&mut store, &t, &bob, false, "nope", Choice::Veto { reason: "x".into() }, 5), Err(GovernError::NoPatch(_))));
}

#[test]
fn the_requester_and_the_proposer_are_refused_by_name() {
    let (mut store, _) = signed_store("alice");
    let mut t = team();
    t.roles.reviewers.push("alice".into());
    let p = patch(&["svc/pricing.py"], Tier::T1);
    verified(&mut store, &p);
    let alice = Person { name: "alice".into(), role: Role::Reviewer, origin: None, via: "test" };
    let err = decide(&mut store, &t, &alice, false, &p.id, Choice::Approve { comment: "mine".into() }, 4).unwrap_err().to_string();
    assert_eq!(err, "alice asked for this patch and cannot approve their own change");
    let mut q = patch(&["svc/cart.py"], Tier::T1);
    q.proposer = Actor::person("alice");
    q.requested_by = None;
    verified(&mut store, &q);
    let err = decide(&mut store, &t, &alice, false, &q.id, Choice::Approve { comment: "mine".into() }, 4).unwrap_err().to_string();
    assert_eq!(err, "alice proposed this patch and cannot approve it");
    assert_eq!(store.patch(&q.id).unwrap().unwrap().state, PatchState::Verified);
}
