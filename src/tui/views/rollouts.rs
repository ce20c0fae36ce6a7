//! The Rollouts tab: every rollout, and the selected one live — its steps
//! with set and actual weight, charts of canary against baseline (error
//! rate, p50 and p95 latency, request rate), each analysis's verdict and
//! score, the guardrails, and the time to the next step.
//!
//! Everything here comes from the store, written by `suture serve`'s
//! controller: the console never talks to a backend, so it shows the same
//! thing whichever backend runs the canary.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph, Row, Table, TableState, Wrap};

use super::{Ctx, titled};
use crate::model::{MetricVerdict, Rollout, RolloutStatus};
use crate::store::Point;
use crate::tui::app::{State, Tab};
use crate::tui::widgets::text::inert;

pub fn draw(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    let t = ctx.theme;
    if state.rollouts.is_empty() {
        let text = "\n No rollouts yet.\n\n An approved patch goes out here step by step by canary, judged against the baseline on real \
                    measurements, with guardrails and automatic rollback.\n Start one with `suture rollout start PATCH`; `suture serve` runs it.";
        f.render_widget(Paragraph::new(text).style(t.dim()).wrap(Wrap { trim: false }).block(titled("Rollouts", ctx)), area);
        return;
    }
    let list_height = (state.rollouts.len() as u16 + 3).min(area.height / 4).max(4);
    let [list, detail] = Layout::vertical([Constraint::Length(list_height), Constraint::Min(0)]).areas(area);
    draw_list(f, list, state, ctx);
    let sel = state.selected[Tab::Rollouts.index()].min(state.rollouts.len() - 1);
    // The snapshot carries the newest rollout's measurements.
    let points: &[Point] = if sel == 0 { &state.rollout_points } else { &[] };
    draw_detail(f, detail, &state.rollouts[sel], points, state, ctx);
}

fn status_style(s: RolloutStatus, ctx: &Ctx) -> Style {
    let t = ctx.theme;
    match s {
        RolloutStatus::RolledBack | RolloutStatus::Aborted => t.error(),
        RolloutStatus::Promoted => t.ok(),
        RolloutStatus::Paused | RolloutStatus::AwaitingPromotion | RolloutStatus::Pending => t.warn(),
        RolloutStatus::Progressing => t.accent(),
    }
}

fn draw_list(f: &mut Frame, area: Rect, state: &State, ctx: &Ctx) {
    let t = ctx.theme;
    let rows: Vec<Row> = state
        .rollouts
        .iter()
        .map(|r| {
            Row::new(vec![
                Span::raw(inert(&r.id).into_owned()),
                Span::raw(inert(&r.patch_id).into_owned()),
                Span::styled(r.status.label(), status_style(r.status, ctx)),
                Span::raw(format!("{}/{}", r.current_step + 1, r.steps.len())),
                Span::raw(format!("{}%", r.desired_weight)),
                Span::raw(r.actual_weight.map(|w| format!("{w}%")).unwrap_or_else(|| "-".into())),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(12),
        Constraint::Length(13),
        Constraint::Length(19),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(6),
    ];
    let header = Row::new(["rollout", "patch", "status", "step", "set", "actual"]).style(t.header());
    let keys = if state.read_only { " read-only " } else { " p promote · space pause/resume · X abort · K kill switch " };
    let block = titled("Rollouts", ctx).title_bottom(Line::styled(keys, t.dim()));
    let table = Table::new(rows, widths).header(header).row_highlight_style(t.selection()).block(block);
    let mut ts = TableState::default().with_selected(Some(state.selected[Tab::Rollouts.index()]));
    f.render_stateful_widget(table, area, &mut ts);
}

fn draw_detail(f: &mut Frame, area: Rect, r: &Rollout, points: &[Point], state: &State, ctx: &Ctx) {
    let t = ctx.theme;
    let block = titled("Canary", ctx);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let verdict_lines = 1 + r.verdicts.iter().map(|v| 1 + v.metrics.len()).sum::<usize>() + r.guardrails.len();
    let side = (verdict_lines as u16 + 1).min(inner.height / 2).max(3);
    let [steps, charts, verdicts] = Layout::vertical([Constraint::Length(3), Constraint::Min(6), Constraint::Length(side)]).areas(inner);

    // Steps: done ✔, current ▶, to come ·, with weights.
    let mut spans = vec![Span::styled(" steps ", t.dim())];
    for (i, s) in r.steps.iter().enumerate() {
        let (mark, style) = if i < r.current_step || r.status == RolloutStatus::Promoted {
            ("✔", t.ok())
        } else if i == r.current_step && r.status.is_live() {
            ("▶", t.accent().add_modifier(Modifier::BOLD))
        } else if i == r.current_step {
            ("✖", t.error())
        } else {
            ("·", t.dim())
        };
        spans.push(Span::styled(format!("{mark} {}%{} ", s.weight, if s.analysis { "+A" } else { "" }), style));
    }
    let now = state.clock;
    let next = match r.step_remaining(now) {
        Some(ms) => format!("next in {} s", ms.div_ceil(1000)),
        None => r.status.label().to_string(),
    };
    let weights = format!(
        " weight set {}% · actual {} · {}",
        r.desired_weight,
        r.actual_weight.map(|w| format!("{w}%")).unwrap_or_else(|| "-".into()),
        next
    );
    let kill = match (&r.kill_switch, r.killed) {
        (Some(k), true) => Span::styled(format!(" kill switch {} THROWN", inert(k)), t.error().add_modifier(Modifier::BOLD)),
        (Some(k), false) => Span::styled(format!(" kill switch {} armed", inert(k)), t.dim()),
        (None, _) => Span::styled(" no kill switch", t.dim()),
    };
    let lines = vec![
        Line::from(spans),
        Line::from(vec![Span::raw(weights), kill]),
        Line::styled(format!(" {}", inert(&r.message)), status_style(r.status, ctx)),
    ];
    f.render_widget(Paragraph::new(lines), steps);

    let [left, right] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    let [a, b] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(left);
    let [c, d] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(right);
    let marker = if state.dot_charts { Marker::Dot } else { Marker::Braille };
    // The x axis is the rollout's whole planned timeline, fixed from its
    // start: each second adds a few dots at the right instead of shifting
    // every dot left, so a live view redraws little.
    let planned: u64 = r.steps.iter().map(|s| s.pause_secs).sum();
    let span = (planned as f64).max(points.last().map_or(0.0, |p| (p.t - r.started) as f64 / 1000.0)).max(10.0);
    let x = Timeline { origin: r.started, span };
    let rate = |p: &Point| if p.requests == 0 { None } else { Some(p.errors as f64 / p.requests as f64 * 100.0) };
    chart(f, a, "error rate %", points, &rate, marker, x, ctx);
    chart(f, b, "p50 ms", points, &|p: &Point| p.p50_ms, marker, x, ctx);
    chart(f, c, "p95 ms", points, &|p: &Point| p.p95_ms, marker, x, ctx);
    chart(f, d, "requests/s", points, &|p: &Point| Some(p.requests as f64), marker, x, ctx);

    let mut lines = Vec::new();
    if r.verdicts.is_empty() {
        lines.push(Line::styled(" no analysis yet", t.dim()));
    }
    for v in &r.verdicts {
        let style = match v.outcome.as_str() {
            "pass" => t.ok(),
            "marginal" => t.warn(),
            _ => t.error().add_modifier(Modifier::BOLD),
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" step {} analysis: {} · score {:.0}", v.step + 1, v.outcome, v.score), style),
            Span::styled(format!("  {}", inert(&v.reason)), t.dim()),
        ]));
        for m in &v.metrics {
            let ms = match m.verdict {
                MetricVerdict::Pass => t.ok(),
                MetricVerdict::NoData => t.warn(),
                _ => t.error(),
            };
            lines.push(Line::from(vec![
                Span::raw(format!("   {:<12} ", inert(&m.name))),
                Span::styled(format!("{:<7} ", m.verdict.label()), ms),
                Span::styled(format!("n {}/{} ", m.baseline_n, m.canary_n), t.dim()),
                Span::raw(inert(&m.reason).into_owned()),
            ]));
        }
    }
    for g in &r.guardrails {
        let style = if g.tripped {
            t.error().add_modifier(Modifier::BOLD)
        } else if g.breaches > 0 {
            t.warn()
        } else {
            t.dim()
        };
        let values = match (g.canary, g.baseline) {
            (Some(c), Some(b)) => format!(" · canary {c:.3} baseline {b:.3}"),
            (Some(c), None) => format!(" · canary {c:.3}"),
            _ => String::new(),
        };
        lines.push(Line::styled(
            format!(" guardrail {}: {} of {}{}{}", inert(&g.name), g.breaches, g.limit, if g.tripped { " TRIPPED" } else { "" }, values),
            style,
        ));
    }
    f.render_widget(Paragraph::new(lines), verdicts);
}

/// Where a chart's x axis starts (the rollout's start) and how many seconds it spans.
#[derive(Clone, Copy)]
struct Timeline {
    origin: crate::model::Millis,
    span: f64,
}

/// One chart: canary against baseline over the rollout's seconds.
#[allow(clippy::too_many_arguments)]
fn chart(
    f: &mut Frame,
    area: Rect,
    title: &str,
    points: &[Point],
    value: &dyn Fn(&Point) -> Option<f64>,
    marker: Marker,
    x: Timeline,
    ctx: &Ctx,
) {
    let t = ctx.theme;
    let series = |cohort: &str| -> Vec<(f64, f64)> {
        points
            .iter()
            .filter(|p| p.cohort == cohort && p.t >= x.origin)
            .filter_map(|p| value(p).map(|v| ((p.t - x.origin) as f64 / 1000.0, v)))
            .collect()
    };
    let (base, canary) = (series("baseline"), series("canary"));
    let max_x = x.span;
    // The y axis only grows, in steps, so it does not rescale every second.
    let top = base.iter().chain(&canary).map(|p| p.1).fold(0.0, f64::max);
    let max_y = nice_ceiling(top);
    let last = |s: &[(f64, f64)]| s.last().map(|p| format!("{:.1}", p.1)).unwrap_or_else(|| "-".into());
    let title = Line::from(vec![
        Span::styled(format!(" {title} "), t.header()),
        Span::styled(format!("canary {} ", last(&canary)), t.accent()),
        Span::styled(format!("baseline {} ", last(&base)), t.dim()),
    ]);
    let datasets = vec![
        Dataset::default().marker(marker).graph_type(GraphType::Line).style(t.dim()).data(&base),
        Dataset::default().marker(marker).graph_type(GraphType::Line).style(t.accent()).data(&canary),
    ];
    let chart = Chart::new(datasets)
        .block(ratatui::widgets::Block::new().title(title))
        .x_axis(Axis::default().bounds([0.0, max_x]).style(t.border()))
        .y_axis(Axis::default().bounds([0.0, max_y]).style(t.border()).labels([Span::raw("0"), Span::raw(format!("{:.1}", max_y))]));
    f.render_widget(chart, area);
}

/// The smallest of 1, 2 or 5 times a power of ten at or above `v` (at least 1).
fn nice_ceiling(v: f64) -> f64 {
    if !v.is_finite() || v <= 1.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * p).find(|c| *c >= v).unwrap_or(10.0 * p)
}
