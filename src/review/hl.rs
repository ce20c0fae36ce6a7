//! Highlighting for the review screen: only the lines asked for, with
//! syntect's parse state saved every [`EVERY`] lines of a stream, so a jump
//! re-parses at most that many lines before the first one shown instead of
//! everything from the top. Highlighted lines are kept, so scrolling back
//! costs nothing and scrolling on costs one checkpoint's worth at most.
//!
//! A diff shows pieces of a file, not all of it; like delta, each side's
//! stream is parsed as if its pieces were contiguous. A hunk that starts
//! inside a multi-line string can therefore be coloured wrongly until the
//! string ends; the text is never changed.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use syntect::highlighting::{FontStyle, HighlightIterator, HighlightState, Highlighter as Painter};
use syntect::parsing::{ParseState, ScopeStack, SyntaxReference, SyntaxSet};

use super::words::{self, Emphasis};
use super::{Doc, FileDoc};
use crate::highlight::Highlighter;

/// Lines between saved parse states.
pub const EVERY: usize = 16;

/// A run of one style, up to byte `end` of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub end: u32,
    pub fg: (u8, u8, u8),
    pub bold: bool,
    pub italic: bool,
    pub underline: bool,
}

/// Highlighted lines of one stream, filled on demand.
pub struct Stream {
    set: &'static SyntaxSet,
    syntax: &'static SyntaxReference,
    painter: Painter<'static>,
    checkpoints: Vec<(ParseState, HighlightState)>,
    /// The state before the line after the last one highlighted: scrolling
    /// on by a line parses that one line.
    cursor: Option<(usize, ParseState, HighlightState)>,
    lines: Vec<Option<Box<[Run]>>>,
    buf: String,
    /// Lines run through the parser so far: the work done, for tests and benches.
    pub parsed: u64,
}

impl Stream {
    pub fn new(ext: &str, len: usize) -> Stream {
        let h = Highlighter::get();
        let (set, syntax) = h.find_or_plain(ext);
        let painter = Painter::new(h.theme());
        let start = (ParseState::new(syntax), HighlightState::new(&painter, ScopeStack::new()));
        Stream { set, syntax, painter, checkpoints: vec![start], cursor: None, lines: vec![None; len], buf: String::new(), parsed: 0 }
    }

    /// The runs of line `i`, if it has been highlighted.
    pub fn get(&self, i: usize) -> Option<&[Run]> {
        self.lines.get(i).and_then(|l| l.as_deref())
    }

    /// Highlights the lines of `range` that are not yet, starting from the
    /// nearest saved state before the first of them.
    pub fn ensure(&mut self, text: &[String], range: Range<usize>) {
        let end = range.end.min(text.len()).min(self.lines.len());
        let Some(first) = (range.start..end).find(|i| self.lines[*i].is_none()) else { return };
        let k = (first / EVERY).min(self.checkpoints.len() - 1);
        let (from, mut ps, mut hs) = match self.cursor.take() {
            Some((at, ps, hs)) if at <= first && at > k * EVERY => (at, ps, hs),
            other => {
                self.cursor = other;
                let (ps, hs) = self.checkpoints[k].clone();
                (k * EVERY, ps, hs)
            }
        };
        self.parse(text, from..end, &mut ps, &mut hs);
        self.cursor = Some((end, ps, hs));
    }

    /// Parses `lines` from the state before their first, saving states at
    /// each boundary not saved yet and keeping lines not kept yet.
    fn parse(&mut self, text: &[String], lines: Range<usize>, ps: &mut ParseState, hs: &mut HighlightState) {
        for (j, line) in text.iter().enumerate().take(lines.end).skip(lines.start) {
            if j % EVERY == 0 && j / EVERY == self.checkpoints.len() {
                self.checkpoints.push((ps.clone(), hs.clone()));
            }
            let runs = self.line(ps, hs, line);
            if self.lines[j].is_none() {
                self.lines[j] = Some(runs);
            }
        }
    }

    /// Extends the saved states by up to `budget` lines past the last one, so
    /// a later jump finds one nearby. `true` once the stream is covered.
    pub fn warm(&mut self, text: &[String], budget: usize) -> bool {
        let k = self.checkpoints.len() - 1;
        let from = k * EVERY;
        if from + EVERY >= text.len() {
            return true;
        }
        let to = (from + budget.max(EVERY)).min(text.len());
        let (mut ps, mut hs) = self.checkpoints[k].clone();
        self.parse(text, from..to, &mut ps, &mut hs);
        to == text.len()
    }

    fn line(&mut self, ps: &mut ParseState, hs: &mut HighlightState, line: &str) -> Box<[Run]> {
        self.parsed += 1;
        // The syntaxes are the "newlines" kind: each line ends with one.
        self.buf.clear();
        self.buf.push_str(line);
        self.buf.push('\n');
        let plain = || {
            vec![Run { end: line.len() as u32, fg: (0xc0, 0xc5, 0xce), bold: false, italic: false, underline: false }].into_boxed_slice()
        };
        let ops = match ps.parse_line(&self.buf, self.set) {
            Ok(ops) => ops,
            Err(e) => {
                tracing::debug!("syntect gave up on a line of {}: {e}", self.syntax.name);
                *ps = ParseState::new(self.syntax);
                return plain();
            }
        };
        let mut out = Vec::new();
        let mut at = 0usize;
        for (style, piece) in HighlightIterator::new(hs, &ops, &self.buf, &self.painter) {
            at += piece.len();
            let end = at.min(line.len()) as u32;
            let run = Run {
                end,
                fg: (style.foreground.r, style.foreground.g, style.foreground.b),
                bold: style.font_style.contains(FontStyle::BOLD),
                italic: style.font_style.contains(FontStyle::ITALIC),
                underline: style.font_style.contains(FontStyle::UNDERLINE),
            };
            match out.last_mut() {
                Some(last) if Run { end, ..*last } == run => last.end = end,
                Some(last) if last.end == end => {}
                _ => out.push(run),
            }
        }
        if out.is_empty() {
            return plain();
        }
        out.into_boxed_slice()
    }
}

/// Everything highlighted for one file: both streams and the word emphasis
/// of its pairs (keyed by the old line).
pub struct FileCache {
    pub old: Stream,
    pub new: Stream,
    emphasis: HashMap<u32, Option<Emphasis>>,
}

impl FileCache {
    pub fn new(f: &FileDoc) -> FileCache {
        FileCache { old: Stream::new(&f.ext, f.old.len()), new: Stream::new(&f.ext, f.new.len()), emphasis: HashMap::new() }
    }

    /// The emphasis of old line `o` and its partner, computed once.
    pub fn emphasis(&mut self, f: &FileDoc, o: u32) -> Option<&Emphasis> {
        let n = f.old.partner.get(o as usize).copied().flatten()?;
        self.emphasis.entry(o).or_insert_with(|| words::emphasis(&f.old.text[o as usize], &f.new.text[n as usize])).as_ref()
    }
}

/// The highlight memo for one document, replaced when another is shown.
/// It changes what is cached, never what is drawn.
#[derive(Default)]
pub struct DocCache {
    doc: Option<Arc<Doc>>,
    files: Vec<Option<FileCache>>,
}

impl DocCache {
    /// The cache for file `i` of `doc`, starting over if `doc` is another document.
    pub fn file(&mut self, doc: &Arc<Doc>, i: usize) -> Option<&mut FileCache> {
        if !self.doc.as_ref().is_some_and(|d| Arc::ptr_eq(d, doc)) {
            self.doc = Some(doc.clone());
            self.files = (0..doc.files.len()).map(|_| None).collect();
        }
        let f = doc.files.get(i)?;
        Some(self.files.get_mut(i)?.get_or_insert_with(|| FileCache::new(f)))
    }

    /// Saves parse states ahead in the shown file, `budget` lines per side.
    /// `true` when there is nothing left to do.
    pub fn warm(&mut self, doc: &Arc<Doc>, i: usize, budget: usize) -> bool {
        let Some(f) = doc.files.get(i) else { return true };
        let Some(c) = self.file(doc, i) else { return true };
        let a = c.old.warm(&f.old.text, budget);
        let b = c.new.warm(&f.new.text, budget);
        a && b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python(n: usize) -> Vec<String> {
        (0..n).map(|i| if i % 10 == 0 { format!("def f{i}(x):") } else { format!("    return x + {i}  # note") }).collect()
    }

    fn text_of(runs: &[Run], line: &str) -> Vec<String> {
        let mut at = 0;
        runs.iter()
            .map(|r| {
                let s = line[at..r.end as usize].to_string();
                at = r.end as usize;
                s
            })
            .collect()
    }

    #[test]
    fn only_asked_lines_are_parsed_and_runs_cover_the_line() {
        let text = python(1000);
        let mut s = Stream::new("py", text.len());
        s.ensure(&text, 0..40);
        assert_eq!(s.parsed, 40);
        assert!(s.get(39).is_some() && s.get(40).is_none());
        let runs = s.get(1).unwrap();
        assert_eq!(text_of(runs, &text[1]).concat(), text[1]);
        assert!(runs.len() >= 3, "keyword, names and comment differ: {runs:?}");
        // Already there: no work.
        s.ensure(&text, 10..30);
        assert_eq!(s.parsed, 40);
        // Scrolling on by a line parses that line only.
        for i in 1..=20 {
            s.ensure(&text, i..40 + i);
        }
        assert_eq!(s.parsed, 60);
    }

    #[test]
    fn a_jump_back_restarts_at_the_nearest_saved_state_and_matches_a_full_parse() {
        let text = python(2000);
        let mut s = Stream::new("py", text.len());
        s.ensure(&text, 1500..1540);
        assert_eq!(s.parsed, 1540, "the first jump has to parse its way there");
        // A later jump to a line not highlighted yet starts at most EVERY lines before it.
        s.ensure(&text, 1000..1001);
        assert_eq!(s.parsed, 1540, "lines on the way were kept");
        let mut fresh = Stream::new("py", text.len());
        fresh.ensure(&text, 0..2000);
        for i in [0, 999, 1000, 1539] {
            assert_eq!(s.get(i), fresh.get(i), "line {i}");
        }
        let mut t = Stream::new("py", text.len());
        assert!(!t.warm(&text, 500));
        while !t.warm(&text, 500) {}
        let before = t.parsed;
        t.lines.iter_mut().for_each(|l| *l = None);
        t.ensure(&text, 1777..1778);
        assert!(t.parsed - before <= EVERY as u64, "re-parsed {} lines", t.parsed - before);
        assert_eq!(t.get(1777), fresh.get(1777));
    }

    #[test]
    fn unknown_languages_are_plain_and_empty_lines_work() {
        let text = vec![String::new(), "plain words".to_string()];
        let mut s = Stream::new("no-such-ext", 2);
        s.ensure(&text, 0..2);
        assert_eq!(s.get(1).unwrap().last().unwrap().end, 11);
        assert_eq!(s.get(0).unwrap().len(), 1);
    }

    #[test]
    fn the_doc_cache_starts_over_for_another_document() {
        let doc = Arc::new(Doc::parse("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n").unwrap());
        let mut c = DocCache::default();
        let f = &doc.files[0];
        let e = c.file(&doc, 0).unwrap().emphasis(f, 0).cloned().unwrap();
        assert_eq!(e.old, vec![std::ops::Range { start: 4, end: 5 }]);
        c.file(&doc, 0).unwrap().old.ensure(&f.old.text, 0..1);
        assert!(c.file(&doc, 0).unwrap().old.get(0).is_some());
        let other = Arc::new((*doc).clone());
        assert!(c.file(&other, 0).unwrap().old.get(0).is_none());
        assert!(c.file(&other, 5).is_none());
    }
}
