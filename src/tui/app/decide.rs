//! The console's governance actions: the approve / veto / request-changes /
//! break-glass dialog, and proposing fixes from the Incident view. Pure like
//! the rest of `update`: recording happens in the effect runner.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::state::{Dialog, DialogKind, PanelKind, ReproPanel};
use super::update::Outcome;
use super::{Effect, State, Tab};
use crate::canary::controller::Command as Steer;
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
        DialogKind::Promote | DialogKind::Abort | DialogKind::KillSwitch => false,
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
    state.last_job_request += 1;
    let request = state.last_job_request;
    d.request = Some(request);
    if let Some(rollout) = d.rollout.clone() {
        let command = match d.kind {
            DialogKind::Promote => Steer::Promote,
            DialogKind::KillSwitch => Steer::Abort { reason: format!("kill switch: {text}") },
            _ => Steer::Abort { reason: text },
        };
        return Outcome::with(Effect::Steer { request, rollout, command });
    }
    let choice = match d.kind {
        DialogKind::Approve => Choice::Approve { comment: text },
        DialogKind::Veto => Choice::Veto { reason: text },
        DialogKind::RequestChanges => Choice::RequestChanges { comment: text },
        DialogKind::BreakGlass => Choice::BreakGlass { reason: text },
        DialogKind::Promote | DialogKind::Abort | DialogKind::KillSwitch => {
            d.request = None;
            d.error = Some("this dialog lost its rollout; close it and press the key again".into());
            return Outcome::redraw();
        }
    };
    let patch = d.patch.clone();
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

/// The rollout selected on the Rollouts tab, or why there is none.
fn selected_rollout(state: &mut State) -> Option<crate::model::Rollout> {
    if state.tab != Tab::Rollouts {
        state.status = Some("rollout keys work on the Rollouts tab (3)".into());
        return None;
    }
    let r = state.rollouts.get(state.selected(Tab::Rollouts)).cloned();
    if r.is_none() {
        state.status = Some("no rollout selected".into());
    }
    r
}

/// Whether the person at the keyboard may do this to a rollout.
fn may_steer(state: &mut State, what: &str, needs_role: bool) -> bool {
    match &state.me {
        Some(me) if needs_role && !matches!(me.role, Role::Reviewer | Role::Commander) => {
            state.status = Some(format!("{} is {}: only reviewers and commanders can {what}", me.name, me.role.with_article()));
            false
        }
        _ => true,
    }
}

/// Opens the typed-confirmation dialog for promote, abort or the kill switch.
pub fn open_rollout(state: &mut State, kind: DialogKind) -> Outcome {
    let Some(r) = selected_rollout(state) else { return Outcome::redraw() };
    let what = kind.title().to_lowercase();
    if !may_steer(state, "promote", kind == DialogKind::Promote) {
        return Outcome::redraw();
    }
    if !r.status.is_live() {
        state.status = Some(format!("rollout {} is {}: nothing to {what}", r.id, r.status.label()));
        return Outcome::redraw();
    }
    if kind == DialogKind::KillSwitch && r.kill_switch.is_none() {
        state.status = Some(format!("patch {} has no kill switch; abort (X) takes its traffic off instead", r.patch_id));
        return Outcome::redraw();
    }
    let title = state.patches.iter().find(|p| p.id == r.patch_id).map(|p| p.title.clone()).unwrap_or_default();
    state.dialog = Some(Dialog::for_rollout(kind, &r, &title));
    Outcome::redraw()
}

/// Pauses a progressing rollout or resumes a paused one (no dialog: holding
/// is always safe, and resuming takes the role).
pub fn pause_resume(state: &mut State) -> Outcome {
    let Some(r) = selected_rollout(state) else { return Outcome::redraw() };
    let command = match r.status {
        crate::model::RolloutStatus::Paused => Steer::Resume,
        crate::model::RolloutStatus::Progressing | crate::model::RolloutStatus::Pending => Steer::Pause,
        s => {
            state.status = Some(format!("rollout {} is {}: only a progressing rollout pauses", r.id, s.label()));
            return Outcome::redraw();
        }
    };
    if !may_steer(state, "resume", command == Steer::Resume) {
        return Outcome::redraw();
    }
    state.last_job_request += 1;
    let request = state.last_job_request;
    state.status = Some(format!("{} {}…", if command == Steer::Resume { "resuming" } else { "pausing" }, r.id));
    Outcome::with(Effect::Steer { request, rollout: r.id, command })
}

/// A pause or resume was recorded (or refused): said in the status line.
pub fn steered(state: &mut State, request: super::RequestId, result: Result<String, String>) -> Outcome {
    if state.dialog.as_ref().is_some_and(|d| d.request == Some(request)) {
        return decided(state, request, result);
    }
    job_status(state, request, result)
}

/// The latest background job's outcome, in the status line (a stale one is dropped).
pub fn job_status(state: &mut State, request: super::RequestId, result: Result<String, String>) -> Outcome {
    if request != state.last_job_request {
        return Outcome::default();
    }
    state.status = Some(match result {
        Ok(s) => s,
        Err(e) => format!("✖ {e}"),
    });
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
        let writes =
            |e: &Effect| matches!(e, Effect::Verify { .. } | Effect::Propose { .. } | Effect::Decide { .. } | Effect::Steer { .. });
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
            let mut rollouts = list.clone();
            rollouts.tab = Tab::Rollouts;
            rollouts.rollouts = vec![live_rollout()];
            vec![patch_view, incident, list, rollouts]
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
        assert_eq!(
            dangerous_seen, 10,
            "verify, propose, approve, veto, request changes, break-glass, promote, pause/resume, abort, kill switch"
        );
        // The same walk with read-only off does start them: the test can fail.
        let mut s = reviewing(Role::Commander);
        update(&mut s, Action::Command(Command::Approve));
        assert!(s.dialog.is_some());
        let mut s = reviewing(Role::Commander);
        s.patch_view = None;
        s.tab = Tab::Rollouts;
        s.rollouts = vec![live_rollout()];
        update(&mut s, Action::Command(Command::RolloutKill));
        assert!(s.dialog.as_ref().is_some_and(|d| d.rollout.as_deref() == Some("RO-1")));
        let o = update(&mut s, Action::Command(Command::DialogSubmit));
        assert!(o.effects.is_empty(), "a reason and the typed confirmation come first");
    }

    fn live_rollout() -> crate::model::Rollout {
        crate::model::Rollout {
            id: "RO-1".into(),
            patch_id: "abcdef123456".into(),
            backend: "local".into(),
            steps: vec![crate::model::RolloutStep { weight: 25, pause_secs: 8, analysis: true }],
            current_step: 0,
            step_started: Some(1),
            paused_ms: 0,
            paused_at: None,
            desired_weight: 25,
            actual_weight: Some(24),
            status: crate::model::RolloutStatus::Progressing,
            started: 1,
            updated: 1,
            requested_by: "carol".into(),
            revision: 2,
            verdicts: vec![],
            guardrails: vec![],
            kill_switch: Some("suture.kill.x".into()),
            killed: false,
            metrics_lost: 0,
            message: String::new(),
        }
    }

    #[test]
    fn rollout_keys_confirm_by_typing_the_patch_id_and_steer_through_an_effect() {
        let mut s = reviewing(Role::Commander);
        s.patch_view = None;
        s.tab = Tab::Rollouts;
        s.rollouts = vec![live_rollout()];
        update(&mut s, Action::Command(Command::RolloutAbort));
        for c in "canary hurts".chars() {
            update(&mut s, Action::DialogKey(KeyEvent::from(crossterm::event::KeyCode::Char(c))));
        }
        let o = update(&mut s, Action::Command(Command::DialogSubmit));
        assert!(o.effects.is_empty());
        assert!(s.dialog.as_ref().unwrap().error.as_ref().unwrap().contains("type abcdef12"));
        for c in "abcdef12".chars() {
            update(&mut s, Action::DialogKey(KeyEvent::from(crossterm::event::KeyCode::Char(c))));
        }
        let o = update(&mut s, Action::Command(Command::DialogSubmit));
        assert_eq!(
            o.effects,
            vec![Effect::Steer {
                request: s.last_job_request,
                rollout: "RO-1".into(),
                command: Steer::Abort { reason: "canary hurts".into() }
            }]
        );
        let request = s.last_job_request;
        update(&mut s, Action::Decided { request, result: Ok("RO-1 aborted".into()) });
        assert!(s.dialog.is_none());
        // Space pauses at once; an engineer cannot resume.
        let o = update(&mut s, Action::Command(Command::RolloutPauseResume));
        assert!(matches!(&o.effects[..], [Effect::Steer { command: Steer::Pause, .. }]));
        s.rollouts[0].status = crate::model::RolloutStatus::Paused;
        s.me.as_mut().unwrap().role = Role::Engineer;
        let o = update(&mut s, Action::Command(Command::RolloutPauseResume));
        assert!(o.effects.is_empty() && s.status.as_ref().unwrap().contains("only reviewers and commanders can resume"));
        // Elsewhere the keys say where they work.
        s.tab = Tab::Incidents;
        update(&mut s, Action::Command(Command::RolloutPromote));
        assert_eq!(s.status.as_deref(), Some("rollout keys work on the Rollouts tab (3)"));
    }
}
