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
    pub roles: Roles,
    pub source: SourceCfg,
    pub ingest: IngestCfg,
    pub triage: Triage,
    pub repro: ReproCfg,
    pub verify: VerifyCfg,
    pub propose: ProposeCfg,
    pub policy: PolicyCfg,
    pub rollout: RolloutCfg,
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
    /// How the Rollouts charts are drawn: `braille` (2x4 dots a cell) or
    /// `dots` (one dot a cell, for fonts without braille glyphs).
    pub charts: ChartMarker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChartMarker {
    #[default]
    Braille,
    Dots,
}

impl Default for Ui {
    fn default() -> Ui {
        Ui { theme: "dark".into(), color: ColorMode::Auto, read_only: false, frame_ms: 16, poll_ms: 250, charts: ChartMarker::Braille }
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
    /// Whether `SUTURE_USER` may name another identity (the demo and the
    /// tests allow it; a real install should not).
    pub allow_env_user: bool,
    /// The team keyring of public keys; unset means `keyring.toml` in the
    /// config directory. Point a team at one shared file.
    pub keyring: Option<String>,
}

/// Who may do what. Anyone not listed is an engineer: they can look, ask for
/// proposals and verify, but not approve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Roles {
    /// May approve, veto and request changes.
    pub reviewers: Vec<String>,
    /// Reviewers who may also break the glass.
    pub commanders: Vec<String>,
    /// Read-only, whatever the other settings say.
    pub viewers: Vec<String>,
    /// Limits a reviewer's or commander's role to some paths or tiers.
    pub scopes: Vec<RoleScope>,
}

impl Roles {
    pub fn is_empty(&self) -> bool {
        self == &Roles::default()
    }
}

/// `[[roles.scopes]]`: where `name`'s reviewer or commander role applies.
/// With several scopes for one name, any one of them may match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RoleScope {
    pub name: String,
    /// Globs over the patch's files (all of them must match); empty means any path.
    pub paths: Vec<String>,
    /// The tiers the role applies to; empty means every tier.
    pub tiers: Vec<u8>,
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

/// What a patch may change, and how risky a change is. Globs use `**` for
/// any depth; forbidden APIs are regular expressions matched on added lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyCfg {
    /// A patch may only write paths matching one of these.
    pub allow_paths: Vec<String>,
    /// A patch may never write paths matching one of these.
    pub forbid_paths: Vec<String>,
    /// Patterns that must not appear in added lines (shell-outs, eval, …).
    pub forbidden_apis: Vec<String>,
    pub max_changed_lines: usize,
    pub max_files: usize,
    /// Dependency manifests and lockfiles: changing one adds a dependency.
    pub manifests: Vec<String>,
    /// Public interfaces and schemas: changing one is refused.
    pub interface_paths: Vec<String>,
    /// Patterns on added or removed lines that make a change riskier
    /// (locks, transactions, deletes, money).
    pub risky_apis: Vec<String>,
    /// Failure classes that may reach tier 3 (graduate on canary success).
    pub tier3_classes: Vec<String>,
    /// The highest tier a patch from a language model may get.
    pub llm_max_tier: u8,
    /// Domain criticality: paths matching a rule cap the tier.
    pub critical: Vec<CriticalCfg>,
    /// Rego policy files (package `suture`): `deny` adds reasons to reject,
    /// `tier` overrides the tier. Relative paths are from the config file's directory.
    pub rego: Vec<String>,
}

impl Default for PolicyCfg {
    fn default() -> PolicyCfg {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        PolicyCfg {
            allow_paths: s(&["**"]),
            forbid_paths: s(&[".git/**", ".github/**", ".gitlab-ci.yml", "**/migrations/**", "**/*.pem", "**/*.key", "**/.env"]),
            forbidden_apis: s(&[
                r"\bsubprocess\.",
                r"\bos\.(system|popen|exec\w*|spawn\w*)\s*\(",
                r"(^|[^.\w])(eval|exec)\s*\(",
                r"\b__import__\s*\(",
                r"\bpickle\.loads?\s*\(",
                r"\bexec\.Command\s*\(",
                r"\bstd::process::Command\b",
                r"\bchild_process\b",
                r"\bunsafe\s*\{",
            ]),
            max_changed_lines: 40,
            max_files: 3,
            manifests: s(&[
                "**/requirements*.txt",
                "**/pyproject.toml",
                "**/setup.py",
                "**/setup.cfg",
                "**/Pipfile*",
                "**/poetry.lock",
                "**/uv.lock",
                "**/Cargo.toml",
                "**/Cargo.lock",
                "**/go.mod",
                "**/go.sum",
                "**/package.json",
                "**/package-lock.json",
                "**/yarn.lock",
                "**/pnpm-lock.yaml",
            ]),
            interface_paths: s(&["**/*.proto", "**/openapi*.yaml", "**/openapi*.json", "**/schema*.sql", "**/*.graphql"]),
            risky_apis: s(&[
                r"\b(lock|Lock|mutex|Mutex)\b",
                r"\b(commit|rollback|transaction)\b",
                r"\b(delete|DELETE|remove|drop|DROP)\b",
                r"\b(charge|refund|payment)\w*",
            ]),
            tier3_classes: s(&["config-flag", "null-guard", "bounds-guard"]),
            llm_max_tier: 1,
            critical: vec![CriticalCfg { paths: s(&["**/payments/**", "**/billing/**", "**/auth/**"]), max_tier: 1 }],
            rego: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CriticalCfg {
    pub paths: Vec<String>,
    pub max_tier: u8,
}

/// How candidate patches are found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProposeCfg {
    /// `templates` (built in, no network), `openai` or `anthropic`.
    pub proposer: String,
    /// Seconds generate-and-validate may spend before it stops trying candidates.
    pub budget_secs: u64,
    /// Most candidates sent through the gauntlet.
    pub max_candidates: usize,
    /// Candidates validated at the same time.
    pub parallel: usize,
    /// `coverage.py` measures which lines the failing repro and each passing
    /// test run, for spectrum-based localization (Ochiai); `auto` uses it
    /// when the repro is a Python command and coverage.py is installed;
    /// `none` means the stack only.
    pub coverage: String,
    /// A kill switch around a template's change: an expression true when the
    /// fix must be switched off, `{key}` replaced by the flag key, and the
    /// import it needs. Unset means no kill switch.
    pub kill_switch: Option<KillSwitchCfg>,
    /// The flag file the config-flag template may turn a flag off in (flagd format).
    pub flag_file: Option<String>,
    pub openai: LlmCfg,
    pub anthropic: LlmCfg,
}

impl Default for ProposeCfg {
    fn default() -> ProposeCfg {
        ProposeCfg {
            proposer: "templates".into(),
            budget_secs: 120,
            max_candidates: 24,
            parallel: 2,
            coverage: "auto".into(),
            kill_switch: None,
            flag_file: None,
            openai: LlmCfg {
                base_url: "https://api.openai.com".into(),
                model: "gpt-4o-mini".into(),
                key_env: "OPENAI_API_KEY".into(),
                ..LlmCfg::default()
            },
            anthropic: LlmCfg {
                base_url: "https://api.anthropic.com".into(),
                model: "claude-sonnet-4-5".into(),
                key_env: "ANTHROPIC_API_KEY".into(),
                ..LlmCfg::default()
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct KillSwitchCfg {
    /// For Python, e.g. `flags.evaluate("{key}", default=False)`; `{key}` is the flag key.
    pub python: String,
    /// The import line the expression needs, added when the file lacks it.
    pub python_import: String,
    /// For JavaScript, e.g. `flags.killed("{key}")`.
    pub javascript: String,
    pub javascript_import: String,
    /// The flag key prefix; the candidate's id follows it.
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmCfg {
    pub base_url: String,
    pub model: String,
    /// The name of the environment variable holding the key (never the key).
    pub key_env: String,
    pub timeout_secs: u64,
    pub retries: u32,
    pub max_tokens: u32,
    /// Bytes of source code around the localized lines sent in the prompt.
    pub context_bytes: usize,
}

impl Default for LlmCfg {
    fn default() -> LlmCfg {
        LlmCfg {
            base_url: String::new(),
            model: String::new(),
            key_env: String::new(),
            timeout_secs: 120,
            retries: 3,
            max_tokens: 4096,
            context_bytes: 12_000,
        }
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

/// How approved patches go out: the canary's steps, the service it runs, what
/// is measured and judged, and the guardrails (`canary/controller`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolloutCfg {
    /// `local`: stable and canary processes behind Suture's weighted proxy.
    pub backend: String,
    /// Where the local proxy listens, HOST:PORT.
    pub listen: String,
    /// Route on this header's value, so one tenant stays on one side.
    pub sticky_header: Option<String>,
    /// Seconds between the controller's looks (guardrails, charts).
    pub interval_secs: u64,
    /// Seconds at the start of each step whose requests the judge ignores.
    pub warmup_secs: u64,
    pub steps: Vec<StepCfg>,
    pub service: ServiceCfg,
    /// The deployment's live flag file (flagd format): kill switches and
    /// mitigations are written here. Relative paths are against the data dir.
    pub flag_file: Option<String>,
    pub replay: ReplayCfg,
    /// `proxy` (the local proxy's own measurements) or `prometheus`.
    pub metrics_source: String,
    pub prometheus: PrometheusCfg,
    pub metrics: Vec<MetricCfg>,
    pub guardrails: Vec<GuardrailCfg>,
    /// Consecutive intervals without usable metrics before the canary is rolled back.
    pub lost_metrics_limit: u32,
    pub judge: JudgeCfg,
}

impl Default for RolloutCfg {
    fn default() -> RolloutCfg {
        let step = |weight, pause_secs, analysis| StepCfg { weight, pause_secs, analysis };
        RolloutCfg {
            backend: "local".into(),
            listen: "127.0.0.1:8700".into(),
            sticky_header: None,
            interval_secs: 1,
            warmup_secs: 2,
            steps: vec![step(5, 600, true), step(25, 1800, true), step(50, 3600, true), step(100, 0, false)],
            service: ServiceCfg::default(),
            flag_file: None,
            replay: ReplayCfg::default(),
            metrics_source: "proxy".into(),
            prometheus: PrometheusCfg::default(),
            metrics: vec![
                MetricCfg { name: "error_rate".into(), kind: "error_rate".into(), critical: true, ..MetricCfg::default() },
                MetricCfg { name: "latency".into(), kind: "latency".into(), allowed_increase: 1.1, ..MetricCfg::default() },
            ],
            guardrails: vec![GuardrailCfg::default()],
            lost_metrics_limit: 5,
            judge: JudgeCfg::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StepCfg {
    /// Percent of requests to the canary.
    pub weight: u8,
    /// Seconds the step is held.
    pub pause_secs: u64,
    /// Whether the judge runs at the end of the step.
    pub analysis: bool,
}

/// The service the local backend runs, once from the base and once from the
/// patched workspace. `{port}` and `{flags}` in the command are replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceCfg {
    pub command: Vec<String>,
    /// The path that answers 200 once the service is up.
    pub health: String,
    pub startup_secs: u64,
}

impl Default for ServiceCfg {
    fn default() -> ServiceCfg {
        ServiceCfg { command: Vec::new(), health: "/healthz".into(), startup_secs: 20 }
    }
}

/// Recorded requests replayed against the proxy while a canary is live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayCfg {
    /// JSON lines: method, path, query, headers, body (the demo's traffic format).
    pub file: Option<String>,
    /// Requests per second.
    pub rate: f64,
    /// Requests in flight at most.
    pub concurrency: usize,
}

impl Default for ReplayCfg {
    fn default() -> ReplayCfg {
        ReplayCfg { file: None, rate: 50.0, concurrency: 16 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusCfg {
    pub url: String,
    /// The query_range resolution, seconds.
    pub step_secs: u64,
    pub timeout_secs: u64,
}

impl Default for PrometheusCfg {
    fn default() -> PrometheusCfg {
        PrometheusCfg { url: "http://127.0.0.1:9090".into(), step_secs: 1, timeout_secs: 5 }
    }
}

/// A metric the judge compares, canary against baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricCfg {
    pub name: String,
    /// `latency` (mean ms per request, per second), `error_rate` (share of
    /// 5xx per second) or `request_rate` (requests per second).
    pub kind: String,
    /// PromQL for the Prometheus source; `$cohort` is replaced by
    /// `baseline` or `canary`. Empty means the built-in query for the kind.
    pub query: String,
    pub group: String,
    /// `increase` (only an increase is bad), `decrease` or `either`.
    pub direction: String,
    pub allowed_increase: f64,
    pub allowed_decrease: f64,
    pub critical: bool,
    pub must_have_data: bool,
    pub remove_outliers: bool,
    pub muted: bool,
}

impl Default for MetricCfg {
    fn default() -> MetricCfg {
        MetricCfg {
            name: String::new(),
            kind: String::new(),
            query: String::new(),
            group: "default".into(),
            direction: "increase".into(),
            allowed_increase: 1.0,
            allowed_decrease: 1.0,
            critical: false,
            must_have_data: true,
            remove_outliers: false,
            muted: false,
        }
    }
}

/// An SLO guardrail: the canary's value above `factor` times the baseline's
/// (and above `floor`) for `intervals` consecutive looks rolls it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardrailCfg {
    pub name: String,
    /// `error_rate` or `latency_p95`.
    pub metric: String,
    pub factor: f64,
    pub floor: f64,
    pub intervals: u32,
    /// Seconds of requests each look considers.
    pub window_secs: u64,
    /// Fewer canary requests than this in the window is not a look.
    pub min_requests: u64,
}

impl Default for GuardrailCfg {
    fn default() -> GuardrailCfg {
        GuardrailCfg {
            name: "error rate".into(),
            metric: "error_rate".into(),
            factor: 2.0,
            floor: 0.01,
            intervals: 3,
            window_secs: 5,
            min_requests: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JudgeCfg {
    pub confidence: f64,
    pub tolerance: f64,
    pub pass: f64,
    pub marginal: f64,
    pub group_weights: BTreeMap<String, f64>,
}

impl Default for JudgeCfg {
    fn default() -> JudgeCfg {
        JudgeCfg { confidence: 0.98, tolerance: 0.25, pass: 95.0, marginal: 75.0, group_weights: BTreeMap::new() }
    }
}
