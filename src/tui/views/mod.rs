//! Views: pure functions from [`State`] to a frame. They never change state
//! and never do IO. Every string that came from outside goes through
//! [`inert`](crate::tui::widgets::text::inert) before it is drawn.

mod audit;
mod dialog;
mod diff;
mod help;
mod incident;
mod incidents;
mod log;
mod patches;
mod rollouts;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::app::{State, Tab};
use super::keymap::{Context, Keymap};
use super::theme::Theme;

/// Everything a view needs besides the state.
pub struct Ctx<'a> {
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    /// What the review screen has highlighted so far: a memo that changes
    /// how fast a frame is drawn, never what it shows.
    pub review: &'a std::cell::RefCell<crate::review::hl::DocCache>,
}

pub fn draw(f: &mut Frame, state: &State, ctx: &Ctx) {
    let area = f.area();
    f.render_widget(Block::new().style(ctx.theme.base()), area);
    let [top, body, bottom] = Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(area);
    header(f, top, state, ctx);
    if let Some(err) = &state.error {
        let msg = format!("✖ cannot read the store: {}", super::widgets::text::inert(err));
        f.render_widget(Paragraph::new(msg).style(ctx.theme.error()), body);
    } else {
        match state.tab {
            Tab::Incidents => incidents::draw(f, body, state, ctx),
            Tab::Patches => patches::draw(f, body, state, ctx),
            Tab::Rollouts => rollouts::draw(f, body, state, ctx),
            Tab::Audit => audit::draw(f, body, state, ctx),
        }
    }
    footer(f, bottom, state, ctx);
    if state.log.is_some() {
        log::draw(f, body, state, ctx);
    }
    if state.dialog.is_some() {
        dialog::draw(f, body, state, ctx);
    }
    if state.help {
        help::draw(f, area, state, ctx);
    }
}

fn header(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    let t = ctx.theme;
    let mut spans = vec![Span::styled(" suture ", t.accent().add_modifier(Modifier::BOLD)), Span::styled("│", t.border())];
    for (i, tab) in Tab::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, tab.title());
        let style = if *tab == state.tab { t.tab_active() } else { t.dim() };
        spans.push(Span::styled(label, style));
    }
    let mut right = Vec::new();
    let left_width: usize = spans.iter().map(|s| s.width()).sum();
    if let Some(me) = &state.me {
        // Who is at the keyboard, when the tabs leave room for it.
        let who = Span::styled(format!(" {} · {} ", super::widgets::text::inert(&me.name), me.role.label()), t.dim());
        let rest = state.environment.chars().count() + 2 + if state.read_only { 12 } else { 0 };
        if left_width + who.width() + rest <= area.width as usize {
            right.push(who);
        }
    }
    if state.read_only {
        right.push(Span::styled(" READ-ONLY ", t.tab_active()));
        right.push(Span::raw(" "));
    }
    right.push(Span::styled(format!(" {} ", state.environment), t.banner()));
    let right_width: u16 = right.iter().map(|s| s.width() as u16).sum();
    let [left_area, right_area] = Layout::horizontal([Constraint::Min(0), Constraint::Length(right_width)]).areas(area);
    f.render_widget(Paragraph::new(Line::from(spans)), left_area);
    f.render_widget(Paragraph::new(Line::from(right)), right_area);
}

fn footer(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    let t = ctx.theme;
    let context = state.key_context();
    let contexts: &[Context] = match context {
        Context::Help | Context::Filter | Context::LogSearch | Context::Log | Context::Dialog => &[context],
        _ => &[Context::Global, context],
    };
    let mut spans = Vec::new();
    if let Some(status) = &state.status {
        spans.push(Span::styled(format!(" {status} "), t.warn()));
        spans.push(Span::styled("│", t.border()));
    }
    for (keys, desc) in ctx.keymap.hints(contexts) {
        spans.push(Span::styled(format!(" {keys}"), t.accent()));
        spans.push(Span::styled(format!(" {desc} "), t.dim()));
    }
    let line = Line::from(spans);
    let info = format!(" {} events · {} ", super::widgets::text::count(state.events), state.store_label);
    let info_w = (info.chars().count() as u16).min(area.width / 3);
    let [l, r] = Layout::horizontal([Constraint::Min(0), Constraint::Length(info_w)]).areas(area);
    f.render_widget(Paragraph::new(line), l);
    f.render_widget(Paragraph::new(super::widgets::text::clip(&info, info_w as usize)).style(t.dim()), r);
}

/// A centred rectangle of at most `w`×`h` inside `area`.
pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

pub(super) fn titled<'a>(title: &'a str, ctx: &Ctx) -> Block<'a> {
    Block::bordered().border_style(ctx.theme.border()).title(Span::styled(format!(" {title} "), ctx.theme.header())).style(Style::new())
}
