//! Syntax highlighting with syntect (the onig engine, whose first highlight is
//! far faster than the pure-Rust one). syntect's default set lacks some
//! languages Suture shows; their definitions ship here, written for Suture:
//! TOML now (configuration, flag files).
//!
//! The shipped syntaxes live in a set of their own: adding them to the
//! default set would mean linking it again, which costs about 150 ms, while
//! the default set loads in about a millisecond and the extra set, built only
//! when one of its languages is asked for, in less. So the first highlighted
//! screen costs what it costs to parse what is on it.

use std::sync::OnceLock;

use syntect::easy::HighlightLines;
use syntect::highlighting::{Style, Theme, ThemeSet};
use syntect::parsing::{SyntaxDefinition, SyntaxReference, SyntaxSet, SyntaxSetBuilder};
use syntect::util::LinesWithEndings;

const EXTRA: &[(&str, &str, &[&str])] = &[("TOML", include_str!("toml.sublime-syntax"), &["toml"])];

pub struct Highlighter {
    syntaxes: SyntaxSet,
    extra: OnceLock<SyntaxSet>,
    theme: Theme,
}

impl Highlighter {
    /// The shared highlighter: default syntaxes plus Suture's own.
    pub fn get() -> &'static Highlighter {
        static H: OnceLock<Highlighter> = OnceLock::new();
        H.get_or_init(|| {
            let mut themes = ThemeSet::load_defaults();
            let theme = themes.themes.remove("base16-ocean.dark").unwrap_or_default();
            Highlighter { syntaxes: SyntaxSet::load_defaults_newlines(), extra: OnceLock::new(), theme }
        })
    }

    fn extra(&self) -> &SyntaxSet {
        self.extra.get_or_init(|| {
            let mut builder = SyntaxSetBuilder::new();
            for (name, text, _) in EXTRA {
                match SyntaxDefinition::load_from_str(text, true, Some(name)) {
                    Ok(def) => builder.add(def),
                    Err(e) => tracing::error!("the shipped {name} syntax does not load: {e}"),
                }
            }
            builder.build()
        })
    }

    /// The syntax for a file extension or name (`toml`, `py`, `rs`) and the
    /// set it belongs to (which its parser needs).
    pub fn find(&self, ext: &str) -> Option<(&SyntaxSet, &SyntaxReference)> {
        if EXTRA.iter().any(|(name, _, exts)| exts.contains(&ext) || name.eq_ignore_ascii_case(ext)) {
            let set = self.extra();
            return set.find_syntax_by_extension(ext).or_else(|| set.find_syntax_by_name(ext)).map(|s| (set, s));
        }
        let set = &self.syntaxes;
        set.find_syntax_by_extension(ext).or_else(|| set.find_syntax_by_name(ext)).map(|s| (set, s))
    }

    /// The syntax for `ext`, or plain text, with its set.
    pub fn find_or_plain(&self, ext: &str) -> (&SyntaxSet, &SyntaxReference) {
        self.find(ext).unwrap_or_else(|| (&self.syntaxes, self.syntaxes.find_syntax_plain_text()))
    }

    /// The syntax for a file extension or name, if there is one.
    pub fn syntax(&self, ext: &str) -> Option<&SyntaxReference> {
        self.find(ext).map(|(_, s)| s)
    }

    pub fn theme(&self) -> &Theme {
        &self.theme
    }

    /// Highlighted lines as (style, text) runs; plain text when the syntax is
    /// unknown or the highlighter fails on a line.
    pub fn lines<'a>(&self, text: &'a str, ext: &str) -> Vec<Vec<(Style, &'a str)>> {
        let (set, syntax) = self.find_or_plain(ext);
        let mut h = HighlightLines::new(syntax, &self.theme);
        LinesWithEndings::from(text).map(|line| h.highlight_line(line, set).unwrap_or_else(|_| vec![(Style::default(), line)])).collect()
    }

    /// Text with 24-bit ANSI colours for a terminal (`suture config show`).
    pub fn to_ansi(&self, text: &str, ext: &str) -> String {
        let mut out = String::with_capacity(text.len() * 2);
        for line in self.lines(text, ext) {
            out.push_str(&syntect::util::as_24_bit_terminal_escaped(&line, false));
        }
        out.push_str("\x1b[0m");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes_of(text: &str, ext: &str) -> Vec<(String, String)> {
        let h = Highlighter::get();
        let (set, syntax) = h.find(ext).unwrap();
        let mut state = syntect::parsing::ParseState::new(syntax);
        let mut stack = syntect::parsing::ScopeStack::new();
        let mut out = Vec::new();
        for line in LinesWithEndings::from(text) {
            let ops = state.parse_line(line, set).unwrap();
            let mut last = 0;
            for (i, op) in ops {
                if i > last {
                    out.push((line[last..i].to_string(), stack.to_string()));
                }
                stack.apply(&op).unwrap();
                last = i;
            }
        }
        out
    }

    fn scope_at<'a>(scopes: &'a [(String, String)], text: &str) -> &'a str {
        scopes.iter().find(|(t, _)| t.trim() == text).map(|(_, s)| s.as_str()).unwrap_or_else(|| panic!("no token {text:?} in {scopes:?}"))
    }

    #[test]
    fn the_shipped_toml_syntax_scopes_keys_tables_strings_and_numbers() {
        let text = "# comment\n[ui]\ntheme = \"dark\"  # trailing\nframe_ms = 16\nread_only = true\n[keys]\nquit = [\"q\", 'x']\n";
        let s = scopes_of(text, "toml");
        assert!(scope_at(&s, "# comment").contains("comment.line"));
        assert!(scope_at(&s, "ui").contains("entity.name.section.toml"));
        assert!(scope_at(&s, "theme").contains("entity.name.tag.toml"));
        assert!(scope_at(&s, "dark").contains("string.quoted.double.toml"));
        assert!(scope_at(&s, "# trailing").contains("comment.line"));
        assert!(scope_at(&s, "16").contains("constant.numeric.toml"));
        assert!(scope_at(&s, "true").contains("constant.language.boolean.toml"));
        assert!(scope_at(&s, "q").contains("meta.array.toml"));
    }

    #[test]
    fn default_languages_still_work_and_unknown_ones_are_plain() {
        let h = Highlighter::get();
        assert!(h.syntax("py").is_some());
        assert!(h.syntax("rs").is_some());
        let lines = h.lines("x = 1\n", "no-such-language");
        assert_eq!(lines.len(), 1);
        assert!(h.to_ansi("[ui]\n", "toml").contains("\x1b[38;2;"));
    }
}
