use std::sync::Arc;

use crate::inspect::IncidentDetail;
use crate::model::{AuditEntry, Incident, Millis, Patch, Role};
use crate::review::{Doc, FileDoc, Layout};
use crate::tui::keymap::Context;

use super::RequestId;
use super::trace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    #[default]
    Incidents,
    Patches,
    Rollouts,
    Audit,
}

impl Tab {
    pub const ALL: [Tab; 4] = [Tab::Incidents, Tab::Patches, Tab::Rollouts, Tab::Audit];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Incidents => "Incidents",
            Tab::Patches => "Patches",
            Tab::Rollouts => "Rollouts",
            Tab::Audit => "Audit",
        }
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    pub fn offset(self, by: isize) -> Tab {
        let n = Tab::ALL.len() as isize;
        Tab::ALL[((self.index() as isize + by).rem_euclid(n)) as usize]
    }
}

/// What the Incidents table is ordered by. Each key has a natural direction
/// (most first, newest first); `S` reverses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Priority,
    Events,
    Users,
    LastSeen,
    FirstSeen,
}

impl SortKey {
    pub const ALL: [SortKey; 5] = [SortKey::Priority, SortKey::Events, SortKey::Users, SortKey::LastSeen, SortKey::FirstSeen];

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Priority => "priority",
            SortKey::Events => "events",
            SortKey::Users => "users",
            SortKey::LastSeen => "last seen",
            SortKey::FirstSeen => "first seen",
        }
    }

    pub fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|k| *k == self).unwrap_or(0);
        SortKey::ALL[(i + 1) % SortKey::ALL.len()]
    }

    /// `a` before `b` in the key's natural direction: most first, newest first.
    fn cmp(self, a: &Incident, b: &Incident) -> std::cmp::Ordering {
        match self {
            SortKey::Priority => b.score.total_cmp(&a.score),
            SortKey::Events => b.count.cmp(&a.count),
            SortKey::Users => b.users.cmp(&a.users),
            SortKey::LastSeen => b.last_seen.cmp(&a.last_seen),
            SortKey::FirstSeen => b.first_seen.cmp(&a.first_seen),
        }
    }
}

/// Which part of the Incident view a narrow screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pane {
    #[default]
    Trace,
    Details,
    Grouping,
}

impl Pane {
    pub const ALL: [Pane; 3] = [Pane::Trace, Pane::Details, Pane::Grouping];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Trace => "Trace & source",
            Pane::Details => "Dimensions & timeline",
            Pane::Grouping => "Why grouped",
        }
    }

    pub fn next(self) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Pane::ALL[(i + 1) % Pane::ALL.len()]
    }
}

/// An open incident. Its detail is loaded by the effect runner; until the
/// result arrives the view says it is loading.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentView {
    pub id: String,
    pub request: RequestId,
    /// `None` while loading.
    pub detail: Option<Result<Box<IncidentDetail>, String>>,
    /// The selected frame, `(exception, frame)` in the representative event.
    pub frame: Option<(usize, usize)>,
    pub show_library: bool,
    pub pane: Pane,
}

impl IncidentView {
    pub fn detail(&self) -> Option<&IncidentDetail> {
        match &self.detail {
            Some(Ok(d)) => Some(d),
            _ => None,
        }
    }

    /// The trace rows as drawn: escaping exception first, innermost frame first.
    pub fn rows(&self) -> Vec<trace::Row> {
        self.detail().and_then(|d| d.event.as_ref()).map(|ev| trace::rows(ev, self.show_library)).unwrap_or_default()
    }
}

/// What a job panel in the Incident view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PanelKind {
    #[default]
    Repro,
    Propose,
}

/// An incident's repro or proposer, run from the Incident view; output streams in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReproPanel {
    pub kind: PanelKind,
    pub incident: String,
    pub request: RequestId,
    /// The newest output, trimmed from the front (see [`push_tail`]).
    pub output: String,
    /// `Ok(verdict summary)` or `Err(why it could not run)` once finished.
    pub done: Option<Result<String, String>>,
}

/// A verification running from the console: the steps as they report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveVerify {
    pub patch: String,
    pub request: RequestId,
    pub steps: Vec<crate::model::VerificationStep>,
    pub output: String,
    pub done: Option<Result<String, String>>,
}

/// Below this many columns the diff is shown unified, whatever was asked.
pub const SIDE_BY_SIDE_MIN: u16 = 100;

/// Which part of the Patch view the movement keys act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatchFocus {
    #[default]
    Diff,
    /// The gauntlet's steps (and a live verification's output).
    Evidence,
}

/// The Patch view, open over the Patches tab: the review screen for one
/// patch (its diff, evidence and risk).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchView {
    pub id: String,
    /// The selected gauntlet step.
    pub step: usize,
    /// The patch's diff, laid out; the error says why it could not be.
    pub doc: Result<Arc<Doc>, String>,
    /// The file shown.
    pub file: usize,
    /// The first row shown, counted in `top_layout`'s rows (so a resize
    /// across the side-by-side width keeps the place).
    pub top: usize,
    pub top_layout: Layout,
    /// Columns of code scrolled off to the left (not when wrapping).
    pub hscroll: usize,
    pub wrap: bool,
    /// Unified even when there is room for side by side.
    pub unified: bool,
    pub focus: PatchFocus,
}

/// Where the Patch view's parts go at a terminal size; the view draws with
/// it and `update` pages with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchGeometry {
    /// Evidence and risk panels fit under the diff.
    pub tall: bool,
    /// Rows of diff text shown.
    pub diff_rows: usize,
}

impl PatchGeometry {
    /// The header box around the patch's summary.
    pub const HEAD: u16 = 6;
    /// The evidence panel: seven steps and the border.
    pub const EVIDENCE: u16 = 9;

    pub fn at(size: (u16, u16)) -> PatchGeometry {
        let body = size.1.saturating_sub(2);
        let tall = body >= 34;
        let middle = body.saturating_sub(Self::HEAD + if tall { Self::EVIDENCE } else { 0 });
        PatchGeometry { tall, diff_rows: usize::from(middle.saturating_sub(2)).max(1) }
    }
}

impl PatchView {
    pub fn open(patch: &Patch) -> PatchView {
        PatchView {
            id: patch.id.clone(),
            step: 0,
            doc: Doc::parse(&patch.diff).map(Arc::new),
            file: 0,
            top: 0,
            top_layout: Layout::SideBySide,
            hscroll: 0,
            wrap: false,
            unified: false,
            focus: PatchFocus::Diff,
        }
    }

    /// The layout at a terminal width.
    pub fn layout(&self, width: u16) -> Layout {
        if self.unified || width < SIDE_BY_SIDE_MIN { Layout::Unified } else { Layout::SideBySide }
    }

    /// The file shown, if the diff parsed.
    pub fn file_doc(&self) -> Option<&FileDoc> {
        self.doc.as_ref().ok().and_then(|d| d.files.get(self.file))
    }

    /// Shows file `file` from row `top` of `layout`, scrolled fully left.
    pub fn show_file(&mut self, file: usize, top: usize, layout: Layout) {
        self.file = file;
        self.top = top;
        self.top_layout = layout;
        self.hscroll = 0;
    }

    /// The first row shown, in `layout`'s rows.
    pub fn top_in(&self, layout: Layout) -> usize {
        self.file_doc().map(|f| f.map_row(self.top_layout, self.top, layout)).unwrap_or(0)
    }
}

/// A step's full log, over everything: scrollable and searchable.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogView {
    pub title: String,
    pub request: RequestId,
    /// `None` while loading.
    pub text: Option<Result<String, String>>,
    /// First line shown.
    pub scroll: usize,
    pub query: String,
    pub searching: bool,
    /// The line of the current match.
    pub hit: Option<usize>,
}

impl LogView {
    pub fn lines(&self) -> Vec<&str> {
        match &self.text {
            Some(Ok(t)) => t.lines().collect(),
            _ => Vec::new(),
        }
    }

    /// Lines that contain the query (case-insensitive).
    pub fn matches(&self) -> Vec<usize> {
        if self.query.is_empty() {
            return Vec::new();
        }
        let q = self.query.to_lowercase();
        self.lines().iter().enumerate().filter(|(_, l)| l.to_lowercase().contains(&q)).map(|(i, _)| i).collect()
    }
}

/// Keeps at most `cap` bytes of `buf`, dropping whole lines from the front.
pub fn push_tail(buf: &mut String, more: &str, cap: usize) {
    buf.push_str(more);
    if buf.len() > cap {
        let mut cut = buf.len() - cap;
        while !buf.is_char_boundary(cut) {
            cut += 1;
        }
        let cut = buf[cut..].find('\n').map(|i| cut + i + 1).unwrap_or(cut);
        buf.drain(..cut);
    }
}

/// The person at the keyboard, as the console shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    Approve,
    Veto,
    RequestChanges,
    BreakGlass,
    Promote,
    Abort,
    KillSwitch,
}

impl DialogKind {
    pub fn title(self) -> &'static str {
        match self {
            DialogKind::Approve => "Approve",
            DialogKind::Veto => "Veto",
            DialogKind::RequestChanges => "Request changes",
            DialogKind::BreakGlass => "BREAK-GLASS approval",
            DialogKind::Promote => "Promote the canary to everyone",
            DialogKind::Abort => "Abort the rollout",
            DialogKind::KillSwitch => "KILL SWITCH: patched code off",
        }
    }

    /// What the text is called, and whether it may be empty.
    pub fn text_label(self) -> (&'static str, bool) {
        match self {
            DialogKind::Approve => ("comment (optional)", true),
            DialogKind::Veto => ("reason (required)", false),
            DialogKind::RequestChanges => ("what to change (required)", false),
            DialogKind::BreakGlass => ("reason for breaking the glass (required)", false),
            DialogKind::Promote => ("comment (optional)", true),
            DialogKind::Abort => ("reason for the abort (required)", false),
            DialogKind::KillSwitch => ("reason (required)", false),
        }
    }
}

/// The approve / veto / request-changes / break-glass dialog: a comment
/// editor and, for break-glass, a typed confirmation.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub kind: DialogKind,
    pub patch: String,
    pub patch_title: String,
    pub editor: ratatui_textarea::TextArea<'static>,
    /// The typed confirmation, when the action needs one.
    pub confirm: Option<String>,
    /// Keys go to the confirmation field rather than the editor.
    pub on_confirm: bool,
    pub error: Option<String>,
    /// Set while the decision is being recorded.
    pub request: Option<RequestId>,
    /// The rollout a promote / abort / kill-switch dialog steers.
    pub rollout: Option<String>,
}

impl Dialog {
    pub fn new(kind: DialogKind, patch: &Patch) -> Dialog {
        let mut editor = ratatui_textarea::TextArea::default();
        editor.set_placeholder_text(kind.text_label().0);
        Dialog {
            kind,
            patch: patch.id.clone(),
            patch_title: patch.title.clone(),
            editor,
            confirm: (kind == DialogKind::BreakGlass).then(String::new),
            on_confirm: false,
            error: None,
            request: None,
            rollout: None,
        }
    }

    /// A dialog that changes production through a rollout: always a typed confirmation.
    pub fn for_rollout(kind: DialogKind, rollout: &crate::model::Rollout, patch_title: &str) -> Dialog {
        let mut editor = ratatui_textarea::TextArea::default();
        editor.set_placeholder_text(kind.text_label().0);
        Dialog {
            kind,
            patch: rollout.patch_id.clone(),
            patch_title: patch_title.to_string(),
            editor,
            confirm: Some(String::new()),
            on_confirm: false,
            error: None,
            request: None,
            rollout: Some(rollout.id.clone()),
        }
    }

    pub fn text(&self) -> String {
        self.editor.lines().join("\n")
    }

    /// What must be typed to confirm: the patch id's first eight characters.
    pub fn confirm_word(&self) -> &str {
        &self.patch[..self.patch.len().min(8)]
    }
}

/// Everything the views draw from. No IO handles live here.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub tab: Tab,
    pub help: bool,
    /// Incidents as the store ranks them.
    pub incidents: Vec<Incident>,
    /// Indices into `incidents` the table shows, filtered and in sort order.
    pub visible: Vec<usize>,
    /// The table's filter text; `filtering` while it is being typed.
    pub filter: String,
    pub filtering: bool,
    pub sort: SortKey,
    pub sort_reversed: bool,
    /// The Incident view, open over the Incidents tab.
    pub view: Option<IncidentView>,
    pub last_detail_request: RequestId,
    pub patches: Vec<Patch>,
    pub repro: Option<ReproPanel>,
    pub verify: Option<LiveVerify>,
    pub patch_view: Option<PatchView>,
    pub log: Option<LogView>,
    /// Why repros and verification cannot run from this console, if they cannot.
    pub jobs_unavailable: Option<String>,
    pub last_job_request: RequestId,
    pub audit: Vec<AuditEntry>,
    pub chain: Option<Result<usize, String>>,
    pub events: u64,
    /// Selected row per tab.
    pub selected: [usize; 4],
    /// Nothing loaded yet: views say "loading", not "empty".
    pub loading: bool,
    pub last_request: RequestId,
    pub status: Option<String>,
    pub error: Option<String>,
    /// What the banner says: which world or store this is.
    pub environment: String,
    pub store_label: String,
    pub read_only: bool,
    /// Who is at the keyboard (unknown in tests and screenshots).
    pub me: Option<Me>,
    pub dialog: Option<Dialog>,
    /// The Audit tab's filter: `patch:ID`, `incident:ID`, `actor:NAME` or
    /// any text; `audit_filtering` while it is typed.
    pub audit_filter: String,
    pub audit_filtering: bool,
    pub size: (u16, u16),
    pub quit: bool,
    pub rollouts: Vec<crate::model::Rollout>,
    /// The newest rollout's per-second measurements, canary and baseline.
    pub rollout_points: Vec<crate::store::Point>,
    /// The wall clock at the last load.
    pub clock: Millis,
    /// Charts drawn with dots instead of braille (terminals without braille glyphs).
    pub dot_charts: bool,
}

impl State {
    pub fn new(environment: impl Into<String>, store_label: impl Into<String>, read_only: bool) -> State {
        State { environment: environment.into(), store_label: store_label.into(), read_only, loading: true, ..Default::default() }
    }

    /// Reference time for "ago": the newest event the store holds, so a replay
    /// of recorded events reads the same whenever it is opened.
    pub fn now(&self) -> Millis {
        self.incidents.iter().map(|i| i.last_seen).max().unwrap_or(0)
    }

    pub fn rows(&self, tab: Tab) -> usize {
        match tab {
            Tab::Incidents => self.visible.len(),
            Tab::Patches => self.patches.len(),
            Tab::Rollouts => self.rollouts.len(),
            Tab::Audit => self.audit_rows().len(),
        }
    }

    /// The audit entries the Audit tab shows, newest first, filtered.
    pub fn audit_rows(&self) -> Vec<&AuditEntry> {
        let terms: Vec<String> = self.audit_filter.split_whitespace().map(str::to_lowercase).collect();
        self.audit.iter().rev().filter(|e| terms.iter().all(|t| audit_matches(e, t))).collect()
    }

    pub fn selected(&self, tab: Tab) -> usize {
        self.selected[tab.index()].min(self.rows(tab).saturating_sub(1))
    }

    /// The patch the Patch view shows, else the selected row's.
    pub fn current_patch(&self) -> Option<&Patch> {
        match &self.patch_view {
            Some(v) => self.patches.iter().find(|p| p.id == v.id),
            None => self.patches.get(self.selected(Tab::Patches)),
        }
    }

    /// The incident on the selected row of the table.
    pub fn selected_incident(&self) -> Option<&Incident> {
        self.visible.get(self.selected(Tab::Incidents)).and_then(|i| self.incidents.get(*i))
    }

    /// Where keys are looked up: modal overlays first, then the open view.
    pub fn key_context(&self) -> Context {
        if self.help {
            Context::Help
        } else if self.dialog.is_some() {
            Context::Dialog
        } else if let Some(log) = &self.log {
            if log.searching { Context::LogSearch } else { Context::Log }
        } else if self.patch_view.is_some() && self.tab == Tab::Patches {
            Context::Patch
        } else if (self.filtering && self.tab == Tab::Incidents) || (self.audit_filtering && self.tab == Tab::Audit) {
            Context::Filter
        } else if self.view.is_some() && self.tab == Tab::Incidents {
            Context::Incident
        } else {
            Context::List
        }
    }

    /// Recomputes `visible` from the filter and sort, keeping the selection
    /// on incident `keep` when it is still shown, else on the same row.
    pub fn refresh_visible(&mut self, keep: Option<&str>) {
        let terms: Vec<String> = self.filter.split_whitespace().map(str::to_lowercase).collect();
        let mut visible: Vec<usize> = (0..self.incidents.len()).filter(|i| terms.iter().all(|t| matches(&self.incidents[*i], t))).collect();
        let (key, rev) = (self.sort, self.sort_reversed);
        // Stable: ties keep the store's priority order.
        visible.sort_by(|a, b| {
            let o = key.cmp(&self.incidents[*a], &self.incidents[*b]);
            if rev { o.reverse() } else { o }
        });
        self.visible = visible;
        let at = keep.and_then(|id| self.visible.iter().position(|i| self.incidents[*i].id == id));
        let row = at.unwrap_or(self.selected[Tab::Incidents.index()]);
        self.selected[Tab::Incidents.index()] = row.min(self.visible.len().saturating_sub(1));
    }

    /// Whether the Incident view has room for all its panels at once
    /// (else they stack and `d` switches between them).
    pub fn incident_wide(&self) -> bool {
        self.size.0 >= 120 && self.size.1 >= 32
    }

    /// Rows a page holds in the current layout (used by page up/down).
    pub fn page(&self) -> usize {
        usize::from(self.size.1.saturating_sub(12)).max(1)
    }
}

/// Whether an audit entry matches a lower-cased filter term: `patch:ID`,
/// `incident:ID` (prefixes of the subject) and `actor:NAME` match those
/// fields; other text matches actor, action or subject.
fn audit_matches(e: &AuditEntry, term: &str) -> bool {
    let lower = |s: &str| s.to_lowercase();
    if let Some(name) = term.strip_prefix("actor:") {
        return lower(&e.actor).contains(name);
    }
    if term.starts_with("patch:") || term.starts_with("incident:") {
        return lower(&e.subject).starts_with(term);
    }
    lower(&e.actor).contains(term) || lower(&e.action).contains(term) || lower(&e.subject).contains(term)
}

/// Whether one lower-cased filter term is in any of the incident's searchable fields.
fn matches(inc: &Incident, term: &str) -> bool {
    let has = |s: &str| s.to_lowercase().contains(term);
    has(&inc.id)
        || has(&inc.title)
        || inc.culprit.as_deref().is_some_and(has)
        || inc.services.iter().any(|s| has(s))
        || inc.tenants.iter().any(|s| has(s))
        || inc.releases.iter().any(|s| has(s))
}
