//! The console's views on the demo world, as `TestBackend` text snapshots at
//! fixed sizes, and colour checks on individual cells (snapshots hold symbols only).

use std::sync::OnceLock;

use ratatui::style::{Color, Modifier};
use suture::inspect::{self, IncidentDetail};
use suture::source::SourceTree;
use suture::tui::app::{Action, Snapshot, update};
use suture::tui::keymap::{Command, Keymap};
use suture::tui::shots::{open_incident, render, state_with, text};
use suture::tui::theme::{Depth, Theme};

/// The demo world's snapshot, and every incident in full with the demo's
/// source tree (paths are shown relative to it, so the text is stable).
fn world() -> &'static (Snapshot, Vec<IncidentDetail>) {
    static SNAP: OnceLock<(Snapshot, Vec<IncidentDetail>)> = OnceLock::new();
    SNAP.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
        // A fixed redaction key, signing keys and audit time keep the snapshots stable.
        let (store, ring) = suture::tui::shots::demo_store(&root, 1_795_219_200_000).unwrap();
        let snapshot = suture::tui::run::snapshot(&store, &ring).unwrap();
        let tree = SourceTree::new(&root.join("service"), vec!["/srv/shop/".into()]).unwrap();
        let details = snapshot.incidents.iter().map(|i| inspect::load(&store, &i.id, Some(&tree)).unwrap().unwrap()).collect();
        (snapshot, details)
    })
}

fn demo() -> &'static Snapshot {
    &world().0
}

/// The Incident view on the demo's incident whose title starts with `title`.
fn incident_screen(w: u16, h: u16, title: &str, commands: &[Command]) -> String {
    let detail = world().1.iter().find(|d| d.incident.title.starts_with(title)).unwrap();
    let mut state = state_with(demo(), w, h);
    open_incident(&mut state, detail);
    for c in commands {
        update(&mut state, Action::Command(*c));
    }
    text(&render(&state, &Theme::builtin(Depth::TrueColor), &Keymap::default()))
}

macro_rules! incident_shot {
    ($name:ident, $w:expr, $h:expr, $title:expr, $cmds:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(incident_screen($w, $h, $title, $cmds));
        }
    };
}

incident_shot!(incident_80x24, 80, 24, "KeyError: 'EU-LEGACY'", &[]);
incident_shot!(incident_details_80x24, 80, 24, "KeyError: 'EU-LEGACY'", &[Command::TogglePane]);
incident_shot!(incident_grouping_80x24, 80, 24, "KeyError: 'EU-LEGACY'", &[Command::TogglePane, Command::TogglePane]);
incident_shot!(incident_160x48, 160, 48, "KeyError: 'EU-LEGACY'", &[]);
incident_shot!(incident_chained_all_frames_160x48, 160, 48, "InventoryError", &[Command::ToggleLibrary, Command::FrameDown]);
incident_shot!(incident_pricing_80x24, 80, 24, "TypeError", &[]);

fn screen(w: u16, h: u16, commands: &[Command]) -> String {
    let mut state = state_with(demo(), w, h);
    for c in commands {
        update(&mut state, Action::Command(*c));
    }
    text(&render(&state, &Theme::builtin(Depth::TrueColor), &Keymap::default()))
}

macro_rules! shot {
    ($name:ident, $w:expr, $h:expr, $cmds:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(screen($w, $h, $cmds));
        }
    };
}

shot!(incidents_80x24, 80, 24, &[]);
shot!(incidents_160x48, 160, 48, &[]);
shot!(incidents_third_row_80x24, 80, 24, &[Command::Down, Command::Down]);
shot!(patches_80x24, 80, 24, &[Command::TabPatches]);
shot!(patches_160x48, 160, 48, &[Command::TabPatches]);
shot!(rollouts_80x24, 80, 24, &[Command::TabRollouts]);
shot!(rollouts_160x48, 160, 48, &[Command::TabRollouts]);
shot!(audit_80x24, 80, 24, &[Command::TabAudit]);
shot!(audit_160x48, 160, 48, &[Command::TabAudit]);
shot!(help_80x24, 80, 24, &[Command::Help]);
shot!(help_160x48, 160, 48, &[Command::Help]);
shot!(incidents_sorted_by_users_80x24, 80, 24, &[Command::Sort, Command::Sort]);

/// Typing `legacy STARK` keeps the incidents matching both words, in any
/// searched field and any case.
#[test]
fn incidents_filtered_160x48() {
    let mut state = state_with(demo(), 160, 48);
    update(&mut state, Action::Command(Command::Filter));
    for c in "legacy STARK".chars() {
        update(&mut state, Action::FilterInput(c));
    }
    insta::assert_snapshot!(text(&render(&state, &Theme::builtin(Depth::TrueColor), &Keymap::default())));
}

#[test]
fn the_banner_and_selection_carry_the_theme_colours() {
    let state = state_with(demo(), 80, 24);
    let theme = Theme::builtin(Depth::TrueColor);
    let buf = render(&state, &theme, &Keymap::default());
    let banner_x = (0..80).find(|x| buf[(*x, 0)].symbol() == "D").unwrap();
    assert_eq!(buf[(banner_x, 0)].bg, theme.banner_bg);
    // Row 3 is the first incident, selected.
    assert_eq!(buf[(5, 3)].bg, theme.selection_bg);
    assert_eq!(buf[(5, 4)].bg, theme.bg);
}

#[test]
fn without_colour_the_selection_is_reversed_and_no_colour_is_used() {
    let state = state_with(demo(), 80, 24);
    let buf = render(&state, &Theme::builtin(Depth::NoColor), &Keymap::default());
    assert!(buf[(5, 3)].modifier.contains(Modifier::REVERSED));
    for cell in buf.content() {
        assert!(matches!(cell.fg, Color::Reset) && matches!(cell.bg, Color::Reset), "a coloured cell under NO_COLOR: {cell:?}");
    }
}

#[test]
fn a_256_colour_terminal_gets_only_indexed_colours() {
    let state = state_with(demo(), 80, 24);
    let buf = render(&state, &Theme::builtin(Depth::Ansi256), &Keymap::default());
    assert!(buf.content().iter().all(|c| !matches!(c.fg, Color::Rgb(..)) && !matches!(c.bg, Color::Rgb(..))));
}

#[test]
fn hostile_titles_are_drawn_inert() {
    let mut snap = demo().clone();
    snap.incidents[0].title = "boom\u{1b}[2J\u{1b}]52;c;aGk=\u{7}".into();
    let state = state_with(&snap, 80, 24);
    let buf = render(&state, &Theme::builtin(Depth::TrueColor), &Keymap::default());
    for cell in buf.content() {
        assert!(!cell.symbol().chars().any(|c| c.is_control()), "control character reached a cell: {:?}", cell.symbol());
    }
    assert!(text(&buf).contains("boom␛[2J␛]52;c;aGk=␇"));
}

#[test]
fn hostile_events_and_source_are_drawn_inert_in_the_incident_view() {
    let mut d = world().1[0].clone();
    let evil = "x\u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{9b}31m";
    let ev = d.event.as_mut().unwrap();
    let exc = ev.exceptions.last_mut().unwrap();
    exc.value = evil.into();
    for f in &mut exc.frames {
        f.function = Some(evil.into());
        f.filename = Some(evil.into());
    }
    ev.tags.push((evil.into(), evil.into()));
    d.incident.grouping.push(format!("type:{evil}"));
    d.incident.tenants.push(evil.into());
    for runs in d.sources.iter_mut().flatten().filter_map(|s| s.snippet.as_mut()).flat_map(|s| s.lines.iter_mut()) {
        for r in runs {
            r.text = evil.into();
        }
    }
    for (w, h, cmds) in [(160, 48, vec![]), (80, 24, vec![]), (80, 24, vec![Command::TogglePane]), (80, 24, vec![Command::TogglePane; 2])] {
        let mut state = state_with(demo(), w, h);
        open_incident(&mut state, &d);
        for c in cmds {
            update(&mut state, Action::Command(c));
        }
        let buf = render(&state, &Theme::builtin(Depth::TrueColor), &Keymap::default());
        for cell in buf.content() {
            assert!(!cell.symbol().chars().any(|c| c.is_control()), "control character reached a cell: {:?}", cell.symbol());
        }
        assert!(text(&buf).contains("x␛[2J"), "{}", text(&buf));
    }
}

/// The Rollouts view on two rollouts recorded from real demo runs
/// (`fixtures/demo/rollouts/`, made by `suture serve` with the demo service):
/// the correct fix at full weight waiting for promotion, with its charts,
/// verdicts and guardrail, and the slow fix rolled back.
fn recorded_rollouts(w: u16, h: u16, dots: bool) -> String {
    let mut snapshot = Snapshot::default();
    suture::tui::shots::recorded_rollouts(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo"), &mut snapshot).unwrap();
    let mut state = state_with(demo(), w, h);
    update(&mut state, Action::Command(Command::TabRollouts));
    state.clock = snapshot.clock;
    state.rollouts = snapshot.rollouts;
    state.rollout_points = snapshot.rollout_points;
    state.dot_charts = dots;
    text(&render(&state, &Theme::builtin(Depth::TrueColor), &Keymap::default()))
}

#[test]
fn rollouts_recorded_160x48() {
    insta::assert_snapshot!(recorded_rollouts(160, 48, false));
}

#[test]
fn rollouts_recorded_80x24() {
    insta::assert_snapshot!(recorded_rollouts(80, 24, false));
}

#[test]
fn rollouts_recorded_with_dots_160x48() {
    let dots = recorded_rollouts(160, 48, true);
    assert!(!dots.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)), "no braille when dots are asked for");
    assert!(recorded_rollouts(160, 48, false).chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)), "braille by default");
    insta::assert_snapshot!(dots);
}

/// A flag mitigation of the incident shows in its timeline with the rate in
/// the ten minutes before and the minutes since, read from the incident's
/// own per-minute record (here: mitigated two hours before its last event).
#[test]
fn incident_shows_a_mitigation_with_the_rate_before_and_since() {
    use suture::model::{Actor, Patch, PatchKind, PatchState, StateChange};
    let detail = world().1.iter().find(|d| d.incident.title.starts_with("KeyError: 'EU-LEGACY'")).unwrap();
    let inc = &detail.incident;
    let at = inc.last_seen - 2 * 3_600_000;
    let mut p =
        Patch::new(PatchKind::FlagFlip, "turn off legacy-tax-rounding", "", "base", vec![], Actor::bot("suture/templates"), None, at);
    p.incident_id = Some(inc.id.clone());
    p.state = PatchState::Mitigated;
    p.history.push(StateChange { from: PatchState::Approved, to: PatchState::Mitigated, by: "carol".into(), at, note: String::new() });
    let mut state = state_with(demo(), 160, 48);
    state.patches = vec![p.clone()];
    open_incident(&mut state, detail);
    let screen = text(&render(&state, &Theme::builtin(Depth::TrueColor), &Keymap::default()));
    let r = inc.rate_around(at, 10);
    let lines: Vec<&str> = screen.lines().collect();
    let at_line = lines.iter().position(|l| l.contains("◆ mitigated")).unwrap_or_else(|| panic!("no mitigation line:\n{screen}"));
    assert!(lines[at_line].contains(&format!("{} by carol", p.id)), "{}", lines[at_line]);
    let rates = lines[at_line + 1];
    assert!(rates.contains(&format!("10 min before: {:.1}/min", r.before_per_min)), "{rates}");
    assert!(rates.contains(&format!("since: {:.1}/min (10 min)", r.after_per_min.unwrap())), "{rates}");
}
