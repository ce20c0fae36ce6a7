//! The review model: a unified diff laid out for reading, side by side or
//! unified, the way delta builds it.
//!
//! A file's diff becomes two *streams*, the old side (context and removed
//! lines) and the new side (context and added lines), and rows that point
//! into them. A run of removed lines followed by a run of added lines is
//! paired line by line (the first removed with the first added, and so on);
//! a pair is what word-level emphasis compares ([`words`]). Highlighting runs
//! over each stream separately ([`hl`]), so a removed line is coloured as the
//! old file's code and an added one as the new file's.
//!
//! Building a document is cheap (no highlighting): it happens when a patch
//! is opened; highlighting happens later, only for the rows on screen.

pub mod hl;
pub mod words;

use crate::propose::patch::{Diff, FileDiff, Line as DiffLine};

/// One side of a file's diff: the lines it shows, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Side {
    pub text: Vec<String>,
    /// Line number in that side's file.
    pub numbers: Vec<u32>,
    /// Removed (old side) or added (new side), not context.
    pub changed: Vec<bool>,
    /// The other side's line this one is paired with, for word emphasis.
    pub partner: Vec<Option<u32>>,
}

impl Side {
    fn push(&mut self, text: &str, number: usize, changed: bool) -> u32 {
        self.text.push(text.to_string());
        self.numbers.push(number as u32);
        self.changed.push(changed);
        self.partner.push(None);
        (self.text.len() - 1) as u32
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// A side-by-side row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    /// A hunk's header (index into [`FileDoc::hunks`]).
    Hunk(u32),
    /// Old and new stream lines shown beside each other; context has both,
    /// a change row either or both.
    Pair(Option<u32>, Option<u32>),
}

/// A unified row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum URow {
    Hunk(u32),
    /// Context: old and new stream lines (the same text).
    Context(u32, u32),
    Removed(u32),
    Added(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HunkInfo {
    pub header: String,
    /// Where the hunk starts in [`FileDoc::rows`] and [`FileDoc::unified`].
    pub row: usize,
    pub urow: usize,
}

/// Which layout rows are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    #[default]
    SideBySide,
    Unified,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileDoc {
    pub path: String,
    /// The file's extension (or name), which picks the syntax.
    pub ext: String,
    pub old: Side,
    pub new: Side,
    pub rows: Vec<Row>,
    pub unified: Vec<URow>,
    pub hunks: Vec<HunkInfo>,
    pub added: usize,
    pub removed: usize,
    pub created: bool,
    pub deleted: bool,
}

/// A whole diff, ready to show.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Doc {
    pub files: Vec<FileDoc>,
}

impl Doc {
    /// Parses a unified diff and lays it out. The error names the line.
    pub fn parse(text: &str) -> Result<Doc, String> {
        let diff = Diff::parse(text).map_err(|e| e.to_string())?;
        Ok(Doc::from_diff(&diff))
    }

    pub fn from_diff(diff: &Diff) -> Doc {
        Doc { files: diff.files.iter().map(FileDoc::build).collect() }
    }
}

impl FileDoc {
    fn build(f: &FileDiff) -> FileDoc {
        let path = f.path().to_string();
        let name = path.rsplit('/').next().unwrap_or(&path);
        let ext = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => ext.to_string(),
            _ => name.to_string(),
        };
        let mut doc = FileDoc {
            path: path.clone(),
            ext,
            old: Side::default(),
            new: Side::default(),
            rows: Vec::new(),
            unified: Vec::new(),
            hunks: Vec::new(),
            added: f.added(),
            removed: f.removed(),
            created: f.is_new(),
            deleted: f.is_deleted(),
        };
        for (h_index, h) in f.hunks.iter().enumerate() {
            let h_index = h_index as u32;
            doc.hunks.push(HunkInfo { header: h.header(), row: doc.rows.len(), urow: doc.unified.len() });
            doc.rows.push(Row::Hunk(h_index));
            doc.unified.push(URow::Hunk(h_index));
            let (mut old_no, mut new_no) = (h.old_start.max(1), h.new_start.max(1));
            let mut i = 0;
            while i < h.lines.len() {
                match &h.lines[i] {
                    DiffLine::Context(t) => {
                        let o = doc.old.push(t, old_no, false);
                        let n = doc.new.push(t, new_no, false);
                        doc.rows.push(Row::Pair(Some(o), Some(n)));
                        doc.unified.push(URow::Context(o, n));
                        old_no += 1;
                        new_no += 1;
                        i += 1;
                    }
                    _ => {
                        // A change block: removed lines, then added lines
                        // (in any interleaving the diff has them).
                        let mut removed = Vec::new();
                        let mut added = Vec::new();
                        while let Some(l) = h.lines.get(i) {
                            match l {
                                DiffLine::Remove(t) => {
                                    removed.push(doc.old.push(t, old_no, true));
                                    old_no += 1;
                                }
                                DiffLine::Add(t) => {
                                    added.push(doc.new.push(t, new_no, true));
                                    new_no += 1;
                                }
                                DiffLine::Context(_) => break,
                            }
                            i += 1;
                        }
                        for k in 0..removed.len().max(added.len()) {
                            let (o, n) = (removed.get(k).copied(), added.get(k).copied());
                            if let (Some(o), Some(n)) = (o, n) {
                                doc.old.partner[o as usize] = Some(n);
                                doc.new.partner[n as usize] = Some(o);
                            }
                            doc.rows.push(Row::Pair(o, n));
                        }
                        doc.unified.extend(removed.iter().map(|o| URow::Removed(*o)));
                        doc.unified.extend(added.iter().map(|n| URow::Added(*n)));
                    }
                }
            }
        }
        doc
    }

    pub fn len(&self, layout: Layout) -> usize {
        match layout {
            Layout::SideBySide => self.rows.len(),
            Layout::Unified => self.unified.len(),
        }
    }

    /// Where each hunk starts in `layout`.
    pub fn hunk_rows(&self, layout: Layout) -> impl Iterator<Item = usize> + '_ {
        self.hunks.iter().map(move |h| if layout == Layout::Unified { h.urow } else { h.row })
    }

    /// The hunk a row belongs to (0 before the first).
    pub fn hunk_at(&self, layout: Layout, row: usize) -> usize {
        self.hunk_rows(layout).take_while(|r| *r <= row).count().saturating_sub(1)
    }

    /// The row in `to` that shows what row `row` of `from` shows, so a layout
    /// switch keeps the reader's place.
    pub fn map_row(&self, from: Layout, row: usize, to: Layout) -> usize {
        if from == to {
            return row;
        }
        let key = match from {
            Layout::SideBySide => match self.rows.get(row) {
                Some(Row::Hunk(h)) => return self.hunks[*h as usize].urow,
                Some(Row::Pair(o, n)) => (*o, *n),
                None => return self.len(to).saturating_sub(1),
            },
            Layout::Unified => match self.unified.get(row) {
                Some(URow::Hunk(h)) => return self.hunks[*h as usize].row,
                Some(URow::Context(o, n)) => (Some(*o), Some(*n)),
                Some(URow::Removed(o)) => (Some(*o), None),
                Some(URow::Added(n)) => (None, Some(*n)),
                None => return self.len(to).saturating_sub(1),
            },
        };
        let found = match to {
            Layout::SideBySide => self.rows.iter().position(|r| match (r, key) {
                (Row::Pair(o, _), (Some(k), _)) => *o == Some(k),
                (Row::Pair(_, n), (None, Some(k))) => *n == Some(k),
                _ => false,
            }),
            Layout::Unified => self.unified.iter().position(|r| match (r, key) {
                (URow::Context(o, _) | URow::Removed(o), (Some(k), _)) => *o == k,
                (URow::Context(_, n) | URow::Added(n), (None, Some(k))) => *n == k,
                _ => false,
            }),
        };
        found.unwrap_or(0)
    }

    /// The widest line number on either side, in digits (at least 3).
    pub fn number_width(&self) -> usize {
        let max = self.old.numbers.iter().chain(&self.new.numbers).max().copied().unwrap_or(0);
        max.to_string().len().max(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "\
--- a/app/pricing.py
+++ b/app/pricing.py
@@ -10,4 +10,5 @@ def quote(cart):
     total = 0
-    for item in cart.items:
-        total += item.price
+    for item in cart.items or []:
+        total += item.price * item.qty
+    log(total)
     return total
@@ -40,3 +41,2 @@ def tax(total):
     rate = 0.2
-    unused = 1
     return total * rate
";

    #[test]
    fn pairs_removed_with_added_lines_and_numbers_both_sides() {
        let doc = Doc::parse(DIFF).unwrap();
        let f = &doc.files[0];
        assert_eq!(f.ext, "py");
        assert_eq!((f.added, f.removed), (3, 3));
        assert_eq!(
            f.rows[..6],
            [
                Row::Hunk(0),
                Row::Pair(Some(0), Some(0)),
                Row::Pair(Some(1), Some(1)),
                Row::Pair(Some(2), Some(2)),
                Row::Pair(None, Some(3)),
                Row::Pair(Some(3), Some(4)),
            ]
        );
        assert_eq!(f.old.numbers[..4], [10, 11, 12, 13]);
        assert_eq!(f.new.numbers[..5], [10, 11, 12, 13, 14]);
        assert_eq!(f.old.partner[1], Some(1));
        assert_eq!(f.new.partner[3], None);
        assert!(f.old.changed[1] && !f.old.changed[0]);
        // The second hunk: a removal alone.
        assert_eq!(f.hunks[1].row, 6);
        assert_eq!(f.rows[8], Row::Pair(Some(5), None));
        assert_eq!(f.old.numbers[5], 41);
        assert_eq!(f.new.numbers[5], 41);
        assert_eq!(
            f.unified[..7],
            [URow::Hunk(0), URow::Context(0, 0), URow::Removed(1), URow::Removed(2), URow::Added(1), URow::Added(2), URow::Added(3)]
        );
    }

    #[test]
    fn rows_map_between_layouts_and_hunks_are_found() {
        let doc = Doc::parse(DIFF).unwrap();
        let f = &doc.files[0];
        assert_eq!(f.map_row(Layout::SideBySide, 2, Layout::Unified), 2);
        assert_eq!(f.map_row(Layout::SideBySide, 4, Layout::Unified), 6, "an added line alone maps to its unified row");
        assert_eq!(f.map_row(Layout::Unified, 5, Layout::SideBySide), 3);
        assert_eq!(f.map_row(Layout::SideBySide, 6, Layout::Unified), f.hunks[1].urow);
        assert_eq!(f.hunk_at(Layout::SideBySide, 0), 0);
        assert_eq!(f.hunk_at(Layout::SideBySide, 8), 1);
        assert_eq!(f.hunk_rows(Layout::Unified).collect::<Vec<_>>(), [0, 8]);
        assert_eq!(f.number_width(), 3);
    }

    #[test]
    fn bad_diffs_are_an_error_that_names_the_line() {
        let err = Doc::parse("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n").unwrap_err();
        assert!(err.contains("line"), "{err}");
        let doc = Doc::parse("").unwrap_or_default();
        assert!(doc.files.is_empty());
    }
}
