//! Configuration: `suture.toml`, layered.
//!
//! Layers, lowest first: built-in defaults < user file (XDG config dir) <
//! project file (`./suture.toml` or `--config`) < `SUTURE_*` environment <
//! command-line flags. Each layer is validated on its own against the schema,
//! so an error names the layer that caused it: the file, line and key for
//! files, the variable for the environment, the flag for flags. The merged
//! result remembers where each value came from (`suture config show`).
//!
//! Environment variables map to keys with a double underscore between table
//! and key: `SUTURE_UI__THEME=light` sets `ui.theme`. `SUTURE_CONFIG` and
//! `SUTURE_LOG` are the CLI's own and are not keys.

pub mod paths;
mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;
use toml::{Table, Value};

pub use schema::{
    ChartMarker, ColorMode, Config, Demo, FingerprintRule, Identity, IngestCfg, RoleScope, Roles, RuleMatch, Slo, SourceCfg, StoreCfg,
    Triage, Ui,
};
pub use schema::{CheckCfg, PerfCfg, RegressionCfg, TestsCfg, VerifyCfg};
pub use schema::{CriticalCfg, KillSwitchCfg, LlmCfg, PolicyCfg, ProposeCfg};
pub use schema::{GuardrailCfg, JudgeCfg, MetricCfg, PrometheusCfg, ReplayCfg, RolloutCfg, ServiceCfg, StepCfg};

/// Environment variables read by the CLI itself rather than mapped to keys.
pub const RESERVED_ENV: &[&str] = &["SUTURE_CONFIG", "SUTURE_LOG", "SUTURE_STORE", "SUTURE_TEST_PANIC", "SUTURE_USER"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    BuiltIn,
    User(PathBuf),
    Project(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::BuiltIn => f.write_str("built-in default"),
            Source::User(p) => write!(f, "user file {}", p.display()),
            Source::Project(p) => write!(f, "project file {}", p.display()),
            Source::Env(v) => write!(f, "environment {v}"),
            Source::Flag(fl) => write!(f, "flag {fl}"),
        }
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{file}:{line}:{column}: `{key}`: {message}")]
    Invalid { file: String, line: usize, column: usize, key: String, message: String },
    #[error("environment {var}: {message}")]
    Env { var: String, message: String },
    #[error("{flag}: {message}")]
    Flag { flag: String, message: String },
}

/// A value set on the command line, e.g. `--theme light` → (`ui.theme`, "light").
#[derive(Debug, Clone)]
pub struct FlagOverride {
    pub flag: String,
    pub key: String,
    pub value: Value,
}

/// Where to look for each layer. `project` is `--config` when given (then it
/// must exist) or `./suture.toml` when present.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub user: Option<PathBuf>,
    pub project: Option<PathBuf>,
    pub project_required: bool,
    pub env: Vec<(String, String)>,
    pub flags: Vec<FlagOverride>,
}

impl Sources {
    /// The usual sources for this process: XDG user file, `--config` or
    /// `./suture.toml`, the process environment, and the given flags.
    pub fn standard(config_flag: Option<PathBuf>, flags: Vec<FlagOverride>) -> Sources {
        let (project, project_required) = match config_flag {
            Some(p) => (Some(p), true),
            None => (Some(PathBuf::from("suture.toml")), false),
        };
        Sources { user: paths::user_config_file(), project, project_required, env: std::env::vars().collect(), flags }
    }
}

/// The effective configuration and the source of every leaf value.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub origins: BTreeMap<String, Source>,
    merged: Table,
}

pub fn load(sources: &Sources) -> Result<Loaded, ConfigError> {
    let mut merged = Table::new();
    let mut origins = BTreeMap::new();
    let defaults = Value::try_from(Config::default()).map_err(|e| ConfigError::Flag { flag: "built-in".into(), message: e.to_string() })?;
    if let Value::Table(t) = defaults {
        merge(&mut merged, t, "", &Source::BuiltIn, &mut origins);
    }
    if let Some(user) = &sources.user
        && let Some(t) = read_layer(user, false)?
    {
        merge(&mut merged, t, "", &Source::User(user.clone()), &mut origins);
    }
    if let Some(project) = &sources.project
        && let Some(t) = read_layer(project, sources.project_required)?
    {
        merge(&mut merged, t, "", &Source::Project(project.clone()), &mut origins);
    }
    for (var, raw) in &sources.env {
        let Some(rest) = var.strip_prefix("SUTURE_") else { continue };
        if RESERVED_ENV.contains(&var.as_str()) {
            continue;
        }
        let key = rest.to_ascii_lowercase().replace("__", ".");
        let value = parse_scalar(raw);
        let layer = nest(&key, value);
        check_layer(&layer).map_err(|message| ConfigError::Env { var: var.clone(), message })?;
        merge(&mut merged, layer, "", &Source::Env(var.clone()), &mut origins);
    }
    for f in &sources.flags {
        let layer = nest(&f.key, f.value.clone());
        check_layer(&layer).map_err(|message| ConfigError::Flag { flag: f.flag.clone(), message })?;
        merge(&mut merged, layer, "", &Source::Flag(f.flag.clone()), &mut origins);
    }
    let config: Config = Value::Table(merged.clone())
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Flag { flag: "merged configuration".into(), message: e.message().to_string() })?;
    Ok(Loaded { config, origins, merged })
}

/// Reads and validates one file layer. `Ok(None)` when an optional file is absent.
fn read_layer(path: &Path, required: bool) -> Result<Option<Table>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(source) => return Err(ConfigError::Read { path: path.to_path_buf(), source }),
    };
    parse_layer(&path.display().to_string(), &text).map(Some)
}

/// Validates `text` against the schema and returns it as a table for merging.
pub fn parse_layer(file: &str, text: &str) -> Result<Table, ConfigError> {
    let invalid = |e: toml::de::Error| {
        let offset = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
        let (line, column) = line_col(text, offset);
        ConfigError::Invalid { file: file.into(), line, column, key: key_at(text, offset), message: e.message().trim().to_string() }
    };
    toml::from_str::<Config>(text).map_err(invalid)?;
    text.parse::<Table>().map_err(invalid)
}

fn check_layer(layer: &Table) -> Result<(), String> {
    Value::Table(layer.clone()).try_into::<Config>().map(|_| ()).map_err(|e| e.message().trim().to_string())
}

/// Environment values are TOML scalars when they parse as one (`true`, `250`,
/// `["q"]`), else plain strings, so `SUTURE_UI__THEME=light` needs no quotes.
fn parse_scalar(raw: &str) -> Value {
    format!("v = {raw}").parse::<Table>().ok().and_then(|mut t| t.remove("v")).unwrap_or_else(|| Value::String(raw.to_string()))
}

fn nest(dotted: &str, value: Value) -> Table {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut t = Table::new();
    t.insert(last.to_string(), value);
    for p in parts.into_iter().rev() {
        let mut outer = Table::new();
        outer.insert(p.to_string(), Value::Table(t));
        t = outer;
    }
    t
}

fn merge(into: &mut Table, from: Table, prefix: &str, source: &Source, origins: &mut BTreeMap<String, Source>) {
    for (k, v) in from {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match (into.get_mut(&k), v) {
            (Some(Value::Table(dst)), Value::Table(src)) => merge(dst, src, &path, source, origins),
            (_, Value::Table(src)) => {
                let mut dst = Table::new();
                merge(&mut dst, src, &path, source, origins);
                into.insert(k, Value::Table(dst));
            }
            (_, v) => {
                origins.insert(path, source.clone());
                into.insert(k, v);
            }
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, column)
}

/// The dotted key at `offset`: the key on that line, qualified by the nearest
/// `[table]` header above it.
fn key_at(text: &str, offset: usize) -> String {
    let line_start = text[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let header = |l: &str| l.trim().trim_start_matches('[').trim_end_matches(']').trim().to_string();
    if line.starts_with('[') {
        return header(line);
    }
    let key = line.split('=').next().unwrap_or("").trim().trim_matches('"').to_string();
    let table = text[..line_start].lines().rev().map(str::trim).find(|l| l.starts_with('[')).map(header);
    match table {
        Some(t) if !key.is_empty() => format!("{t}.{key}"),
        _ => key,
    }
}

impl Loaded {
    /// The effective configuration as TOML, each value followed by its source.
    pub fn show(&self) -> String {
        let mut out = String::new();
        let mut tables = Vec::new();
        for (k, v) in &self.merged {
            match v {
                Value::Table(t) => tables.push((k.clone(), t)),
                v => out.push_str(&self.line(k, k, v)),
            }
        }
        for (name, t) in tables {
            out.push_str(&format!("\n[{name}]\n"));
            if t.is_empty() {
                out.push_str("# (empty)\n");
            }
            for (k, v) in t {
                out.push_str(&self.line(&format!("{name}.{k}"), k, v));
            }
        }
        if let Some(rest) = out.strip_prefix('\n') {
            out = rest.to_string();
        }
        out
    }

    fn line(&self, path: &str, key: &str, v: &Value) -> String {
        let source = self.origins.get(path).cloned().unwrap_or(Source::BuiltIn);
        let key = if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') { key.to_string() } else { format!("{key:?}") };
        format!("{key} = {v}  # {source}\n")
    }

    pub fn origin(&self, key: &str) -> Source {
        self.origins.get(key).cloned().unwrap_or(Source::BuiltIn)
    }
}

#[cfg(test)]
mod tests;
