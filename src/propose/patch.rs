//! Unified diffs: parse, print, apply, and check where they write.
//!
//! The parser accepts what `diff -u`, `git diff` and LLMs produce: optional
//! `diff --git`/`index`/mode header lines, `--- a/x` and `+++ b/x` (with or
//! without the `a/` `b/` prefixes and a tab-separated timestamp), `/dev/null`
//! for created and deleted files, `@@ -l,s +l,s @@ section` hunk headers
//! (a missing count means 1), and `\ No newline at end of file`.
//!
//! Applying works the way `patch` does: each hunk is looked for at the line
//! its header names, shifted by how far earlier hunks moved, and then at
//! growing distances above and below (offset). If the exact text is not found,
//! up to [`MAX_FUZZ`] lines of leading and trailing context are ignored
//! (fuzz). Every hunk of every file is placed before any file is written, so a
//! patch applies whole or not at all, and the hunk that did not apply is named.
//!
//! Paths are checked before anything is read: no absolute path, no `..`, no
//! `.git`, and no path through a symbolic link that leads out of the tree.

use std::fmt::{self, Write as _};
use std::path::{Component, Path, PathBuf};

/// Most context lines ignored at each end of a hunk when the exact text is
/// not found (what `patch` calls fuzz; its default is 2).
pub const MAX_FUZZ: usize = 2;

/// A diff larger than this is refused before parsing: a surgical hotfix is
/// small, and a reply this large is not one.
pub const MAX_DIFF_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Context(String),
    Remove(String),
    Add(String),
}

impl Line {
    pub fn text(&self) -> &str {
        match self {
            Line::Context(t) | Line::Remove(t) | Line::Add(t) => t,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    /// Text after the second `@@` (often the enclosing function).
    pub section: String,
    pub lines: Vec<Line>,
    /// The old side's last line has no newline at the end of the file.
    pub old_no_eol: bool,
    /// The new side's last line has no newline at the end of the file.
    pub new_no_eol: bool,
}

impl Hunk {
    fn old_lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|l| match l {
            Line::Context(t) | Line::Remove(t) => Some(t.as_str()),
            Line::Add(_) => None,
        })
    }

    fn new_lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|l| match l {
            Line::Context(t) | Line::Add(t) => Some(t.as_str()),
            Line::Remove(_) => None,
        })
    }

    /// Lines added plus lines removed.
    pub fn changed_lines(&self) -> usize {
        self.lines.iter().filter(|l| !matches!(l, Line::Context(_))).count()
    }

    pub fn header(&self) -> String {
        let mut s = format!("@@ -{} +{} @@", range(self.old_start, self.old_len), range(self.new_start, self.new_len));
        if !self.section.is_empty() {
            s.push(' ');
            s.push_str(&self.section);
        }
        s
    }
}

fn range(start: usize, len: usize) -> String {
    if len == 1 { start.to_string() } else { format!("{start},{len}") }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    /// The old path without its `a/` prefix; `None` for a created file.
    pub old_path: Option<String>,
    /// The new path without its `b/` prefix; `None` for a deleted file.
    pub new_path: Option<String>,
    /// Header lines before `---` (`diff --git`, `index`, modes), kept for printing.
    pub extended: Vec<String>,
    pub hunks: Vec<Hunk>,
}

impl FileDiff {
    /// The path this diff writes (the new side, or the old one for a deletion).
    pub fn path(&self) -> &str {
        self.new_path.as_deref().or(self.old_path.as_deref()).unwrap_or("")
    }

    pub fn is_new(&self) -> bool {
        self.old_path.is_none()
    }

    pub fn is_deleted(&self) -> bool {
        self.new_path.is_none()
    }

    pub fn added(&self) -> usize {
        self.hunks.iter().flat_map(|h| &h.lines).filter(|l| matches!(l, Line::Add(_))).count()
    }

    pub fn removed(&self) -> usize {
        self.hunks.iter().flat_map(|h| &h.lines).filter(|l| matches!(l, Line::Remove(_))).count()
    }
}

/// A parsed unified diff: one entry per file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    pub files: Vec<FileDiff>,
}

/// Why a diff could not be parsed: the 1-based line and what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 { write!(f, "{}", self.message) } else { write!(f, "line {}: {}", self.line, self.message) }
    }
}

impl std::error::Error for ParseError {}

fn perr(line: usize, message: impl Into<String>) -> ParseError {
    ParseError { line, message: message.into() }
}

impl Diff {
    /// Parses unified diff text. Text before the first `---` header (an LLM's
    /// prose, a commit message) is ignored; anything malformed after it is an
    /// error naming its line.
    pub fn parse(text: &str) -> Result<Diff, ParseError> {
        if text.len() > MAX_DIFF_BYTES {
            return Err(perr(0, format!("the diff is {} bytes; the limit is {} bytes", text.len(), MAX_DIFF_BYTES)));
        }
        let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
        let mut files = Vec::new();
        let mut extended: Vec<String> = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            if line.starts_with("diff --git ") {
                extended = vec![line.to_string()];
                i += 1;
                continue;
            }
            if !extended.is_empty() && !line.starts_with("--- ") {
                if line.starts_with("rename from ") || line.starts_with("copy from ") {
                    return Err(perr(i + 1, "renames and copies are not supported; write the change as a delete and an add"));
                }
                if line.starts_with("GIT binary patch") || line.starts_with("Binary files ") {
                    return Err(perr(i + 1, "binary patches are not supported"));
                }
                if line.starts_with("diff ") || line.starts_with("@@") {
                    return Err(perr(i + 1, "a `diff --git` header without `---`/`+++` lines"));
                }
                extended.push(line.to_string());
                i += 1;
                continue;
            }
            if let Some(old) = line.strip_prefix("--- ") {
                let Some(new) = lines.get(i + 1).and_then(|l| l.strip_prefix("+++ ")) else {
                    return Err(perr(i + 2, "expected a `+++` line after `---`"));
                };
                let old_path = header_path(old, "a/").map_err(|m| perr(i + 1, m))?;
                let new_path = header_path(new, "b/").map_err(|m| perr(i + 2, m))?;
                if old_path.is_none() && new_path.is_none() {
                    return Err(perr(i + 1, "both sides are /dev/null"));
                }
                i += 2;
                let mut hunks = Vec::new();
                while i < lines.len() && lines[i].starts_with("@@") {
                    let (hunk, next) = parse_hunk(&lines, i)?;
                    hunks.push(hunk);
                    i = next;
                }
                if hunks.is_empty() {
                    return Err(perr(i + 1, format!("no hunk for {}", new_path.as_deref().or(old_path.as_deref()).unwrap_or(""))));
                }
                files.push(FileDiff { old_path, new_path, extended: std::mem::take(&mut extended), hunks });
                continue;
            }
            if line.starts_with("@@") {
                return Err(perr(i + 1, "a hunk before any `---`/`+++` file header"));
            }
            i += 1;
        }
        if files.is_empty() {
            return Err(perr(0, "no unified diff found (no `---`/`+++` file header with `@@` hunks)"));
        }
        Ok(Diff { files })
    }

    /// Lines added plus lines removed, over all files.
    pub fn changed_lines(&self) -> usize {
        self.files.iter().flat_map(|f| &f.hunks).map(Hunk::changed_lines).sum()
    }

    /// The paths the diff writes, in order.
    pub fn paths(&self) -> Vec<String> {
        self.files.iter().map(|f| f.path().to_string()).collect()
    }

    /// The digest a patch of this diff gets: sha256 over the base revision
    /// and the printed (normalized) diff, so two spellings of one change agree.
    pub fn digest(&self, base_rev: &str) -> String {
        crate::model::Patch::digest_of(base_rev, &self.to_string())
    }
}

/// The path in a `---`/`+++` line: `None` for /dev/null, the prefix removed.
fn header_path(raw: &str, prefix: &str) -> Result<Option<String>, String> {
    let raw = raw.split('\t').next().unwrap_or(raw).trim_end();
    let raw = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(quoted) => quoted,
        None => raw,
    };
    if raw == "/dev/null" {
        return Ok(None);
    }
    if raw.is_empty() {
        return Err("a file header without a path".into());
    }
    Ok(Some(raw.strip_prefix(prefix).unwrap_or(raw).to_string()))
}

fn parse_range(s: &str) -> Option<(usize, usize)> {
    match s.split_once(',') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => Some((s.parse().ok()?, 1)),
    }
}

fn parse_hunk(lines: &[&str], at: usize) -> Result<(Hunk, usize), ParseError> {
    let head = lines[at];
    let bad = || perr(at + 1, format!("malformed hunk header `{}`", head.escape_debug()));
    let rest = head.strip_prefix("@@ -").ok_or_else(bad)?;
    let (ranges, section) = rest.split_once(" @@").ok_or_else(bad)?;
    let (old, new) = ranges.split_once(" +").ok_or_else(bad)?;
    let (old_start, old_len) = parse_range(old).ok_or_else(bad)?;
    let (new_start, new_len) = parse_range(new).ok_or_else(bad)?;
    let mut hunk = Hunk {
        old_start,
        old_len,
        new_start,
        new_len,
        section: section.trim_start().to_string(),
        lines: Vec::new(),
        old_no_eol: false,
        new_no_eol: false,
    };
    let (mut old_seen, mut new_seen) = (0, 0);
    let mut i = at + 1;
    while old_seen < old_len || new_seen < new_len {
        let Some(&line) = lines.get(i) else {
            return Err(perr(
                i,
                format!("the hunk `{}` ends early: {old_seen} of {old_len} old and {new_seen} of {new_len} new lines", hunk.header()),
            ));
        };
        // An empty line inside a hunk is an empty context line whose leading
        // space was stripped (by an editor or a mail client).
        let (tag, text) = if line.is_empty() { (' ', "") } else { (line.as_bytes()[0] as char, &line[1..]) };
        match tag {
            ' ' => {
                hunk.lines.push(Line::Context(text.to_string()));
                old_seen += 1;
                new_seen += 1;
            }
            '-' => {
                hunk.lines.push(Line::Remove(text.to_string()));
                old_seen += 1;
            }
            '+' => {
                hunk.lines.push(Line::Add(text.to_string()));
                new_seen += 1;
            }
            '\\' => {}
            _ => {
                return Err(perr(
                    i + 1,
                    format!(
                        "the hunk `{}` has {old_seen} of {old_len} old and {new_seen} of {new_len} new lines, then a line that is not part of it",
                        hunk.header()
                    ),
                ));
            }
        }
        if old_seen > old_len || new_seen > new_len {
            return Err(perr(i + 1, format!("the hunk `{}` has more lines than its header says", hunk.header())));
        }
        i += 1;
        // `\ No newline at end of file` marks the line just read.
        if lines.get(i).is_some_and(|l| l.starts_with('\\')) {
            match hunk.lines.last() {
                Some(Line::Remove(_)) => hunk.old_no_eol = true,
                Some(Line::Add(_)) => hunk.new_no_eol = true,
                _ => {
                    hunk.old_no_eol = true;
                    hunk.new_no_eol = true;
                }
            }
            i += 1;
        }
    }
    Ok((hunk, i))
}

impl fmt::Display for Diff {
    /// Prints the diff in the canonical form: `a/` and `b/` prefixes, hunk
    /// counts recomputed, `\ No newline at end of file` where it applies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            for e in &file.extended {
                writeln!(f, "{e}")?;
            }
            match &file.old_path {
                Some(p) => writeln!(f, "--- a/{p}")?,
                None => writeln!(f, "--- /dev/null")?,
            }
            match &file.new_path {
                Some(p) => writeln!(f, "+++ b/{p}")?,
                None => writeln!(f, "+++ /dev/null")?,
            }
            for h in &file.hunks {
                writeln!(f, "{}", h.header())?;
                let last_old = h.lines.iter().rposition(|l| !matches!(l, Line::Add(_)));
                let last_new = h.lines.iter().rposition(|l| !matches!(l, Line::Remove(_)));
                for (i, l) in h.lines.iter().enumerate() {
                    let tag = match l {
                        Line::Context(_) => ' ',
                        Line::Remove(_) => '-',
                        Line::Add(_) => '+',
                    };
                    writeln!(f, "{tag}{}", l.text())?;
                    let marks_old = h.old_no_eol && Some(i) == last_old;
                    let marks_new = h.new_no_eol && Some(i) == last_new;
                    if marks_old || marks_new {
                        writeln!(f, "\\ No newline at end of file")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Where a hunk landed: the 1-based line, its offset from the header's line,
/// and how many context lines were ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub line: usize,
    pub offset: isize,
    pub fuzz: usize,
}

/// A hunk that did not apply: which file and hunk, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyError {
    pub path: String,
    /// 1-based hunk number, 0 when the problem is with the file itself.
    pub hunk: usize,
    pub message: String,
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hunk == 0 {
            write!(f, "{}: {}", self.path, self.message)
        } else {
            write!(f, "{}: hunk #{} {}", self.path, self.hunk, self.message)
        }
    }
}

impl std::error::Error for ApplyError {}

/// File content split into lines, remembering whether the last one ended
/// with a newline.
struct Text {
    lines: Vec<String>,
    eol_at_end: bool,
}

impl Text {
    fn split(s: &str) -> Text {
        if s.is_empty() {
            return Text { lines: Vec::new(), eol_at_end: true };
        }
        let eol_at_end = s.ends_with('\n');
        let body = s.strip_suffix('\n').unwrap_or(s);
        Text { lines: body.split('\n').map(str::to_string).collect(), eol_at_end }
    }

    fn join(&self) -> String {
        let mut s = self.lines.join("\n");
        if !self.lines.is_empty() && self.eol_at_end {
            s.push('\n');
        }
        s
    }
}

/// Compares a file line with a diff line, ignoring a carriage return the
/// diff may have lost.
fn same(file: &str, diff: &str) -> bool {
    file == diff || file.strip_suffix('\r') == Some(diff)
}

/// Applies one file's hunks to its content, returning the new content and
/// where each hunk landed.
pub fn apply_text(original: &str, file: &FileDiff) -> Result<(String, Vec<Placement>), ApplyError> {
    let path = file.path().to_string();
    let mut text = Text::split(original);
    let mut placements = Vec::new();
    // How far the file has grown or shrunk above the next hunk, and how far
    // the previous hunk was from where its header said (patch carries it on).
    let mut delta: isize = 0;
    let mut carried: isize = 0;
    let mut floor = 0usize;
    for (n, hunk) in file.hunks.iter().enumerate() {
        let fail = |message: String| ApplyError { path: path.clone(), hunk: n + 1, message };
        let old: Vec<&str> = hunk.old_lines().collect();
        let new: Vec<String> = hunk.new_lines().map(str::to_string).collect();
        // A hunk's start is 1-based; a hunk that only adds lines names the
        // line after which it inserts (0 for the top of the file).
        let stated = if old.is_empty() { hunk.old_start as isize } else { hunk.old_start as isize - 1 };
        let want = stated + delta + carried;
        let lead = hunk.lines.iter().take_while(|l| matches!(l, Line::Context(_))).count();
        let trail = hunk.lines.iter().rev().take_while(|l| matches!(l, Line::Context(_))).count();
        let mut found = None;
        'fuzz: for fuzz in 0..=MAX_FUZZ {
            let (skip_front, skip_back) = (fuzz.min(lead), fuzz.min(trail));
            if fuzz > 0 && skip_front == 0 && skip_back == 0 {
                break;
            }
            let core = &old[skip_front..old.len() - skip_back];
            if core.is_empty() && !old.is_empty() {
                break;
            }
            let target = want + skip_front as isize;
            let max_start = text.lines.len().saturating_sub(core.len());
            for distance in 0..=text.lines.len().max(1) as isize {
                for at in [target - distance, target + distance] {
                    if distance == 0 && at != target {
                        continue;
                    }
                    if at < floor as isize || at > max_start as isize {
                        continue;
                    }
                    let at = at as usize;
                    if core.iter().enumerate().all(|(k, l)| same(&text.lines[at + k], l)) {
                        found = Some((at, skip_front, skip_back, fuzz));
                        break 'fuzz;
                    }
                }
                if target - distance < floor as isize && target + distance > max_start as isize {
                    break;
                }
            }
        }
        let Some((replace_from, skip_front, skip_back, fuzz)) = found else {
            let what = if old.is_empty() { "its position".to_string() } else { format!("{} line(s) of context and removals", old.len()) };
            return Err(fail(format!(
                "does not apply: {what} not found near line {} (even ignoring {MAX_FUZZ} context lines)",
                hunk.old_start
            )));
        };
        // With fuzz, the ignored context lines stay as the file has them.
        let start = replace_from.saturating_sub(skip_front);
        let replace_len = old.len() - skip_front - skip_back;
        let replacement: Vec<String> = new[skip_front..new.len() - skip_back].to_vec();
        let added = replacement.len();
        text.lines.splice(replace_from..replace_from + replace_len, replacement);
        carried = start as isize - (stated + delta);
        placements.push(Placement { line: start + 1, offset: carried, fuzz });
        delta += added as isize - replace_len as isize;
        floor = replace_from + added;
        if hunk.new_no_eol {
            text.eol_at_end = false;
        } else if hunk.old_no_eol {
            text.eol_at_end = true;
        }
    }
    Ok((text.join(), placements))
}

/// A path problem: the path as the diff wrote it and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathProblem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.escape_debug(), self.message)
    }
}

/// Checks a diff path on its own: relative, no `..`, no `.git`, no control
/// characters. (Whether it may be written is the policy's question.)
pub fn check_path_text(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.chars().any(|c| c.is_control()) {
        return Err("control characters in the path".into());
    }
    if path.starts_with('/') || path.starts_with('\\') || Path::new(path).is_absolute() {
        return Err("absolute path".into());
    }
    for c in Path::new(path).components() {
        match c {
            Component::ParentDir => return Err("`..` leads out of the tree".into()),
            Component::Normal(s) if s == ".git" => return Err("writes inside .git".into()),
            Component::Prefix(_) | Component::RootDir => return Err("absolute path".into()),
            _ => {}
        }
    }
    Ok(())
}

/// Checks every path of a diff against the tree at `root`: the text rules
/// above, and no path through a symbolic link that leaves the tree.
pub fn check_paths(root: &Path, diff: &Diff) -> Vec<PathProblem> {
    let mut problems = Vec::new();
    let canon_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    for file in &diff.files {
        for p in [&file.old_path, &file.new_path].into_iter().flatten() {
            if problems.iter().any(|x: &PathProblem| &x.path == p) {
                continue;
            }
            if let Err(message) = check_path_text(p) {
                problems.push(PathProblem { path: p.clone(), message });
                continue;
            }
            if let Err(message) = check_within(&canon_root, p) {
                problems.push(PathProblem { path: p.clone(), message });
            }
        }
    }
    problems
}

/// Walks `rel` below `root` one component at a time; a symbolic link on the
/// way must resolve inside `root`, and the file itself must not be a link.
fn check_within(root: &Path, rel: &str) -> Result<(), String> {
    let mut at = root.to_path_buf();
    let comps: Vec<_> = Path::new(rel).components().collect();
    for (i, c) in comps.iter().enumerate() {
        at.push(c.as_os_str());
        let Ok(meta) = std::fs::symlink_metadata(&at) else { return Ok(()) };
        if meta.file_type().is_symlink() {
            if i + 1 == comps.len() {
                return Err("the file is a symbolic link".into());
            }
            match at.canonicalize() {
                Ok(real) if real.starts_with(root) => at = real,
                Ok(_) => return Err("goes through a symbolic link that leads out of the tree".into()),
                Err(_) => return Err("goes through a broken symbolic link".into()),
            }
        }
    }
    Ok(())
}

/// What applying a diff to a tree did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Per file: its path and where each hunk landed.
    pub files: Vec<(String, Vec<Placement>)>,
}

impl Applied {
    /// A line per hunk that moved or needed fuzz, as `patch` reports them.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (path, places) in &self.files {
            for (i, p) in places.iter().enumerate() {
                if p.offset != 0 || p.fuzz != 0 {
                    let mut s = format!("{path}: hunk #{} succeeded at {}", i + 1, p.line);
                    if p.fuzz != 0 {
                        let _ = write!(s, " with fuzz {}", p.fuzz);
                    }
                    if p.offset != 0 {
                        let _ = write!(s, " (offset {} line{})", p.offset, if p.offset.abs() == 1 { "" } else { "s" });
                    }
                    out.push(s);
                }
            }
        }
        out
    }
}

/// Why a diff could not be applied to a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeError {
    Paths(Vec<PathProblem>),
    Apply(ApplyError),
    Io(String),
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TreeError::Paths(ps) => {
                let all: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
                write!(f, "unsafe path: {}", all.join("; "))
            }
            TreeError::Apply(e) => write!(f, "{e}"),
            TreeError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Applies `diff` to the tree at `root`: paths checked, every hunk placed in
/// memory, then each file written (through a temporary file and a rename).
pub fn apply_tree(root: &Path, diff: &Diff) -> Result<Applied, TreeError> {
    let problems = check_paths(root, diff);
    if !problems.is_empty() {
        return Err(TreeError::Paths(problems));
    }
    let mut writes: Vec<(PathBuf, Option<String>)> = Vec::new();
    let mut applied = Applied { files: Vec::new() };
    for file in &diff.files {
        let path = file.path().to_string();
        let full = root.join(&path);
        let original = if file.is_new() {
            if full.exists() {
                return Err(TreeError::Apply(ApplyError { path, hunk: 0, message: "is created by the patch but already exists".into() }));
            }
            String::new()
        } else {
            let source = root.join(file.old_path.as_deref().unwrap_or(&path));
            match std::fs::read(&source) {
                Ok(bytes) => String::from_utf8(bytes)
                    .map_err(|_| TreeError::Apply(ApplyError { path: path.clone(), hunk: 0, message: "is not UTF-8 text".into() }))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(TreeError::Apply(ApplyError { path, hunk: 0, message: "does not exist in the tree".into() }));
                }
                Err(e) => return Err(TreeError::Io(format!("{path}: {e}"))),
            }
        };
        let (new_text, places) = apply_text(&original, file).map_err(TreeError::Apply)?;
        if file.is_deleted() {
            if !new_text.is_empty() {
                return Err(TreeError::Apply(ApplyError {
                    path,
                    hunk: 0,
                    message: "is deleted by the patch but lines would remain".into(),
                }));
            }
            writes.push((full, None));
        } else {
            writes.push((full, Some(new_text)));
        }
        applied.files.push((path, places));
    }
    for (full, content) in writes {
        match content {
            None => std::fs::remove_file(&full).map_err(|e| TreeError::Io(format!("{}: {e}", full.display())))?,
            Some(text) => write_atomic(&full, text.as_bytes()).map_err(|e| TreeError::Io(format!("{}: {e}", full.display())))?,
        }
    }
    Ok(applied)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mode = std::fs::metadata(path).ok().map(|m| m.permissions());
    let tmp =
        path.with_file_name(format!(".{}.suture-tmp", path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()));
    std::fs::write(&tmp, bytes)?;
    if let Some(perm) = mode {
        std::fs::set_permissions(&tmp, perm)?;
    }
    std::fs::rename(&tmp, path)
}

/// Makes a unified diff of one file from its old and new text (3 lines of
/// context), with `a/` and `b/` prefixes.
pub fn diff_text(path: &str, old: &str, new: &str) -> String {
    let d = similar::TextDiff::from_lines(old, new);
    let mut out = String::new();
    let _ = write!(out, "{}", d.unified_diff().context_radius(3).header(&format!("a/{path}"), &format!("b/{path}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "def f(x):\n    a = 1\n    b = 2\n    return x[1]\n\n\ndef g():\n    pass\n";
    const FIX: &str = "--- a/m.py\n+++ b/m.py\n@@ -2,3 +2,3 @@ def f(x):\n     a = 1\n     b = 2\n-    return x[1]\n+    return x[0]\n";

    #[test]
    fn parses_prints_and_applies_a_simple_diff() {
        let d = Diff::parse(FIX).unwrap();
        assert_eq!(d.files.len(), 1);
        assert_eq!(d.files[0].path(), "m.py");
        assert_eq!(d.files[0].hunks[0].section, "def f(x):");
        assert_eq!(d.changed_lines(), 2);
        assert_eq!(d.to_string(), FIX);
        let (out, places) = apply_text(SRC, &d.files[0]).unwrap();
        assert_eq!(out, SRC.replace("x[1]", "x[0]"));
        assert_eq!(places, vec![Placement { line: 2, offset: 0, fuzz: 0 }]);
    }

    #[test]
    fn tolerates_shifted_hunks_and_reports_the_offset() {
        let shifted = format!("import os\nimport sys\n\n{SRC}");
        let d = Diff::parse(FIX).unwrap();
        let (out, places) = apply_text(&shifted, &d.files[0]).unwrap();
        assert!(out.contains("return x[0]"));
        assert_eq!(places[0].offset, 3);
        assert_eq!(places[0].line, 5);
        let up = SRC.replacen("def f(x):\n", "", 1);
        let (_, places) = apply_text(&up, &d.files[0]).unwrap();
        assert_eq!(places[0].offset, -1);
    }

    #[test]
    fn fuzz_ignores_changed_outer_context() {
        let changed = SRC.replace("a = 1", "a = 10");
        let d = Diff::parse(FIX).unwrap();
        let (out, places) = apply_text(&changed, &d.files[0]).unwrap();
        assert!(out.contains("a = 10") && out.contains("return x[0]"));
        assert_eq!(places[0].fuzz, 1);
    }

    #[test]
    fn a_hunk_that_does_not_apply_is_named() {
        let d = Diff::parse(FIX).unwrap();
        let err = apply_text(&SRC.replace("return x[1]", "return y"), &d.files[0]).unwrap_err();
        assert_eq!(err.hunk, 1);
        assert!(err.to_string().starts_with("m.py: hunk #1 does not apply"), "{err}");
    }

    #[test]
    fn later_hunks_carry_the_offset_of_earlier_ones() {
        let src: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let diff = "--- a/t\n+++ b/t\n@@ -5,3 +5,4 @@\n line 5\n+new a\n line 6\n line 7\n@@ -30,3 +31,3 @@\n line 30\n-line 31\n+LINE 31\n line 32\n";
        let d = Diff::parse(diff).unwrap();
        let shifted = format!("top\ntop\n{src}");
        let (out, places) = apply_text(&shifted, &d.files[0]).unwrap();
        assert!(out.contains("line 5\nnew a\nline 6") && out.contains("line 30\nLINE 31\nline 32"));
        assert_eq!(places[0].offset, 2);
        assert_eq!(places[1].offset, 2);
    }

    #[test]
    fn no_newline_at_end_of_file_round_trips() {
        let diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n\\ No newline at end of file\n+new\n\\ No newline at end of file\n";
        let d = Diff::parse(diff).unwrap();
        assert_eq!(d.to_string(), diff);
        let (out, _) = apply_text("old", &d.files[0]).unwrap();
        assert_eq!(out, "new");
        let add_eol = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n\\ No newline at end of file\n+new\n";
        let (out, _) = apply_text("old", &Diff::parse(add_eol).unwrap().files[0]).unwrap();
        assert_eq!(out, "new\n");
    }

    #[test]
    fn creates_and_deletes_files_and_ignores_prose_around_the_diff() {
        let text = "Here is the fix:\n\n```diff\ndiff --git a/new.py b/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1,2 @@\n+a\n+b\n```\nThanks.\n";
        let d = Diff::parse(text).unwrap();
        assert!(d.files[0].is_new());
        let (out, _) = apply_text("", &d.files[0]).unwrap();
        assert_eq!(out, "a\nb\n");
        let del = Diff::parse("--- a/old.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n").unwrap();
        assert!(del.files[0].is_deleted());
        assert_eq!(apply_text("a\nb\n", &del.files[0]).unwrap().0, "");
    }

    #[test]
    fn malformed_diffs_name_the_line() {
        assert!(Diff::parse("just prose, no diff\n").unwrap_err().message.contains("no unified diff"));
        let e = Diff::parse("--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n+c\nzzz\n").unwrap_err();
        assert_eq!(e.line, 7, "{e}");
        let e = Diff::parse("--- a/x\n+++ b/x\n@@ -1,5 +1,5 @@\n a\n").unwrap_err();
        assert!(e.message.contains("ends early"), "{e}");
        let e = Diff::parse("--- a/x\n+++ b/x\n@@ nonsense @@\n").unwrap_err();
        assert_eq!(e.line, 3);
        let big = format!("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+{}\n", "x".repeat(5 * 1024 * 1024));
        assert!(Diff::parse(&big).unwrap_err().message.contains("limit"));
        let e = Diff::parse("diff --git a/x b/y\nrename from x\nrename to y\n").unwrap_err();
        assert!(e.message.contains("renames"));
    }

    #[test]
    fn the_digest_is_the_same_for_two_spellings_of_one_change() {
        let a = Diff::parse(FIX).unwrap();
        let b = Diff::parse(&FIX.replace("--- a/m.py", "--- m.py\t2026-01-01").replace("+++ b/m.py", "+++ m.py")).unwrap();
        assert_eq!(a.digest("base"), b.digest("base"));
        assert_ne!(a.digest("base"), a.digest("other"));
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for (p, why) in
            [("/etc/passwd", "absolute"), ("../x", ".."), ("a/../../x", ".."), (".git/config", ".git"), ("a\u{1b}[2J", "control")]
        {
            assert!(check_path_text(p).unwrap_err().contains(why), "{p}");
        }
        assert!(check_path_text("app/pricing.py").is_ok());
    }

    #[test]
    fn a_path_through_a_symlink_out_of_the_tree_is_refused_and_nothing_is_written() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("victim.py"), "a\n").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
        std::fs::create_dir(root.path().join("real")).unwrap();
        std::fs::write(root.path().join("real/ok.py"), "a\n").unwrap();
        std::os::unix::fs::symlink(root.path().join("real"), root.path().join("inside")).unwrap();
        let d = Diff::parse("--- a/link/victim.py\n+++ b/link/victim.py\n@@ -1 +1 @@\n-a\n+b\n").unwrap();
        let err = apply_tree(root.path(), &d).unwrap_err();
        assert!(err.to_string().contains("leads out of the tree"), "{err}");
        assert_eq!(std::fs::read_to_string(outside.path().join("victim.py")).unwrap(), "a\n");
        let ok = Diff::parse("--- a/inside/ok.py\n+++ b/inside/ok.py\n@@ -1 +1 @@\n-a\n+b\n").unwrap();
        apply_tree(root.path(), &ok).unwrap();
        assert_eq!(std::fs::read_to_string(root.path().join("real/ok.py")).unwrap(), "b\n");
    }

    #[test]
    fn a_failing_file_leaves_the_whole_tree_untouched() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("a.py"), "one\n").unwrap();
        std::fs::write(root.path().join("b.py"), "two\n").unwrap();
        let d = Diff::parse("--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-one\n+ONE\n--- a/b.py\n+++ b/b.py\n@@ -1 +1 @@\n-zzz\n+TWO\n").unwrap();
        let err = apply_tree(root.path(), &d).unwrap_err();
        assert!(err.to_string().contains("b.py: hunk #1"), "{err}");
        assert_eq!(std::fs::read_to_string(root.path().join("a.py")).unwrap(), "one\n");
        let missing = Diff::parse("--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-a\n+b\n").unwrap();
        assert!(apply_tree(root.path(), &missing).unwrap_err().to_string().contains("does not exist"));
    }

    #[test]
    fn diff_text_round_trips_through_the_applier() {
        let new = SRC.replace("b = 2", "b = 3").replace("pass", "return 1");
        let text = diff_text("m.py", SRC, &new);
        let d = Diff::parse(&text).unwrap();
        assert_eq!(apply_text(SRC, &d.files[0]).unwrap().0, new);
    }

    proptest::proptest! {
        #[test]
        fn any_edit_round_trips(old in proptest::collection::vec("[a-c]{0,3}", 0..30), edits in proptest::collection::vec((0usize..30, "[a-d]{0,3}"), 0..6)) {
            let old_text: String = old.iter().map(|l| format!("{l}\n")).collect();
            let mut new_lines = old.clone();
            for (at, text) in edits {
                let at = at.min(new_lines.len());
                if at < new_lines.len() && text.len() % 2 == 0 { new_lines[at] = text; } else { new_lines.insert(at, text); }
            }
            let new_text: String = new_lines.iter().map(|l| format!("{l}\n")).collect();
            let text = diff_text("f", &old_text, &new_text);
            if old_text != new_text {
                let d = Diff::parse(&text).unwrap();
                proptest::prop_assert_eq!(apply_text(&old_text, &d.files[0]).unwrap().0, new_text);
                proptest::prop_assert_eq!(Diff::parse(&d.to_string()).unwrap(), d);
            }
        }
    }
}
