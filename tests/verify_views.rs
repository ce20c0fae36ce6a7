//! The console's repro panel, the Patches tab's evidence, the Patch view and
//! a step's log, as `TestBackend` snapshots at fixed sizes, and the keys
//! that drive them.

use suture::model::{Actor, Patch, PatchKind, PatchState, ReproVerdict, StepKind, StepStatus, VerificationReport, VerificationStep};
use suture::tui::app::{Action, Effect, Snapshot, State, Tab, update};
use suture::tui::keymap::{Command, Keymap};
use suture::tui::shots::{render, state_with, text};
use suture::tui::theme::{Depth, Theme};
use suture::verify::{Event, ORDER};

fn demo_diff(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/patches").join(name)).unwrap()
}

fn step(kind: StepKind, status: StepStatus, ms: u64, detail: &str) -> VerificationStep {
    VerificationStep { kind, status, duration_ms: ms, detail: detail.into(), log_ref: Some(format!("p/{kind:?}")) }
}

/// Two patches as `suture verify` leaves them: one proven, one failed at (c).
fn patches() -> Vec<Patch> {
    let mk = |file: &str, title: &str, state: PatchState, tests: VerificationStep| {
        let mut p = Patch::new(
            PatchKind::Code,
            title,
            demo_diff(file),
            "tree:494055c2ca0c",
            vec!["app/pricing.py".into()],
            Actor::person("ann"),
            None,
            1_795_219_200_000,
        );
        p.state = state;
        p.incident_id = Some("INC-D8F619".into());
        p.verification = Some(VerificationReport {
            patch_digest: p.digest.clone(),
            started: 1,
            finished: Some(2),
            repro_on_base: Some(ReproVerdict::Reproduced),
            repro_on_patched: Some(ReproVerdict::Passed),
            steps: vec![
                step(
                    StepKind::ReproBase,
                    StepStatus::Passed,
                    183,
                    "fails on the base: TypeError: 'NoneType' object is not subscriptable in app.pricing.apply_discount line 35",
                ),
                step(StepKind::ReproPatched, StepStatus::Passed, 190, "passes on the patched tree"),
                tests,
                step(StepKind::Flakiness, StepStatus::Passed, 2707, "the repro rerun 3x: every result held"),
                step(StepKind::StaticChecks, StepStatus::Passed, 317, "1 check(s): no new findings"),
                step(StepKind::Perf, StepStatus::Passed, 2247, "0.98x (median 175 ms patched, 178 ms base, 5 runs each; limit 1.20x)"),
                step(
                    StepKind::RegressionTest,
                    StepStatus::Passed,
                    520,
                    "tests/test_suture_regression_pricing_null_discount.py fails on the base and passes when patched",
                ),
            ],
            regression_test: None,
        });
        p
    };
    vec![
        mk(
            "pricing-null-discount.diff",
            "pricing-null-discount.diff",
            PatchState::Verified,
            step(StepKind::Tests, StepStatus::Passed, 900, "27 of 27 passed on the base, 27 of 27 when patched; none broke"),
        ),
        mk(
            "pricing-ignore-discounts.diff",
            "pricing-ignore-discounts.diff",
            PatchState::Failed,
            step(
                StepKind::Tests,
                StepStatus::Failed,
                834,
                "2 broke: tests.test_catalog_pricing.PricingTest.test_quote_with_a_discount_code, tests.test_catalog_pricing.PricingTest.test_staff_discount",
            ),
        ),
    ]
}

fn state(w: u16, h: u16) -> State {
    let snap = Snapshot { patches: patches(), ..Default::default() };
    state_with(&snap, w, h)
}

fn shot(s: &State) -> String {
    text(&render(s, &Theme::builtin(Depth::TrueColor), &Keymap::default()))
}

fn cmd(s: &mut State, c: Command) -> Vec<Effect> {
    update(s, Action::Command(c)).effects
}

#[test]
fn patches_tab_lists_evidence_symbols_and_the_selected_patchs_steps() {
    let mut s = state(120, 30);
    cmd(&mut s, Command::TabPatches);
    insta::assert_snapshot!(shot(&s));
}

#[test]
fn the_patch_view_shows_each_step_with_symbol_and_duration_80x24() {
    let mut s = state(80, 24);
    cmd(&mut s, Command::TabPatches);
    cmd(&mut s, Command::Down);
    cmd(&mut s, Command::Open);
    cmd(&mut s, Command::ToggleEvidence);
    cmd(&mut s, Command::PatchDown);
    cmd(&mut s, Command::PatchDown);
    insta::assert_snapshot!(shot(&s));
}

#[test]
fn enter_opens_the_steps_log_which_scrolls_and_searches() {
    let mut s = state(100, 24);
    cmd(&mut s, Command::TabPatches);
    cmd(&mut s, Command::Down);
    cmd(&mut s, Command::Open);
    cmd(&mut s, Command::ToggleEvidence);
    cmd(&mut s, Command::PatchDown);
    cmd(&mut s, Command::PatchDown);
    let effects = cmd(&mut s, Command::OpenLog);
    let [Effect::LoadLog { request, log_ref }] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(log_ref, "p/Tests");
    assert_eq!(s.key_context(), suture::tui::keymap::Context::Log);
    let mut log = String::from("$ python3 -m unittest discover -s tests -t . -v    (patched tree)\n");
    for i in 0..60 {
        log.push_str(&format!("test_{i:02} (tests.test_x.T.test_{i:02}) ... ok\n"));
    }
    log.push_str("test_staff_discount (tests.test_catalog_pricing.PricingTest.test_staff_discount) ... FAIL\n\x1b[31mAssertionError: 636 not less than 636\x1b[0m\n");
    update(&mut s, Action::LogLoaded { request: *request, result: Ok(log) });
    cmd(&mut s, Command::LogSearch);
    for c in "STAFF".chars() {
        update(&mut s, Action::SearchInput(c));
    }
    cmd(&mut s, Command::SearchDone);
    let l = s.log.as_ref().unwrap();
    assert_eq!(l.hit, Some(61), "the first matching line");
    assert!(l.scroll > 0, "scrolled to it");
    let screen = shot(&s);
    assert!(!screen.contains('\x1b'), "escape sequences in a log are drawn inert");
    insta::assert_snapshot!(screen);
    cmd(&mut s, Command::LogTop);
    assert_eq!(s.log.as_ref().unwrap().scroll, 0);
    cmd(&mut s, Command::LogNext);
    assert_eq!(s.log.as_ref().unwrap().hit, Some(61));
    cmd(&mut s, Command::CloseLog);
    assert!(s.log.is_none());
}

#[test]
fn verify_runs_live_in_the_patch_view_and_is_refused_read_only() {
    let mut s = state(100, 30);
    cmd(&mut s, Command::TabPatches);
    cmd(&mut s, Command::Down);
    // The failed patch may be verified again.
    let effects = cmd(&mut s, Command::Verify);
    let [Effect::Verify { request, patch }] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(patch, &s.patches[1].id);
    let request = *request;
    assert!(s.patch_view.is_some());
    let ev = |e| Action::VerifyEvent { request, event: e };
    update(&mut s, ev(Event::Started(StepKind::ReproBase)));
    update(&mut s, ev(Event::Started(StepKind::ReproPatched)));
    update(
        &mut s,
        ev(Event::Output(
            StepKind::ReproBase,
            b"Traceback (most recent call last):\n  File \"app/pricing.py\", line 35\nTypeError: 'NoneType' object is not subscriptable\n"
                .to_vec(),
        )),
    );
    update(&mut s, ev(Event::Finished(step(StepKind::ReproBase, StepStatus::Passed, 150, "fails on the base"))));
    insta::assert_snapshot!(shot(&s));
    // A second verify while one runs is refused with a reason.
    assert!(cmd(&mut s, Command::Verify).is_empty());
    assert!(s.status.as_deref().unwrap().contains("a verification is running"));
    update(&mut s, Action::VerifyDone { request, result: Ok("failed — failed at tests: 2 broke".into()) });
    assert!(s.status.as_deref().unwrap().contains("failed at tests"));

    // A verified patch is not verified again, and read-only refuses the action.
    cmd(&mut s, Command::ClosePatch);
    cmd(&mut s, Command::Up);
    assert!(cmd(&mut s, Command::Verify).is_empty());
    assert!(s.status.as_deref().unwrap().contains("only proposed or failed patches"));
    let mut ro = State { read_only: true, ..state(100, 30) };
    cmd(&mut ro, Command::TabPatches);
    cmd(&mut ro, Command::Down);
    assert!(cmd(&mut ro, Command::Verify).is_empty());
    assert!(ro.status.as_deref().unwrap().starts_with("read-only"));
    assert_eq!(ro.tab, Tab::Patches);
    assert_eq!(ORDER.len(), 7);
}

#[test]
fn the_incident_views_repro_panel_streams_output_and_shows_the_verdict() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let (store, ring) = suture::tui::shots::demo_store(&root, 1_795_219_200_000).unwrap();
    let snapshot = suture::tui::run::snapshot(&store, &ring).unwrap();
    let tree = suture::source::SourceTree::new(&root.join("service"), vec!["/srv/shop/".into()]).unwrap();
    let inc = snapshot.incidents.iter().find(|i| i.title.starts_with("KeyError: 'EU-LEGACY'")).unwrap();
    let detail = suture::inspect::load(&store, &inc.id, Some(&tree)).unwrap().unwrap();
    let mut s = state_with(&snapshot, 100, 30);
    suture::tui::shots::open_incident(&mut s, &detail);
    let effects = cmd(&mut s, Command::RunRepro);
    let [Effect::RunRepro { request, incident }] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(incident, &detail.incident.id);
    let request = *request;
    for run in 1..=3 {
        let text = format!(
            "── run {run} of 3 ──\nTraceback (most recent call last):\n  File \"app/tax.py\", line 18, in legacy_tax\nKeyError: 'EU-LEGACY'\x1b]0;pwned\x07\n"
        );
        update(&mut s, Action::ReproOutput { request, text });
    }
    assert!(cmd(&mut s, Command::RunRepro).is_empty(), "one repro at a time");
    update(
        &mut s,
        Action::ReproDone {
            request,
            result: Ok("checkout-legacy-tax: reproduced 3 of 3 runs: KeyError: 'EU-LEGACY' in app.tax.legacy_tax line 18".into()),
        },
    );
    let screen = shot(&s);
    assert!(!screen.contains('\x1b') && !screen.contains('\x07'));
    insta::assert_snapshot!(screen);
}
