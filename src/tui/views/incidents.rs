//! The Incidents tab: the ranked table with 24-hour sparklines, the filter
//! line, and the selected incident's summary. An open incident is drawn by
//! [`super::incident`] instead.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, TableState, Wrap};

use super::{Ctx, titled};
use crate::model::{Incident, IncidentStatus};
use crate::triage::cluster::rebucket;
use crate::tui::app::{SortKey, State, Tab};
use crate::tui::widgets::text::{ago, clip, count, datetime, inert, sparkline};

const DAY: i64 = 86_400_000;

pub fn draw(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    if state.loading {
        f.render_widget(Paragraph::new(" Loading incidents from the store…").style(ctx.theme.dim()), area);
        return;
    }
    if state.view.is_some() {
        super::incident::draw(f, area, state, ctx);
        return;
    }
    if state.incidents.is_empty() {
        let text = " No incidents. The store holds no error events yet.\n\n Ingest events with `suture ingest FILE` (Sentry event JSON, one per line), \
                    or run `suture` without --store to open the demo world.";
        f.render_widget(Paragraph::new(text).style(ctx.theme.dim()).wrap(Wrap { trim: false }), area);
        return;
    }
    let side_by_side = area.width >= 200;
    let (list, detail) = if side_by_side {
        let [l, d] = Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(area);
        (l, d)
    } else {
        let detail_h = match area.height {
            40.. => 12,
            18.. => 9,
            _ => 0,
        };
        let [l, d] = Layout::vertical([Constraint::Min(3), Constraint::Length(detail_h)]).areas(area);
        (l, d)
    };
    let list = if state.filtering || !state.filter.is_empty() {
        let [line, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(list);
        filter_line(f, line, state, ctx);
        rest
    } else {
        list
    };
    table(f, list, state, ctx);
    if detail.height > 0
        && let Some(inc) = state.selected_incident()
    {
        summary(f, detail, inc, state, ctx);
    }
}

/// `/ pay█` while typing; `filter: pay · 2 of 8 · esc clears` once kept.
fn filter_line(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    let t = ctx.theme;
    let shown = format!("{} of {}", state.visible.len(), state.incidents.len());
    let text = inert(&state.filter).into_owned();
    let line = if state.filtering {
        Line::from(vec![
            Span::styled(" / ", t.accent()),
            Span::raw(text),
            Span::styled("█", t.accent()),
            Span::styled(format!("  {shown} · enter keeps · esc clears"), t.dim()),
        ])
    } else {
        Line::from(vec![
            Span::styled(" filter: ", t.dim()),
            Span::styled(text, t.accent()),
            Span::styled(format!("  {shown} · esc clears"), t.dim()),
        ])
    };
    f.render_widget(Paragraph::new(line), area);
}

/// The sort as the table title says it: `by priority ↓`.
fn sort_label(state: &State) -> String {
    format!("by {} {}", state.sort.label(), if state.sort_reversed { "↑" } else { "↓" })
}

fn table(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    let t = ctx.theme;
    let now = state.now();
    let wide = area.width >= 90;
    let spark_w: u16 = if wide { 24 } else { 12 };
    let count_label = if state.visible.len() == state.incidents.len() {
        state.incidents.len().to_string()
    } else {
        format!("{} of {}", state.visible.len(), state.incidents.len())
    };
    let title = format!("Incidents ({count_label}) — {}", sort_label(state));
    let rows: Vec<Row> = state
        .visible
        .iter()
        .filter_map(|i| state.incidents.get(*i))
        .enumerate()
        .map(|(i, inc)| {
            let buckets = rebucket(inc, now - DAY, now + 1, spark_w as usize);
            let mut title_spans = Vec::new();
            let (sym, style) = status_symbol(inc);
            title_spans.push(Span::styled(format!("{sym} "), style(t)));
            if inc.new_since_deploy {
                title_spans.push(Span::styled("new ", t.warn()));
            }
            title_spans.push(Span::raw(inert(&inc.title).into_owned()));
            let mut cells = vec![Line::from(format!("{}", i + 1)).right_aligned(), Line::from(title_spans)];
            if wide {
                cells.insert(1, Line::from(Span::styled(inc.id.clone(), t.dim())));
                cells.push(Line::from(Span::styled(inert(inc.culprit.as_deref().unwrap_or("—")).into_owned(), t.dim())));
            }
            cells.push(Line::from(count(inc.count)).right_aligned());
            cells.push(Line::from(count(inc.users)).right_aligned());
            cells.push(Line::from(Span::styled(sparkline(&buckets), t.spark())));
            let seen = if state.sort == SortKey::FirstSeen { inc.first_seen } else { inc.last_seen };
            cells.push(Line::from(ago(seen, now)).right_aligned());
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![Constraint::Length(3), Constraint::Fill(3)];
    let mut header = vec!["#", "Incident"];
    if wide {
        widths.insert(1, Constraint::Length(10));
        header.insert(1, "ID");
        widths.push(Constraint::Fill(2));
        header.push("Culprit");
    }
    widths.extend([Constraint::Length(7), Constraint::Length(6), Constraint::Length(spark_w), Constraint::Length(8)]);
    header.extend(["Events", "Users", "Last 24h", "Seen"]);
    let arrow = if state.sort_reversed { "↑" } else { "↓" };
    let marked = match state.sort {
        SortKey::Priority => "#",
        SortKey::Events => "Events",
        SortKey::Users => "Users",
        SortKey::LastSeen | SortKey::FirstSeen => "Seen",
    };
    let header: Vec<String> = header
        .into_iter()
        .map(|h| match (h == marked, state.sort) {
            (true, SortKey::FirstSeen) => format!("First{arrow}"),
            (true, _) => format!("{h}{arrow}"),
            _ => h.to_string(),
        })
        .collect();
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.header()))
        .row_highlight_style(t.selection())
        .highlight_symbol("▶")
        .column_spacing(1)
        .block(titled(&title, ctx));
    let mut ts = TableState::default().with_selected(Some(state.selected(Tab::Incidents)));
    f.render_stateful_widget(table, area, &mut ts);
}

pub(super) type StyleFn = fn(&crate::tui::theme::Theme) -> ratatui::style::Style;

/// A symbol for the status, so it never rests on colour alone.
pub(super) fn status_symbol(inc: &Incident) -> (&'static str, StyleFn) {
    match inc.status {
        IncidentStatus::Open => ("●", |t| t.error()),
        IncidentStatus::Regressed => ("↺", |t| t.error()),
        IncidentStatus::Mitigated => ("◐", |t| t.warn()),
        IncidentStatus::Resolved => ("✔", |t| t.ok()),
        IncidentStatus::Ignored => ("○", |t| t.dim()),
    }
}

fn summary(f: &mut Frame, area: Rect, inc: &Incident, state: &State, ctx: &Ctx) {
    let t = ctx.theme;
    let label = |s: &str| Span::styled(format!("{s} "), t.dim());
    let list = |v: &[String]| if v.is_empty() { "—".to_string() } else { inert(&v.join(", ")).into_owned() };
    let factors: Vec<String> = inc.score_factors.iter().filter(|(_, p)| *p > 0.0).map(|(n, p)| format!("{n} {p:.1}")).collect();
    let width = area.width.saturating_sub(4) as usize;
    let lines = vec![
        Line::from(Span::styled(clip(&inert(&inc.title), width), t.header())),
        Line::from(vec![label("in"), Span::raw(inert(inc.culprit.as_deref().unwrap_or("no in-app frame")).into_owned())]),
        Line::from(vec![
            label("status"),
            Span::raw(format!("{} {}  ", status_symbol(inc).0, inc.status.label())),
            label("score"),
            Span::raw(format!("{:.1} = {}", inc.score, factors.join(" + "))),
        ]),
        Line::from(vec![
            label("events"),
            Span::raw(format!("{}  ", count(inc.count))),
            label("users"),
            Span::raw(format!("{}  ", count(inc.users))),
            label("first"),
            Span::raw(format!("{}  ", datetime(inc.first_seen))),
            label("last"),
            Span::raw(format!("{} ({})", datetime(inc.last_seen), ago(inc.last_seen, state.now()))),
        ]),
        Line::from(vec![label("tenants"), Span::raw(list(&inc.tenants)), Span::raw("  "), label("regions"), Span::raw(list(&inc.regions))]),
        Line::from(vec![label("releases"), Span::raw(list(&inc.releases))]),
        Line::from(vec![label("grouped by"), Span::raw(inert(&inc.grouping.join(" + ")).into_owned())]),
        Line::from(Span::styled(
            "Enter opens the incident; R there runs its repro. Patch candidates are not built yet in this version.",
            t.dim(),
        )),
    ];
    let title = format!("{} — summary", inc.id);
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(titled(&title, ctx)), area);
}
