//! People, bots, roles and their decisions on patches.

use serde::{Deserialize, Serialize};

use super::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Person,
    Bot,
}

/// Who did something. Bots are named `suture/templates`, `suture/llm:<model>`,
/// `suture/deployer`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub name: String,
    pub kind: ActorKind,
}

impl Actor {
    pub fn person(name: impl Into<String>) -> Actor {
        Actor { name: name.into(), kind: ActorKind::Person }
    }
    pub fn bot(name: impl Into<String>) -> Actor {
        Actor { name: name.into(), kind: ActorKind::Bot }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Engineer,
    Reviewer,
    Commander,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Engineer => "engineer",
            Role::Reviewer => "reviewer",
            Role::Commander => "commander",
        }
    }

    /// `an engineer`, `a reviewer`, …
    pub fn with_article(self) -> &'static str {
        match self {
            Role::Viewer => "a viewer",
            Role::Engineer => "an engineer",
            Role::Reviewer => "a reviewer",
            Role::Commander => "a commander",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Veto,
    RequestChanges,
    /// A commander's emergency approval: stands in for the approvals the tier
    /// needs, with a reason, marked loudly everywhere it shows.
    BreakGlass,
}

impl Decision {
    pub fn label(self) -> &'static str {
        match self {
            Decision::Approve => "approved",
            Decision::Veto => "vetoed",
            Decision::RequestChanges => "changes requested",
            Decision::BreakGlass => "BREAK-GLASS",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub who: Actor,
    pub role: Role,
    pub decision: Decision,
    pub comment: String,
    pub at: Millis,
    /// Where the decision was made from (`ssh 203.0.113.7`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}
