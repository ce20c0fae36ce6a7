//! The console's governance actions: the approve / veto / request-changes /
//! break-glass dialog, and proposing fixes from the Incident view. Pure like
//! the rest of `update`: recording happens in the effect runner.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::state::{Dialog, DialogKind, PanelKind, ReproPanel};
use super::update::Outcome;
use super::{Effect, State, Tab};
use crate::govern::Choice;
use crate::model::{PatchState, Role};

/// Opens the dialog for the patch on the review screen, or says why not.
pub fn open(state: &mut State, kind: DialogKind) -> Outcome {
    let Some(p) = state.patch_view.as_ref().and_then(|v| state.patches.iter().find(|p| p.id == v.id)) else {
        state.status = Some("open a patch first: Patches (2), then Enter".into());
        return Outcome::redraw();
    };
    if let Some(me) = &state.me {
        let allowed = match kind {
            DialogKind::BreakGlass => me.role == Role::Commander,
            _ => matches!(me.role, Role::Reviewer | Role::Commander),
        };
        if !allowed {
            let who = if kind == DialogKind::BreakGlass { "commanders" } else { "reviewers and commanders" };
            state.status = Some(format!("{} is {}: only {who} can {}", me.name, me.role.with_article(), kind.title().to_lowercase()));
            return Outcome::redraw();
        }
    }
    let open = match kind {
        DialogKind::Approve => matches!(p.state, PatchState::Verified | PatchState::Approved | PatchState::Canary { .. }),
        DialogKind::BreakGlass => p.state == PatchState::Verified,
        DialogKind::Veto => matches!(
            p.state,
            PatchState::Proposed | PatchState::Verifying | PatchState::Verified | PatchState::Failed | PatchState::Approved
        ),
        DialogKind::RequestChanges => {
            matches!(p.state, PatchState::Proposed | PatchState::Verified | PatchState::Failed | PatchState::Approved)
        }
    };
    if !open {
        state.status = Some(format!("patch {} is {}: it cannot be given a {} now", p.id, p.state.label(), kind.title().to_lowercase()));
        return Outcome::redraw();
    }
    state.dialog = Some(Dialog::new(kind, p));
    Outcome::redraw()
}

/// A key typed into the dialog.
pub fn key(state: &mut State, k: KeyEvent) -> Outcome {
    let Some(d) = state.dialog.as_mut().filter(|d| d.request.is_none()) else { return Outcome::default() };
    d.error = None;
    if d.on_confirm {
        let typed = d.confirm.get_or_insert_with(String::new);
        match k.code {
            KeyCode::Char(c) if !k.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) && !c.is_control() => typed.push(c),
            KeyCode::Backspace => {
                typed.pop();
            }
            _ => return Outcome::default(),
        }
        return Outcome::redraw();
    }
    // Control characters never reach the editor (or, through it, the terminal).
    if matches!(k.code, KeyCode::Char(c) if c.is_control()) {
        return Outcome::default();
    }
    // Enter records; alt+enter (or ctrl+j) starts a new line of the comment.
    let newline = (k.code == KeyCode::Enter && k.modifiers.contains(KeyModifiers::ALT))
        || (k.code == KeyCode::Char('j') && k.modifiers.contains(KeyModifiers::CONTROL));
    if newline {
        d.editor.insert_newline();
    } else {
        d.editor.input(k);
    }
    Outcome::redraw()
}

pub fn next_field(state: &mut State) -> Outcome {
    let Some(d) = state.dialog.as_mut().filter(|d| d.confirm.is_some()) else { return Outcome::default() };
    d.on_confirm = !d.on_confirm;
    Outcome::redraw()
}

pub fn cancel(state: &mut State) -> Outcome {
    if state.dialog.take().is_some() {
        state.status = Some("nothing recorded".into());
    }
    Outcome::redraw()
}

/// Checks the dialog and asks the effect runner to record the decision.
pub fn submit(state: &mut State) -> Outcome {
    let Some(d) = state.dialog.as_mut().filter(|d| d.request.is_none()) else { return Outcome::default() };
    let text = d.text().trim().to_string();
    let (label, optional) = d.kind.text_label();
    if text.is_empty() && !optional {
        d.error = Some(format!("a {} is required", label.split(" (").next().unwrap_or(label)));
        return Outcome::redraw();
    }
    if let Some(typed) = &d.confirm
        && typed.trim() != d.confirm_word()
    {
        d.error = Some(format!("type {} (the patch id) in the confirmation field: Tab goes there", d.confirm_word()));
        d.on_confirm = true;
        return Outcome::redraw();
    }
    let choice = match d.kind {
        DialogKind::Approve => Choice::Approve { comment: text },
        DialogKind::Veto => Choice::Veto { reason: text },
        DialogKind::RequestChanges => Choice::RequestChanges { comment: text },
        DialogKind::BreakGlass => Choice::BreakGlass { reason: text },
    };
    let patch = d.patch.clone();
    state.last_job_request += 1;
    let request = state.last_job_request;
    if let Some(d) = state.dialog.as_mut() {
        d.request = Some(request);
    }
    Outcome::with(Effect::Decide { request, patch, choice })
}

/// The decision was recorded (the dialog closes) or refused (it stays, with
/// the text as typed and the reason).
pub fn decided(state: &mut State, request: super::RequestId, result: Result<String, String>) -> Outcome {
    let Some(d) = state.dialog.as_mut().filter(|d| d.request == Some(request)) else { return Outcome::default() };
    match result {
        Ok(msg) => {
            state.dialog = None;
            state.status = Some(msg);
        }
        Err(e) => {
            d.request = None;
            d.error = Some(e);
        }
    }
    Outcome::redraw()
}

/// Runs the proposer on the open incident in the background.
pub fn propose(state: &mut State) -> Outcome {
    let Some(id) = state.view.as_ref().map(|v| v.id.clone()).filter(|_| state.tab == Tab::Incidents) else {
        state.status = Some("P proposes fixes for an incident: open one first".into());
        return Outcome::redraw();
    };
    if let Some(why) = &state.jobs_unavailable {
        state.status = Some(format!("proposals cannot run here: {why}"));
        return Outcome::redraw();
    }
    if state.repro.as_ref().is_some_and(|p| p.done.is_none()) {
        state.status = Some("a repro or proposal is running; wait for it".into());
        return Outcome::redraw();
    }
    state.last_job_request += 1;
    let request = state.last_job_request;
    state.repro = Some(ReproPanel { kind: PanelKind::Propose, incident: id.clone(), request, ..Default::default() });
    Outcome::with(Effect::Propose { request, incident: id })
}

/// Writes a record to a file in the background (`A` on the review screen,
/// `M` in the Incident view). Writing a file changes no state, so read-only
/// mode allows it.
pub fn write_record(state: &mut State, record: super::Record) -> Outcome {
    if let Some(why) = &state.jobs_unavailable {
        state.status = Some(format!("records cannot be written here: {why}"));
        return Outcome::redraw();
    }
    state.last_job_request += 1;
    let request = state.last_job_request;
    state.status = Some("writing…".into());
    Outcome::with(Effect::WriteRecord { request, record })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Actor, Patch, PatchKind, RiskAssessment, Tier};
    use crate::tui::app::{Action, IncidentView, Me, Pane, PatchView, update};
    use crate::tui::keymap::{Command, Context, Keymap, dangerous};
    use crossterm::event::KeyEvent;

    fn patch(state: PatchState) -> Patch {
        let mut p = Patch::new(
            PatchKind::Code,
            "guard discount",
            "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n",
            "base",
            vec!["x.py".into()],
            Actor::bot("suture/templates"),
            Some(Actor::person("alice")),
            1,
        );
        p.risk = Some(RiskAssessment { score: 0.2, tier: Tier::T1, reasons: vec![], failure_class: None });
        p.state = state;
        p
    }

    fn reviewing(role: Role) -> State {
        let p = patch(PatchState::Verified);
        let mut s = State::new("DEMO", "mem", false);
        s.loading = false;
        s.size = (120, 40);
        s.tab = Tab::Patches;
        s.patch_view = Some(PatchView::open(&p));
        s.patches = vec![p];
        s.me = Some(Me { name: "bob".into(), role });
        s
    }

    fn typed(s: &mut State, text: &str) {
        for c in text.chars() {
            update(s, Action::DialogKey(KeyEvent::from(KeyCode::Char(c))));
        }
    }

    #[test]
    fn approving_types_a_comment_and_asks_the_runner_to_record_it() {
        let mut s = reviewing(Role::Reviewer);
        update(&mut s, Action::Command(Command::Approve));
        assert_eq!(s.key_context(), Context::Dialog);
        typed(&mut s, "looks right");
        update(&mut s, Action::DialogKey(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)));
        typed(&mut s, "ship it");
        let o = update(&mut s, Action::Command(Command::DialogSubmit));
        let id = s.patches[0].id.clone();
        assert_eq!(
            o.effects,
            vec![Effect::Decide { request: 1, patch: id, choice: Choice::Approve { comment: "looks right\nship it".into() } }]
        );
        // A refusal keeps the dialog and the text, with the reason.
        update(&mut s, Action::Decided { request: 1, result: Err("bob has already decided on this patch".into()) });
        let d = s.dialog.as_ref().unwrap();
        assert_eq!(d.text(), "looks right\nship it");
        assert_eq!(d.error.as_deref(), Some("bob has already decided on this patch"));
        // A stale answer changes nothing; the right one closes the dialog.
        assert!(!update(&mut s, Action::Decided { request: 7, result: Ok("x".into()) }).redraw);
        update(&mut s, Action::Command(Command::DialogSubmit));
        update(&mut s, Action::Decided { request: 2, result: Ok("approved by bob".into()) });
        assert!(s.dialog.is_none());
        assert_eq!(s.status.as_deref(), Some("approved by bob"));
    }

    #[test]
    fn a_veto_needs_a_reason_and_break_glass_a_typed_confirmation() {
        let mut s = reviewing(Role::Commander);
        update(&mut s, Action::Command(Command::Veto));
        assert!(update(&mut s, Action::Command(Command::DialogSubmit)).effects.is_empty());
        assert_eq!(s.dialog.as_ref().unwrap().error.as_deref(), Some("a reason is required"));
        update(&mut s, Action::Command(Command::DialogCancel));
        assert!(s.dialog.is_none());

        update(&mut s, Action::Command(Command::BreakGlass));
        typed(&mut s, "checkout down, no reviewer awake");
        assert!(update(&mut s, Action::Command(Command::DialogSubmit)).effects.is_empty(), "Enter alone is not enough");
        let word = s.dialog.as_ref().unwrap().confirm_word().to_string();
        assert!(s.dialog.as_ref().unwrap().on_confirm, "the refusal moves to the confirmation field");
        typed(&mut s, &word);
        let o = update(&mut s, Action::Command(Command::DialogSubmit));
        assert!(matches!(&o.effects[..], [Effect::Decide { choice: Choice::BreakGlass { .. }, .. }]), "{o:?}");
    }

    #[test]
    fn roles_gate_the_dialog_before_anything_is_typed() {
        let mut s = reviewing(Role::Engineer);
        update(&mut s, Action::Command(Command::Approve));
        assert!(s.dialog.is_none());
        assert_eq!(s.status.as_deref(), Some("bob is an engineer: only reviewers and commanders can approve"));
        let mut s = reviewing(Role::Reviewer);
        update(&mut s, Action::Command(Command::BreakGlass));
        assert!(s.dialog.is_none() && s.status.as_deref().unwrap().contains("only commanders"));
        let mut s = reviewing(Role::Reviewer);
        s.patches[0].state = PatchState::Proposed;
        update(&mut s, Action::Command(Command::Approve));
        assert!(s.dialog.is_none() && s.status.as_deref().unwrap().contains("is proposed"));
    }

    /// Every action in the keymap, in every context it can run in, with read-only
    /// on: none starts a write and no dialog opens.
    #[test]
    fn read_only_mode_blocks_every_dangerous_action() {
        let writes = |e: &Effect| matches!(e, Effect::Verify { .. } | Effect::Propose { .. } | Effect::Decide { .. });
        let contexts = |role| {
            let mut patch_view = reviewing(role);
            patch_view.read_only = true;
            let mut incident = patch_view.clone();
            incident.tab = Tab::Incidents;
            incident.patch_view = None;
            incident.incidents = vec![crate::model::Incident { id: "INC-A".into(), ..Default::default() }];
            incident.view =
                Some(IncidentView { id: "INC-A".into(), request: 1, detail: None, frame: None, show_library: false, pane: Pane::Trace });
            let mut list = patch_view.clone();
            list.patch_view = None;
            vec![patch_view, incident, list]
        };
        let mut dangerous_seen = 0;
        for b in Keymap::default().bindings {
            for mut s in contexts(Role::Commander) {
                let before = (s.patches.clone(), s.dialog.is_some());
                let o = update(&mut s, Action::Command(b.command));
                assert!(!o.effects.iter().any(writes), "{} started a write in read-only mode: {:?}", b.name, o.effects);
                assert!(s.dialog.is_none(), "{} opened the decision dialog in read-only mode", b.name);
                assert_eq!((s.patches.clone(), s.dialog.is_some()), before, "{}", b.name);
                if dangerous(b.command) {
                    assert_eq!(s.status.as_deref(), Some("read-only: this action changes state and is turned off"), "{}", b.name);
                }
            }
            dangerous_seen += usize::from(b.dangerous);
        }
        assert_eq!(dangerous_seen, 6, "verify, propose, approve, veto, request changes, break-glass");
        // The same walk with read-only off does start them: the test can fail.
        let mut s = reviewing(Role::Commander);
        update(&mut s, Action::Command(Command::Approve));
        assert!(s.dialog.is_some());
    }
}
