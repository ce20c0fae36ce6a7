//! The help overlay, generated from the keymap's bindings.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{Ctx, centered, titled};
use crate::tui::app::State;
use crate::tui::keymap::Context;

pub fn draw(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    let t = ctx.theme;
    let mut lines = Vec::new();
    for context in [Context::Global, Context::List, Context::Help] {
        lines.push(Line::from(Span::styled(context.title(), t.header())));
        for b in ctx.keymap.bindings.iter().filter(|b| b.context == context) {
            let keys: Vec<String> = b.keys.iter().map(|k| k.to_string()).collect();
            let mut spans = vec![Span::styled(format!("  {:<22}", keys.join(" ")), t.accent()), Span::raw(b.desc)];
            if b.dangerous {
                spans.push(Span::styled(" ⚠ changes state", t.warn()));
                if state.read_only {
                    spans.push(Span::styled(" (disabled: read-only)", t.dim()));
                }
            }
            lines.push(Line::from(spans));
        }
        lines.push(Line::from(""));
    }
    lines.push(Line::from(Span::styled("Keys can be changed under [keys] in suture.toml.", t.dim())));
    let h = lines.len() as u16 + 2;
    let popup = centered(area, 64, h);
    f.render_widget(Clear, popup);
    f.render_widget(Paragraph::new(lines).style(t.base()).block(titled("Help — keys", ctx)), popup);
}
