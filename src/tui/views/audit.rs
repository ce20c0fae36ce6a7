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
    let [status, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let line = match &state.chain {
        None => Line::from(Span::styled(" verifying the chain…", t.dim())),
        Some(Ok(n)) => Line::from(vec![
            Span::styled(format!(" ✔ chain verified: {}, sha256-linked", plural(*n, "entry", "entries")), t.ok()),
            Span::styled(" · signatures: not built yet in this version", t.dim()),
        ]),
        Some(Err(e)) => Line::from(Span::styled(format!(" ✖ chain broken: {}", inert(e)), t.error())),
    };
    f.render_widget(Paragraph::new(line), status);
    let rows: Vec<Row> = state
        .audit
        .iter()
        .rev()
        .map(|e| {
            Row::new(vec![
                e.seq.to_string(),
                short_time(e.at),
                inert(&e.actor).into_owned(),
                inert(&e.action).into_owned(),
                inert(&e.subject).into_owned(),
                e.hash.chars().take(10).collect(),
            ])
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
    let title = format!("Audit log ({}, newest first)", plural(state.audit.len(), "entry", "entries"));
    let table = Table::new(rows, widths)
        .header(Row::new(["Seq", "Time", "Actor", "Action", "Subject", "Hash"]).style(t.header()))
        .row_highlight_style(t.selection())
        .highlight_symbol("▶")
        .block(titled(&title, ctx));
    let mut ts = TableState::default().with_selected(Some(state.selected(Tab::Audit)));
    f.render_stateful_widget(table, list, &mut ts);
}
