use crate::model::{AuditEntry, Incident, Millis, Patch};

use super::RequestId;

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

/// Everything the views draw from. No IO handles live here.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub tab: Tab,
    pub help: bool,
    pub incidents: Vec<Incident>,
    pub patches: Vec<Patch>,
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
    pub size: (u16, u16),
    pub quit: bool,
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
            Tab::Incidents => self.incidents.len(),
            Tab::Patches => self.patches.len(),
            Tab::Rollouts => 0,
            Tab::Audit => self.audit.len(),
        }
    }

    pub fn selected(&self, tab: Tab) -> usize {
        self.selected[tab.index()].min(self.rows(tab).saturating_sub(1))
    }

    /// Rows a page holds in the current layout (used by page up/down).
    pub fn page(&self) -> usize {
        usize::from(self.size.1.saturating_sub(12)).max(1)
    }
}
