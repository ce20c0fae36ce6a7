//! Tabs whose pipeline stages are not built yet say so plainly, and show what
//! the store holds when it holds something.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Paragraph, Wrap};

use super::{Ctx, titled};

pub fn rollouts(f: &mut Frame, area: Rect, ctx: &Ctx) {
    let text = "\n No rollouts.\n\n Approved patches go out here step by step by canary, judged against the baseline on real \
                measurements, with promote, pause, abort and a kill switch.\n\n Delivery is not built yet in this version of Suture.";
    f.render_widget(Paragraph::new(text).style(ctx.theme.dim()).wrap(Wrap { trim: false }).block(titled("Rollouts", ctx)), area);
}
