//! One incident in full, loaded in one go for the Incident view and
//! `suture incident ID`: the incident, its representative event, the source
//! around each frame, and when each release first showed it.
//!
//! Source comes from the configured tree ([`crate::source`]) when the frame's
//! file is there, else from the event's own `pre_context`/`context_line`/
//! `post_context`; a [`FrameSource`] always says which, and why the file was
//! not used. When the tree's line differs from the event's `context_line`
//! (the tree is another release), the same line is looked for nearby and the
//! focus moves to it, with a note.
//!
//! Highlighting (syntect) is done here, in the loader's thread, so drawing a
//! frame never parses source. Text stays raw: whoever draws it makes it inert.

use std::collections::HashMap;

use crate::highlight::Highlighter;
use crate::model::{ErrorEvent, Incident, Millis, StackFrame};
use crate::source::{Refusal, SourceFile, SourceTree};
use crate::store::{Store, StoreError};

/// Lines shown on each side of the frame's line.
pub const RADIUS: usize = 20;
/// How far from the event's line number the tree's copy of the line is looked for.
const REALIGN: usize = 40;
/// Frames beyond this many in one event get no file lookup (a hostile event
/// could name thousands).
const MAX_LOOKUPS: usize = 256;
/// A file is highlighted from its top when the window ends before this line,
/// so multi-line strings and the like are scoped right; else from the window.
const HIGHLIGHT_FROM_TOP: usize = 3000;

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentDetail {
    pub incident: Incident,
    /// The representative event; `None` when it is gone from the store.
    pub event: Option<ErrorEvent>,
    /// `sources[e][f]`: source for frame `f` of exception `e` of `event`.
    pub sources: Vec<Vec<FrameSource>>,
    /// The releases this incident's events came from, oldest first.
    pub releases: Vec<ReleaseSeen>,
    /// Every release the store knows, with its first event anywhere (a deploy), oldest first.
    pub deploys: Vec<(String, Millis)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSeen {
    pub release: String,
    /// This incident's first event from the release.
    pub first_seen: Millis,
    pub events: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FrameSource {
    pub snippet: Option<Snippet>,
    /// Why the file from the source tree is not shown (the snippet, if any, is the event's own).
    pub missing: Option<Refusal>,
    /// Anything else worth saying, such as a line that moved.
    pub note: Option<String>,
}

impl FrameSource {
    /// `app/pricing.py (source tree)` or `the event's own context`.
    pub fn origin(&self) -> String {
        match &self.snippet {
            Some(Snippet { file: Some(rel), .. }) => format!("{rel} (source tree)"),
            Some(_) => "the event's own context".into(),
            None => "no source".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The file, relative to the source root; `None` for the event's own context.
    pub file: Option<String>,
    pub first_line: u32,
    /// The frame's line, when known.
    pub focus: Option<u32>,
    pub lines: Vec<Vec<Run>>,
}

impl Snippet {
    pub fn text(&self, i: usize) -> String {
        self.lines.get(i).map(|l| l.iter().map(|r| r.text.as_str()).collect()).unwrap_or_default()
    }
}

/// A highlighted run of text (raw: make it inert before drawing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub rgb: (u8, u8, u8),
    pub bold: bool,
    pub text: String,
}

pub fn load(store: &Store, id: &str, tree: Option<&SourceTree>) -> Result<Option<IncidentDetail>, StoreError> {
    let Some(incident) = store.incident(id)? else { return Ok(None) };
    let event = match &incident.representative_event {
        Some(e) => store.event(e)?,
        None => None,
    };
    let sources = event.as_ref().map(|ev| sources(ev, tree)).unwrap_or_default();
    let releases =
        store.incident_releases(id)?.into_iter().map(|(release, first_seen, events)| ReleaseSeen { release, first_seen, events }).collect();
    Ok(Some(IncidentDetail { incident, event, sources, releases, deploys: store.releases()? }))
}

/// Source for every frame of every exception of `ev`.
pub fn sources(ev: &ErrorEvent, tree: Option<&SourceTree>) -> Vec<Vec<FrameSource>> {
    let mut files: HashMap<Vec<String>, Result<SourceFile, Refusal>> = HashMap::new();
    let mut lookups = 0;
    ev.exceptions
        .iter()
        .map(|exc| {
            exc.frames
                .iter()
                .map(|frame| {
                    let file = match tree {
                        None => Err(Refusal::NoRoot),
                        Some(_) if lookups >= MAX_LOOKUPS => Err(Refusal::NotFound("(too many frames to look up)".into())),
                        Some(t) => {
                            lookups += 1;
                            files.entry(t.candidates(frame)).or_insert_with(|| t.read(frame)).clone()
                        }
                    };
                    frame_source(frame, file)
                })
                .collect()
        })
        .collect()
}

fn frame_source(frame: &StackFrame, file: Result<SourceFile, Refusal>) -> FrameSource {
    match file {
        Ok(f) => match from_file(frame, &f) {
            Ok(fs) => fs,
            Err(why) => FrameSource { note: Some(why), ..from_event(frame, None) },
        },
        Err(r) => from_event(frame, Some(r)),
    }
}

fn from_event(frame: &StackFrame, missing: Option<Refusal>) -> FrameSource {
    let Some(ctx) = &frame.context_line else { return FrameSource { snippet: None, missing, note: None } };
    let mut lines: Vec<&str> = frame.pre_context.iter().map(String::as_str).collect();
    lines.push(ctx);
    lines.extend(frame.post_context.iter().map(String::as_str));
    let text: String = lines.iter().map(|l| format!("{}\n", expand(l))).collect();
    let first_line = frame.lineno.map(|n| n.saturating_sub(frame.pre_context.len() as u32).max(1)).unwrap_or(1);
    let snippet = Snippet { file: None, first_line, focus: frame.lineno, lines: highlight(&text, &extension(frame), 0, usize::MAX) };
    FrameSource { snippet: Some(snippet), missing, note: None }
}

fn from_file(frame: &StackFrame, f: &SourceFile) -> Result<FrameSource, String> {
    let lines: Vec<&str> = f.text.lines().collect();
    let Some(lineno) = frame.lineno.filter(|n| *n >= 1) else { return Err(format!("{}: the frame has no line number", f.rel)) };
    let mut focus = lineno as usize;
    if focus > lines.len() {
        return Err(format!("{} has {} lines; the frame's line {lineno} is past its end", f.rel, lines.len()));
    }
    let mut note = None;
    if let Some(want) = frame.context_line.as_deref().map(str::trim)
        && lines[focus - 1].trim() != want
    {
        let lo = focus.saturating_sub(REALIGN).max(1);
        let hi = (focus + REALIGN).min(lines.len());
        let found = (lo..=hi).filter(|n| lines[n - 1].trim() == want).min_by_key(|n| n.abs_diff(focus));
        match found {
            Some(n) => {
                note = Some(format!("the event's line {lineno} is line {n} in the source tree (another release)"));
                focus = n;
            }
            None => note = Some(format!("line {lineno} in the source tree differs from the event's (another release?)")),
        }
    }
    let start = focus.saturating_sub(RADIUS).max(1);
    let end = (focus + RADIUS).min(lines.len());
    let from = if end <= HIGHLIGHT_FROM_TOP { 1 } else { start };
    let text: String = lines[from - 1..end].iter().map(|l| format!("{}\n", expand(l))).collect();
    let highlighted = highlight(&text, &extension(frame), start - from, end - start + 1);
    let snippet = Snippet { file: Some(f.rel.clone()), first_line: start as u32, focus: Some(focus as u32), lines: highlighted };
    Ok(FrameSource { snippet: Some(snippet), missing: None, note })
}

fn expand(line: &str) -> String {
    line.replace('\t', "    ").trim_end_matches(['\r', '\n']).to_string()
}

fn extension(frame: &StackFrame) -> String {
    let name = frame.filename.as_deref().or(frame.abs_path.as_deref()).unwrap_or("");
    match name.rsplit_once('.') {
        Some((_, ext)) if !ext.contains('/') => ext.to_string(),
        _ => String::new(),
    }
}

/// Highlights `text` and keeps `take` lines from line `skip` (0-based).
fn highlight(text: &str, ext: &str, skip: usize, take: usize) -> Vec<Vec<Run>> {
    Highlighter::get()
        .lines(text, ext)
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|line| {
            line.into_iter()
                .filter_map(|(style, s)| {
                    let text = s.trim_end_matches(['\n', '\r']);
                    (!text.is_empty()).then(|| Run {
                        rgb: (style.foreground.r, style.foreground.g, style.foreground.b),
                        bold: style.font_style.contains(syntect::highlighting::FontStyle::BOLD),
                        text: text.to_string(),
                    })
                })
                .collect()
        })
        .collect()
}

/// `shop@a1f3c9e27b5d…` → `shop@a1f3c9e`: releases named by a SHA read better short.
pub fn short_release(r: &str) -> String {
    let (name, version) = match r.rsplit_once('@') {
        Some((n, v)) => (Some(n), v),
        None => (None, r),
    };
    let v = if version.len() > 12 && version.chars().all(|c| c.is_ascii_hexdigit()) { &version[..7] } else { version };
    match name {
        Some(n) => format!("{n}@{v}"),
        None => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(lineno: u32, ctx: &str) -> StackFrame {
        StackFrame {
            filename: Some("app/m.py".into()),
            lineno: Some(lineno),
            context_line: Some(ctx.into()),
            pre_context: vec!["def f():".into()],
            post_context: vec!["    return x".into()],
            ..Default::default()
        }
    }

    fn file(n: usize) -> SourceFile {
        let text: String = (1..=n).map(|i| format!("line_{i} = {i}\n")).collect();
        SourceFile { rel: "app/m.py".into(), text }
    }

    #[test]
    fn a_file_window_centres_on_the_frame_and_realigns_a_moved_line() {
        let fs = frame_source(&frame(30, "line_30 = 30"), Ok(file(100)));
        let s = fs.snippet.unwrap();
        assert_eq!((s.first_line, s.focus, s.lines.len()), (10, Some(30), 2 * RADIUS + 1));
        assert_eq!(s.text(RADIUS), "line_30 = 30");
        assert!(fs.note.is_none() && fs.missing.is_none());

        let fs = frame_source(&frame(30, "line_33 = 33"), Ok(file(100)));
        assert_eq!(fs.snippet.as_ref().unwrap().focus, Some(33));
        assert!(fs.note.unwrap().contains("line 33 in the source tree"));

        let fs = frame_source(&frame(3, "line_3 = 3"), Ok(file(5)));
        let s = fs.snippet.unwrap();
        assert_eq!((s.first_line, s.lines.len()), (1, 5), "the window is cut at the file's ends");
    }

    #[test]
    fn the_events_own_context_is_the_fallback_and_says_why() {
        let fs = frame_source(&frame(7, "x = None"), Err(Refusal::NotFound("app/m.py".into())));
        let s = fs.snippet.as_ref().unwrap();
        assert_eq!((s.file.as_deref(), s.first_line, s.focus), (None, 6, Some(7)));
        assert_eq!(s.text(1), "x = None");
        assert_eq!(fs.origin(), "the event's own context");
        assert_eq!(fs.missing, Some(Refusal::NotFound("app/m.py".into())));

        let fs = frame_source(&frame(500, "x"), Ok(file(10)));
        assert!(fs.note.unwrap().contains("past its end"));
        assert!(fs.snippet.unwrap().file.is_none());

        let bare = StackFrame { lineno: Some(3), ..Default::default() };
        assert_eq!(frame_source(&bare, Err(Refusal::NoRoot)).snippet, None);
    }

    #[test]
    fn releases_shorten_only_long_shas() {
        assert_eq!(short_release("shop@a1f3c9e27b5d4f80a6c2e1b9d7f0c3a5e8b4d2f1"), "shop@a1f3c9e");
        assert_eq!(short_release("shop@1.2.3"), "shop@1.2.3");
        assert_eq!(short_release("9c4e7b1aaaaaaaaaaaaa"), "9c4e7b1");
    }
}
