//! The approve / veto / request-changes / break-glass dialog, over the review
//! screen: what is being decided, the comment editor (ratatui-textarea), the
//! typed confirmation when the action needs one, and why a submission was
//! refused (the text stays as typed).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{Ctx, centered, titled};
use crate::tui::app::{DialogKind, State};
use crate::tui::widgets::text::inert;

pub fn draw(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    let Some(d) = &state.dialog else { return };
    let t = ctx.theme;
    // Production changes and break-glass: a warning and a typed confirmation.
    let glass = d.confirm.is_some();
    let height = if glass { 17 } else { 13 };
    let rect = centered(area, 76, height);
    f.render_widget(Clear, rect);
    let title = match &d.rollout {
        Some(r) => format!("{} · rollout {} · patch {}", d.kind.title(), inert(r), d.patch),
        None => format!("{} · patch {}", d.kind.title(), d.patch),
    };
    let block = if glass { titled(&title, ctx).border_style(t.error()) } else { titled(&title, ctx) };
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let rows = if glass {
        vec![
            Constraint::Length(1),
            Constraint::Length(2),
            Constraint::Min(3),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ]
    } else {
        vec![
            Constraint::Length(1),
            Constraint::Length(0),
            Constraint::Min(3),
            Constraint::Length(0),
            Constraint::Length(1),
            Constraint::Length(1),
        ]
    };
    let [what, warning, editor, confirm, error, hints] = Layout::vertical(rows).areas(inner);
    let who = state.me.as_ref().map(|m| format!(" as {} ({})", m.name, m.role.label())).unwrap_or_default();
    f.render_widget(
        Paragraph::new(Line::from(vec![Span::styled(format!(" {}", inert(&d.patch_title)), t.header()), Span::styled(who, t.dim())])),
        what,
    );
    if glass {
        let warning_text = match d.kind {
            DialogKind::Promote => " Every request goes to the patched version, which becomes the stable one. Recorded, signed.",
            DialogKind::Abort => {
                " Every request goes back to the stable version now, the patch's kill switch is thrown and the patch is rolled back."
            }
            DialogKind::KillSwitch => {
                " ⚠ The patch's kill switch is thrown now: its code is off in every process within a second, and the rollout is aborted."
            }
            _ => {
                " ⚠ BREAK-GLASS stands in for every approval this patch's tier needs. It is marked loudly in the audit log, \
                 the review screen and the post-mortem."
            }
        };
        f.render_widget(
            Paragraph::new(Line::styled(warning_text, t.error().add_modifier(Modifier::BOLD))).wrap(Wrap { trim: true }),
            warning,
        );
    }
    let (label, _) = d.kind.text_label();
    let focused = !d.on_confirm;
    let edit_block = Block::bordered()
        .border_style(if focused { t.accent() } else { t.border() })
        .title(Span::styled(format!(" {label} "), if focused { t.accent() } else { t.dim() }));
    let edit_inner = edit_block.inner(editor);
    f.render_widget(edit_block, editor);
    f.render_widget(&d.editor, edit_inner);
    if let Some(typed) = &d.confirm {
        let style = if d.on_confirm { t.accent() } else { t.dim() };
        let ok = typed.trim() == d.confirm_word();
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!(" type {} to confirm: ", d.confirm_word()), style),
                Span::styled(inert(typed).into_owned(), if ok { t.ok() } else { t.base() }),
                Span::styled(if d.on_confirm { "▏" } else { "" }, t.accent()),
                Span::styled(if ok { "  ✔" } else { "" }, t.ok()),
            ])),
            confirm,
        );
    }
    let status = match (&d.error, d.request) {
        (_, Some(_)) => Line::styled(" recording…", t.dim()),
        (Some(e), None) => Line::styled(format!(" ✖ {}", inert(e)), t.error()),
        (None, None) => Line::raw(""),
    };
    f.render_widget(Paragraph::new(status).wrap(Wrap { trim: true }), error);
    let mut keys = vec![(" enter", " record "), (" alt+enter", " new line ")];
    if d.confirm.is_some() {
        keys.push((" tab", " comment/confirmation "));
    }
    keys.push((" esc", " cancel"));
    let spans: Vec<Span> = keys.into_iter().flat_map(|(k, v)| [Span::styled(k, t.accent()), Span::styled(v, t.dim())]).collect();
    f.render_widget(Paragraph::new(Line::from(spans)), hints);
}
