use super::state::{IncidentView, Pane};
use super::{Action, Effect, State, Tab, trace};
use crate::tui::keymap::Command;

/// What an update asks of the loop.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The state changed in a way the screen shows.
    pub redraw: bool,
    pub effects: Vec<Effect>,
}

impl Outcome {
    fn redraw() -> Outcome {
        Outcome { redraw: true, effects: Vec::new() }
    }
    fn with(effect: Effect) -> Outcome {
        Outcome { redraw: true, effects: vec![effect] }
    }
}

/// The one function that changes the console's state. Pure: no IO, no clock.
pub fn update(state: &mut State, action: Action) -> Outcome {
    match action {
        Action::Command(c) => command(state, c),
        Action::UnboundKey(k) => {
            let msg = format!("{k} does nothing here; ? shows the keys");
            if state.status.as_deref() == Some(msg.as_str()) {
                return Outcome::default();
            }
            state.status = Some(msg);
            Outcome::redraw()
        }
        Action::Resize(w, h) => {
            state.size = (w, h);
            Outcome::redraw()
        }
        Action::StoreChanged => {
            let mut o = reload(state);
            o.effects.extend(reload_incident(state));
            o
        }
        Action::Loaded { request, snapshot } => {
            if request != state.last_request {
                return Outcome::default(); // superseded: a newer load is on its way
            }
            let s = *snapshot;
            state.loading = false;
            state.error = None;
            let keep = state.selected_incident().map(|i| i.id.clone());
            state.incidents = s.incidents;
            state.refresh_visible(keep.as_deref());
            state.patches = s.patches;
            state.audit = s.audit;
            state.chain = Some(s.chain);
            state.events = s.events;
            Outcome::redraw()
        }
        Action::LoadFailed { request, error } => {
            if request != state.last_request {
                return Outcome::default();
            }
            state.loading = false;
            state.error = Some(error);
            Outcome::redraw()
        }
        Action::IncidentLoaded { request, detail } => {
            let Some(view) = state.view.as_mut().filter(|v| v.request == request) else { return Outcome::default() };
            let first = view.detail().is_none();
            let valid = |v: &IncidentView| {
                let frames = trace::frames(&v.rows());
                v.frame.filter(|f| frames.contains(f))
            };
            view.detail = Some(Ok(detail));
            // Keep the reader's frame across reloads; pick the culprit the first time.
            if first || valid(view).is_none() {
                view.frame = view.detail().and_then(|d| d.event.as_ref()).and_then(trace::default_frame);
                if valid(view).is_none() {
                    view.frame = trace::frames(&view.rows()).first().copied();
                }
            }
            Outcome::redraw()
        }
        Action::IncidentFailed { request, error } => {
            let Some(view) = state.view.as_mut().filter(|v| v.request == request) else { return Outcome::default() };
            view.detail = Some(Err(error));
            Outcome::redraw()
        }
        Action::FilterInput(c) => {
            if !state.filtering || c.is_control() {
                return Outcome::default();
            }
            state.filter.push(c);
            refilter(state)
        }
        Action::FilterBackspace => {
            if !state.filtering || state.filter.pop().is_none() {
                return Outcome::default();
            }
            refilter(state)
        }
        Action::Terminate => {
            state.quit = true;
            Outcome::with(Effect::Quit)
        }
    }
}

fn reload(state: &mut State) -> Outcome {
    state.last_request += 1;
    Outcome { redraw: false, effects: vec![Effect::Load { request: state.last_request }] }
}

/// Asks for the open incident again (after a change in the store).
fn reload_incident(state: &mut State) -> Option<Effect> {
    let view = state.view.as_mut()?;
    state.last_detail_request += 1;
    view.request = state.last_detail_request;
    Some(Effect::LoadIncident { request: view.request, id: view.id.clone() })
}

fn refilter(state: &mut State) -> Outcome {
    let keep = state.selected_incident().map(|i| i.id.clone());
    state.refresh_visible(keep.as_deref());
    Outcome::redraw()
}

fn open(state: &mut State) -> Outcome {
    let Some(id) = state.selected_incident().map(|i| i.id.clone()) else { return Outcome::default() };
    state.last_detail_request += 1;
    let request = state.last_detail_request;
    state.view = Some(IncidentView { id: id.clone(), request, detail: None, frame: None, show_library: false, pane: Pane::Trace });
    Outcome::with(Effect::LoadIncident { request, id })
}

/// Moves the frame selection by `by` over the frames the trace shows.
fn move_frame(state: &mut State, by: isize) -> Outcome {
    let Some(view) = state.view.as_mut() else { return Outcome::default() };
    let frames = trace::frames(&view.rows());
    if frames.is_empty() {
        return Outcome::default();
    }
    let at = view.frame.and_then(|f| frames.iter().position(|x| *x == f)).unwrap_or(0);
    let to = (at as isize + by).clamp(0, frames.len() as isize - 1) as usize;
    if view.frame == Some(frames[to]) {
        return Outcome::default();
    }
    view.frame = Some(frames[to]);
    Outcome::redraw()
}

fn command(state: &mut State, c: Command) -> Outcome {
    state.status = None;
    let tab = state.tab;
    let rows = state.rows(tab);
    let sel = state.selected(tab);
    let set = |state: &mut State, v: usize| {
        state.selected[tab.index()] = v.min(rows.saturating_sub(1));
        Outcome::redraw()
    };
    match c {
        Command::Quit => {
            state.quit = true;
            Outcome::with(Effect::Quit)
        }
        Command::Help => {
            state.help = true;
            Outcome::redraw()
        }
        Command::CloseHelp => {
            state.help = false;
            Outcome::redraw()
        }
        Command::NextTab => {
            state.tab = tab.offset(1);
            Outcome::redraw()
        }
        Command::PrevTab => {
            state.tab = tab.offset(-1);
            Outcome::redraw()
        }
        Command::TabIncidents => go(state, Tab::Incidents),
        Command::TabPatches => go(state, Tab::Patches),
        Command::TabRollouts => go(state, Tab::Rollouts),
        Command::TabAudit => go(state, Tab::Audit),
        Command::Up => set(state, sel.saturating_sub(1)),
        Command::Down => set(state, sel + 1),
        Command::PageUp => {
            let p = state.page();
            set(state, sel.saturating_sub(p))
        }
        Command::PageDown => {
            let p = state.page();
            set(state, sel + p)
        }
        Command::Top => set(state, 0),
        Command::Bottom => set(state, rows.saturating_sub(1)),
        Command::Refresh => {
            let mut o = reload(state);
            o.effects.extend(reload_incident(state));
            state.status = Some("reloading from the store…".into());
            o.redraw = true;
            o
        }
        Command::Open if tab == Tab::Incidents && state.view.is_none() => open(state),
        Command::Open => Outcome::default(),
        Command::Back => {
            state.view = None;
            Outcome::redraw()
        }
        Command::FrameUp => move_frame(state, -1),
        Command::FrameDown => move_frame(state, 1),
        Command::ToggleLibrary => {
            let Some(view) = state.view.as_mut() else { return Outcome::default() };
            view.show_library = !view.show_library;
            let frames = trace::frames(&view.rows());
            if view.frame.is_some_and(|f| !frames.contains(&f)) {
                view.frame = view.detail().and_then(|d| d.event.as_ref()).and_then(trace::default_frame);
            }
            Outcome::redraw()
        }
        Command::TogglePane => {
            let wide = state.incident_wide();
            let Some(view) = state.view.as_mut().filter(|_| !wide) else { return Outcome::default() };
            view.pane = view.pane.next();
            Outcome::redraw()
        }
        Command::Filter => {
            state.tab = Tab::Incidents;
            state.filtering = true;
            Outcome::redraw()
        }
        Command::FilterDone => {
            state.filtering = false;
            Outcome::redraw()
        }
        Command::FilterCancel | Command::ClearFilter => {
            state.filtering = false;
            if state.filter.is_empty() {
                return Outcome::redraw();
            }
            state.filter.clear();
            refilter(state)
        }
        Command::Sort => {
            state.sort = state.sort.next();
            state.sort_reversed = false;
            refilter(state)
        }
        Command::SortReverse => {
            state.sort_reversed = !state.sort_reversed;
            refilter(state)
        }
    }
}

fn go(state: &mut State, tab: Tab) -> Outcome {
    state.tab = tab;
    Outcome::redraw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Incident;
    use crate::tui::app::Snapshot;

    fn loaded(n: usize) -> State {
        let mut s = State::new("DEMO", "mem", false);
        s.size = (80, 24);
        let incidents = (0..n).map(|i| Incident { id: format!("I{i}"), ..Default::default() }).collect();
        let o = update(&mut s, Action::StoreChanged);
        assert_eq!(o.effects, [Effect::Load { request: 1 }]);
        update(&mut s, Action::Loaded { request: 1, snapshot: Box::new(Snapshot { incidents, chain: Ok(0), ..Default::default() }) });
        s
    }

    #[test]
    fn tabs_cycle_both_ways_and_jump() {
        let mut s = loaded(0);
        for want in [Tab::Patches, Tab::Rollouts, Tab::Audit, Tab::Incidents] {
            update(&mut s, Action::Command(Command::NextTab));
            assert_eq!(s.tab, want);
        }
        update(&mut s, Action::Command(Command::PrevTab));
        assert_eq!(s.tab, Tab::Audit);
        update(&mut s, Action::Command(Command::TabPatches));
        assert_eq!(s.tab, Tab::Patches);
    }

    #[test]
    fn selection_stays_in_bounds() {
        let mut s = loaded(3);
        update(&mut s, Action::Command(Command::Up));
        assert_eq!(s.selected(Tab::Incidents), 0);
        for _ in 0..5 {
            update(&mut s, Action::Command(Command::Down));
        }
        assert_eq!(s.selected(Tab::Incidents), 2);
        update(&mut s, Action::Command(Command::Top));
        update(&mut s, Action::Command(Command::PageDown));
        assert_eq!(s.selected(Tab::Incidents), 2);
        update(&mut s, Action::Command(Command::PageUp));
        assert_eq!(s.selected(Tab::Incidents), 0);
        update(&mut s, Action::Command(Command::Bottom));
        assert_eq!(s.selected(Tab::Incidents), 2);
        let mut empty = loaded(0);
        update(&mut empty, Action::Command(Command::Down));
        assert_eq!(empty.selected(Tab::Incidents), 0);
    }

    #[test]
    fn stale_results_are_dropped_and_the_latest_wins() {
        let mut s = loaded(1);
        update(&mut s, Action::StoreChanged);
        update(&mut s, Action::StoreChanged);
        assert_eq!(s.last_request, 3);
        let two = Snapshot { incidents: vec![Incident::default(), Incident::default()], chain: Ok(0), ..Default::default() };
        let o = update(&mut s, Action::Loaded { request: 2, snapshot: Box::new(two.clone()) });
        assert_eq!(o, Outcome::default());
        assert_eq!(s.incidents.len(), 1);
        assert!(!update(&mut s, Action::LoadFailed { request: 2, error: "x".into() }).redraw);
        assert!(update(&mut s, Action::Loaded { request: 3, snapshot: Box::new(two) }).redraw);
        assert_eq!(s.incidents.len(), 2);
        update(&mut s, Action::Command(Command::Refresh));
        update(&mut s, Action::LoadFailed { request: 4, error: "disk I/O error".into() });
        assert_eq!(s.error.as_deref(), Some("disk I/O error"));
    }

    #[test]
    fn help_opens_and_closes_and_quit_asks_to_quit() {
        let mut s = loaded(0);
        update(&mut s, Action::Command(Command::Help));
        assert!(s.help);
        update(&mut s, Action::Command(Command::CloseHelp));
        assert!(!s.help);
        assert_eq!(update(&mut s, Action::Command(Command::Quit)).effects, [Effect::Quit]);
        assert!(s.quit);
        let mut t = loaded(0);
        assert_eq!(update(&mut t, Action::Terminate).effects, [Effect::Quit]);
    }

    #[test]
    fn an_unbound_key_hints_once_without_redrawing_again() {
        let mut s = loaded(0);
        assert!(update(&mut s, Action::UnboundKey("z".into())).redraw);
        assert!(!update(&mut s, Action::UnboundKey("z".into())).redraw);
        assert!(s.status.as_deref().unwrap().contains("? shows the keys"));
    }
}
