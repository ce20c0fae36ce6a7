//! Word-level emphasis inside a changed line pair, as a pass separate from
//! the layout (delta's design): tokenize both lines, diff the tokens with
//! `similar`, and emphasize what differs. When the lines share too little,
//! emphasis would paint nearly everything and help no one, so none is given
//! and the pair reads as a whole-line change.

use std::ops::Range;

use similar::{Algorithm, DiffTag, capture_diff_slices};

/// Pairs that share less than this fraction of their non-blank text get no
/// emphasis (delta's default `max-line-distance` of 0.6, the other way up).
pub const MIN_SHARED: f64 = 0.4;

/// Byte ranges to emphasize in the old and the new line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Emphasis {
    pub old: Vec<Range<usize>>,
    pub new: Vec<Range<usize>>,
}

/// Tokens as byte ranges: runs of word characters, of whitespace and of
/// operator characters (`<=` is one token), and every other character
/// (brackets, quotes, dots) on its own.
pub fn tokens(s: &str) -> Vec<Range<usize>> {
    #[derive(PartialEq, Clone, Copy)]
    enum K {
        Word,
        Space,
        Operator,
        Other,
    }
    let kind = |c: char| {
        if c.is_alphanumeric() || c == '_' {
            K::Word
        } else if c.is_whitespace() {
            K::Space
        } else if "<>=!+-*/%&|^~".contains(c) {
            K::Operator
        } else {
            K::Other
        }
    };
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut last = None;
    for (i, c) in s.char_indices() {
        let k = kind(c);
        match out.last_mut() {
            Some(r) if last == Some(k) && k != K::Other => r.end = i + c.len_utf8(),
            _ => out.push(i..i + c.len_utf8()),
        }
        last = Some(k);
    }
    out
}

/// What differs between `old` and `new`, or `None` when they share too little.
pub fn emphasis(old: &str, new: &str) -> Option<Emphasis> {
    let (ot, nt) = (tokens(old), tokens(new));
    let os: Vec<&str> = ot.iter().map(|r| &old[r.clone()]).collect();
    let ns: Vec<&str> = nt.iter().map(|r| &new[r.clone()]).collect();
    let ops = capture_diff_slices(Algorithm::Myers, &os, &ns);
    let mut shared = 0usize;
    let mut e = Emphasis::default();
    let solid = |s: &str| s.chars().filter(|c| !c.is_whitespace()).count();
    for op in &ops {
        let (tag, o, n) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => shared += os[o].iter().map(|s| solid(s)).sum::<usize>(),
            _ => {
                push_span(&mut e.old, &ot[o]);
                push_span(&mut e.new, &nt[n]);
            }
        }
    }
    let total = solid(old).max(solid(new));
    if total == 0 {
        return Some(Emphasis::default());
    }
    if (shared as f64) < MIN_SHARED * total as f64 {
        return None;
    }
    trim_blank(&mut e.old, old);
    trim_blank(&mut e.new, new);
    Some(e)
}

/// Adds the byte span of `toks` to `spans`, joining it to the previous span
/// when they touch.
fn push_span(spans: &mut Vec<Range<usize>>, toks: &[Range<usize>]) {
    let (Some(first), Some(last)) = (toks.first(), toks.last()) else { return };
    match spans.last_mut() {
        Some(prev) if prev.end == first.start => prev.end = last.end,
        _ => spans.push(first.start..last.end),
    }
}

/// Drops spans that are only whitespace: a changed indent is not news.
fn trim_blank(spans: &mut Vec<Range<usize>>, s: &str) {
    spans.retain(|r| s[r.clone()].chars().any(|c| !c.is_whitespace()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(s: &str, spans: &[Range<usize>]) -> String {
        let mut out = String::new();
        let mut at = 0;
        for r in spans {
            out.push_str(&s[at..r.start]);
            out.push('[');
            out.push_str(&s[r.clone()]);
            out.push(']');
            at = r.end;
        }
        out.push_str(&s[at..]);
        out
    }

    #[test]
    fn tokens_split_words_spaces_and_punctuation() {
        let s = "if a.b(c)  == 1:";
        let t: Vec<&str> = tokens(s).into_iter().map(|r| &s[r]).collect();
        assert_eq!(t, ["if", " ", "a", ".", "b", "(", "c", ")", "  ", "==", " ", "1", ":"]);
        assert_eq!(tokens("héllo wörld").len(), 3, "word characters include letters beyond ASCII");
    }

    #[test]
    fn only_what_changed_is_emphasized() {
        let (o, n) = ("    if start < len(items):", "    if start <= len(items):");
        let e = emphasis(o, n).unwrap();
        assert_eq!(marked(o, &e.old), "    if start [<] len(items):");
        assert_eq!(marked(n, &e.new), "    if start [<=] len(items):");
        let (o, n) = ("total += item.price", "total += item.price * item.qty");
        let e = emphasis(o, n).unwrap();
        assert!(e.old.is_empty());
        assert_eq!(marked(n, &e.new), "total += item.price[ * item.qty]");
    }

    #[test]
    fn unrelated_lines_get_no_emphasis_and_indent_changes_are_not_news() {
        assert_eq!(emphasis("return compute_everything(now)", "raise ValueError('bad input')"), None);
        let e = emphasis("  x = 1", "    x = 1").unwrap();
        assert!(e.old.is_empty() && e.new.is_empty());
        assert_eq!(emphasis("", ""), Some(Emphasis::default()));
    }
}
