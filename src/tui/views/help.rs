//! The help overlay, generated from the keymap's bindings. Two columns when
//! the screen is wide enough, so it fits an 80×24 terminal: everywhere, typing
//! a filter and help on the left; lists and the Incident view on the right.

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
        let mut spans = vec![Span::styled(format!(" {:<14}", keys.join(" ")), t.accent()), Span::raw(b.desc)];
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
    let mut rest = section(Context::List, state, ctx);
    rest.push(Line::from(""));
    rest.extend(section(Context::Incident, state, ctx));
    let note = Line::from(Span::styled("Change keys under [keys] in suture.toml; `suture keys` lists them.", ctx.theme.dim()));
    let two_columns = area.width >= 76;
    let body_h = if two_columns { global.len().max(rest.len()) } else { global.len() + 1 + rest.len() } as u16;
    let width = if two_columns { 76 } else { 44 };
    let popup = centered(area, width, body_h + 4);
    f.render_widget(Clear, popup);
    let block = titled("Help — keys", ctx).style(ctx.theme.base());
    let inner = block.inner(popup);
    f.render_widget(block, popup);
    let [body, gap, foot] = Layout::vertical([Constraint::Length(body_h), Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let _ = gap;
    if two_columns {
        let [l, r] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
        f.render_widget(Paragraph::new(global), l);
        f.render_widget(Paragraph::new(rest), r);
    } else {
        let mut all = global;
        all.push(Line::from(""));
        all.extend(rest);
        f.render_widget(Paragraph::new(all), body);
    }
    f.render_widget(Paragraph::new(note), foot);
}
