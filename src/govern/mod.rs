//! Governance: who is acting and with what role, the decisions people make on
//! patches, and the records made from them (attestations, post-mortems,
//! promotion to source).
//!
//! Separation of duties is enforced in the model (`model::lifecycle`): the
//! proposer never approves, nobody approves a change they asked for, the
//! deployer acts only with the approvals the tier needs. This module adds what
//! the model cannot know: the role a person holds (from the config, optionally
//! limited to paths or tiers), read-only mode, and where they work from.
//!
//! Choices made here:
//! - Anyone the config does not name is an engineer: they look, ask for
//!   proposals and verify, but do not approve.
//! - With no `[roles]` configured, the demo world brings its own team
//!   (`fixtures/demo/team.toml`: reviewers, a commander, a viewer) and lets
//!   `SUTURE_USER` pick who is at the keyboard. A real install without roles
//!   has no reviewers, and says so when someone tries to approve.
//! - `SUTURE_USER` naming another identity is refused (not ignored) unless
//!   `identity.allow_env_user` is on, so nobody believes they act as someone
//!   they do not.

pub mod attest;
pub mod export;
pub mod postmortem;
pub mod records;

use std::path::Path;

use globset::Glob;
use thiserror::Error;

use crate::config::{Loaded, Roles};
use crate::model::{Actor, Millis, Patch, PatchState, Role, Transition};
use crate::store::{Store, StoreError};

#[derive(Debug, Error)]
pub enum GovernError {
    #[error("SUTURE_USER names {0}, but this configuration does not let anyone act as another identity (identity.allow_env_user is off)")]
    EnvUserNotAllowed(String),
    #[error("read-only mode: {0} changes state and is turned off")]
    ReadOnly(&'static str),
    #[error("{who} is a viewer: read-only")]
    Viewer { who: String },
    #[error("no patch with id {0}")]
    NoPatch(String),
    #[error("`{id}` is the start of {n} patch ids; give more of it")]
    Ambiguous { id: String, n: usize },
    #[error("{0}")]
    Scope(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{path}: {message}")]
    Team { path: String, message: String },
}

/// The person at the keyboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub role: Role,
    /// `ssh <client address>` when the session came in over SSH.
    pub origin: Option<String>,
    /// Where the name came from: `SUTURE_USER`, `identity.name` or `login name`.
    pub via: &'static str,
}

impl Person {
    pub fn actor(&self) -> Actor {
        Actor::person(self.name.clone())
    }
}

/// The roles in force and where they came from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Team {
    pub roles: Roles,
    pub allow_env_user: bool,
    /// `the configuration` or the demo's team file.
    pub source: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoTeam {
    #[serde(default)]
    allow_env_user: bool,
    roles: Roles,
}

impl Team {
    /// The configured roles; in the demo world without configured roles, the
    /// demo's team (`<demo root>/team.toml`).
    pub fn load(loaded: &Loaded, demo_root: Option<&Path>) -> Result<Team, GovernError> {
        let cfg = &loaded.config;
        if let Some(root) = demo_root
            && cfg.roles.is_empty()
        {
            let path = root.join("team.toml");
            let team = |message: String| GovernError::Team { path: path.display().to_string(), message };
            let text = std::fs::read_to_string(&path).map_err(|e| team(e.to_string()))?;
            let demo: DemoTeam = toml::from_str(&text).map_err(|e| team(e.message().to_string()))?;
            return Ok(Team {
                roles: demo.roles,
                allow_env_user: demo.allow_env_user || cfg.identity.allow_env_user,
                source: path.display().to_string(),
            });
        }
        Ok(Team { roles: cfg.roles.clone(), allow_env_user: cfg.identity.allow_env_user, source: "the configuration".into() })
    }

    /// A person's role wherever it applies: viewer, commander, reviewer, else engineer.
    pub fn role_of(&self, name: &str) -> Role {
        let has = |list: &[String]| list.iter().any(|n| n == name);
        if has(&self.roles.viewers) {
            Role::Viewer
        } else if has(&self.roles.commanders) {
            Role::Commander
        } else if has(&self.roles.reviewers) {
            Role::Reviewer
        } else {
            Role::Engineer
        }
    }

    /// The role `name` holds for this patch: a scoped reviewer or commander
    /// outside their paths or tiers is refused with the reason.
    pub fn role_for(&self, name: &str, patch: &Patch) -> Result<Role, GovernError> {
        let role = self.role_of(name);
        let scopes: Vec<_> = self.roles.scopes.iter().filter(|s| s.name == name).collect();
        if scopes.is_empty() || !matches!(role, Role::Reviewer | Role::Commander) {
            return Ok(role);
        }
        let tier = patch.risk.as_ref().map(|r| r.tier.number());
        let fits = |s: &&crate::config::RoleScope| {
            let tier_ok = s.tiers.is_empty() || tier.is_some_and(|t| s.tiers.contains(&t));
            let globs: Vec<_> = s.paths.iter().filter_map(|p| Glob::new(p).ok().map(|g| g.compile_matcher())).collect();
            let paths_ok = globs.is_empty() || patch.files.iter().all(|f| globs.iter().any(|g| g.is_match(f)));
            tier_ok && paths_ok
        };
        if scopes.iter().any(fits) {
            return Ok(role);
        }
        let described: Vec<String> = scopes
            .iter()
            .map(|s| {
                let paths = if s.paths.is_empty() { "any path".to_string() } else { s.paths.join(", ") };
                let tiers = if s.tiers.is_empty() {
                    "any tier".to_string()
                } else {
                    format!("tier {}", s.tiers.iter().map(u8::to_string).collect::<Vec<_>>().join("/"))
                };
                format!("{paths} at {tiers}")
            })
            .collect();
        Err(GovernError::Scope(format!(
            "{name} is {} only for {}; this patch touches {} at {}",
            role.with_article(),
            described.join("; "),
            patch.files.join(", "),
            tier.map_or("an unknown tier".to_string(), |t| format!("tier {t}"))
        )))
    }

    /// Who is at the keyboard: `SUTURE_USER` (when allowed), else
    /// `identity.name`, else the login name; with their role and, over SSH,
    /// the client's address.
    pub fn whoami(&self, configured: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<Person, GovernError> {
        let set = |v: &str| env(v).filter(|s| !s.trim().is_empty());
        let (name, via) = match set("SUTURE_USER") {
            Some(u) if self.allow_env_user => (u.trim().to_string(), "SUTURE_USER"),
            Some(u) => return Err(GovernError::EnvUserNotAllowed(crate::tui::widgets::text::inert(&u).into_owned())),
            None => match configured {
                Some(n) => (n.to_string(), "identity.name"),
                None => (set("USER").or_else(|| set("LOGNAME")).or_else(login_name).unwrap_or_else(|| "unknown".into()), "login name"),
            },
        };
        let origin =
            set("SSH_CLIENT").or_else(|| set("SSH_CONNECTION")).and_then(|v| v.split_whitespace().next().map(|a| format!("ssh {a}")));
        Ok(Person { role: self.role_of(&name), name, origin, via })
    }
}

/// The login name of the process's user, from the password database.
fn login_name() -> Option<String> {
    // SAFETY: getpwuid returns a pointer into static storage or null; the
    // name is copied out at once, before any other call could reuse it.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*pw).pw_name).to_str().ok().map(str::to_string)
    }
}

/// What a person decides about a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Approve { comment: String },
    Veto { reason: String },
    RequestChanges { comment: String },
    BreakGlass { reason: String },
}

impl Choice {
    pub fn verb(&self) -> &'static str {
        match self {
            Choice::Approve { .. } => "approve",
            Choice::Veto { .. } => "veto",
            Choice::RequestChanges { .. } => "request changes",
            Choice::BreakGlass { .. } => "break-glass",
        }
    }
}

/// A stored patch by id or unique id prefix (at least 4 hex digits).
pub fn find_patch(store: &Store, id: &str) -> Result<Patch, GovernError> {
    if let Some(p) = store.patch(id)? {
        return Ok(p);
    }
    if id.len() >= 4 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        let mut hits: Vec<Patch> = store.patches()?.into_iter().filter(|p| p.id.starts_with(id)).collect();
        match hits.len() {
            0 => {}
            1 => return Ok(hits.remove(0)),
            n => return Err(GovernError::Ambiguous { id: id.into(), n }),
        }
    }
    Err(GovernError::NoPatch(crate::tui::widgets::text::inert(id).into_owned()))
}

/// Records a person's decision on a patch, through the lifecycle's checks, with
/// its audit entry signed by the person's key. Returns the patch as it is now.
pub fn decide(
    store: &mut Store,
    team: &Team,
    person: &Person,
    read_only: bool,
    patch_id: &str,
    choice: Choice,
    at: Millis,
) -> Result<(Patch, PatchState), GovernError> {
    if read_only {
        return Err(GovernError::ReadOnly(choice.verb()));
    }
    if person.role == Role::Viewer {
        return Err(GovernError::Viewer { who: person.name.clone() });
    }
    let patch = find_patch(store, patch_id)?;
    let role = team.role_for(&person.name, &patch)?;
    let who = person.actor();
    let t = match choice {
        Choice::Approve { comment } => Transition::Approve { who, role, comment, at },
        Choice::Veto { reason } => Transition::Veto { who, role, reason, at },
        Choice::RequestChanges { comment } => Transition::RequestChanges { who, role, comment, at },
        Choice::BreakGlass { reason } => Transition::BreakGlass { who, role, reason, at },
    };
    store.set_origin(person.origin.clone());
    let state = store.transition_patch(&patch.id, t)?;
    let patch = store.patch(&patch.id)?.ok_or_else(|| GovernError::NoPatch(patch.id.clone()))?;
    Ok((patch, state))
}

#[cfg(test)]
mod tests;
