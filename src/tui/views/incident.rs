//! The Incident view: one incident in full, opened with Enter from the table.
//!
//! - a header: status, title, id, service, counts, users, first and last
//!   seen, and the score with every factor (zero ones dimmed);
//! - the stack trace: the escaping exception first, then the exceptions it
//!   was chained from, each innermost frame first. In-app frames carry `◆`,
//!   library frames `·` and are dimmed (state never rests on colour alone);
//!   library frames are collapsed into one row until `f` shows them;
//! - the selected frame's source, highlighted, from the source tree when the
//!   file is there, else the event's own context, and the panel says which;
//! - dimensions (services, tenants, regions, releases with "new since
//!   deploy", flags, the event's tags), a timeline (the per-minute rate over
//!   the incident's life with deploys marked, and when each release first
//!   showed it), and why the events were grouped (the fingerprint's
//!   components and the grouping version).
//!
//! At 120 columns and 30 rows or more everything is on one screen: trace over
//! source on the left, the rest on the right. Below that the panels stack and
//! `d` switches between trace-and-source and the details, so 80×24 stays
//! usable. Every string from an event or a source file goes through `inert`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph, Wrap};

use super::incidents::status_symbol;
use super::{Ctx, titled};
use crate::inspect::{FrameSource, IncidentDetail, short_release};
use crate::model::{ErrorEvent, Incident, Millis};
use crate::triage::cluster::rebucket;
use crate::triage::fingerprint::version_of;
use crate::tui::app::trace::{self, Row};
use crate::tui::app::{IncidentView, Pane, State};
use crate::tui::widgets::text::{ago, clip, count, datetime, inert, sparkline};

pub fn draw(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    let Some(view) = &state.view else { return };
    let area = match state.repro.as_ref().filter(|p| p.incident == view.id) {
        Some(panel) => {
            let h = (area.height / 3).clamp(5, 14);
            let [top, bottom] = Layout::vertical([Constraint::Min(0), Constraint::Length(h)]).areas(area);
            repro_panel(f, bottom, panel, ctx);
            top
        }
        None => area,
    };
    let t = ctx.theme;
    let detail = match &view.detail {
        None => {
            let msg = format!(" Loading {}…", view.id);
            f.render_widget(Paragraph::new(msg).style(t.dim()).block(titled(&view.id, ctx)), area);
            return;
        }
        Some(Err(e)) => {
            let msg = format!(" ✖ cannot load {}: {}\n\n esc goes back to the incidents.", view.id, inert(e));
            f.render_widget(Paragraph::new(msg).style(t.error()).wrap(Wrap { trim: false }).block(titled(&view.id, ctx)), area);
            return;
        }
        Some(Ok(d)) => d,
    };
    if state.incident_wide() {
        let [head, rest] = Layout::vertical([Constraint::Length(6), Constraint::Min(0)]).areas(area);
        f.render_widget(Paragraph::new(header(detail, state, ctx, true)).block(titled(&view.id, ctx)), head);
        let [left, right] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(rest);
        let rows = view.rows().len() as u16;
        let trace_h = (rows + 2).clamp(6, left.height / 2);
        let [tr, src] = Layout::vertical([Constraint::Length(trace_h), Constraint::Min(0)]).areas(left);
        trace_panel(f, tr, view, detail, ctx);
        source_panel(f, src, view, detail, ctx);
        let dims = dimensions(detail, ctx);
        let mut timeline = timeline(detail, right.width.saturating_sub(2) as usize, ctx);
        timeline.extend(mitigations(detail, state, ctx));
        let [d, tl, g] = Layout::vertical([
            Constraint::Length(dims.len() as u16 + 2),
            Constraint::Length(timeline.len() as u16 + 2),
            Constraint::Min(0),
        ])
        .areas(right);
        f.render_widget(Paragraph::new(dims).block(titled("Dimensions", ctx)), d);
        f.render_widget(Paragraph::new(timeline).block(titled("Timeline", ctx)), tl);
        f.render_widget(Paragraph::new(why_grouped(detail, ctx)).wrap(Wrap { trim: false }).block(titled("Why grouped", ctx)), g);
        return;
    }
    let lines = header(detail, state, ctx, false);
    let [head, switch, rest] =
        Layout::vertical([Constraint::Length(lines.len() as u16), Constraint::Length(1), Constraint::Min(0)]).areas(area);
    f.render_widget(Paragraph::new(lines), head);
    let mut tabs = Vec::new();
    for (i, pane) in Pane::ALL.iter().enumerate() {
        if i > 0 {
            tabs.push(Span::styled("│", t.border()));
        }
        let style = if *pane == view.pane { t.tab_active() } else { t.dim() };
        tabs.push(Span::styled(format!(" {} ", pane.title()), style));
    }
    let key = ctx.keymap.bindings.iter().find(|b| b.command == crate::tui::keymap::Command::TogglePane);
    if let Some(k) = key.and_then(|b| b.keys.first()) {
        tabs.push(Span::styled(format!("  {k} switches"), t.dim()));
    }
    f.render_widget(Paragraph::new(Line::from(tabs)), switch);
    match view.pane {
        Pane::Trace => {
            let rows = view.rows().len() as u16;
            let trace_h = (rows + 2).clamp(4, rest.height * 2 / 5);
            let [tr, src] = Layout::vertical([Constraint::Length(trace_h), Constraint::Min(0)]).areas(rest);
            trace_panel(f, tr, view, detail, ctx);
            source_panel(f, src, view, detail, ctx);
        }
        Pane::Details => {
            let mut lines = vec![Line::from(Span::styled(" Dimensions", t.header()))];
            lines.extend(dimensions(detail, ctx));
            lines.push(Line::from(Span::styled(" Timeline", t.header())));
            lines.extend(timeline(detail, rest.width as usize, ctx));
            lines.extend(mitigations(detail, state, ctx));
            f.render_widget(Paragraph::new(lines), rest);
        }
        Pane::Grouping => {
            f.render_widget(Paragraph::new(why_grouped(detail, ctx)).wrap(Wrap { trim: false }).block(titled("Why grouped", ctx)), rest);
        }
    }
}

fn header<'a>(d: &IncidentDetail, state: &State, ctx: &Ctx, wide: bool) -> Vec<Line<'a>> {
    let t = ctx.theme;
    let inc = &d.incident;
    let label = |s: &str| Span::styled(format!("{s} "), t.dim());
    let sep = || Span::styled(" · ", t.dim());
    let (sym, style) = status_symbol(inc);
    let mut title =
        vec![Span::styled(format!(" {sym} {} ", inc.status.label()), style(t)), Span::styled(inert(&inc.title).into_owned(), t.header())];
    if inc.new_since_deploy {
        title.push(Span::styled("  ★ new since deploy", t.warn()));
    }
    let service = if inc.services.is_empty() {
        d.event.as_ref().and_then(|e| e.service.clone()).unwrap_or_else(|| "—".into())
    } else {
        inc.services.join(", ")
    };
    let mut counts = vec![Span::raw(" ")];
    if !wide {
        counts.extend([Span::styled(inc.id.clone(), t.accent()), sep()]);
    }
    counts.extend([
        label("service"),
        Span::raw(inert(&service).into_owned()),
        sep(),
        label("events"),
        Span::raw(count(inc.count)),
        sep(),
        label("users"),
        Span::raw(count(inc.users)),
        sep(),
        label("culprit"),
        Span::raw(inert(inc.culprit.as_deref().unwrap_or("no in-app frame")).into_owned()),
    ]);
    let seen = Line::from(vec![
        Span::raw(" "),
        label("first seen"),
        Span::raw(datetime(inc.first_seen)),
        sep(),
        label("last seen"),
        Span::raw(format!("{} ({})", datetime(inc.last_seen), ago(inc.last_seen, state.now()))),
    ]);
    let mut score = vec![Span::raw(" "), label("score"), Span::styled(format!("{:.1}", inc.score), t.accent()), Span::raw(" =")];
    for (i, (name, points)) in inc.score_factors.iter().enumerate() {
        let style = if *points > 0.0 { Style::new() } else { t.dim() };
        score.push(Span::styled(format!("{}{name} {points:.1}", if i == 0 { " " } else { " + " }), style));
    }
    vec![Line::from(title), Line::from(counts), seen, Line::from(score)]
}

fn frame_line<'a>(ev: &ErrorEvent, exc: usize, frame: usize, ctx: &Ctx) -> Line<'a> {
    let t = ctx.theme;
    let Some(f) = ev.exceptions.get(exc).and_then(|e| e.frames.get(frame)) else { return Line::from("?") };
    let app = trace::in_app(f);
    let name = inert(f.function.as_deref().unwrap_or("?")).into_owned();
    let place = f.filename.as_deref().or(f.module.as_deref()).or(f.abs_path.as_deref()).unwrap_or("?");
    let place = match f.lineno {
        Some(n) => format!("{}:{n}", inert(place)),
        None => inert(place).into_owned(),
    };
    if app {
        Line::from(vec![
            Span::styled("◆ ", t.accent()),
            Span::styled(name, Style::new().add_modifier(Modifier::BOLD)),
            Span::styled(format!("  {place}"), t.dim()),
        ])
    } else {
        Line::from(vec![Span::styled(format!("· {name}  {place}"), t.dim())])
    }
}

fn trace_panel(f: &mut Frame, area: Rect, view: &IncidentView, d: &IncidentDetail, ctx: &Ctx) {
    let t = ctx.theme;
    let Some(ev) = &d.event else {
        let msg = " The representative event is no longer in the store, so there is no stack trace to show.";
        f.render_widget(Paragraph::new(msg).style(t.dim()).wrap(Wrap { trim: false }).block(titled("Stack trace", ctx)), area);
        return;
    };
    let rows = view.rows();
    if rows.is_empty() {
        let msg = match &ev.message {
            Some(m) => format!(" No exception: a log message.\n {}", inert(m)),
            None => " No exception and no message.".to_string(),
        };
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: false }).block(titled("Stack trace", ctx)), area);
        return;
    }
    let mut selected = None;
    let items: Vec<ListItem> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| match *row {
            Row::Exception { index, escaped } => {
                let e = &ev.exceptions[index];
                let what =
                    if e.value.is_empty() { inert(&e.kind).into_owned() } else { format!("{}: {}", inert(&e.kind), inert(&e.value)) };
                let unhandled = if e.handled == Some(false) { " (unhandled)" } else { "" };
                if escaped {
                    ListItem::new(Line::from(vec![Span::styled(format!("✖ {what}"), t.error()), Span::styled(unhandled, t.dim())]))
                } else {
                    ListItem::new(Line::from(vec![Span::styled("↳ chained from ", t.dim()), Span::styled(what, t.warn())]))
                }
            }
            Row::Frame { exc, frame } => {
                if view.frame == Some((exc, frame)) {
                    selected = Some(i);
                }
                ListItem::new(frame_line(ev, exc, frame, ctx))
            }
            Row::Hidden { count } => {
                let s = if count == 1 { "" } else { "s" };
                ListItem::new(Line::from(Span::styled(format!("  ⋯ {count} library frame{s} hidden (f shows)"), t.dim())))
            }
        })
        .collect();
    let shown = if view.show_library { "all frames" } else { "in-app frames" };
    let title = format!("Stack trace — {shown}, most recent call first · ◆ in-app · library");
    let list = List::new(items).highlight_style(t.selection()).highlight_symbol("▶").block(titled(&title, ctx));
    let mut ls = ListState::default().with_selected(selected);
    f.render_stateful_widget(list, area, &mut ls);
}

fn source_panel(f: &mut Frame, area: Rect, view: &IncidentView, d: &IncidentDetail, ctx: &Ctx) {
    let t = ctx.theme;
    let Some((e, i)) = view.frame else {
        f.render_widget(Paragraph::new(" No frame selected.").style(t.dim()).block(titled("Source", ctx)), area);
        return;
    };
    let src: FrameSource = d.sources.get(e).and_then(|s| s.get(i)).cloned().unwrap_or_default();
    let frame = d.event.as_ref().and_then(|ev| ev.exceptions.get(e)).and_then(|x| x.frames.get(i));
    let title = match (&src.snippet, frame.and_then(|f| f.lineno)) {
        (Some(s), _) if s.file.is_some() => {
            format!("Source — {}:{} · from the source tree", inert(s.file.as_deref().unwrap_or("")), s.focus.unwrap_or(0))
        }
        (Some(_), Some(n)) => format!("Source — line {n} · the event's own context"),
        (Some(_), None) => "Source — the event's own context".to_string(),
        (None, _) => "Source".to_string(),
    };
    let mut lines: Vec<Line> = Vec::new();
    if let Some(m) = &src.missing {
        lines.push(Line::from(Span::styled(format!(" ⚠ {}", inert(&m.to_string())), t.warn())));
    }
    if let Some(n) = &src.note {
        lines.push(Line::from(Span::styled(format!(" ⚠ {}", inert(n)), t.warn())));
    }
    let Some(snippet) = &src.snippet else {
        lines.push(Line::from(Span::styled(" No source for this frame: the event carries no context lines.", t.dim())));
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(titled(&title, ctx)), area);
        return;
    };
    let room = (area.height.saturating_sub(2) as usize).saturating_sub(lines.len());
    let focus_idx = snippet.focus.map(|n| n.saturating_sub(snippet.first_line) as usize).unwrap_or(0);
    let start = focus_idx.saturating_sub(room / 2).min(snippet.lines.len().saturating_sub(room));
    let last = snippet.first_line as usize + snippet.lines.len();
    let gutter = last.to_string().len();
    for (k, runs) in snippet.lines.iter().enumerate().skip(start).take(room) {
        let n = snippet.first_line as usize + k;
        let focus = snippet.focus == Some(n as u32);
        let mark = if focus { "▶" } else { " " };
        let mut spans = vec![Span::styled(format!("{mark}{n:>gutter$} │ "), if focus { t.accent() } else { t.dim() })];
        for r in runs {
            let mut style = Style::new().fg(t.rgb(r.rgb.0, r.rgb.1, r.rgb.2));
            if r.bold {
                style = style.add_modifier(Modifier::BOLD);
            }
            spans.push(Span::styled(inert(&r.text).into_owned(), style));
        }
        let line = Line::from(spans);
        lines.push(if focus { line.style(t.selection()) } else { line });
    }
    f.render_widget(Paragraph::new(lines).block(titled(&title, ctx)), area);
}

fn dimensions<'a>(d: &IncidentDetail, ctx: &Ctx) -> Vec<Line<'a>> {
    let t = ctx.theme;
    let inc = &d.incident;
    let row = |name: &str, value: String| Line::from(vec![Span::styled(format!(" {name:<9}"), t.dim()), Span::raw(value)]);
    let list = |v: &[String]| if v.is_empty() { "—".to_string() } else { inert(&v.join(", ")).into_owned() };
    let mut out = vec![row("services", list(&inc.services))];
    if let Some(ev) = &d.event
        && let Some(env) = &ev.environment
    {
        out.push(row("env", inert(env).into_owned()));
    }
    out.push(row("tenants", list(&inc.tenants)));
    out.push(row("regions", list(&inc.regions)));
    // Releases in deploy order, the latest deploy marked.
    let latest = d.deploys.last().filter(|_| d.deploys.len() > 1).map(|(r, _)| r.as_str());
    let mut rel = vec![Span::styled(" releases ", t.dim())];
    let mut releases: Vec<&str> = inc.releases.iter().map(String::as_str).collect();
    releases.sort_by_key(|r| d.deploys.iter().position(|(x, _)| x == r).unwrap_or(usize::MAX));
    for (i, r) in releases.iter().enumerate() {
        if i > 0 {
            rel.push(Span::raw(", "));
        }
        rel.push(Span::raw(inert(&short_release(r)).into_owned()));
        if Some(*r) == latest {
            rel.push(Span::styled(" (latest)", t.dim()));
        }
    }
    if releases.is_empty() {
        rel.push(Span::raw("—"));
    }
    if inc.new_since_deploy {
        rel.push(Span::styled("  ★ new since deploy", t.warn()));
    }
    out.push(Line::from(rel));
    out.push(row("flags", list(&inc.flags)));
    if let Some(ev) = &d.event {
        if let Some(tx) = &ev.transaction {
            out.push(row("request", inert(tx).into_owned()));
        }
        if !ev.tags.is_empty() {
            let tags: Vec<String> = ev.tags.iter().map(|(k, v)| format!("{}={}", inert(k), inert(v))).collect();
            out.push(row("tags", tags.join(" ")));
        }
    }
    out
}

/// `14:03` for times within a day of `base`, else the full date.
fn when(ms: Millis, span: Millis) -> String {
    if span <= 86_400_000 {
        jiff::Timestamp::from_millisecond(ms).map(|t| t.strftime("%H:%M").to_string()).unwrap_or_else(|_| "?".into())
    } else {
        datetime(ms)
    }
}

/// Each flag mitigation of this incident, with the rate in the ten minutes
/// before it and in the minutes since, from the incident's own record.
fn mitigations<'a>(d: &IncidentDetail, state: &State, ctx: &Ctx) -> Vec<Line<'a>> {
    let t = ctx.theme;
    let inc = &d.incident;
    let span = (inc.rate.len().max(1) as i64) * 60_000;
    state
        .patches
        .iter()
        .filter(|p| p.incident_id.as_deref() == Some(inc.id.as_str()))
        .flat_map(|p| p.history.iter().filter(|c| c.to == crate::model::PatchState::Mitigated).map(move |c| (p, c)))
        .flat_map(|(p, c)| {
            let r = inc.rate_around(c.at, 10);
            let since = match r.after_per_min {
                Some(a) => format!("since: {a:.1}/min ({} min)", r.after_minutes),
                None => "since: no minute recorded yet".to_string(),
            };
            [
                Line::from(vec![
                    Span::styled(" ◆ mitigated ", t.ok()),
                    Span::raw(format!("{} by {} at {}", inert(&p.id), inert(&c.by), when(c.at, span))),
                ]),
                Line::styled(format!("   10 min before: {:.1}/min · {since}", r.before_per_min), t.dim()),
            ]
        })
        .collect()
}

fn timeline<'a>(d: &IncidentDetail, width: usize, ctx: &Ctx) -> Vec<Line<'a>> {
    let t = ctx.theme;
    let inc: &Incident = &d.incident;
    let width = width.saturating_sub(2).max(10);
    let from = inc.rate_start;
    let to = from + (inc.rate.len().max(1) as i64) * 60_000;
    let span = to - from;
    let buckets = rebucket(inc, from, to, width);
    let mut out = vec![Line::from(vec![Span::raw(" "), Span::styled(sparkline(&buckets), t.spark())])];
    // Deploys inside the span, marked under the sparkline.
    let mut marks = vec![' '; width];
    for (_, at) in d.deploys.iter().filter(|(_, at)| *at >= from && *at < to) {
        let x = (((*at - from) as f64 / span as f64) * width as f64) as usize;
        marks[x.min(width - 1)] = '▲';
    }
    if marks.contains(&'▲') {
        out.push(Line::from(vec![Span::raw(" "), Span::styled(marks.into_iter().collect::<String>(), t.warn())]));
    }
    let (a, b) = (when(from, span), when(inc.last_seen, span));
    let middle = if inc.first_seen < from { "events/min, last 24 hours" } else { "events/min" };
    let gap = width.saturating_sub(a.chars().count() + b.chars().count() + middle.chars().count());
    let axis =
        if gap >= 2 { format!(" {a}{}{middle}{}{b}", " ".repeat(gap / 2), " ".repeat(gap - gap / 2)) } else { format!(" {a} – {b}") };
    out.push(Line::from(Span::styled(axis, t.dim())));
    for (r, at) in d.deploys.iter().filter(|(_, at)| *at >= from && *at < to) {
        out.push(Line::from(vec![
            Span::styled(" ▲ deploy ", t.warn()),
            Span::raw(format!("{} at {}", inert(&short_release(r)), when(*at, span))),
        ]));
    }
    for r in &d.releases {
        out.push(Line::from(vec![
            Span::styled(" ● ", t.accent()),
            Span::raw(inert(&short_release(&r.release)).into_owned()),
            Span::styled(format!(" first here {} · {} events", when(r.first_seen, span), count(r.events)), t.dim()),
        ]));
    }
    out
}

fn why_grouped<'a>(d: &IncidentDetail, ctx: &Ctx) -> Vec<Line<'a>> {
    let t = ctx.theme;
    let inc = &d.incident;
    let mut out = vec![Line::from(vec![
        Span::styled(" grouping ", t.dim()),
        Span::raw(inert(version_of(inc)).into_owned()),
        Span::styled(" · fingerprint ", t.dim()),
        Span::raw(clip(&inert(&inc.fingerprint), 12)),
    ])];
    for c in &inc.grouping {
        let (kind, value) = c.split_once(':').unwrap_or(("", c.as_str()));
        out.push(Line::from(vec![Span::styled(format!(" • {kind:<7}"), t.accent()), Span::raw(inert(value).into_owned())]));
    }
    out.push(Line::from(Span::styled(
        " Same exception type and the same in-app frames (module and function; line numbers ignored, recursion collapsed); \
         events without a stack group by their message's template.",
        t.dim(),
    )));
    out
}

/// The repro's live output and, once it finished, its verdict.
fn repro_panel(f: &mut Frame, area: Rect, panel: &crate::tui::app::ReproPanel, ctx: &Ctx) {
    let t = ctx.theme;
    let lines: Vec<&str> = panel.output.lines().collect();
    let name = match panel.kind {
        crate::tui::app::PanelKind::Repro => "Repro",
        crate::tui::app::PanelKind::Propose => "Proposals (repair templates)",
    };
    let (title, verdict) = match &panel.done {
        None => (format!("{name} · running…"), None),
        Some(Ok(s)) => {
            let ok = s.contains(": reproduced ") || s.starts_with("verified ");
            (
                format!("{name} · done"),
                Some(Line::styled(format!(" {} {}", if ok { "✔" } else { "⚠" }, inert(s)), if ok { t.ok() } else { t.warn() })),
            )
        }
        Some(Err(e)) => (format!("{name} · could not run"), Some(Line::styled(format!(" ✖ {}", inert(e)), t.error()))),
    };
    let room = area.height.saturating_sub(2) as usize - usize::from(verdict.is_some()).min(area.height.saturating_sub(2) as usize);
    let mut shown: Vec<Line> =
        lines[lines.len().saturating_sub(room)..].iter().map(|l| Line::styled(format!(" {}", inert(l)), t.dim())).collect();
    shown.extend(verdict);
    f.render_widget(Paragraph::new(shown).block(titled(&title, ctx)), area);
}
