//! Tabs whose pipeline stages are not built yet say so plainly, and show what
//! the store holds when it holds something.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Paragraph, Row, Table, TableState, Wrap};

use super::{Ctx, titled};
use crate::tui::app::{State, Tab};
use crate::tui::widgets::text::{datetime, inert};

pub fn patches(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    if state.patches.is_empty() {
        let text = "\n No patches yet.\n\n Candidate patches are proposed from an incident (built-in repair templates or an LLM), \
                    verified by the gauntlet and reviewed here.\n\n Proposing patches is not built yet in this version of Suture.";
        f.render_widget(Paragraph::new(text).style(ctx.theme.dim()).wrap(Wrap { trim: false }).block(titled("Patches", ctx)), area);
        return;
    }
    let rows: Vec<Row> = state
        .patches
        .iter()
        .map(|p| {
            let tier = p.risk.as_ref().map(|r| format!("T{}", r.tier.number())).unwrap_or_else(|| "—".into());
            Row::new(vec![p.id.clone(), p.state.label(), tier, inert(&p.title).into_owned(), p.proposer.name.clone(), datetime(p.created)])
        })
        .collect();
    let widths = [
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(4),
        Constraint::Fill(1),
        Constraint::Length(18),
        Constraint::Length(20),
    ];
    let table = Table::new(rows, widths)
        .header(Row::new(["Patch", "State", "Tier", "Title", "Proposer", "Created"]).style(ctx.theme.header()))
        .row_highlight_style(ctx.theme.selection())
        .highlight_symbol("▶")
        .block(titled("Patches", ctx));
    let mut ts = TableState::default().with_selected(Some(state.selected(Tab::Patches)));
    f.render_stateful_widget(table, area, &mut ts);
}

pub fn rollouts(f: &mut Frame, area: Rect, ctx: &Ctx) {
    let text = "\n No rollouts.\n\n Approved patches go out here step by step by canary, judged against the baseline on real \
                measurements, with promote, pause, abort and a kill switch.\n\n Delivery is not built yet in this version of Suture.";
    f.render_widget(Paragraph::new(text).style(ctx.theme.dim()).wrap(Wrap { trim: false }).block(titled("Rollouts", ctx)), area);
}
