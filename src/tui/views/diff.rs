//! The review screen's diff: side by side or unified, highlighted with
//! syntect, changed words emphasized, long lines cut (with horizontal
//! scrolling) or wrapped. Only the rows on screen are highlighted; the
//! [`DocCache`](crate::review::hl::DocCache) in [`Ctx`] keeps what was.
//!
//! Every character of the diff is untrusted: control characters become
//! visible placeholders (as [`inert`](crate::tui::widgets::text::inert)
//! does), tabs become spaces to the next multiple of four.

use std::ops::Range;
use std::sync::Arc;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Paragraph, Widget};
use unicode_width::UnicodeWidthChar;

use super::{Ctx, titled};
use crate::review::hl::{FileCache, Run};
use crate::review::{Doc, FileDoc, Layout, Row, Side, URow};
use crate::tui::app::PatchView;
use crate::tui::theme::Theme;
use crate::tui::widgets::text::{clip, inert};

const TAB: usize = 4;

/// One character cell: what is drawn, its width and style.
#[derive(Clone, Copy)]
struct Cell {
    ch: char,
    width: u8,
    style: Style,
}

pub fn draw(f: &mut Frame, area: Rect, view: &PatchView, layout: Layout, ctx: &Ctx) {
    let doc = match &view.doc {
        Ok(d) => d,
        Err(e) => {
            let msg = format!(" ✖ This patch's diff cannot be shown: {}", inert(e));
            f.render_widget(Paragraph::new(msg).style(ctx.theme.error()).block(titled("Diff", ctx)), area);
            return;
        }
    };
    let Some(file) = doc.files.get(view.file) else {
        f.render_widget(Paragraph::new(" The diff has no files.").style(ctx.theme.dim()).block(titled("Diff", ctx)), area);
        return;
    };
    let top = view.top_in(layout);
    let title = title(file, view, layout, top, area.width as usize);
    let block = titled(&title, ctx);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let rows = lines(doc, view.file, file, layout, top, view, inner.width as usize, inner.height as usize, ctx);
    f.render_widget(Cells(rows), inner);
}

/// Rows of cells written straight into the buffer: the diff already knows
/// each character's width and style, so nothing is measured twice.
struct Cells(Vec<Vec<Cell>>);

impl Widget for Cells {
    fn render(self, area: Rect, buf: &mut Buffer) {
        for (row, y) in self.0.iter().zip(area.top()..area.bottom()) {
            let mut x = area.left();
            for c in row {
                let w = c.width as u16;
                if x + w > area.right() {
                    break;
                }
                buf[(x, y)].set_char(c.ch).set_style(c.style);
                for k in 1..w {
                    buf[(x + k, y)].reset();
                }
                x += w;
            }
        }
    }
}

fn title(file: &FileDoc, view: &PatchView, layout: Layout, top: usize, width: usize) -> String {
    let mut parts = vec![format!("{} +{} −{}", inert(&file.path), file.added, file.removed)];
    if file.created {
        parts.push("new file".into());
    }
    if file.deleted {
        parts.push("deleted".into());
    }
    parts.push(if layout == Layout::SideBySide { "side by side".into() } else { "unified".into() });
    if !file.hunks.is_empty() {
        parts.push(format!("hunk {}/{}", file.hunk_at(layout, top) + 1, file.hunks.len()));
    }
    if view.wrap {
        parts.push("wrap".into());
    } else if view.hscroll > 0 {
        parts.push(format!("→{}", view.hscroll));
    }
    clip(&format!("Diff · {}", parts.join(" · ")), width.saturating_sub(6))
}

/// The visible lines of the diff, highlighting what they need first.
#[allow(clippy::too_many_arguments)]
fn lines(
    doc: &Arc<Doc>,
    index: usize,
    file: &FileDoc,
    layout: Layout,
    top: usize,
    view: &PatchView,
    width: usize,
    height: usize,
    ctx: &Ctx,
) -> Vec<Vec<Cell>> {
    let mut memo = ctx.review.borrow_mut();
    let Some(cache) = memo.file(doc, index) else { return Vec::new() };
    let end = (top + height).min(file.len(layout));
    ensure(cache, file, layout, top..end);
    let nw = file.number_width();
    let mut out: Vec<Vec<Cell>> = Vec::with_capacity(height);
    let t = ctx.theme;
    for row in top..end {
        if out.len() >= height {
            break;
        }
        let hunk = match layout {
            Layout::SideBySide => match file.rows[row] {
                Row::Hunk(h) => Some(h),
                Row::Pair(..) => None,
            },
            Layout::Unified => match file.unified[row] {
                URow::Hunk(h) => Some(h),
                _ => None,
            },
        };
        if let Some(h) = hunk {
            out.push(hunk_line(&file.hunks[h as usize].header, width, t));
            continue;
        }
        let visual = match layout {
            Layout::SideBySide => {
                let Row::Pair(o, n) = file.rows[row] else { continue };
                side_by_side(cache, file, o, n, nw, width, view, t)
            }
            Layout::Unified => unified(cache, file, file.unified[row], nw, width, view, t),
        };
        out.extend(visual);
    }
    out.truncate(height);
    out
}

/// Highlights both streams over the rows `rows` of `layout`.
fn ensure(cache: &mut FileCache, file: &FileDoc, layout: Layout, rows: Range<usize>) {
    let (mut old, mut new) = (None::<Range<usize>>, None::<Range<usize>>);
    let add = |r: &mut Option<Range<usize>>, i: u32| {
        let i = i as usize;
        *r = Some(match r.take() {
            Some(x) => x.start.min(i)..x.end.max(i + 1),
            None => i..i + 1,
        });
    };
    for row in rows {
        let (o, n) = match layout {
            Layout::SideBySide => match file.rows[row] {
                Row::Pair(o, n) => (o, n),
                Row::Hunk(_) => (None, None),
            },
            Layout::Unified => match file.unified[row] {
                URow::Context(o, n) => (Some(o), Some(n)),
                URow::Removed(o) => (Some(o), file.old.partner[o as usize]),
                URow::Added(n) => (file.new.partner[n as usize], Some(n)),
                URow::Hunk(_) => (None, None),
            },
        };
        if let Some(o) = o {
            add(&mut old, o);
        }
        if let Some(n) = n {
            add(&mut new, n);
        }
    }
    if let Some(r) = old {
        cache.old.ensure(&file.old.text, r);
    }
    if let Some(r) = new {
        cache.new.ensure(&file.new.text, r);
    }
}

fn hunk_line(header: &str, width: usize, t: &Theme) -> Vec<Cell> {
    let mut out = Vec::with_capacity(width);
    push_str(&mut out, &clip(&inert(header), width.saturating_sub(1)), t.accent().add_modifier(Modifier::BOLD));
    let used = out.iter().map(|c| c.width as usize).sum::<usize>();
    push_str(&mut out, " ", Style::new());
    for _ in used + 1..width {
        out.push(Cell { ch: '─', width: 1, style: t.border() });
    }
    out
}

/// Appends `s` (already inert) as cells of one style.
fn push_str(out: &mut Vec<Cell>, s: &str, style: Style) {
    for ch in s.chars() {
        let width = UnicodeWidthChar::width(ch).unwrap_or(0) as u8;
        if width > 0 {
            out.push(Cell { ch, width, style });
        }
    }
}

fn blank(width: usize, style: Style) -> Vec<Cell> {
    vec![Cell { ch: ' ', width: 1, style }; width]
}

/// Which side a stream is: old lines are removed when changed, new ones added.
#[derive(Clone, Copy, PartialEq)]
enum Which {
    Old,
    New,
}

/// A side's line as cells: highlighted, emphasized, made inert.
fn cells_of(cache: &mut FileCache, file: &FileDoc, which: Which, i: u32, t: &Theme) -> (Vec<Cell>, Style) {
    let side: &Side = if which == Which::Old { &file.old } else { &file.new };
    let text = &side.text[i as usize];
    let changed = side.changed[i as usize];
    let added = changed.then_some(which == Which::New);
    let line_bg = t.diff_bg(added, false);
    let emph_bg = t.diff_bg(added, true);
    let emph: Vec<Range<usize>> = if changed {
        let o = if which == Which::Old { Some(i) } else { side.partner[i as usize] };
        match o.and_then(|o| cache.emphasis(file, o)) {
            Some(e) => {
                if which == Which::Old {
                    e.old.clone()
                } else {
                    e.new.clone()
                }
            }
            None => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let stream = if which == Which::Old { &cache.old } else { &cache.new };
    let runs: &[Run] = stream.get(i as usize).unwrap_or(&[]);
    (cells(text, runs, &emph, line_bg, emph_bg, t), line_bg)
}

fn cells(text: &str, runs: &[Run], emph: &[Range<usize>], line_bg: Style, emph_bg: Style, t: &Theme) -> Vec<Cell> {
    let mut out = Vec::with_capacity(text.len());
    let mut run = 0;
    let mut e = 0;
    let mut col = 0usize;
    for (at, ch) in text.char_indices() {
        while run < runs.len() && runs[run].end as usize <= at {
            run += 1;
        }
        while e < emph.len() && emph[e].end <= at {
            e += 1;
        }
        let mut style = match runs.get(run) {
            Some(r) => {
                let mut s = Style::new().fg(t.rgb(r.fg.0, r.fg.1, r.fg.2));
                if r.bold {
                    s = s.add_modifier(Modifier::BOLD);
                }
                if r.italic {
                    s = s.add_modifier(Modifier::ITALIC);
                }
                if r.underline {
                    s = s.add_modifier(Modifier::UNDERLINED);
                }
                s
            }
            None => Style::new().fg(t.fg),
        };
        style = style.patch(if emph.get(e).is_some_and(|r| r.start <= at) { emph_bg } else { line_bg });
        if ch == '\t' {
            let n = TAB - col % TAB;
            for _ in 0..n {
                out.push(Cell { ch: ' ', width: 1, style });
            }
            col += n;
            continue;
        }
        let shown = match inert_char(ch) {
            Some(c) => c,
            None => ch,
        };
        let width = UnicodeWidthChar::width(shown).unwrap_or(0) as u8;
        if width == 0 {
            continue; // combining marks and the like: nothing to place
        }
        out.push(Cell { ch: shown, width, style });
        col += width as usize;
    }
    out
}

/// The placeholder a control character is drawn as, as in `inert`.
fn inert_char(c: char) -> Option<char> {
    let mut b = [0u8; 4];
    match inert(c.encode_utf8(&mut b)) {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(s) => s.chars().next(),
    }
}

/// Exactly `width` columns of `cells` after skipping `skip`, padded with
/// `pad`; a line that goes on past the edge ends in a dim `→`.
fn cut(cells: &[Cell], skip: usize, width: usize, pad: Style) -> Vec<Cell> {
    let mut out: Vec<Cell> = Vec::with_capacity(width);
    let mut col = 0usize;
    let mut used = 0usize;
    for c in cells {
        let w = c.width as usize;
        if col < skip {
            col += w;
            if col > skip {
                // A wide character cut in half at the left edge.
                let part = (col - skip).min(width);
                out.extend(std::iter::repeat_n(Cell { ch: ' ', width: 1, style: c.style }, part));
                used += part;
            }
            continue;
        }
        if used + w > width {
            if width > 0 {
                while used >= width {
                    let Some(last) = out.pop() else { break };
                    used -= last.width as usize;
                }
                let style = out.last().map(|l| l.style).unwrap_or(pad);
                out.push(Cell { ch: '→', width: 1, style: style.add_modifier(Modifier::DIM) });
                used += 1;
            }
            break;
        }
        out.push(*c);
        used += w;
        col += w;
    }
    out.extend(std::iter::repeat_n(Cell { ch: ' ', width: 1, style: pad }, width.saturating_sub(used)));
    out
}

/// `cells` broken into lines of exactly `width` columns (at least one line).
fn wrap(cells: &[Cell], width: usize, pad: Style) -> Vec<Vec<Cell>> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, c) in cells.iter().enumerate() {
        if used + c.width as usize > width {
            out.push(cut(&cells[start..i], 0, width, pad));
            start = i;
            used = 0;
        }
        used += c.width as usize;
    }
    out.push(cut(&cells[start..], 0, width, pad));
    out
}

/// The gutter: line number and the `-`/`+` mark, so a change never shows by colour alone.
fn gutter(out: &mut Vec<Cell>, number: Option<u32>, nw: usize, mark: char, t: &Theme) {
    match number {
        Some(n) => push_str(out, &format!("{n:>nw$} "), t.dim()),
        None => out.extend(blank(nw + 1, Style::new())),
    }
    let mark_style = match mark {
        '-' => t.error().add_modifier(Modifier::BOLD),
        '+' => t.ok().add_modifier(Modifier::BOLD),
        _ => t.dim(),
    };
    push_str(out, &mark.to_string(), mark_style);
    push_str(out, " ", Style::new());
}

/// A line's code, `content` columns wide: cut where the view is scrolled
/// to, or wrapped into as many lines as it needs.
fn bodies(cache: &mut FileCache, file: &FileDoc, which: Which, i: u32, content: usize, view: &PatchView, t: &Theme) -> Vec<Vec<Cell>> {
    let (cells, bg) = cells_of(cache, file, which, i, t);
    if view.wrap { wrap(&cells, content, bg) } else { vec![cut(&cells, view.hscroll, content, bg)] }
}

/// One side's visual lines for a side-by-side row, each exactly `width` wide.
#[allow(clippy::too_many_arguments)]
fn side_lines(
    cache: &mut FileCache,
    file: &FileDoc,
    which: Which,
    i: Option<u32>,
    nw: usize,
    width: usize,
    view: &PatchView,
    t: &Theme,
) -> Vec<Vec<Cell>> {
    let content = width.saturating_sub(nw + 3);
    let Some(i) = i else { return vec![blank(width, Style::new())] };
    let side = if which == Which::Old { &file.old } else { &file.new };
    let mark = match (side.changed[i as usize], which) {
        (false, _) => ' ',
        (true, Which::Old) => '-',
        (true, Which::New) => '+',
    };
    bodies(cache, file, which, i, content, view, t)
        .into_iter()
        .enumerate()
        .map(|(k, body)| {
            let mut l = Vec::with_capacity(width);
            if k == 0 {
                gutter(&mut l, Some(side.numbers[i as usize]), nw, mark, t);
            } else {
                gutter(&mut l, None, nw, '↪', t);
            }
            l.extend(body);
            l.truncate(width);
            l
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn side_by_side(
    cache: &mut FileCache,
    file: &FileDoc,
    o: Option<u32>,
    n: Option<u32>,
    nw: usize,
    width: usize,
    view: &PatchView,
    t: &Theme,
) -> Vec<Vec<Cell>> {
    let left_w = width.saturating_sub(1) / 2;
    let right_w = width.saturating_sub(1 + left_w);
    let left = side_lines(cache, file, Which::Old, o, nw, left_w, view, t);
    let right = side_lines(cache, file, Which::New, n, nw, right_w, view, t);
    let rows = left.len().max(right.len());
    (0..rows)
        .map(|k| {
            let mut l = left.get(k).cloned().unwrap_or_else(|| blank(left_w, Style::new()));
            l.push(Cell { ch: '│', width: 1, style: t.border() });
            l.extend(right.get(k).cloned().unwrap_or_else(|| blank(right_w, Style::new())));
            l
        })
        .collect()
}

fn unified(cache: &mut FileCache, file: &FileDoc, row: URow, nw: usize, width: usize, view: &PatchView, t: &Theme) -> Vec<Vec<Cell>> {
    let (which, i, old_no, new_no, mark) = match row {
        URow::Context(o, n) => (Which::New, n, Some(file.old.numbers[o as usize]), Some(file.new.numbers[n as usize]), ' '),
        URow::Removed(o) => (Which::Old, o, Some(file.old.numbers[o as usize]), None, '-'),
        URow::Added(n) => (Which::New, n, None, Some(file.new.numbers[n as usize]), '+'),
        URow::Hunk(_) => return Vec::new(),
    };
    let content = width.saturating_sub(2 * nw + 4);
    bodies(cache, file, which, i, content, view, t)
        .into_iter()
        .enumerate()
        .map(|(k, body)| {
            let mut l = Vec::with_capacity(width);
            match old_no.filter(|_| k == 0) {
                Some(n) => push_str(&mut l, &format!("{n:>nw$} "), t.dim()),
                None => l.extend(blank(nw + 1, Style::new())),
            }
            gutter(&mut l, new_no.filter(|_| k == 0), nw, if k == 0 { mark } else { '↪' }, t);
            l.extend(body);
            l.truncate(width);
            l
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::theme::Depth;

    fn text(cells: &[Cell]) -> String {
        cells.iter().map(|c| c.ch).collect()
    }

    fn plain(s: &str) -> Vec<Cell> {
        let t = Theme::builtin(Depth::TrueColor);
        cells(s, &[], &[], Style::new(), Style::new(), &t)
    }

    #[test]
    fn cells_expand_tabs_and_make_control_characters_inert() {
        let c = plain("\tx\u{1b}[2Jy");
        let s: String = c.iter().map(|c| c.ch).collect();
        assert_eq!(s, "    x␛[2Jy");
        assert!(!s.contains('\u{1b}'));
    }

    #[test]
    fn cutting_skips_columns_pads_and_handles_wide_characters() {
        let c = plain("abcdef");
        assert_eq!(text(&cut(&c, 2, 3, Style::new())), "cd→", "a line cut at the edge is marked");
        assert_eq!(text(&cut(&c, 4, 5, Style::new())), "ef   ");
        let wide = plain("日本語");
        assert_eq!(text(&cut(&wide, 1, 4, Style::new())), " 本→", "half a wide character is a space");
        let lines = wrap(&plain("abcdefg"), 3, Style::new());
        let got: Vec<String> = lines.iter().map(|l| text(l)).collect();
        assert_eq!(got, ["abc", "def", "g  "]);
        assert_eq!(wrap(&[], 3, Style::new()).len(), 1);
    }

    #[test]
    fn emphasis_and_highlight_styles_land_on_the_right_characters() {
        let t = Theme::builtin(Depth::TrueColor);
        let runs = [
            Run { end: 2, fg: (1, 2, 3), bold: true, italic: false, underline: false },
            Run { end: 4, fg: (4, 5, 6), bold: false, italic: false, underline: false },
        ];
        let emph = t.diff_bg(Some(true), true);
        let emph_at = vec![Range { start: 2, end: 4 }];
        let c = cells("ab<=", &runs, &emph_at, t.diff_bg(Some(true), false), emph, &t);
        assert_eq!(c[0].style.fg, Some(t.rgb(1, 2, 3)));
        assert!(c[0].style.add_modifier.contains(Modifier::BOLD));
        assert_eq!(c[0].style.bg, Some(t.plus_bg));
        assert_eq!(c[2].style.bg, Some(t.plus_emph_bg));
        assert_eq!(c[3].style.fg, Some(t.rgb(4, 5, 6)));
    }
}
