//! The Audit tab: the hash-chained log and whether it verifies.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, TableState};

use super::{Ctx, titled};
use crate::tui::app::{State, Tab};
use crate::tui::widgets::text::{inert, plural};

/// `11-20 14:03:07` (UTC): the audit log spans days, not years.
fn short_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.strftime("%m-%d %H:%M:%S").to_string()).unwrap_or_else(|_| "?".into())
}

pub fn draw(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    let t = ctx.theme;
    let [status, filter, list] = Layout::vertical([Constraint::Length(1), Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let last = state.audit.last().map_or(0, |e| e.seq);
    let line = match &state.chain {
        None => Line::from(Span::styled(" verifying the chain…", t.dim())),
        Some(Ok(n)) => Line::from(vec![
            Span::styled(format!(" ✔ verified to #{last}"), t.ok().add_modifier(ratatui::style::Modifier::BOLD)),
            Span::styled(
                format!(
                    " · {}: sha256 chain, every ed25519 signature checked against the keyring, signed head",
                    plural(*n, "entry", "entries")
                ),
                t.dim(),
            ),
        ]),
        Some(Err(e)) => {
            let at = e.strip_prefix("entry #").and_then(|r| r.split(':').next()).unwrap_or("?");
            Line::from(vec![
                Span::styled(
                    format!(" ✖ broken at #{at}"),
                    t.error().add_modifier(ratatui::style::Modifier::BOLD | ratatui::style::Modifier::REVERSED),
                ),
                Span::styled(format!(" {}", inert(e)), t.error()),
            ])
        }
    };
    f.render_widget(Paragraph::new(line), status);
    let shown = state.audit_rows();
    let filter_line = if state.audit_filtering || !state.audit_filter.is_empty() {
        Line::from(vec![
            Span::styled(" filter: ", t.accent()),
            Span::raw(inert(&state.audit_filter).into_owned()),
            Span::styled(if state.audit_filtering { "▏" } else { "" }, t.accent()),
            Span::styled(format!("  {} of {}", shown.len(), state.audit.len()), t.dim()),
        ])
    } else {
        Line::styled(" / filters: patch:ID incident:ID actor:NAME or any text", t.dim())
    };
    f.render_widget(Paragraph::new(filter_line), filter);
    let rows: Vec<Row> = shown
        .iter()
        .map(|e| {
            let row = Row::new(vec![
                e.seq.to_string(),
                short_time(e.at),
                inert(&e.actor).into_owned(),
                inert(&e.action).into_owned(),
                inert(&e.subject).into_owned(),
                e.hash.chars().take(10).collect(),
            ]);
            if e.action == "break-glass" { row.style(t.error().add_modifier(ratatui::style::Modifier::BOLD)) } else { row }
        })
        .collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Length(14),
        Constraint::Length(16),
        Constraint::Length(14),
        Constraint::Fill(1),
        Constraint::Length(10),
    ];
    let title = format!("Audit log ({}, newest first)", plural(shown.len(), "entry", "entries"));
    let table = Table::new(rows, widths)
        .header(Row::new(["Seq", "Time", "Actor", "Action", "Subject", "Hash"]).style(t.header()))
        .row_highlight_style(t.selection())
        .highlight_symbol("▶")
        .block(titled(&title, ctx));
    let mut ts = TableState::default().with_selected(Some(state.selected(Tab::Audit)));
    f.render_stateful_widget(table, list, &mut ts);
}
