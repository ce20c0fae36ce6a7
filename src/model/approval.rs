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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Veto,
    RequestChanges,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub who: Actor,
    pub role: Role,
    pub decision: Decision,
    pub comment: String,
    pub at: Millis,
}
