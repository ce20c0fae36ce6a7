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
use crate::tui::app::{State, Tab};
use crate::tui::widgets::text::{clip, datetime, inert};
use crate::verify::service::step_letter;

pub fn draw(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    if let Some(view) = &state.patch_view {
        match state.patches.iter().find(|p| p.id == view.id) {
            Some(p) => return patch_view(f, area, state, p, view.step, ctx),
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
    // Below 120 columns the proposer and the time give way to the title.
    let wide = area.width >= 120;
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
            if wide {
                cells.push(p.proposer.name.clone());
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
    if wide {
        widths.extend([Constraint::Length(14), Constraint::Length(20)]);
        header.extend(["Proposer", "Created"]);
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

fn patch_view(f: &mut Frame, area: Rect, state: &State, p: &Patch, step: usize, ctx: &Ctx) {
    let t = ctx.theme;
    let live = state.verify.as_ref().filter(|v| v.patch == p.id);
    let running = live.is_some_and(|v| v.done.is_none());
    let mut head = vec![
        Line::from(vec![
            Span::styled(format!(" {} ", p.id), t.accent().add_modifier(Modifier::BOLD)),
            Span::styled(format!("{}  ", p.state.label()), t.header()),
            Span::raw(inert(&p.title).into_owned()),
        ]),
        Line::styled(
            format!(
                " proposed by {} · {} · incident {} · base {}",
                p.proposer.name,
                datetime(p.created),
                p.incident_id.as_deref().unwrap_or("—"),
                clip(&p.base_rev, 24)
            ),
            t.dim(),
        ),
        Line::styled(format!(" files: {}", p.files.join(", ")), t.dim()),
    ];
    if let Some(r) = &p.verification {
        let verdict = if !r.proves_fix() {
            "✖ no proof: the repro must fail on the base and pass when patched"
        } else if r.has_failures() {
            "✖ a gauntlet step failed"
        } else if r.is_flaky() {
            "⚠ flaky evidence: never applied automatically"
        } else {
            "✔ proven: fails before, passes after, every step held"
        };
        head.push(Line::styled(
            format!(" {verdict}"),
            if verdict.starts_with('✔') {
                t.ok()
            } else if verdict.starts_with('⚠') {
                t.warn()
            } else {
                t.error()
            },
        ));
    }
    let [h, ev, out] = Layout::vertical([Constraint::Length(head.len() as u16 + 2), Constraint::Length(9), Constraint::Min(0)]).areas(area);
    f.render_widget(Paragraph::new(head).block(titled("Patch", ctx)), h);
    let steps = steps_of(p, state);
    let title = if running { "Evidence · verifying…".to_string() } else { "Evidence · ↑↓ a step · enter its log".to_string() };
    f.render_widget(
        Paragraph::new(evidence_lines(&steps, Some(step), ev.width.saturating_sub(2) as usize, ctx)).block(titled(&title, ctx)),
        ev,
    );
    match live {
        Some(v) => {
            let lines: Vec<&str> = v.output.lines().collect();
            let hgt = out.height.saturating_sub(2) as usize;
            let shown: Vec<Line> = lines[lines.len().saturating_sub(hgt)..].iter().map(|l| Line::raw(inert(l).into_owned())).collect();
            let title = match &v.done {
                None => "Output · live".to_string(),
                Some(Ok(s)) => format!("Output · done: {}", inert(s)),
                Some(Err(e)) => format!("Output · ✖ {}", inert(e)),
            };
            f.render_widget(Paragraph::new(shown).style(t.dim()).block(titled(&title, ctx)), out);
        }
        None => {
            let diff: Vec<Line> = p
                .diff
                .lines()
                .take(out.height.saturating_sub(2) as usize)
                .map(|l| {
                    let s = inert(l).into_owned();
                    if l.starts_with('+') && !l.starts_with("+++") {
                        Line::styled(s, t.ok())
                    } else if l.starts_with('-') && !l.starts_with("---") {
                        Line::styled(s, t.error())
                    } else if l.starts_with("@@") {
                        Line::styled(s, t.accent())
                    } else {
                        Line::raw(s)
                    }
                })
                .collect();
            f.render_widget(Paragraph::new(diff).block(titled("Diff", ctx)), out);
        }
    }
}
