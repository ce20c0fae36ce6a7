//! A step's full log over everything: scrolled with the keys, searched with
//! `/` (matches marked, `n`/`N` between them). Log text is untrusted output
//! and is made inert before it is drawn.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{Ctx, centered, titled};
use crate::tui::app::State;
use crate::tui::widgets::text::inert;

pub fn draw(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    let Some(log) = &state.log else { return };
    let t = ctx.theme;
    let area = centered(area, area.width.saturating_sub(4), area.height.saturating_sub(2));
    f.render_widget(Clear, area);
    let lines = log.lines();
    let hits = log.matches();
    let [body, bar] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
    let title = format!("Log · {}", log.title);
    let inner_h = body.height.saturating_sub(2) as usize;
    let content: Vec<Line> = match &log.text {
        None => vec![Line::styled(" loading…", t.dim())],
        Some(Err(e)) => vec![Line::styled(format!(" ✖ {}", inert(e)), t.error())],
        Some(Ok(_)) => {
            let q = log.query.to_lowercase();
            lines
                .iter()
                .enumerate()
                .skip(log.scroll)
                .take(inner_h)
                .map(|(i, l)| {
                    let text = inert(l).into_owned();
                    let num = Span::styled(format!("{:>5} ", i + 1), t.dim());
                    if q.is_empty() || !hits.contains(&i) {
                        return Line::from(vec![num, Span::raw(text)]);
                    }
                    let mark = if log.hit == Some(i) {
                        t.selection().add_modifier(Modifier::BOLD)
                    } else {
                        t.warn().add_modifier(Modifier::REVERSED)
                    };
                    let mut spans = vec![num];
                    let lower = text.to_lowercase();
                    let mut at = 0;
                    // Lower-casing can change lengths outside ASCII; mark only when it did not.
                    if lower.len() == text.len() {
                        while let Some(pos) = lower[at..].find(&q) {
                            let start = at + pos;
                            spans.push(Span::raw(text[at..start].to_string()));
                            spans.push(Span::styled(text[start..start + q.len()].to_string(), mark));
                            at = start + q.len();
                        }
                    }
                    spans.push(Span::raw(text[at..].to_string()));
                    Line::from(spans)
                })
                .collect()
        }
    };
    f.render_widget(Paragraph::new(content).block(titled(&title, ctx)), body);
    let pos = format!(" lines {}–{} of {}", (log.scroll + 1).min(lines.len()), (log.scroll + inner_h).min(lines.len()), lines.len());
    let search = if log.searching {
        format!("  /{}▏", inert(&log.query))
    } else if !log.query.is_empty() {
        let n = log.hit.and_then(|h| hits.iter().position(|x| *x == h)).map(|i| i + 1).unwrap_or(0);
        format!("  “{}”: {} of {} matching lines", inert(&log.query), n, hits.len())
    } else {
        String::new()
    };
    f.render_widget(Paragraph::new(Line::from(vec![Span::styled(pos, t.dim()), Span::styled(search, t.accent())])).style(t.base()), bar);
}
