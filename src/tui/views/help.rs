//! The help overlay, generated from the keymap's bindings: everywhere, typing
//! a filter and help; lists, the Incident view and a step's log; the Patch
//! view. Three columns when the screen is wide enough; at 80 columns two, the
//! second for what is on screen, so it fits an 80×24 terminal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{Ctx, centered, titled};
use crate::tui::app::State;
use crate::tui::keymap::Context;

fn section<'a>(context: Context, state: &State, ctx: &'a Ctx) -> Vec<Line<'a>> {
    let t = ctx.theme;
    let mut lines = vec![Line::from(Span::styled(context.title(), t.header()))];
    for b in ctx.keymap.bindings.iter().filter(|b| b.context == context) {
        let keys: Vec<String> = b.keys.iter().map(|k| k.to_string()).collect();
        let mut spans = vec![Span::styled(format!(" {:<17}", keys.join(" ")), t.accent()), Span::raw(b.desc)];
        if b.dangerous {
            spans.push(Span::styled(" ⚠", t.warn()));
            if state.read_only {
                spans.push(Span::styled(" (disabled: read-only)", t.dim()));
            }
        }
        lines.push(Line::from(spans));
    }
    lines
}

pub fn draw(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    let mut global = section(Context::Global, state, ctx);
    for c in [Context::Filter, Context::Help] {
        global.push(Line::from(""));
        global.extend(section(c, state, ctx));
    }
    let column = |contexts: &[Context]| {
        let mut lines = Vec::new();
        for (i, c) in contexts.iter().enumerate() {
            if i > 0 {
                lines.push(Line::from(""));
            }
            lines.extend(section(*c, state, ctx));
        }
        lines
    };
    let views = column(&[Context::List, Context::Incident, Context::Log, Context::LogSearch]);
    let patches = column(&[Context::Patch, Context::Dialog]);
    let logs = column(&[Context::Log, Context::LogSearch]);
    let note = Line::from(Span::styled(" Change keys under [keys] in suture.toml; `suture keys` lists them. ", ctx.theme.dim()));
    // Three columns when there is room; else two, the second for the tab on screen.
    let three = area.width >= 116;
    let two_columns = area.width >= 78;
    let mut columns = if three {
        vec![global, views, patches]
    } else if state.log.is_some() {
        vec![global, logs]
    } else if state.tab == crate::tui::app::Tab::Patches {
        // The filter is the lists' (not open here); the dialog's keys go beside
        // everywhere's so the Patch view's column fits 24 rows.
        let mut first = section(Context::Global, state, ctx);
        for c in [Context::Help, Context::Dialog] {
            first.push(Line::from(""));
            first.extend(section(c, state, ctx));
        }
        vec![first, column(&[Context::Patch])]
    } else {
        vec![global, views]
    };
    if !two_columns {
        let mut all = Vec::new();
        for (i, c) in columns.drain(..).enumerate() {
            if i > 0 {
                all.push(Line::from(""));
            }
            all.extend(c);
        }
        columns = vec![all];
    }
    let body_h = columns.iter().map(Vec::len).max().unwrap_or(0) as u16;
    let width = match columns.len() {
        3 => area.width.saturating_sub(2).min(150),
        2 => 78,
        _ => 44,
    };
    let popup = centered(area, width, body_h + 2);
    f.render_widget(Clear, popup);
    // The note sits in the bottom border, so the keys get every row.
    let block = titled("Help — keys", ctx).style(ctx.theme.base()).title_bottom(note);
    let inner = block.inner(popup);
    f.render_widget(block, popup);
    let n = columns.len() as u32;
    let areas = Layout::horizontal((0..n).map(|_| Constraint::Ratio(1, n))).split(inner);
    for (c, a) in columns.into_iter().zip(areas.iter()) {
        f.render_widget(Paragraph::new(c), *a);
    }
}
