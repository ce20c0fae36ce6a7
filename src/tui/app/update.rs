use super::decide;
use super::state::{
    DialogKind, IncidentView, LiveVerify, LogView, Pane, PatchFocus, PatchGeometry, PatchView, ReproPanel, SIDE_BY_SIDE_MIN, push_tail,
};
use super::{Action, Effect, State, Tab, trace};
use crate::model::{StepStatus, VerificationStep};
use crate::tui::keymap::{Command, dangerous};
use crate::verify::Event;

/// Live output kept for a running repro or verification.
const TAIL: usize = 64 * 1024;

/// What an update asks of the loop.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The state changed in a way the screen shows.
    pub redraw: bool,
    pub effects: Vec<Effect>,
}

impl Outcome {
    pub(super) fn redraw() -> Outcome {
        Outcome { redraw: true, effects: Vec::new() }
    }
    pub(super) fn with(effect: Effect) -> Outcome {
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
            state.rollouts = s.rollouts;
            state.rollout_points = s.rollout_points;
            state.clock = s.clock;
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
        Action::FilterInput(c) if state.tab == Tab::Audit => {
            if !state.audit_filtering || c.is_control() {
                return Outcome::default();
            }
            state.audit_filter.push(c);
            state.selected[Tab::Audit.index()] = 0;
            Outcome::redraw()
        }
        Action::FilterBackspace if state.tab == Tab::Audit => {
            if !state.audit_filtering || state.audit_filter.pop().is_none() {
                return Outcome::default();
            }
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
        Action::DialogKey(k) => decide::key(state, k),
        Action::Decided { request, result } => decide::steered(state, request, result),
        Action::Wrote { request, result } => decide::job_status(state, request, result),
        Action::ReproOutput { request, text } => {
            let Some(p) = state.repro.as_mut().filter(|p| p.request == request) else { return Outcome::default() };
            push_tail(&mut p.output, &text, TAIL);
            Outcome::redraw()
        }
        Action::ReproDone { request, result } => {
            let Some(p) = state.repro.as_mut().filter(|p| p.request == request) else { return Outcome::default() };
            p.done = Some(result);
            Outcome::redraw()
        }
        Action::VerifyEvent { request, event } => {
            let Some(v) = state.verify.as_mut().filter(|v| v.request == request) else { return Outcome::default() };
            match event {
                Event::Started(kind) => {
                    if let Some(s) = v.steps.iter_mut().find(|s| s.kind == kind) {
                        s.status = StepStatus::Running;
                    }
                }
                Event::Output(_, bytes) => push_tail(&mut v.output, &String::from_utf8_lossy(&bytes), TAIL),
                Event::Finished(step) => {
                    if let Some(s) = v.steps.iter_mut().find(|s| s.kind == step.kind) {
                        *s = step;
                    }
                }
            }
            Outcome::redraw()
        }
        Action::VerifyDone { request, result } => {
            let Some(v) = state.verify.as_mut().filter(|v| v.request == request) else { return Outcome::default() };
            state.status = Some(match &result {
                Ok(s) => format!("patch {}: {s}", v.patch),
                Err(e) => format!("patch {}: {e}", v.patch),
            });
            v.done = Some(result);
            Outcome::redraw()
        }
        Action::LogLoaded { request, result } => {
            let Some(log) = state.log.as_mut().filter(|l| l.request == request) else { return Outcome::default() };
            log.text = Some(result);
            Outcome::redraw()
        }
        Action::SearchInput(c) => {
            let Some(log) = state.log.as_mut().filter(|l| l.searching) else { return Outcome::default() };
            if c.is_control() {
                return Outcome::default();
            }
            log.query.push(c);
            Outcome::redraw()
        }
        Action::SearchBackspace => {
            let Some(log) = state.log.as_mut().filter(|l| l.searching) else { return Outcome::default() };
            log.query.pop();
            Outcome::redraw()
        }
        Action::Terminate => {
            state.quit = true;
            Outcome::with(Effect::Quit)
        }
    }
}

/// Rows of the log a page shows.
fn log_page(state: &State) -> usize {
    usize::from(state.size.1.saturating_sub(6)).max(1)
}

/// Moves the log to the next (or previous) line matching its query.
fn seek(state: &mut State, forward: bool) -> Outcome {
    let page = log_page(state);
    let Some(log) = state.log.as_mut() else { return Outcome::default() };
    let hits = log.matches();
    if hits.is_empty() {
        state.status = Some(if log.query.is_empty() { "/ starts a search".into() } else { format!("no line has “{}”", log.query) });
        return Outcome::redraw();
    }
    let from = log.hit;
    let next = if forward {
        hits.iter().copied().find(|h| from.is_none_or(|f| *h > f)).unwrap_or(hits[0])
    } else {
        hits.iter().rev().copied().find(|h| from.is_none_or(|f| *h < f)).unwrap_or(hits[hits.len() - 1])
    };
    log.hit = Some(next);
    if next < log.scroll || next >= log.scroll + page {
        log.scroll = next.saturating_sub(page / 3);
    }
    Outcome::redraw()
}

fn scroll_log(state: &mut State, to: impl FnOnce(usize, usize, usize) -> usize) -> Outcome {
    let page = log_page(state);
    let Some(log) = state.log.as_mut() else { return Outcome::default() };
    let max = log.lines().len().saturating_sub(page);
    log.scroll = to(log.scroll, page, max).min(max);
    Outcome::redraw()
}

/// Starts the open incident's repro in the background.
fn run_repro(state: &mut State) -> Outcome {
    let Some(id) = state.view.as_ref().map(|v| v.id.clone()) else { return Outcome::default() };
    if let Some(why) = &state.jobs_unavailable {
        state.status = Some(format!("repros cannot run here: {why}"));
        return Outcome::redraw();
    }
    if state.repro.as_ref().is_some_and(|p| p.done.is_none()) {
        state.status = Some("a repro is running; wait for its verdict".into());
        return Outcome::redraw();
    }
    state.last_job_request += 1;
    let request = state.last_job_request;
    state.repro = Some(ReproPanel { incident: id.clone(), request, ..Default::default() });
    Outcome::with(Effect::RunRepro { request, incident: id })
}

/// Starts the gauntlet on the current patch in the background.
fn verify(state: &mut State) -> Outcome {
    if state.tab != Tab::Patches {
        state.status = Some("v verifies a patch: go to Patches (2)".into());
        return Outcome::redraw();
    }
    let Some(p) = state.current_patch() else { return Outcome::default() };
    let id = p.id.clone();
    use crate::model::PatchState as S;
    if !matches!(p.state, S::Proposed | S::Failed) {
        state.status = Some(format!("patch {id} is {}; only proposed or failed patches are verified", p.state.label()));
        return Outcome::redraw();
    }
    if let Some(why) = &state.jobs_unavailable {
        state.status = Some(format!("verification cannot run here: {why}"));
        return Outcome::redraw();
    }
    if state.verify.as_ref().is_some_and(|v| v.done.is_none()) {
        state.status = Some("a verification is running; wait for it".into());
        return Outcome::redraw();
    }
    let fresh = state.patch_view.is_none().then(|| PatchView::open(p));
    state.last_job_request += 1;
    let request = state.last_job_request;
    let steps = crate::verify::ORDER
        .iter()
        .map(|k| VerificationStep { kind: *k, status: StepStatus::Pending, duration_ms: 0, detail: String::new(), log_ref: None })
        .collect();
    state.verify = Some(LiveVerify { patch: id.clone(), request, steps, ..Default::default() });
    if let Some(v) = fresh {
        state.patch_view = Some(v);
    }
    if let Some(v) = state.patch_view.as_mut() {
        v.focus = PatchFocus::Evidence;
    }
    Outcome::with(Effect::Verify { request, patch: id })
}

/// Columns one horizontal scroll step moves.
const HSTEP: usize = 8;

/// The review screen's movement: the diff (rows, pages, hunks, files,
/// columns) or, with the evidence focused, the steps.
fn patch_command(state: &mut State, c: Command) -> Outcome {
    let size = state.size;
    let Some(v) = state.patch_view.as_mut() else { return Outcome::default() };
    let layout = v.layout(size.0);
    let page = PatchGeometry::at(size).diff_rows;
    if v.focus == PatchFocus::Evidence && matches!(c, Command::PatchUp | Command::PatchDown) {
        let last = crate::verify::ORDER.len() - 1;
        v.step = if c == Command::PatchUp { v.step.saturating_sub(1) } else { (v.step + 1).min(last) };
        return Outcome::redraw();
    }
    match c {
        Command::ToggleEvidence => {
            v.focus = if v.focus == PatchFocus::Diff { PatchFocus::Evidence } else { PatchFocus::Diff };
            return Outcome::redraw();
        }
        Command::ToggleWrap => {
            v.wrap = !v.wrap;
            v.hscroll = 0;
            state.status = Some(if v.wrap { "long lines wrap".into() } else { "long lines are cut; ← → scroll".into() });
            return Outcome::redraw();
        }
        Command::ToggleUnified => {
            if !v.unified && size.0 < SIDE_BY_SIDE_MIN {
                state.status = Some(format!("side by side needs {SIDE_BY_SIDE_MIN} columns; this terminal has {}", size.0));
                return Outcome::redraw();
            }
            v.unified = !v.unified;
            return Outcome::redraw();
        }
        Command::ScrollLeft | Command::ScrollRight => {
            if v.wrap {
                state.status = Some("lines wrap, so there is nothing to scroll sideways; w cuts them".into());
                return Outcome::redraw();
            }
            let before = v.hscroll;
            v.hscroll = if c == Command::ScrollLeft { v.hscroll.saturating_sub(HSTEP) } else { (v.hscroll + HSTEP).min(4096) };
            return Outcome { redraw: before != v.hscroll, effects: Vec::new() };
        }
        Command::NextFile | Command::PrevFile => {
            let files = v.doc.as_ref().map(|d| d.files.len()).unwrap_or(0);
            let to = if c == Command::NextFile { (v.file + 1).min(files.saturating_sub(1)) } else { v.file.saturating_sub(1) };
            if to == v.file {
                return Outcome::default();
            }
            v.show_file(to, 0, layout);
            return Outcome::redraw();
        }
        _ => {}
    }
    let Ok(doc) = v.doc.clone() else { return Outcome::default() };
    let Some(f) = doc.files.get(v.file) else { return Outcome::default() };
    let rows = f.len(layout);
    let last_top = rows.saturating_sub(page);
    let top = v.top_in(layout);
    let to = match c {
        Command::PatchUp => top.saturating_sub(1),
        Command::PatchDown => (top + 1).min(last_top),
        Command::PatchPageUp => top.saturating_sub(page),
        Command::PatchPageDown => (top + page).min(last_top),
        Command::PatchTop => 0,
        Command::PatchBottom => last_top,
        Command::NextHunk => match f.hunk_rows(layout).find(|r| *r > top) {
            Some(r) => r,
            None => {
                // On to the next file's first hunk, if there is one.
                if v.file + 1 < doc.files.len() {
                    v.show_file(v.file + 1, 0, layout);
                    return Outcome::redraw();
                }
                state.status = Some("no more hunks".into());
                return Outcome::redraw();
            }
        },
        Command::PrevHunk => match f.hunk_rows(layout).filter(|r| *r < top).last() {
            Some(r) => r,
            None if v.file > 0 => {
                let prev = doc.files.get(v.file - 1).and_then(|f| f.hunk_rows(layout).last()).unwrap_or(0);
                v.show_file(v.file - 1, prev, layout);
                return Outcome::redraw();
            }
            None => 0,
        },
        _ => return Outcome::default(),
    };
    if to == top && v.top_layout == layout {
        return Outcome::default();
    }
    v.top = to;
    v.top_layout = layout;
    Outcome::redraw()
}

/// Opens the selected step's log (from the store).
fn open_log(state: &mut State) -> Outcome {
    let Some(view) = &state.patch_view else { return Outcome::default() };
    let Some(patch) = state.current_patch() else { return Outcome::default() };
    let Some(step) = patch.verification.as_ref().and_then(|r| r.steps.get(view.step)) else {
        state.status = Some("no evidence yet: v runs the gauntlet".into());
        return Outcome::redraw();
    };
    let Some(log_ref) = step.log_ref.clone() else {
        state.status = Some(format!("{} has no log: {}", step.kind.label(), step.detail));
        return Outcome::redraw();
    };
    let title = format!("{} · {} {}", patch.id, step.status.symbol(), step.kind.label());
    state.last_job_request += 1;
    let request = state.last_job_request;
    state.log = Some(LogView { title, request, ..Default::default() });
    Outcome::with(Effect::LoadLog { request, log_ref })
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
    if state.read_only && dangerous(c) {
        state.status = Some("read-only: this action changes state and is turned off".into());
        return Outcome::redraw();
    }
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
        Command::Open if tab == Tab::Patches => {
            let Some(p) = state.patches.get(sel) else { return Outcome::default() };
            state.patch_view = Some(PatchView::open(p));
            Outcome::redraw()
        }
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
        Command::Filter if tab == Tab::Audit => {
            state.audit_filtering = true;
            Outcome::redraw()
        }
        Command::FilterDone if tab == Tab::Audit => {
            state.audit_filtering = false;
            Outcome::redraw()
        }
        Command::FilterCancel | Command::ClearFilter if tab == Tab::Audit => {
            state.audit_filtering = false;
            state.audit_filter.clear();
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
        Command::RunRepro => run_repro(state),
        Command::Verify => verify(state),
        Command::PatchUp
        | Command::PatchDown
        | Command::PatchPageUp
        | Command::PatchPageDown
        | Command::PatchTop
        | Command::PatchBottom
        | Command::NextHunk
        | Command::PrevHunk
        | Command::NextFile
        | Command::PrevFile
        | Command::ScrollLeft
        | Command::ScrollRight
        | Command::ToggleWrap
        | Command::ToggleUnified
        | Command::ToggleEvidence => patch_command(state, c),
        Command::OpenLog => open_log(state),
        Command::ClosePatch => {
            state.patch_view = None;
            Outcome::redraw()
        }
        Command::LogUp => scroll_log(state, |s, _, _| s.saturating_sub(1)),
        Command::LogDown => scroll_log(state, |s, _, _| s + 1),
        Command::LogPageUp => scroll_log(state, |s, p, _| s.saturating_sub(p)),
        Command::LogPageDown => scroll_log(state, |s, p, _| s + p),
        Command::LogTop => scroll_log(state, |_, _, _| 0),
        Command::LogBottom => scroll_log(state, |_, _, m| m),
        Command::LogSearch => {
            let Some(log) = state.log.as_mut() else { return Outcome::default() };
            log.searching = true;
            log.query.clear();
            log.hit = None;
            Outcome::redraw()
        }
        Command::SearchDone => {
            let Some(log) = state.log.as_mut() else { return Outcome::default() };
            log.searching = false;
            let top = log.scroll.checked_sub(1);
            log.hit = top;
            seek(state, true)
        }
        Command::SearchCancel => {
            let Some(log) = state.log.as_mut() else { return Outcome::default() };
            log.searching = false;
            log.query.clear();
            log.hit = None;
            Outcome::redraw()
        }
        Command::Propose => decide::propose(state),
        Command::Approve => decide::open(state, DialogKind::Approve),
        Command::Veto => decide::open(state, DialogKind::Veto),
        Command::RequestChanges => decide::open(state, DialogKind::RequestChanges),
        Command::BreakGlass => decide::open(state, DialogKind::BreakGlass),
        Command::DialogSubmit => decide::submit(state),
        Command::DialogCancel => decide::cancel(state),
        Command::DialogNextField => decide::next_field(state),
        Command::RolloutPromote => decide::open_rollout(state, DialogKind::Promote),
        Command::RolloutAbort => decide::open_rollout(state, DialogKind::Abort),
        Command::RolloutKill => decide::open_rollout(state, DialogKind::KillSwitch),
        Command::RolloutPauseResume => decide::pause_resume(state),
        Command::Attest => match state.patch_view.as_ref().map(|v| v.id.clone()) {
            Some(patch) => decide::write_record(state, super::Record::Attestation { patch }),
            None => Outcome::default(),
        },
        Command::Postmortem => match state.view.as_ref().map(|v| v.id.clone()) {
            Some(incident) => decide::write_record(state, super::Record::Postmortem { incident }),
            None => Outcome::default(),
        },
        Command::LogNext => seek(state, true),
        Command::LogPrev => seek(state, false),
        Command::CloseLog => {
            state.log = None;
            Outcome::redraw()
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
    use crate::tui::app::{Snapshot, SortKey};

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

    fn inc(id: &str, title: &str, score: f64, count: u64, users: u64, seen: i64) -> Incident {
        Incident {
            id: id.into(),
            title: title.into(),
            score,
            count,
            users,
            first_seen: seen - 1000,
            last_seen: seen,
            tenants: vec!["acme".into()],
            ..Default::default()
        }
    }

    fn with(incidents: Vec<Incident>) -> State {
        let mut s = loaded(0);
        update(&mut s, Action::StoreChanged);
        let request = s.last_request;
        update(&mut s, Action::Loaded { request, snapshot: Box::new(Snapshot { incidents, ..Default::default() }) });
        s
    }

    fn three() -> State {
        with(vec![
            inc("INC-A", "KeyError: 'EU-LEGACY'", 30.0, 900, 400, 5_000),
            inc("INC-B", "TypeError: NoneType", 20.0, 2_350, 800, 9_000),
            Incident { tenants: vec!["Globex".into()], ..inc("INC-C", "IndexError", 10.0, 1_450, 900, 7_000) },
        ])
    }

    fn shown(s: &State) -> Vec<&str> {
        s.visible.iter().map(|i| s.incidents[*i].id.as_str()).collect()
    }

    fn type_text(s: &mut State, text: &str) {
        for c in text.chars() {
            update(s, Action::FilterInput(c));
        }
    }

    #[test]
    fn a_filter_is_typed_kept_and_cleared_and_the_selection_follows() {
        let mut s = three();
        update(&mut s, Action::Command(Command::Down));
        assert_eq!(s.selected_incident().unwrap().id, "INC-B");
        assert!(!update(&mut s, Action::FilterInput('x')).redraw, "typing does nothing until / starts a filter");
        update(&mut s, Action::Command(Command::Filter));
        assert_eq!(s.key_context(), crate::tui::keymap::Context::Filter);
        type_text(&mut s, "ERROR");
        assert_eq!(shown(&s), ["INC-A", "INC-B", "INC-C"], "case-insensitive, in titles");
        assert_eq!(s.selected_incident().unwrap().id, "INC-B");
        type_text(&mut s, " glob");
        assert_eq!(shown(&s), ["INC-C"], "every word must match; tenants are searched");
        assert_eq!(s.selected_incident().unwrap().id, "INC-C", "the selection moves to what is left");
        update(&mut s, Action::FilterBackspace);
        update(&mut s, Action::FilterBackspace);
        assert_eq!(s.filter, "ERROR gl");
        update(&mut s, Action::Command(Command::FilterDone));
        assert!(!s.filtering);
        assert_eq!(s.filter, "ERROR gl", "enter keeps the filter");
        assert_eq!(s.rows(Tab::Incidents), 1);
        update(&mut s, Action::Command(Command::ClearFilter));
        assert_eq!(shown(&s), ["INC-A", "INC-B", "INC-C"]);
        assert_eq!(s.selected_incident().unwrap().id, "INC-C", "clearing keeps the selected incident");
        update(&mut s, Action::Command(Command::Filter));
        type_text(&mut s, "inc-a");
        assert_eq!(shown(&s), ["INC-A"], "ids are searched");
        update(&mut s, Action::Command(Command::FilterCancel));
        assert!(!s.filtering && s.filter.is_empty(), "esc clears");
        assert_eq!(shown(&s).len(), 3);
    }

    #[test]
    fn sort_cycles_keys_reverses_and_keeps_the_selected_incident() {
        let mut s = three();
        assert_eq!(s.sort, SortKey::Priority);
        let mut orders = Vec::new();
        for _ in 0..5 {
            update(&mut s, Action::Command(Command::Sort));
            orders.push((s.sort, shown(&s).join(" ")));
        }
        assert_eq!(
            orders,
            [
                (SortKey::Events, "INC-B INC-C INC-A".to_string()),
                (SortKey::Users, "INC-C INC-B INC-A".to_string()),
                (SortKey::LastSeen, "INC-B INC-C INC-A".to_string()),
                (SortKey::FirstSeen, "INC-B INC-C INC-A".to_string()),
                (SortKey::Priority, "INC-A INC-B INC-C".to_string()),
            ]
        );
        assert_eq!(s.selected_incident().unwrap().id, "INC-A", "the selection followed INC-A through every order");
        update(&mut s, Action::Command(Command::SortReverse));
        assert!(s.sort_reversed);
        assert_eq!(shown(&s), ["INC-C", "INC-B", "INC-A"]);
        assert_eq!(s.selected(Tab::Incidents), 2);
        update(&mut s, Action::Command(Command::Sort));
        assert!(!s.sort_reversed, "a new key starts in its natural direction");
    }

    #[test]
    fn the_selection_follows_its_incident_across_reloads() {
        let mut s = three();
        update(&mut s, Action::Command(Command::Down));
        update(&mut s, Action::StoreChanged);
        let request = s.last_request;
        let reranked = vec![
            inc("INC-B", "TypeError: NoneType", 40.0, 3_000, 900, 9_500),
            inc("INC-NEW", "new one", 35.0, 1, 1, 9_600),
            inc("INC-A", "KeyError: 'EU-LEGACY'", 30.0, 900, 400, 5_000),
        ];
        update(&mut s, Action::Loaded { request, snapshot: Box::new(Snapshot { incidents: reranked, ..Default::default() }) });
        assert_eq!(s.selected_incident().unwrap().id, "INC-B");
        assert_eq!(s.selected(Tab::Incidents), 0);
    }

    fn detail(id: &str) -> Box<crate::inspect::IncidentDetail> {
        use crate::model::{ErrorEvent, ExceptionInfo, StackFrame};
        let f = |name: &str, app: bool| StackFrame { function: Some(name.into()), in_app: Some(app), ..Default::default() };
        let ev = ErrorEvent {
            exceptions: vec![ExceptionInfo {
                kind: "KeyError".into(),
                frames: vec![f("serve", false), f("handle", true), f("lib", false), f("tax", true), f("dict_get", false)],
                ..Default::default()
            }],
            ..Default::default()
        };
        Box::new(crate::inspect::IncidentDetail {
            incident: Incident { id: id.into(), ..Default::default() },
            event: Some(ev),
            sources: vec![],
            releases: vec![],
            deploys: vec![],
        })
    }

    #[test]
    fn enter_opens_the_incident_through_an_effect_and_esc_closes_it() {
        let mut s = three();
        update(&mut s, Action::Command(Command::Down));
        let o = update(&mut s, Action::Command(Command::Open));
        assert_eq!(o.effects, [Effect::LoadIncident { request: 1, id: "INC-B".into() }]);
        assert_eq!(s.key_context(), crate::tui::keymap::Context::Incident);
        assert!(s.view.as_ref().unwrap().detail.is_none(), "loading");
        // A change in the store reloads the list and the open incident.
        let o = update(&mut s, Action::StoreChanged);
        assert!(matches!(o.effects[..], [Effect::Load { .. }, Effect::LoadIncident { request: 2, .. }]), "{:?}", o.effects);
        assert_eq!(update(&mut s, Action::IncidentLoaded { request: 1, detail: detail("INC-B") }), Outcome::default(), "stale");
        assert!(update(&mut s, Action::IncidentLoaded { request: 2, detail: detail("INC-B") }).redraw);
        let v = s.view.as_ref().unwrap();
        assert_eq!(v.frame, Some((0, 3)), "the culprit is selected first");
        assert_eq!(trace::frames(&v.rows()), [(0, 3), (0, 1)], "library frames hidden");
        update(&mut s, Action::Command(Command::FrameDown));
        assert_eq!(s.view.as_ref().unwrap().frame, Some((0, 1)));
        assert!(!update(&mut s, Action::Command(Command::FrameDown)).redraw, "the last frame stays");
        update(&mut s, Action::Command(Command::ToggleLibrary));
        assert_eq!(trace::frames(&s.view.as_ref().unwrap().rows()).len(), 5);
        update(&mut s, Action::Command(Command::FrameDown));
        assert_eq!(s.view.as_ref().unwrap().frame, Some((0, 0)));
        update(&mut s, Action::Command(Command::ToggleLibrary));
        assert_eq!(s.view.as_ref().unwrap().frame, Some((0, 3)), "a hidden frame gives the selection back to the culprit");
        // A reload keeps the reader's frame.
        update(&mut s, Action::Command(Command::FrameDown));
        update(&mut s, Action::Command(Command::Refresh));
        update(&mut s, Action::IncidentLoaded { request: 3, detail: detail("INC-B") });
        assert_eq!(s.view.as_ref().unwrap().frame, Some((0, 1)));
        update(&mut s, Action::Command(Command::TogglePane));
        assert_eq!(s.view.as_ref().unwrap().pane, crate::tui::app::Pane::Details, "80x24 stacks the panels");
        update(&mut s, Action::IncidentFailed { request: 3, error: "gone".into() });
        assert!(matches!(s.view.as_ref().unwrap().detail, Some(Err(_))));
        update(&mut s, Action::Command(Command::Back));
        assert!(s.view.is_none());
        assert_eq!(s.key_context(), crate::tui::keymap::Context::List);
        assert_eq!(s.selected_incident().unwrap().id, "INC-B", "back where we were");
    }
}
