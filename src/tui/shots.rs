//! Renders each view of a loaded state into a `TestBackend`, for screenshots
//! and snapshot tests. Uses the same `update` and `draw` as the live console.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use super::app::{Action, Snapshot, State, Tab, update};
use super::keymap::{Command, Keymap};
use super::theme::Theme;
use super::views::{self, Ctx};
use crate::inspect::IncidentDetail;

/// A state as the console has it after loading `snapshot`.
/// An in-memory demo store whose audit log is signed with throwaway keys,
/// and the keyring that verifies it: for screenshots, snapshots and benches,
/// so their Audit tab shows a log that verifies like a real one.
pub fn demo_store(root: &std::path::Path, now: crate::model::Millis) -> Result<(crate::store::Store, crate::audit::sign::Keyring), String> {
    use crate::audit::sign::{BOT, Key, Keyring, Signers};
    let bot = Key::from_seed(BOT, [0x5b; 32]);
    let mut ring = Keyring::default();
    ring.admit(&bot, std::path::Path::new("keyring"), std::path::Path::new("key")).map_err(|e| e.to_string())?;
    let mut store = crate::store::Store::open_in_memory().map_err(|e| e.to_string())?.with_signer(Signers::new(None, Some(bot)));
    crate::demo::load(&mut store, root, &crate::signals::redact::Redactor::new([0x5a; 32]), now).map_err(|e| e.to_string())?;
    Ok((store, ring))
}

pub fn state_with(snapshot: &Snapshot, width: u16, height: u16) -> State {
    let mut state = State::new("DEMO WORLD", "~/.local/share/suture/demo.db", false);
    update(&mut state, Action::Resize(width, height));
    update(&mut state, Action::StoreChanged);
    let request = state.last_request;
    update(&mut state, Action::Loaded { request, snapshot: Box::new(snapshot.clone()) });
    state
}

/// Opens the Incident view on `detail`'s incident, as Enter and the load's
/// result would.
pub fn open_incident(state: &mut State, detail: &IncidentDetail) {
    if let Some(row) = state.visible.iter().position(|i| state.incidents[*i].id == detail.incident.id) {
        state.selected[Tab::Incidents.index()] = row;
    }
    update(state, Action::Command(Command::Open));
    let request = state.last_detail_request;
    update(state, Action::IncidentLoaded { request, detail: Box::new(detail.clone()) });
}

pub fn render(state: &State, theme: &Theme, keymap: &Keymap) -> Buffer {
    Renderer::default().render(state, theme, keymap).clone()
}

/// Draws frame after frame into memory keeping the review screen's highlight
/// memo between them, as the live console does (for benches and tests of
/// scrolling).
#[derive(Default)]
pub struct Renderer {
    review: std::cell::RefCell<crate::review::hl::DocCache>,
    term: Option<Terminal<TestBackend>>,
}

impl Renderer {
    pub fn render(&mut self, state: &State, theme: &Theme, keymap: &Keymap) -> &Buffer {
        let (w, h) = state.size;
        let fits = self.term.as_ref().is_some_and(|t| t.backend().buffer().area.width == w && t.backend().buffer().area.height == h);
        if !fits {
            self.term = None;
        }
        let term = self.term.get_or_insert_with(|| Terminal::new(TestBackend::new(w, h)).expect("a test backend never fails"));
        let ctx = Ctx { theme, keymap, review: &self.review };
        term.draw(|f| views::draw(f, state, &ctx)).expect("drawing into memory never fails");
        term.backend().buffer()
    }

    /// Saves parse states ahead in the review screen's file, as the console
    /// does while idle; `true` when there is nothing left to do.
    pub fn warm(&mut self, state: &State, budget: usize) -> bool {
        let Some(v) = &state.patch_view else { return true };
        let Ok(doc) = &v.doc else { return true };
        self.review.borrow_mut().warm(doc, v.file, budget)
    }
}

/// The two rollouts recorded from real demo runs (`fixtures/demo/rollouts/`):
/// the correct fix waiting for promotion with its measurements, and the
/// slow fix rolled back. The snapshot's clock is set to the first's last update.
pub fn recorded_rollouts(demo_root: &std::path::Path, snapshot: &mut Snapshot) -> Result<(), String> {
    let load = |name: &str| -> Result<(crate::model::Rollout, Vec<crate::store::Point>), String> {
        let path = demo_root.join("rollouts").join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let r = serde_json::from_value(v["rollout"].clone()).map_err(|e| format!("{}: rollout: {e}", path.display()))?;
        let p = serde_json::from_value(v["points"].clone()).map_err(|e| format!("{}: points: {e}", path.display()))?;
        Ok((r, p))
    };
    let (good, points) = load("promoted-candidate.json")?;
    let (bad, _) = load("rolled-back.json")?;
    snapshot.clock = good.updated;
    snapshot.rollouts = vec![good, bad];
    snapshot.rollout_points = points;
    Ok(())
}

/// `(name, svg)` for every tab, the help overlay and, given a detail, the Incident view.
pub fn render_all(
    snapshot: &Snapshot,
    detail: Option<&IncidentDetail>,
    theme: &Theme,
    keymap: &Keymap,
    width: u16,
    height: u16,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(d) = detail {
        let mut state = state_with(snapshot, width, height);
        open_incident(&mut state, d);
        out.push(("incident".to_string(), super::svg::render(&render(&state, theme, keymap))));
    }
    if !snapshot.patches.is_empty() {
        let mut state = state_with(snapshot, width, height);
        update(&mut state, Action::Command(Command::TabPatches));
        update(&mut state, Action::Command(Command::Open));
        out.push(("review".to_string(), super::svg::render(&render(&state, theme, keymap))));
    }
    let views = [
        ("incidents", vec![]),
        ("patches", vec![Command::TabPatches]),
        ("rollouts", vec![Command::TabRollouts]),
        ("audit", vec![Command::TabAudit]),
        ("help", vec![Command::Help]),
    ];
    for (name, commands) in views {
        let mut state = state_with(snapshot, width, height);
        for c in commands {
            update(&mut state, Action::Command(c));
        }
        out.push((name.to_string(), super::svg::render(&render(&state, theme, keymap))));
    }
    out
}

/// The buffer as plain text, one line per row (symbols only, no styles), for
/// snapshot tests.
pub fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            line.push_str(sym);
            skip = unicode_width(sym).saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn unicode_width(s: &str) -> usize {
    ratatui::text::Span::raw(s).width().max(1)
}
