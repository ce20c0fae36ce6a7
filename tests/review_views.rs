//! The review screen (the Patch view): side by side at 100 columns and
//! more, unified below; highlighted, changed words emphasized; hunk, file and
//! sideways movement; wrap; the risk panel. `TestBackend` snapshots at fixed
//! sizes, and checks on the cells' colours that a text snapshot cannot see.

use ratatui::buffer::Buffer;
use ratatui::style::Color;
use suture::model::{Actor, Patch, PatchKind, RiskAssessment, Tier};
use suture::review::Layout;
use suture::tui::app::{Action, PatchFocus, Snapshot, State, update};
use suture::tui::keymap::{Command, Keymap};
use suture::tui::shots::{render, state_with, text};
use suture::tui::theme::{Depth, Theme};

fn demo_diff(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/patches").join(name)).unwrap()
}

fn patch(title: &str, diff: &str, files: &[&str]) -> Patch {
    let mut p = Patch::new(
        PatchKind::Code,
        title,
        diff,
        "tree:494055c2ca0c",
        files.iter().map(|s| s.to_string()).collect(),
        Actor::bot("suture/templates"),
        Some(Actor::person("ann")),
        1_795_219_200_000,
    );
    p.incident_id = Some("INC-851634".into());
    p.risk = Some(RiskAssessment {
        score: 0.31,
        tier: Tier::T2,
        reasons: vec![
            "failure class comparison: +0.10".into(),
            "1 changed line in 1 file: +0.02".into(),
            "changed lines covered by the tests: −0.05".into(),
        ],
        failure_class: Some("comparison".into()),
    });
    p
}

/// A two-file diff with a long line, a tab and an escape sequence in it.
fn wide_diff() -> String {
    let mut d = String::from("--- a/app/report.py\n+++ b/app/report.py\n@@ -1,4 +1,4 @@\n import os\n");
    d.push_str("-TITLE = \"quarterly report for the board, covering revenue, costs, margins and the outlook for the next quarter\"\n");
    d.push_str("+TITLE = \"quarterly report for the board, covering revenue, costs, margins and the forecast for the next quarter\"\n");
    d.push_str(" \tx = 1\n");
    d.push_str(" y = \"\x1b[2J\"\n");
    d.push_str("@@ -40,3 +40,4 @@ def total(rows):\n     s = 0\n+    s += 1\n     return s\n     # end\n");
    d.push_str("--- a/app/util.js\n+++ b/app/util.js\n@@ -10,2 +10,2 @@ function pick(a, b) {\n-  return a < b ? a : b;\n+  return a <= b ? a : b;\n }\n");
    d
}

fn state(w: u16, h: u16, patches: Vec<Patch>) -> State {
    state_with(&Snapshot { patches, ..Default::default() }, w, h)
}

fn cmd(s: &mut State, c: Command) {
    update(s, Action::Command(c));
}

fn buf(s: &State) -> Buffer {
    render(s, &Theme::builtin(Depth::TrueColor), &Keymap::default())
}

fn shot(s: &State) -> String {
    text(&buf(s))
}

fn open(w: u16, h: u16, p: Patch) -> State {
    let mut s = state(w, h, vec![p]);
    cmd(&mut s, Command::TabPatches);
    cmd(&mut s, Command::Open);
    s
}

/// Cells whose background is `bg`, as text.
fn with_bg(b: &Buffer, bg: Color) -> String {
    b.content.iter().filter(|c| c.bg == bg).map(|c| c.symbol()).collect()
}

#[test]
fn review_side_by_side_160x48() {
    let s = open(160, 48, patch("pagination: end < len(items)", &demo_diff("pagination-last-page.diff"), &["app/pagination.py"]));
    let screen = shot(&s);
    assert!(screen.contains("side by side"));
    insta::assert_snapshot!(screen);
}

#[test]
fn review_unified_below_100_columns_80x24() {
    let s = open(80, 24, patch("pricing: guard a missing discount", &demo_diff("pricing-null-discount.diff"), &["app/pricing.py"]));
    let screen = shot(&s);
    assert!(screen.contains("unified"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn highlighting_and_word_emphasis_reach_the_cells() {
    let s = open(160, 48, patch("pagination", &demo_diff("pagination-last-page.diff"), &["app/pagination.py"]));
    let t = Theme::builtin(Depth::TrueColor);
    let b = buf(&s);
    // Only the operator that changed is emphasized, on each side.
    assert_eq!(with_bg(&b, t.minus_emph_bg), "<=");
    assert_eq!(with_bg(&b, t.plus_emph_bg), "<");
    // The rest of each changed line has the line's background.
    assert!(with_bg(&b, t.minus_bg).contains("next_cursor = items[end][\"id\"] if end"));
    // Syntax colours: the keyword `return` is not drawn in the plain text colour.
    let row = (0..b.area.height).find(|y| (0..b.area.width).map(|x| b[(x, *y)].symbol()).collect::<String>().contains("return {")).unwrap();
    let line: String = (0..b.area.width).map(|x| b[(x, row)].symbol()).collect();
    let x = line.find("return").unwrap() as u16;
    let fg = b[(x, row)].fg;
    assert!(matches!(fg, Color::Rgb(..)) && fg != t.fg, "`return` is highlighted: {fg:?}");
    // Without colour, the emphasis still shows (reversed) and the gutter marks the lines.
    let mono = render(&s, &Theme::builtin(Depth::NoColor), &Keymap::default());
    assert!(mono.content.iter().any(|c| c.modifier.contains(ratatui::style::Modifier::REVERSED) && c.symbol() == "<"));
    assert!(text(&mono).contains(" - ") && text(&mono).contains(" + "));
}

#[test]
fn hunks_files_sideways_scroll_wrap_and_layouts_move_as_asked() {
    let mut s = open(120, 30, patch("two files", &wide_diff(), &["app/report.py", "app/util.js"]));
    let screen = shot(&s);
    assert!(screen.contains("Files 2") && screen.contains("▶ M app/report.py"), "{screen}");
    assert!(!screen.contains('\x1b'), "escape sequences in a diff are drawn inert");
    assert!(screen.contains("␛[2J"));
    assert!(screen.contains("hunk 1/2"));
    // The long line is cut; scrolling right shows its end.
    assert!(!screen.contains("next quarter"));
    assert!(screen.contains("the outlook for the next…") || screen.contains("→"), "a cut line is marked: {screen}");
    for _ in 0..9 {
        cmd(&mut s, Command::ScrollRight);
    }
    assert!(shot(&s).contains("→72"));
    assert!(shot(&s).contains("next quarter"), "{}", shot(&s));
    cmd(&mut s, Command::ToggleWrap);
    let wrapped = shot(&s);
    assert!(wrapped.contains("· wrap") && wrapped.contains("next quarter") && wrapped.contains('↪'), "{wrapped}");
    cmd(&mut s, Command::ToggleWrap);
    // n: the next hunk, then on to the next file; N back.
    cmd(&mut s, Command::NextHunk);
    assert!(shot(&s).contains("hunk 2/2"));
    cmd(&mut s, Command::NextHunk);
    let v = s.patch_view.as_ref().unwrap();
    assert_eq!((v.file, v.top), (1, 0));
    assert!(shot(&s).contains("▶ M app/util.js"));
    cmd(&mut s, Command::PrevHunk);
    let v = s.patch_view.as_ref().unwrap();
    assert_eq!(v.file, 0);
    assert!(shot(&s).contains("hunk 2/2"));
    cmd(&mut s, Command::NextFile);
    cmd(&mut s, Command::NextFile);
    assert_eq!(s.patch_view.as_ref().unwrap().file, 1, "no file past the last");
    cmd(&mut s, Command::PrevFile);
    assert_eq!(s.patch_view.as_ref().unwrap().file, 0);
    // Unified and back keeps the place.
    cmd(&mut s, Command::PatchDown);
    cmd(&mut s, Command::PatchDown);
    let before = s.patch_view.as_ref().unwrap().top_in(Layout::SideBySide);
    cmd(&mut s, Command::ToggleUnified);
    assert!(shot(&s).contains("unified"));
    cmd(&mut s, Command::ToggleUnified);
    assert_eq!(s.patch_view.as_ref().unwrap().top_in(Layout::SideBySide), before);
    // A narrow terminal is unified, and says why side by side is refused.
    update(&mut s, Action::Resize(90, 30));
    assert!(shot(&s).contains("unified"));
    cmd(&mut s, Command::ToggleUnified);
    cmd(&mut s, Command::ToggleUnified);
    assert!(s.status.as_deref().unwrap_or("").contains("needs 100 columns"), "{:?}", s.status);
}

#[test]
fn the_evidence_focus_moves_steps_and_page_keys_stop_at_the_end() {
    let mut s = open(100, 30, patch("pagination", &demo_diff("pagination-last-page.diff"), &["app/pagination.py"]));
    cmd(&mut s, Command::PatchBottom);
    let bottom = s.patch_view.as_ref().unwrap().top;
    cmd(&mut s, Command::PatchPageDown);
    assert_eq!(s.patch_view.as_ref().unwrap().top, bottom);
    cmd(&mut s, Command::PatchTop);
    assert_eq!(s.patch_view.as_ref().unwrap().top, 0);
    cmd(&mut s, Command::ToggleEvidence);
    assert_eq!(s.patch_view.as_ref().unwrap().focus, PatchFocus::Evidence);
    cmd(&mut s, Command::PatchDown);
    assert_eq!(s.patch_view.as_ref().unwrap().step, 1);
    assert_eq!(s.patch_view.as_ref().unwrap().top, 0, "the diff stays where it was");
    let screen = shot(&s);
    assert!(screen.contains("Risk · tier 2 · score 0.31") && screen.contains("a canary starts automatically"), "{screen}");
}

#[test]
fn a_diff_that_does_not_parse_says_why() {
    let s = open(100, 30, patch("broken", "--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n-a\n", &["x.py"]));
    let screen = shot(&s);
    assert!(screen.contains("cannot be shown") && screen.contains("line"), "{screen}");
}

/// The approve dialog over the review screen (80×24), the break-glass dialog
/// with its typed confirmation (100×30), and approvals on the review screen.
#[test]
fn decisions_dialogs_and_approvals_on_the_review_screen() {
    use crossterm::event::{KeyCode, KeyEvent};
    use suture::model::{Approval, Decision, PatchState, Role};
    use suture::tui::app::Me;
    let typed = |s: &mut State, text: &str| {
        for c in text.chars() {
            update(s, Action::DialogKey(KeyEvent::from(KeyCode::Char(c))));
        }
    };
    let mut p = patch("pricing: guard a missing discount", &demo_diff("pricing-null-discount.diff"), &["app/pricing.py"]);
    p.state = PatchState::Verified;
    p.risk.as_mut().unwrap().tier = Tier::T1;
    let mut s = open(80, 24, p.clone());
    s.me = Some(Me { name: "bob".into(), role: Role::Reviewer });
    cmd(&mut s, Command::Approve);
    typed(&mut s, "guard is right; \x1b[31mno discount means none");
    let screen = shot(&s);
    assert!(!screen.contains('\x1b') && screen.contains("guard is right; [31mno discount"), "{screen}");
    insta::assert_snapshot!("approve_dialog_80x24", screen);

    let mut s = open(100, 30, p.clone());
    s.me = Some(Me { name: "carol".into(), role: Role::Commander });
    cmd(&mut s, Command::BreakGlass);
    typed(&mut s, "checkout is down and no reviewer is awake");
    cmd(&mut s, Command::DialogSubmit);
    typed(&mut s, &p.id[..4]);
    insta::assert_snapshot!("break_glass_dialog_100x30", shot(&s));

    p.state = PatchState::Approved;
    let approval = |who: &str, decision, comment: &str| Approval {
        who: Actor::person(who),
        role: Role::Reviewer,
        decision,
        comment: comment.into(),
        at: 1_795_219_300_000,
        origin: None,
    };
    p.approvals = vec![approval("rita", Decision::RequestChanges, "log the fallback"), approval("bob", Decision::Approve, "lgtm")];
    let s = open(100, 30, p.clone());
    let screen = shot(&s);
    assert!(screen.contains("approvals: ↺ rita (changes requested) “log the fallback” · ✔ bob (approved) “lgtm” — 1/1"), "{screen}");
    p.approvals = vec![Approval { role: Role::Commander, ..approval("carol", Decision::BreakGlass, "sev1") }];
    let screen = shot(&open(100, 30, p));
    assert!(screen.contains("⚠ BREAK-GLASS by carol (commander): sev1"), "{screen}");
}
