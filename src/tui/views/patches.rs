//! The Patches tab: the list of patches, and the Patch view with the
//! gauntlet's evidence (symbols ✔ ✖ ⚠ with durations, never colour alone),
//! live while a verification runs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, TableState, Wrap};

use super::{Ctx, titled};
use crate::model::{Patch, StepStatus, VerificationStep};
use crate::tui::app::{PatchFocus, PatchGeometry, PatchView, State, Tab};
use crate::tui::widgets::text::{clip, datetime, inert};
use crate::verify::service::step_letter;

pub fn draw(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    if let Some(view) = &state.patch_view {
        match state.patches.iter().find(|p| p.id == view.id) {
            Some(p) => return patch_view(f, area, state, p, view, ctx),
            None => {
                let msg = format!(" Patch {} is no longer in the store.\n\n esc goes back to the patches.", view.id);
                f.render_widget(Paragraph::new(msg).style(ctx.theme.dim()).block(titled("Patch", ctx)), area);
                return;
            }
        }
    }
    if state.patches.is_empty() {
        let text = "\n No patches yet.\n\n Candidate patches are proposed from an incident (built-in repair templates or an LLM), \
                    verified by the gauntlet and reviewed here.\n\n Proposing patches is not built yet in this version of Suture; \
                    `suture verify DIFF-FILE` verifies a patch you wrote and records it here.";
        f.render_widget(Paragraph::new(text).style(ctx.theme.dim()).wrap(Wrap { trim: false }).block(titled("Patches", ctx)), area);
        return;
    }
    let [list, evidence] = Layout::vertical([Constraint::Percentage(45), Constraint::Min(0)]).areas(area);
    // Narrower than 140 columns the time gives way to the title, narrower
    // than 100 the proposer too (the review screen names it).
    let (show_proposer, show_created) = (area.width >= 100, area.width >= 140);
    let rows: Vec<Row> = state
        .patches
        .iter()
        .map(|p| {
            let tier = p.risk.as_ref().map(|r| format!("T{}", r.tier.number())).unwrap_or_else(|| "—".into());
            let mut cells = vec![
                p.id.clone(),
                p.state.label(),
                evidence_symbols(p, state),
                tier,
                inert(&p.title).into_owned(),
                p.incident_id.clone().unwrap_or_default(),
            ];
            if show_proposer {
                cells.push(inert(&p.proposer.name).into_owned());
            }
            if show_created {
                cells.push(datetime(p.created));
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Fill(1),
        Constraint::Length(10),
    ];
    let mut header = vec!["Patch", "State", "a–g", "Tier", "Title", "Incident"];
    if show_proposer {
        widths.push(Constraint::Length(18));
        header.push("Proposer");
    }
    if show_created {
        widths.push(Constraint::Length(20));
        header.push("Created");
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(ctx.theme.header()))
        .row_highlight_style(ctx.theme.selection())
        .highlight_symbol("▶")
        .block(titled("Patches", ctx));
    let mut ts = TableState::default().with_selected(Some(state.selected(Tab::Patches)));
    f.render_stateful_widget(table, list, &mut ts);
    if let Some(p) = state.current_patch() {
        let steps = steps_of(p, state);
        let lines = evidence_lines(&steps, None, evidence.width.saturating_sub(2) as usize, ctx);
        let title = format!("Evidence · {} · enter opens it", p.id);
        f.render_widget(Paragraph::new(lines).block(titled(&title, ctx)), evidence);
    }
}

/// The steps to show: the running verification's, else the stored report's.
fn steps_of(p: &Patch, state: &State) -> Vec<VerificationStep> {
    if let Some(v) = state.verify.as_ref().filter(|v| v.patch == p.id && v.done.is_none()) {
        return v.steps.clone();
    }
    p.verification.as_ref().map(|r| r.steps.clone()).unwrap_or_default()
}

/// One symbol per step, a to g: the list's compact evidence column.
fn evidence_symbols(p: &Patch, state: &State) -> String {
    let steps = steps_of(p, state);
    if steps.is_empty() {
        return "—".into();
    }
    steps.iter().map(|s| s.status.symbol()).collect()
}

fn evidence_lines(steps: &[VerificationStep], selected: Option<usize>, width: usize, ctx: &Ctx) -> Vec<Line<'static>> {
    let t = ctx.theme;
    if steps.is_empty() {
        return vec![Line::styled(" No evidence yet: v runs the gauntlet on this patch.", t.dim())];
    }
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let style = match s.status {
                StepStatus::Passed => t.ok(),
                StepStatus::Failed => t.error(),
                StepStatus::Flaky => t.warn(),
                _ => t.dim(),
            };
            let dur = match s.status {
                StepStatus::Pending | StepStatus::Skipped => String::new(),
                StepStatus::Running => "running".into(),
                _ => format_ms(s.duration_ms),
            };
            let head = format!(" {} ({}) {:<26} {:>8}  ", s.status.symbol(), step_letter(s.kind), s.kind.label(), dur);
            let rest = width.saturating_sub(head.chars().count());
            let mut line = Line::from(vec![Span::styled(head, style), Span::raw(clip(&inert(&s.detail), rest))]);
            if selected == Some(i) {
                line = line.patch_style(t.selection());
            }
            line
        })
        .collect()
}

fn format_ms(ms: u64) -> String {
    if ms >= 10_000 {
        format!("{:.0} s", ms as f64 / 1000.0)
    } else if ms >= 1000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

/// What each tier lets happen, in a reviewer's words.
fn tier_meaning(tier: u8) -> &'static str {
    match tier {
        0 => "observe only: no deploy action exists",
        1 => "a person approves before any deploy",
        2 => "a canary starts automatically; a person reviews after",
        _ => "graduates automatically when its canary succeeds",
    }
}

/// The review screen: the patch's summary, its diff (side by side or
/// unified) beside a file list, the gauntlet's evidence and the risk panel.
fn patch_view(f: &mut Frame, area: Rect, state: &State, p: &Patch, view: &PatchView, ctx: &Ctx) {
    let t = ctx.theme;
    let geo = PatchGeometry::at(state.size);
    let live = state.verify.as_ref().filter(|v| v.patch == p.id);
    let tier = p.risk.as_ref().map(|r| format!("tier {}", r.tier.number())).unwrap_or_else(|| "not assessed".into());
    let mut meta = format!(" proposed by {}", inert(&p.proposer.name));
    if let Some(by) = &p.requested_by {
        meta.push_str(&format!(" for {}", inert(&by.name)));
    }
    meta.push_str(&format!(
        " · {} · {tier} · incident {} · base {}",
        datetime(p.created),
        p.incident_id.as_deref().unwrap_or("—"),
        clip(&p.base_rev, 24)
    ));
    let (verdict, vstyle) = match &p.verification {
        None => (" no evidence yet: v runs the gauntlet".to_string(), t.dim()),
        Some(r) if !r.proves_fix() => (" ✖ no proof: the repro must fail on the base and pass when patched".to_string(), t.error()),
        Some(r) if r.has_failures() => (" ✖ a gauntlet step failed".to_string(), t.error()),
        Some(r) if r.is_flaky() => (" ⚠ flaky evidence: never applied automatically".to_string(), t.warn()),
        Some(_) => (" ✔ proven: fails before, passes after, every step held".to_string(), t.ok()),
    };
    let head = vec![
        Line::from(vec![
            Span::styled(format!(" {} ", p.id), t.accent().add_modifier(Modifier::BOLD)),
            Span::styled(format!("{}  ", p.state.label()), t.header()),
            Span::raw(inert(&p.title).into_owned()),
        ]),
        Line::styled(meta, t.dim()),
        Line::styled(verdict, vstyle),
        approvals_line(p, ctx),
    ];
    let bottom_h = if geo.tall { PatchGeometry::EVIDENCE } else { 0 };
    let [h, middle, bottom] =
        Layout::vertical([Constraint::Length(PatchGeometry::HEAD), Constraint::Min(0), Constraint::Length(bottom_h)]).areas(area);
    f.render_widget(Paragraph::new(head).block(titled("Patch", ctx)), h);
    let evidence_focus = view.focus == PatchFocus::Evidence;
    if geo.tall {
        let [ev, risk] = Layout::horizontal([Constraint::Percentage(60), Constraint::Min(0)]).areas(bottom);
        evidence_panel(f, ev, state, p, view, ctx);
        risk_panel(f, risk, p, ctx);
        match live.filter(|_| evidence_focus) {
            Some(v) => output_panel(f, middle, v, ctx),
            None => files_and_diff(f, middle, state, view, ctx),
        }
    } else if evidence_focus {
        let [ev, rest] = Layout::vertical([Constraint::Length(PatchGeometry::EVIDENCE), Constraint::Min(0)]).areas(middle);
        evidence_panel(f, ev, state, p, view, ctx);
        match live {
            Some(v) => output_panel(f, rest, v, ctx),
            None => risk_panel(f, rest, p, ctx),
        }
    } else {
        files_and_diff(f, middle, state, view, ctx);
    }
}

/// Who decided what, and what the tier still needs; a break-glass approval
/// is shown loudly in its place.
fn approvals_line(p: &Patch, ctx: &Ctx) -> Line<'static> {
    use crate::model::Decision;
    let t = ctx.theme;
    if let Some(g) = p.break_glass() {
        return Line::styled(
            format!(" ⚠ BREAK-GLASS by {} ({}): {}", inert(&g.who.name), g.role.label(), inert(&g.comment)),
            t.error().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        );
    }
    let mut spans = vec![Span::styled(" approvals: ", t.dim())];
    if p.approvals.is_empty() {
        spans.push(Span::styled("none yet", t.dim()));
    }
    for (i, a) in p.approvals.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", t.dim()));
        }
        let (sym, style) = match a.decision {
            Decision::Approve => ("✔", t.ok()),
            Decision::Veto => ("✖", t.error()),
            Decision::RequestChanges => ("↺", t.warn()),
            Decision::BreakGlass => ("⚠", t.error()),
        };
        spans.push(Span::styled(format!("{sym} {} ({})", inert(&a.who.name), a.decision.label()), style));
        if !a.comment.is_empty() {
            spans.push(Span::styled(format!(" “{}”", clip(&inert(&a.comment).replace('\n', " "), 40)), t.dim()));
        }
    }
    let tier = p.risk.as_ref().map(|r| r.tier.number());
    if let Some(need) = p.risk.as_ref().and_then(|r| r.tier.approvals_before_canary())
        && need == 0
    {
        let text = if tier == Some(2) {
            " — tier 2: canary without one; a review before promotion"
        } else {
            " — tier 3: may graduate on canary success"
        };
        spans.push(Span::styled(text, t.dim()));
    } else if let Some(need) = p.risk.as_ref().and_then(|r| r.tier.approvals_before_canary()) {
        let have = p.approval_count();
        let text =
            if have >= need { format!(" — {have}/{need} the tier needs") } else { format!(" — needs {}/{need} before a canary", have) };
        spans.push(Span::styled(text, if have >= need { t.ok() } else { t.warn() }));
    } else if p.risk.is_some() {
        spans.push(Span::styled(" — tier 0: observe only", t.dim()));
    }
    Line::from(spans)
}

fn evidence_panel(f: &mut Frame, area: Rect, state: &State, p: &Patch, view: &PatchView, ctx: &Ctx) {
    let focused = view.focus == PatchFocus::Evidence;
    let running = state.verify.as_ref().is_some_and(|v| v.patch == p.id && v.done.is_none());
    let title = if running {
        "Evidence · verifying…"
    } else if focused {
        "Evidence · ↑↓ a step · enter its log · e the diff"
    } else {
        "Evidence · e selects a step"
    };
    let steps = steps_of(p, state);
    let lines = evidence_lines(&steps, focused.then_some(view.step), area.width.saturating_sub(2) as usize, ctx);
    f.render_widget(Paragraph::new(lines).block(titled(title, ctx)), area);
}

fn risk_panel(f: &mut Frame, area: Rect, p: &Patch, ctx: &Ctx) {
    let t = ctx.theme;
    let Some(r) = &p.risk else {
        let msg = " Not assessed. Proposals are scored by the policy when they are made; a patch recorded with `suture verify` is not.";
        f.render_widget(Paragraph::new(msg).style(t.dim()).wrap(Wrap { trim: false }).block(titled("Risk", ctx)), area);
        return;
    };
    let tier = r.tier.number();
    let title = format!("Risk · tier {tier} · score {:.2}", r.score);
    let mut lines = vec![Line::styled(format!(" tier {tier}: {}", tier_meaning(tier)), t.header())];
    if let Some(class) = &r.failure_class {
        lines.push(Line::styled(format!(" failure class: {}", inert(class)), t.dim()));
    }
    for reason in &r.reasons {
        lines.push(Line::from(vec![Span::styled(" • ", t.accent()), Span::raw(inert(reason).into_owned())]));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(titled(&title, ctx)), area);
}

fn output_panel(f: &mut Frame, area: Rect, v: &crate::tui::app::LiveVerify, ctx: &Ctx) {
    let lines: Vec<&str> = v.output.lines().collect();
    let hgt = area.height.saturating_sub(2) as usize;
    let shown: Vec<Line> = lines[lines.len().saturating_sub(hgt)..].iter().map(|l| Line::raw(inert(l).into_owned())).collect();
    let title = match &v.done {
        None => "Output · live".to_string(),
        Some(Ok(s)) => format!("Output · done: {} · e the diff", inert(s)),
        Some(Err(e)) => format!("Output · ✖ {}", inert(e)),
    };
    f.render_widget(Paragraph::new(shown).style(ctx.theme.dim()).block(titled(&title, ctx)), area);
}

/// The file list (when there is more than one file or room for it) and the diff.
fn files_and_diff(f: &mut Frame, area: Rect, state: &State, view: &PatchView, ctx: &Ctx) {
    let t = ctx.theme;
    let layout = view.layout(state.size.0);
    let files = view.doc.as_ref().map(|d| d.files.as_slice()).unwrap_or(&[]);
    if files.len() > 1 || (area.width >= 120 && !files.is_empty()) {
        let longest = files.iter().map(|f| f.path.chars().count() + 12).max().unwrap_or(0);
        let w = (longest as u16 + 2).clamp(20, (area.width / 4).max(20));
        let [list, diff_area] = Layout::horizontal([Constraint::Length(w), Constraint::Min(0)]).areas(area);
        let inner_w = w.saturating_sub(2) as usize;
        let items: Vec<Line> = files
            .iter()
            .enumerate()
            .map(|(i, fd)| {
                let mark = if fd.created {
                    'A'
                } else if fd.deleted {
                    'D'
                } else {
                    'M'
                };
                let counts = format!(" +{} −{}", fd.added, fd.removed);
                let name = clip(&inert(&fd.path), inner_w.saturating_sub(counts.chars().count() + 4));
                let mut l = Line::from(vec![
                    Span::raw(if i == view.file { "▶ " } else { "  " }),
                    Span::styled(format!("{mark} "), t.accent()),
                    Span::raw(name),
                    Span::styled(counts, t.dim()),
                ]);
                if i == view.file {
                    l = l.patch_style(t.selection());
                }
                l
            })
            .collect();
        let title = format!("Files {}", files.len());
        f.render_widget(Paragraph::new(items).block(titled(&title, ctx)), list);
        super::diff::draw(f, diff_area, view, layout, ctx);
    } else {
        super::diff::draw(f, area, view, layout, ctx);
    }
}
