//! The `suture.toml` schema. Every table denies unknown keys, so a misspelt key
//! is an error, never silently ignored. Defaults here are the built-in layer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub ui: Ui,
    pub store: StoreCfg,
    pub demo: Demo,
    pub identity: Identity,
    pub source: SourceCfg,
    pub ingest: IngestCfg,
    pub triage: Triage,
    pub repro: ReproCfg,
    /// Service-level objectives; an incident of a service with one gets an
    /// error-budget-burn factor in its priority score.
    pub slo: Vec<Slo>,
    /// Key overrides: action name → key specs, e.g. `quit = ["q", "ctrl+c"]`.
    pub keys: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ColorMode {
    /// Truecolor when `COLORTERM` says so, else 256 colours; none under `NO_COLOR`.
    #[default]
    Auto,
    Truecolor,
    #[serde(rename = "256")]
    Ansi256,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ui {
    /// A theme name from `themes/` (`dark`, `light`, `high-contrast`) or a path to a theme file.
    pub theme: String,
    pub color: ColorMode,
    /// Remove every action that changes state.
    pub read_only: bool,
    /// Minimum time between two frames, in milliseconds.
    pub frame_ms: u64,
    /// How often the console checks the store for changes by other processes.
    pub poll_ms: u64,
}

impl Default for Ui {
    fn default() -> Ui {
        Ui { theme: "dark".into(), color: ColorMode::Auto, read_only: false, frame_ms: 16, poll_ms: 250 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreCfg {
    /// The SQLite file; unset means `suture.db` in the XDG data directory.
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Demo {
    /// Load the demo world's events into an empty store on first start.
    pub enabled: bool,
    /// The demo world's directory; unset means the `fixtures/demo` this build ships.
    pub root: Option<String>,
}

impl Default for Demo {
    fn default() -> Demo {
        Demo { enabled: true, root: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Identity {
    /// Who is at the keyboard; unset means the login name.
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReproCfg {
    /// Directory of repro specs (`*.toml`); unset in the demo world means
    /// the demo's `repros/`.
    pub specs: Option<String>,
    /// Runs of the determinism check.
    pub runs: u32,
    /// Variables passed from Suture's environment to repro commands
    /// (names that look like secrets never are).
    pub pass_env: Vec<String>,
}

impl Default for ReproCfg {
    fn default() -> ReproCfg {
        ReproCfg { specs: None, runs: 3, pass_env: vec!["PATH".into()] }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SourceCfg {
    /// The target service's source tree, where frames' files are looked up
    /// (and, later, where repro workspaces are made from). Unset in the demo
    /// world means the demo's `service/` directory.
    pub root: Option<String>,
    /// Path prefixes the running service has that the local tree does not,
    /// such as `/srv/shop/`: stripped from a frame's path before lookup.
    pub strip_prefixes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Triage {
    /// Path prefixes of application code, for frames whose source did not say
    /// whether they are in-app (stack text from OTLP logs, Suture JSON lines).
    /// A trailing `*` is allowed: `/srv/*/app/`.
    pub in_app: Vec<String>,
    /// Path prefixes that are never application code (checked first).
    pub not_in_app: Vec<String>,
    /// Tag and attribute names whose values are replaced by keyed hashes at ingest.
    pub redact_fields: Vec<String>,
    /// Fingerprint rules, first match wins (Sentry's fingerprint rules).
    pub rules: Vec<FingerprintRule>,
}

/// `match` selects events; `fingerprint` lists the components that group
/// them, where `{{ default }}` stands for the built-in grouping, and
/// `{{ type }}`, `{{ module }}`, `{{ function }}`, `{{ message }}`,
/// `{{ service }}`, `{{ release }}`, `{{ tags.NAME }}` for the event's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FingerprintRule {
    #[serde(rename = "match")]
    pub matches: RuleMatch,
    pub fingerprint: Vec<String>,
    /// Shown instead of the default title for incidents the rule makes.
    pub title: Option<String>,
}

/// Each given field must match; `*` is a wildcard. An empty match matches all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RuleMatch {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub message: Option<String>,
    pub module: Option<String>,
    pub function: Option<String>,
    pub service: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Slo {
    pub service: String,
    /// Target success ratio, such as 0.999.
    pub objective: f64,
    /// The service's normal request rate, which turns error counts into an
    /// error ratio until a metrics source gives the real one.
    pub requests_per_minute: f64,
}

impl Default for Slo {
    fn default() -> Slo {
        Slo { service: String::new(), objective: 0.999, requests_per_minute: 0.0 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct IngestCfg {
    /// Files and directories the console tails while it runs: events
    /// appended to them are ingested and appear within a second.
    pub follow: Vec<String>,
}
