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
    pub verify: VerifyCfg,
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

/// The verification gauntlet: what runs besides the repro. A missing table
/// means the step is skipped, and the report says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifyCfg {
    /// Run independent steps at the same time (the perf gate always runs alone).
    pub parallel: bool,
    /// Reruns of changed and failing tests, and of the repro, in the flakiness step.
    pub flaky_reruns: u32,
    pub tests: Option<TestsCfg>,
    pub checks: Vec<CheckCfg>,
    pub perf: Option<PerfCfg>,
    pub regression: RegressionCfg,
}

impl Default for VerifyCfg {
    fn default() -> VerifyCfg {
        VerifyCfg { parallel: true, flaky_reruns: 3, tests: None, checks: Vec::new(), perf: None, regression: RegressionCfg::default() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestsCfg {
    /// The project's test command, run in the workspace.
    pub command: Vec<String>,
    /// How per-test results are read from its output.
    pub format: crate::verify::results::Format,
    /// For `format = "junit"`: the XML file the command writes, relative to the workspace.
    pub junit: Option<String>,
    /// Runs chosen tests again; `{test}` becomes one argument per test id.
    /// Unset means the whole command is rerun.
    pub rerun: Vec<String>,
    pub timeout_secs: u64,
}

impl Default for TestsCfg {
    fn default() -> TestsCfg {
        TestsCfg { command: Vec::new(), format: Default::default(), junit: None, rerun: Vec::new(), timeout_secs: 600 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckCfg {
    pub name: String,
    /// Prints one finding per line (`path:line:col: message`); lines are
    /// compared with positions removed, so a finding that only moved is not new.
    pub command: Vec<String>,
    pub timeout_secs: u64,
}

impl Default for CheckCfg {
    fn default() -> CheckCfg {
        CheckCfg { name: String::new(), command: Vec::new(), timeout_secs: 300 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerfCfg {
    /// A benchmark command; its wall time is the measurement.
    pub command: Vec<String>,
    /// Measured runs on each tree, alternating base and patched (after one warm-up each).
    pub runs: u32,
    /// Largest allowed ratio of medians, patched over base.
    pub threshold: f64,
    pub timeout_secs: u64,
}

impl Default for PerfCfg {
    fn default() -> PerfCfg {
        PerfCfg { command: Vec::new(), runs: 5, threshold: 1.2, timeout_secs: 300 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegressionCfg {
    /// Write a regression test from the repro and add it to the patch.
    pub enabled: bool,
    /// Where the test goes, relative to the workspace.
    pub dir: String,
}

impl Default for RegressionCfg {
    fn default() -> RegressionCfg {
        RegressionCfg { enabled: true, dir: "tests".into() }
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
