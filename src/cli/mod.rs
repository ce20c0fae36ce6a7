//! The command line: no subcommand opens the console; subcommands run the same
//! engine headless. Exit codes: 0 success, 1 failure, 2 bad configuration or usage.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use toml::Value;

mod deliver;
mod govern;
mod propose;
mod verify;

use crate::config::{self, ConfigError, FlagOverride, Loaded, Sources, paths};
use crate::demo;
use crate::signals::redact::Redactor;
use crate::source::SourceTree;
use crate::store::Store;
use crate::tui;
use crate::tui::keymap::Keymap;
use crate::tui::theme::{Depth, Theme};
use crate::tui::widgets::text::{ago, count, inert};

#[derive(Parser, Debug)]
#[command(name = "suture", version, about = "A terminal incident console for surgical hotfixes")]
pub struct Cli {
    /// Project configuration file (instead of ./suture.toml).
    #[arg(long, global = true, env = "SUTURE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The store (SQLite file) to use.
    #[arg(long, global = true, env = "SUTURE_STORE", value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// Remove every action that changes state.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Theme name (dark, light, high-contrast) or theme file.
    #[arg(long, global = true, value_name = "NAME|PATH")]
    pub theme: Option<String>,
    /// Colour depth.
    #[arg(long, global = true, value_enum)]
    pub color: Option<ColorArg>,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ColorArg {
    Auto,
    Truecolor,
    #[value(name = "256")]
    Ansi256,
    None,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Show or check the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigCmd,
    },
    /// Run an incident's repro (or a spec by id) in a scratch workspace,
    /// several times, and judge each run against the incident's signature.
    Repro {
        #[arg(value_name = "INCIDENT|SPEC")]
        target: String,
        /// Runs of the determinism check (default: repro.runs, 3).
        #[arg(long)]
        runs: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Run the verification gauntlet on a patch: a stored patch by id, or a
    /// unified-diff file against the source tree (recorded as a new patch).
    Verify {
        #[arg(value_name = "PATCH|DIFF-FILE")]
        patch: String,
        /// The repro it must fix: a spec id or an incident id (default: the
        /// patch's incident, or the spec whose module the diff changes).
        #[arg(long, value_name = "SPEC|INCIDENT")]
        repro: Option<String>,
        /// The source tree the diff applies to (default: source.root).
        #[arg(long, visible_alias = "workspace", value_name = "DIR")]
        source: Option<PathBuf>,
        /// The git revision to verify against (default: HEAD).
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        /// Run every step one after another.
        #[arg(long)]
        sequential: bool,
        #[arg(long)]
        json: bool,
    },
    /// Propose verified patches for an incident: localize the fault, generate
    /// candidates, and send each through the gauntlet.
    Propose {
        #[arg(value_name = "INCIDENT")]
        incident: String,
        /// Where candidates come from: the built-in repair templates, or a
        /// language model over the OpenAI-compatible or Anthropic API.
        #[arg(long, default_value = "templates", value_parser = ["templates", "openai", "anthropic"])]
        proposer: String,
        #[arg(long)]
        json: bool,
    },
    /// Headless repair for a CI bot: localize, propose, verify, and print the
    /// verified patches as unified diffs. Exit 0 when one was found, 1 when
    /// none, 2 on bad input.
    Fix {
        /// The project to repair (never written: candidates run in scratch copies).
        #[arg(long, value_name = "DIR")]
        workspace: PathBuf,
        /// A command that fails now and must pass when fixed.
        #[arg(long, value_name = "CMD")]
        repro: String,
        /// The project's test command; no test may regress.
        #[arg(long, value_name = "CMD")]
        test: Option<String>,
        /// Seconds to spend before giving up (default: propose.budget_secs).
        #[arg(long, value_name = "SECONDS")]
        budget: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Ingest error events from files: Sentry event JSON (one per line, an
    /// array, or one document), OTLP/JSON logs, or Suture JSON lines.
    Ingest {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Keep watching: ingest what is appended to the files, and new files
        /// in the directories, until Ctrl-C.
        #[arg(long)]
        follow: bool,
    },
    /// List incidents, highest priority first.
    Incidents {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one incident: header, score factors, exception, in-app frames, dimensions, why grouped.
    Incident {
        /// The incident's id, as `suture incidents` lists it (INC-…).
        id: String,
        /// Print the incident and its representative event as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Receive OpenTelemetry logs over OTLP/HTTP (JSON) and ingest them until stopped.
    /// Run the long-lived parts: the rollout controller with its canary
    /// proxy (always), and an OTLP/HTTP receiver for error signals (--otlp).
    Serve {
        /// Receive OTLP/HTTP logs on HOST:PORT (OTLP/HTTP's port is 4318; 0 picks a free port).
        #[arg(long, value_name = "HOST:PORT", value_parser = crate::serve::parse_listen_addr)]
        otlp: Option<String>,
        /// Where the canary proxy listens (default: rollout.listen, 127.0.0.1:8700; 0 picks a free port).
        #[arg(long, value_name = "HOST:PORT", value_parser = crate::serve::parse_listen_addr)]
        proxy: Option<String>,
    },
    /// Take an approved patch out by canary, and watch or steer it.
    Rollout {
        #[command(subcommand)]
        action: RolloutCmd,
    },
    /// Apply an approved flag patch (a config-flag proposal) to the
    /// deployment's flag file, for everyone or a segment: mitigation first.
    Mitigate {
        #[arg(value_name = "PATCH")]
        patch: String,
        /// Only for a segment, e.g. `tenant=acme` or `region=eu-west-1`.
        #[arg(long, value_name = "ATTR=V1,V2")]
        segment: Option<String>,
    },
    /// Change a feature flag in the deployment's flag file (audited).
    Flag {
        #[command(subcommand)]
        action: FlagCmd,
    },
    /// Manage the demo world's store.
    Demo {
        /// Empty the demo store and load the demo world again.
        #[arg(long)]
        reset: bool,
    },
    /// Render every view to SVG images (for the README).
    Screenshots {
        #[arg(long, default_value = "screenshots")]
        out: PathBuf,
    },
    /// Print the key bindings as a Markdown table.
    Keys,
    /// Who you act as: name, role, where it came from, your signing key.
    Whoami,
    /// Approve a verified patch (reviewers and commanders; never the proposer
    /// or the person who asked for it).
    Approve {
        #[arg(value_name = "PATCH")]
        patch: String,
        #[arg(long, value_name = "TEXT", default_value = "")]
        comment: String,
    },
    /// Veto a patch; a reason is required.
    Veto {
        #[arg(value_name = "PATCH")]
        patch: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Ask for changes: recorded, and the patch cannot be deployed until you approve.
    RequestChanges {
        #[arg(value_name = "PATCH")]
        patch: String,
        #[arg(long, value_name = "TEXT")]
        comment: String,
    },
    /// A commander's emergency approval in place of the approvals the tier
    /// needs. A reason is required; it is marked loudly everywhere.
    BreakGlass {
        #[arg(value_name = "PATCH")]
        patch: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// The audit log: verify its chain and signatures, or export it.
    Audit {
        #[command(subcommand)]
        action: AuditCmd,
    },
    /// Write a signed attestation (in-toto evidence + SLSA provenance in DSSE
    /// envelopes) for an approved patch, or verify one.
    Attest {
        #[arg(value_name = "PATCH|verify")]
        patch: String,
        /// With `verify`: the attestation file to check.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// Where to write it (default: <patch>.intoto.jsonl).
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Promote an approved patch to source: a branch and a commit with its
    /// regression test in the target git repository (never pushed), or a
    /// format-patch file; optionally a pull request for the branch you pushed.
    Export {
        #[arg(value_name = "PATCH")]
        patch: String,
        /// The target repository (default: the git repository holding source.root).
        #[arg(long, value_name = "DIR")]
        repo: Option<PathBuf>,
        /// The branch to create (default: suture/<patch>).
        #[arg(long, value_name = "NAME")]
        branch: Option<String>,
        /// Write a `git format-patch` file instead of a branch.
        #[arg(long, value_name = "FILE")]
        format_patch: Option<PathBuf>,
        /// Open a pull request (GitHub) or merge request (GitLab) for the branch.
        #[arg(long, value_name = "FORGE", value_parser = ["github", "gitlab"])]
        pr: Option<String>,
        /// The forge's project: owner/name (GitHub) or group/name (GitLab).
        #[arg(long, value_name = "PROJECT")]
        project: Option<String>,
        /// The forge's API base URL (default: the public one).
        #[arg(long, value_name = "URL")]
        api: Option<String>,
        /// The branch the pull request targets.
        #[arg(long, value_name = "BRANCH", default_value = "main")]
        base: String,
        /// The environment variable holding the token (default: GITHUB_TOKEN or GITLAB_TOKEN).
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
    },
    /// Write an incident's post-mortem as Markdown.
    Postmortem {
        #[arg(value_name = "INCIDENT")]
        incident: String,
        /// Where to write it (default: postmortem-<incident>.md).
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RolloutCmd {
    /// Start a canary of an approved patch (`suture serve` runs it).
    Start {
        #[arg(value_name = "PATCH")]
        patch: String,
    },
    /// Show rollouts: steps, weights, verdicts, guardrails.
    Status {
        #[arg(value_name = "ID")]
        id: Option<String>,
        #[arg(long)]
        json: bool,
        /// Redraw every second while a rollout is live.
        #[arg(long)]
        watch: bool,
    },
    /// Promote the canary to everyone (reviewers and commanders).
    Promote {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Hold the rollout at its step (guardrails keep watching).
    Pause {
        #[arg(value_name = "ID")]
        id: String,
    },
    Resume {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Take every request off the canary and throw its kill switch.
    Abort {
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum FlagCmd {
    /// Set a flag: VALUE is `enabled`/`disabled`, a variant's name, or a value.
    Set {
        key: String,
        value: String,
        /// Only for a segment, e.g. `tenant=acme,globex` or `region=eu-west-1`.
        #[arg(long, value_name = "ATTR=V1,V2")]
        segment: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Check the hash chain, every signature and the signed head; names the first bad entry.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Write the log as JSON lines.
    Export {
        /// From this sequence number (42 or #42) or RFC 3339 time on.
        #[arg(long, value_name = "SEQ|TIME")]
        since: Option<String>,
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Print the effective configuration and where each value came from.
    Show,
}

/// What the process should exit with.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            if let Some(ce) = e.downcast_ref::<ConfigError>() {
                eprintln!("suture: configuration error: {ce}");
                return 2;
            }
            if let Some(x) = e.downcast_ref::<propose::Exit>() {
                eprintln!("suture: {}", x.message);
                return x.code;
            }
            eprintln!("suture: {e:#}");
            1
        }
    }
}

fn flags(cli: &Cli) -> Vec<FlagOverride> {
    let mut out = Vec::new();
    let mut push = |flag: &str, key: &str, value: Value| out.push(FlagOverride { flag: flag.into(), key: key.into(), value });
    if cli.read_only {
        push("--read-only", "ui.read_only", Value::Boolean(true));
    }
    if let Some(t) = &cli.theme {
        push("--theme", "ui.theme", Value::String(t.clone()));
    }
    if let Some(c) = cli.color {
        let v = match c {
            ColorArg::Auto => "auto",
            ColorArg::Truecolor => "truecolor",
            ColorArg::Ansi256 => "256",
            ColorArg::None => "none",
        };
        push("--color", "ui.color", Value::String(v.into()));
    }
    if let Some(s) = &cli.store {
        push("--store", "store.path", Value::String(s.display().to_string()));
    }
    out
}

fn run(cli: Cli) -> Result<()> {
    let loaded = config::load(&Sources::standard(cli.config.clone(), flags(&cli)))?;
    match &cli.command {
        Some(Cmd::Config { action: ConfigCmd::Show }) => {
            let text = loaded.show();
            let colour = std::io::IsTerminal::is_terminal(&std::io::stdout())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && loaded.config.ui.color != config::ColorMode::None;
            if colour {
                print!("{}", crate::highlight::Highlighter::get().to_ansi(&text, "toml"))
            } else {
                print!("{text}")
            }
            Ok(())
        }
        Some(Cmd::Keys) => {
            print!("{}", keymap(&loaded)?.markdown());
            Ok(())
        }
        Some(Cmd::Incidents { json }) => incidents(&loaded, *json),
        Some(Cmd::Incident { id, json }) => incident(&loaded, id, *json),
        Some(Cmd::Ingest { paths, follow }) => ingest(&loaded, paths, *follow),
        Some(Cmd::Repro { target, runs, json }) => repro(&loaded, target, *runs, *json),
        Some(Cmd::Verify { patch, repro, source, base, sequential, json }) => verify::verify(
            &loaded,
            &verify::Args {
                patch,
                repro: repro.as_deref(),
                source: source.as_deref(),
                base: base.as_deref(),
                sequential: *sequential,
                json: *json,
            },
        ),
        Some(Cmd::Propose { incident, proposer, json }) => {
            propose::propose(&loaded, &propose::ProposeArgs { incident, proposer, json: *json })
        }
        Some(Cmd::Fix { workspace, repro, test, budget, json }) => {
            propose::fix(&loaded, &propose::FixArgs { workspace, repro, test: test.as_deref(), budget: *budget, json: *json })
        }
        Some(Cmd::Serve { otlp, proxy }) => serve(&loaded, otlp.as_deref(), proxy.as_deref()),
        Some(Cmd::Rollout { action }) => match action {
            RolloutCmd::Start { patch } => deliver::start(&loaded, patch),
            RolloutCmd::Status { id, json, watch } => deliver::status(&loaded, id.as_deref(), *json, *watch),
            RolloutCmd::Promote { id } => deliver::command(&loaded, id, crate::canary::controller::Command::Promote),
            RolloutCmd::Pause { id } => deliver::command(&loaded, id, crate::canary::controller::Command::Pause),
            RolloutCmd::Resume { id } => deliver::command(&loaded, id, crate::canary::controller::Command::Resume),
            RolloutCmd::Abort { id, reason } => {
                deliver::command(&loaded, id, crate::canary::controller::Command::Abort { reason: reason.clone() })
            }
        },
        Some(Cmd::Flag { action: FlagCmd::Set { key, value, segment } }) => deliver::flag_set(&loaded, key, value, segment.as_deref()),
        Some(Cmd::Mitigate { patch, segment }) => deliver::mitigate(&loaded, patch, segment.as_deref()),
        Some(Cmd::Demo { reset }) => demo_cmd(&loaded, *reset),
        Some(Cmd::Screenshots { out }) => screenshots(&loaded, out),
        Some(Cmd::Whoami) => govern::whoami(&loaded),
        Some(Cmd::Approve { patch, comment }) => {
            govern::decide(&loaded, patch, crate::govern::Choice::Approve { comment: comment.clone() })
        }
        Some(Cmd::Veto { patch, reason }) => govern::decide(&loaded, patch, crate::govern::Choice::Veto { reason: reason.clone() }),
        Some(Cmd::RequestChanges { patch, comment }) => {
            govern::decide(&loaded, patch, crate::govern::Choice::RequestChanges { comment: comment.clone() })
        }
        Some(Cmd::BreakGlass { patch, reason }) => {
            govern::decide(&loaded, patch, crate::govern::Choice::BreakGlass { reason: reason.clone() })
        }
        Some(Cmd::Audit { action: AuditCmd::Verify { json } }) => govern::audit_verify(&loaded, *json),
        Some(Cmd::Audit { action: AuditCmd::Export { since, out } }) => govern::audit_export(&loaded, since.as_deref(), out.as_deref()),
        Some(Cmd::Attest { patch, file, out }) => match (patch.as_str(), file) {
            ("verify", Some(f)) => govern::attest_verify(&loaded, f),
            ("verify", None) => bail!("say which file to verify: suture attest verify FILE"),
            (id, None) => govern::attest_patch(&loaded, id, out.as_deref()),
            (_, Some(_)) => bail!("suture attest PATCH takes no file; did you mean suture attest verify FILE?"),
        },
        Some(Cmd::Export { patch, repo, branch, format_patch, pr, project, api, base, token_env }) => govern::export(
            &loaded,
            &govern::ExportArgs {
                patch,
                repo: repo.as_deref(),
                branch: branch.as_deref(),
                format_patch: format_patch.as_deref(),
                pr: pr.as_deref(),
                project: project.as_deref(),
                api: api.as_deref(),
                base,
                token_env: token_env.as_deref(),
            },
        ),
        Some(Cmd::Postmortem { incident, out }) => govern::postmortem(&loaded, incident, out.as_deref()),
        None => console(&loaded),
    }
}

/// The store this configuration names, and whether it is the demo's own.
pub fn store_path(loaded: &Loaded) -> Result<(PathBuf, bool)> {
    if let Some(p) = &loaded.config.store.path {
        return Ok((PathBuf::from(p), false));
    }
    let dir = paths::data_dir().context("no home directory to keep the store in; set store.path or --store")?;
    if loaded.config.demo.enabled { Ok((dir.join("demo.db"), true)) } else { Ok((dir.join("suture.db"), false)) }
}

pub(crate) fn demo_root(loaded: &Loaded) -> PathBuf {
    loaded.config.demo.root.as_ref().map(PathBuf::from).unwrap_or_else(paths::builtin_demo_root)
}

/// The source tree frames are looked up in: `source.root`, or in the demo
/// world the demo's `service/` directory with `/srv/shop/` stripped (where the
/// recorded service ran). `None`, with a log line, when the root is unusable.
pub fn source_tree(loaded: &Loaded, is_demo: bool) -> Option<SourceTree> {
    let cfg = &loaded.config.source;
    let (root, mut strip) = match &cfg.root {
        Some(r) => (PathBuf::from(r), cfg.strip_prefixes.clone()),
        None if is_demo => (demo_root(loaded).join("service"), cfg.strip_prefixes.clone()),
        None => return None,
    };
    if is_demo && cfg.root.is_none() && strip.is_empty() {
        strip.push("/srv/shop/".into());
    }
    match SourceTree::new(&root, strip) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!("source root {} is unusable: {e}", root.display());
            None
        }
    }
}

fn redactor() -> Result<Redactor> {
    let dir = paths::data_dir().context("no data directory for the redaction key")?;
    let path = dir.join("redact.key");
    Redactor::load_or_create(&path).with_context(|| format!("loading the redaction key {}", path.display()))
}

pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Opens the store, loading the demo world into an empty demo store.
pub(crate) fn open_store(loaded: &Loaded) -> Result<(Store, PathBuf, bool)> {
    open_store_as(loaded, &session(loaded)?)
}

/// [`open_store`] for a session already set up (its keys sign the entries).
pub(crate) fn open_store_as(loaded: &Loaded, s: &Session) -> Result<(Store, PathBuf, bool)> {
    let (path, is_demo) = store_path(loaded)?;
    let mut store = Store::open(&path).with_context(|| format!("opening the store {}", path.display()))?.with_signer(s.signers.clone());
    store.set_origin(s.person.origin.clone());
    if is_demo && loaded.config.demo.enabled && store.meta(demo::WORLD_KEY)?.is_none() && store.event_count()? == 0 {
        let root = demo_root(loaded);
        let r = demo::load(&mut store, &root, &redactor()?, now_ms())?;
        tracing::info!(ingested = r.ingested, rejected = r.rejected.len(), incidents = r.incidents, "loaded the demo world");
    }
    Ok((store, path, is_demo))
}

fn keymap(loaded: &Loaded) -> Result<Keymap> {
    Keymap::with_overrides(&loaded.config.keys).map_err(|message| {
        let source = loaded.origin("keys");
        anyhow::Error::new(ConfigError::Flag { flag: source.to_string(), message })
    })
}

fn theme(loaded: &Loaded) -> Result<Theme> {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let depth = Depth::detect(loaded.config.ui.color, &env);
    Theme::load(&loaded.config.ui.theme, depth).map_err(|message| {
        anyhow::Error::new(ConfigError::Flag { flag: format!("ui.theme (from {})", loaded.origin("ui.theme")), message })
    })
}

fn console(loaded: &Loaded) -> Result<()> {
    let keymap = keymap(loaded)?;
    let theme = theme(loaded)?;
    let _log = init_logging();
    let s = session(loaded)?;
    let (store, path, is_demo) = open_store_as(loaded, &s)?;
    drop(store);
    let environment = if is_demo { "DEMO WORLD".to_string() } else { "LOCAL".to_string() };
    let tail = tail_sources(loaded, &path, is_demo, &s)?;
    let me = s.person.name.clone();
    let propose = propose::propose_cfg(loaded, is_demo).and_then(|cfg| Ok((cfg, propose::policy(loaded)?))).ok();
    let result = tui::run::run(tui::run::Options {
        store: path.clone(),
        theme,
        keymap,
        read_only: s.read_only,
        environment,
        frame_ms: loaded.config.ui.frame_ms,
        poll_ms: loaded.config.ui.poll_ms,
        dot_charts: loaded.config.ui.charts == crate::config::ChartMarker::Dots,
        // The demo's console starts a serve for a live rollout none runs.
        serve_in_background: (is_demo && !s.read_only).then(|| path.clone()),
        source: source_tree(loaded, is_demo),
        jobs: verify::setup(loaded, is_demo, None).map_err(|e| format!("{e:#}")).map(|setup| {
            std::sync::Arc::new(crate::tui::jobs::Jobs {
                setup,
                grouper: grouper(loaded, is_demo),
                runs: loaded.config.repro.runs.max(1) as usize,
                actor: crate::model::Actor::person(me.clone()),
                store: path.clone(),
                signers: Some(s.signers.clone()),
                propose,
                keyring: Some(s.keyring.clone()),
                tier3_classes: loaded.config.policy.tier3_classes.clone(),
                records: paths::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("records"),
            })
        }),
        keyring: Some(s.keyring.clone()),
        gov: Some(std::sync::Arc::new(crate::tui::jobs::Gov {
            person: s.person,
            team: s.team,
            signers: s.signers,
            store: path.clone(),
            read_only: s.read_only,
            deploy_flags: deliver::rollout_cfg(loaded, is_demo).ok().and_then(|c| deliver::flags_path(loaded, &c, is_demo).ok()),
        })),
    });
    if let Some((stop, thread)) = tail {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = thread.join();
    }
    result
}

type Tail = (std::sync::Arc<std::sync::atomic::AtomicBool>, std::thread::JoinHandle<()>);

/// Tails the config's `ingest.follow` sources on a thread of its own, with
/// its own store connection; the console sees what it writes through the
/// store's change polling.
fn tail_sources(loaded: &Loaded, store_path: &std::path::Path, is_demo: bool, s: &Session) -> Result<Option<Tail>> {
    let paths: Vec<PathBuf> = loaded.config.ingest.follow.iter().map(PathBuf::from).collect();
    if paths.is_empty() {
        return Ok(None);
    }
    for p in &paths {
        if !crate::follow::followable(p) {
            anyhow::bail!(
                "ingest.follow (from {}): {}: no such file or directory",
                loaded.origin("ingest.follow"),
                inert(&p.display().to_string())
            );
        }
    }
    let mut store = Store::open(store_path)
        .with_context(|| format!("opening the store {}", store_path.display()))?
        .with_signer(session(loaded)?.signers);
    let redactor = redactor()?;
    let grouper = grouper(loaded, is_demo);
    let slos = loaded.config.slo.clone();
    let fields = loaded.config.triage.redact_fields.clone();
    let actor = s.person.name.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop);
    let thread = std::thread::Builder::new().name("suture-tail".into()).spawn(move || {
        let mut ing = crate::ingest::Ingestor::new(&mut store, actor, now_ms())
            .with_grouper(grouper)
            .with_ranker(move |incs, now, deploy| crate::triage::rank::rank_with_slos(incs, now, deploy, &slos))
            .with_redact_fields(&fields, &redactor)
            .with_clock(now_ms);
        let every = std::time::Duration::from_millis(250);
        let stopped = || flag.load(std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = crate::follow::run(&paths, &redactor, &mut ing, every, &stopped, &mut |_| {}) {
            tracing::error!("tailing the ingest.follow sources stopped: {e}");
        }
        match ing.finish() {
            Ok(r) => tracing::info!("tailed: {}", r.summary()),
            Err(e) => tracing::error!("tailing: {e}"),
        }
    })?;
    Ok(Some((stop, thread)))
}

/// Logs go to a file in the data dir, never to the terminal the console draws on.
fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = paths::data_dir()?;
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::never(&dir, "suture.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("SUTURE_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(false).try_init().ok()?;
    Some(guard)
}

/// The repro specs this configuration names: `repro.specs`, or the demo's.
pub(crate) fn repro_specs(loaded: &Loaded, is_demo: bool) -> Result<Vec<crate::model::ReproSpec>> {
    let dir = match &loaded.config.repro.specs {
        Some(d) => PathBuf::from(d),
        None if is_demo => demo_root(loaded).join("repros"),
        None => bail!("no repro specs configured: set repro.specs to a directory of *.toml specs"),
    };
    crate::repro::runner::load_specs(&dir).map_err(|e| anyhow::anyhow!("reading repro specs: {}", inert(&e)))
}

fn repro(loaded: &Loaded, target: &str, runs: Option<u32>, json: bool) -> Result<()> {
    use std::io::{IsTerminal, Write};
    let (store, _, is_demo) = open_store(loaded)?;
    let specs = repro_specs(loaded, is_demo)?;
    let spec = match specs.iter().find(|s| s.id == target) {
        Some(s) => s.clone(),
        None => {
            let id = target.to_ascii_uppercase();
            crate::repro::runner::spec_for_incident(&specs, &store, &id, &grouper(loaded, is_demo))
                .map_err(|e| anyhow::anyhow!("{}", inert(&e)))?
                .with_context(|| format!("no incident or repro spec `{}`; `suture incidents` lists incidents", inert(target)))?
        }
    };
    let root = match &loaded.config.source.root {
        Some(r) => PathBuf::from(r),
        None if is_demo => demo_root(loaded).join("service"),
        None => bail!("no source tree: set source.root"),
    };
    let data = paths::data_dir().context("no data directory for workspaces")?;
    let ws = crate::repro::workspace::Workspace::create(&root, None, &crate::verify::workspaces_dir(&data))
        .with_context(|| format!("making a workspace of {}", root.display()))?;
    let runs = runs.unwrap_or(loaded.config.repro.runs).max(1) as usize;
    let live = !json && std::io::stderr().is_terminal();
    let opts = crate::repro::runner::Options { pass: loaded.config.repro.pass_env.clone(), ..Default::default() };
    let mut last_run = usize::MAX;
    let report = crate::repro::runner::run_repeated(&spec, ws.path(), runs, &opts, &mut |i, _, bytes| {
        if live {
            let mut err = std::io::stderr().lock();
            if i != last_run {
                let _ = writeln!(err, "── run {} of {runs} ──", i + 1);
                last_run = i;
            }
            let _ = write!(err, "{}", inert(&String::from_utf8_lossy(bytes)));
        }
    });
    if json {
        let runs: Vec<_> = report
            .runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "verdict": r.verdict,
                    "reason": r.reason,
                    "signature": r.signature,
                    "status": r.outcome.status(),
                    "exit_code": r.outcome.exit_code,
                    "signal": r.outcome.signal,
                    "duration_ms": r.outcome.duration.as_millis() as u64,
                    "network": r.outcome.network,
                    "process_limit": r.outcome.process_limit,
                    "stderr": r.outcome.text(crate::repro::sandbox::Stream::Stderr),
                    "stdout": r.outcome.text(crate::repro::sandbox::Stream::Stdout),
                })
            })
            .collect();
        let out = serde_json::json!({
            "spec": spec.id,
            "workspace_base": ws.base(),
            "verdict": report.verdict,
            "deterministic": report.deterministic,
            "summary": report.summary,
            "runs": runs,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}  {}", spec.id, inert(&spec.title));
        println!("workspace   {} ({})", ws.path().display(), ws.base());
        for (i, r) in report.runs.iter().enumerate() {
            println!(
                "run {}       {:?}: {} ({} ms, {})",
                i + 1,
                r.verdict,
                inert(&r.reason),
                r.outcome.duration.as_millis(),
                r.outcome.status()
            );
        }
        if let Some(r) = report.runs.first() {
            match &r.outcome.network {
                crate::repro::sandbox::Network::Shared(why) => println!("network     NOT isolated: {why}"),
                n => println!("network     {n:?}, processes limited by {}", r.outcome.process_limit),
            }
        }
        println!("verdict     {}", inert(&report.summary));
    }
    Ok(())
}

fn incidents(loaded: &Loaded, json: bool) -> Result<()> {
    let (store, _, _) = open_store(loaded)?;
    let list = store.incidents()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if list.is_empty() {
        println!("No incidents.");
        return Ok(());
    }
    let now = list.iter().map(|i| i.last_seen).max().unwrap_or(0);
    println!("{:>3}  {:<10}  {:>6}  {:>8}  {:>6}  {:<10}  TITLE", "#", "ID", "SCORE", "EVENTS", "USERS", "SEEN");
    for (i, inc) in list.iter().enumerate() {
        println!(
            "{:>3}  {:<10}  {:>6.1}  {:>8}  {:>6}  {:<10}  {}{}",
            i + 1,
            inc.id,
            inc.score,
            count(inc.count),
            count(inc.users),
            ago(inc.last_seen, now),
            if inc.new_since_deploy { "[new] " } else { "" },
            inert(&inc.title)
        );
    }
    Ok(())
}

fn incident(loaded: &Loaded, id: &str, json: bool) -> Result<()> {
    let (store, path, is_demo) = open_store(loaded)?;
    let tree = source_tree(loaded, is_demo);
    let mut detail = crate::inspect::load(&store, id, tree.as_ref())?;
    if detail.is_none() && id != id.to_ascii_uppercase() {
        detail = crate::inspect::load(&store, &id.to_ascii_uppercase(), tree.as_ref())?;
    }
    let Some(d) = detail else {
        bail!("no incident `{}` in the store {}; `suture incidents` lists them", inert(id), path.display());
    };
    if json {
        let out = serde_json::json!({ "incident": d.incident, "representative_event": d.event });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", incident_text(&d));
    }
    Ok(())
}

/// What the Incident view shows, as plain text. Every value from an event is inert.
pub fn incident_text(d: &crate::inspect::IncidentDetail) -> String {
    use crate::inspect::short_release;
    use crate::tui::app::trace;
    use crate::tui::widgets::text::datetime;
    use std::fmt::Write;
    let inc = &d.incident;
    let list = |v: &[String]| if v.is_empty() { "—".to_string() } else { inert(&v.join(", ")).into_owned() };
    let mut o = String::new();
    let _ = writeln!(o, "{}  {}", inc.id, inert(&inc.title));
    let new = if inc.new_since_deploy { " · new since deploy" } else { "" };
    let _ = writeln!(o, "status      {}{new}", inc.status.label());
    let _ = writeln!(o, "service     {}", list(&inc.services));
    let _ = writeln!(o, "events      {} · users {}", count(inc.count), count(inc.users));
    let _ = writeln!(o, "first seen  {}", datetime(inc.first_seen));
    let _ = writeln!(o, "last seen   {}", datetime(inc.last_seen));
    let factors: Vec<String> = inc.score_factors.iter().map(|(n, p)| format!("{n} {p:.1}")).collect();
    let _ = writeln!(o, "score       {:.1} = {}", inc.score, factors.join(" + "));
    let _ = writeln!(o, "culprit     {}", inert(inc.culprit.as_deref().unwrap_or("no in-app frame")));
    match &d.event {
        None => {
            let _ = writeln!(o, "\nThe representative event is no longer in the store.");
        }
        Some(ev) => {
            let _ = writeln!(o, "\nException (the escaping one first)");
            if ev.exceptions.is_empty() {
                let _ = writeln!(o, "  none: {}", inert(ev.message.as_deref().unwrap_or("(no message)")));
            }
            for (i, e) in ev.exceptions.iter().enumerate().rev() {
                let lead = if i + 1 == ev.exceptions.len() { "  " } else { "  chained from " };
                let unhandled = if e.handled == Some(false) { " (unhandled)" } else { "" };
                let _ = writeln!(o, "{lead}{}: {}{unhandled}", inert(&e.kind), inert(&e.value));
            }
            let _ = writeln!(o, "\nIn-app frames (most recent call first)");
            let rows = trace::rows(ev, false);
            let frames = trace::frames(&rows);
            if !frames.iter().any(|(e, f)| trace::in_app(&ev.exceptions[*e].frames[*f])) {
                let _ = writeln!(o, "  none");
            }
            for (e, f) in frames {
                let fr = &ev.exceptions[e].frames[f];
                if !trace::in_app(fr) {
                    continue;
                }
                let place = fr.filename.as_deref().or(fr.module.as_deref()).unwrap_or("?");
                let line = fr.lineno.map(|n| format!(":{n}")).unwrap_or_default();
                let _ = writeln!(o, "  {}{line} in {}", inert(place), inert(fr.function.as_deref().unwrap_or("?")));
                let src = d.sources.get(e).and_then(|s| s.get(f));
                let code = src.and_then(|s| s.snippet.as_ref()).and_then(|s| {
                    let focus = s.focus?;
                    Some(s.text(focus.checked_sub(s.first_line)? as usize))
                });
                if let Some(code) = code.filter(|c| !c.trim().is_empty()) {
                    let from = if src.and_then(|s| s.snippet.as_ref()).is_some_and(|s| s.file.is_some()) { "tree" } else { "event" };
                    let _ = writeln!(o, "      {}    ({from})", inert(code.trim()));
                }
            }
        }
    }
    let _ = writeln!(o, "\nDimensions");
    let _ = writeln!(o, "  tenants   {}", list(&inc.tenants));
    let _ = writeln!(o, "  regions   {}", list(&inc.regions));
    for r in &d.releases {
        let _ = writeln!(
            o,
            "  release   {} (first here {}, {} events)",
            inert(&short_release(&r.release)),
            datetime(r.first_seen),
            count(r.events)
        );
    }
    if d.releases.is_empty() {
        let _ = writeln!(o, "  releases  —");
    }
    let _ = writeln!(o, "  flags     {}", list(&inc.flags));
    let _ = writeln!(o, "\nWhy grouped ({})", inert(crate::triage::fingerprint::version_of(inc)));
    for c in &inc.grouping {
        let _ = writeln!(o, "  {}", inert(c));
    }
    o
}

/// The grouping configuration: the config's `[triage]`, or the demo
/// world's own when this is the demo store and the config sets none.
pub(crate) fn grouper(loaded: &Loaded, is_demo: bool) -> crate::triage::fingerprint::Grouper {
    let t = &loaded.config.triage;
    if is_demo && t.in_app.is_empty() && t.not_in_app.is_empty() && t.rules.is_empty() {
        return crate::triage::fingerprint::Grouper::new(&demo::triage());
    }
    crate::triage::fingerprint::Grouper::new(t)
}

fn ingest(loaded: &Loaded, paths: &[PathBuf], follow: bool) -> Result<()> {
    use std::io::{IsTerminal, Write};
    let (mut store, store_path, is_demo) = open_store(loaded)?;
    let redactor = redactor()?;
    let tty = std::io::stderr().is_terminal();
    let slos = loaded.config.slo.clone();
    let mut ingestor = crate::ingest::Ingestor::new(&mut store, identity(loaded)?, now_ms())
        .with_grouper(grouper(loaded, is_demo))
        .with_ranker(move |incs, now, deploy| crate::triage::rank::rank_with_slos(incs, now, deploy, &slos))
        .with_redact_fields(&loaded.config.triage.redact_fields, &redactor)
        .with_clock(now_ms)
        .with_flush_every(if follow { crate::ingest::FLUSH_EVERY } else { crate::ingest::BULK_FLUSH_EVERY });
    if follow {
        for p in paths {
            if !crate::follow::followable(p) {
                anyhow::bail!("{}: no such file or directory to follow", inert(&p.display().to_string()));
            }
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, std::sync::Arc::clone(&stop)).context("installing the signal handler")?;
        }
        eprintln!(
            "following {} path{} into {}; stop with Ctrl-C",
            paths.len(),
            if paths.len() == 1 { "" } else { "s" },
            store_path.display()
        );
        let mut last = (usize::MAX, usize::MAX);
        crate::follow::run(
            paths,
            &redactor,
            &mut ingestor,
            std::time::Duration::from_millis(200),
            &|| stop.load(std::sync::atomic::Ordering::Relaxed),
            &mut |r| {
                if (r.ingested, r.rejected) != last {
                    last = (r.ingested, r.rejected);
                    if tty {
                        eprint!("\r{}", r.summary());
                        let _ = std::io::stderr().flush();
                    }
                }
            },
        )?;
        if tty {
            eprintln!();
        }
    }
    for path in paths.iter().filter(|_| !follow) {
        let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let name = path.display().to_string();
        let show = |done: u64| {
            // A progress bar only where someone watches it, and only for long files.
            if tty && total > (1 << 20) {
                let pct = (done * 100).checked_div(total).unwrap_or(100);
                let bar: String = (0..30).map(|i| if i * 100 / 30 < pct { '█' } else { '░' }).collect();
                eprint!("\r{bar} {pct:>3}% {}", inert(&name));
                let _ = std::io::stderr().flush();
            }
        };
        crate::ingest::ingest_path(path, &redactor, &mut ingestor, show)?;
        if tty && total > (1 << 20) {
            eprintln!();
        }
    }
    let report = ingestor.finish()?;
    println!("{} into {}", report.summary(), store_path.display());
    if report.duplicates > 0 {
        println!("{} already stored (same event id), skipped", report.duplicates);
    }
    if report.skipped > 0 {
        println!("{} log records were not errors (below ERROR, no exception), skipped", report.skipped);
    }
    for r in &report.reasons {
        println!("  rejected {}", inert(&r.to_string()));
    }
    if report.rejected > report.reasons.len() {
        println!("  … and {} more rejections", report.rejected - report.reasons.len());
    }
    Ok(())
}

fn serve(loaded: &Loaded, otlp: Option<&str>, proxy: Option<&str>) -> Result<()> {
    use std::io::Write;
    let _log = init_logging();
    let s = session(loaded)?;
    let (store, store_path, is_demo) = open_store_as(loaded, &s)?;
    let _one_serve = crate::serve_lock::acquire(&store_path).map_err(|e| anyhow::Error::new(propose::Exit { code: 1, message: e }))?;
    let otlp = match otlp {
        Some(addr) => Some(crate::serve::Options {
            addr: addr.to_string(),
            store,
            redactor: redactor()?,
            actor: s.person.name.clone(),
            now: now_ms,
            grouper: grouper(loaded, is_demo),
            slos: loaded.config.slo.clone(),
            redact_fields: loaded.config.triage.redact_fields.clone(),
        }),
        None => None,
    };
    // Rollouts need a source tree and a service to run; without them serve
    // still receives signals, and says plainly that it watches no rollouts.
    let delivery = match deliver::env(loaded, is_demo, proxy) {
        Ok(env) => Some(crate::serve::Delivery { store: open_store_as(loaded, &s)?.0, env }),
        Err(e) if otlp.is_some() && proxy.is_none() => {
            eprintln!("rollouts are not watched here: {e:#}");
            None
        }
        Err(e) => return Err(e.context("setting up the rollout controller")),
    };
    let totals = crate::serve::run(otlp, delivery, |l| {
        if let Some(local) = l.otlp {
            println!("listening on http://{local} (OTLP/HTTP logs, JSON)");
        }
        if let Some(local) = l.proxy {
            println!("canary proxy on http://{local} (its measurements on /metrics)");
        }
        let _ = std::io::stdout().flush();
        eprintln!("storing into {}; rollouts are watched here; stop with Ctrl-C", store_path.display());
    })?;
    println!("stopped after {}", totals.summary());
    Ok(())
}

/// Who is at the keyboard, what they may do and the keys they sign with.
pub(crate) struct Session {
    pub person: crate::govern::Person,
    pub team: crate::govern::Team,
    pub signers: crate::audit::sign::Signers,
    pub keyring: PathBuf,
    /// `--read-only`, `ui.read_only`, or a viewer at the keyboard.
    pub read_only: bool,
}

/// The team keyring's path: `identity.keyring`, else `keyring.toml` in the config dir.
pub(crate) fn keyring_path(loaded: &Loaded) -> Result<PathBuf> {
    match &loaded.config.identity.keyring {
        Some(p) => Ok(PathBuf::from(p)),
        None => Ok(paths::config_dir().context("no config directory for the keyring; set identity.keyring")?.join("keyring.toml")),
    }
}

/// The team in force and the person at the keyboard.
fn who(loaded: &Loaded) -> Result<(crate::govern::Team, crate::govern::Person)> {
    let (_, is_demo) = store_path(loaded)?;
    let root = demo_root(loaded);
    let team = crate::govern::Team::load(loaded, is_demo.then_some(root.as_path()))?;
    let person = team.whoami(loaded.config.identity.name.as_deref(), &|v| std::env::var(v).ok())?;
    Ok((team, person))
}

pub(crate) fn session(loaded: &Loaded) -> Result<Session> {
    let (team, person) = who(loaded)?;
    let keyring = keyring_path(loaded)?;
    let keys = paths::config_dir().context("no config directory for the signing keys")?.join("keys");
    let signers = crate::audit::sign::Signers::open(&person.name, &keys, &keyring)?;
    let read_only = loaded.config.ui.read_only || person.role == crate::model::Role::Viewer;
    Ok(Session { person, team, signers, keyring, read_only })
}

/// Who is at the keyboard (see [`session`]).
pub(crate) fn identity(loaded: &Loaded) -> Result<String> {
    Ok(who(loaded)?.1.name)
}

fn demo_cmd(loaded: &Loaded, reset: bool) -> Result<()> {
    if !reset {
        bail!("say what to do with the demo: `suture demo --reset` rebuilds its store");
    }
    let (path, is_demo) = store_path(loaded)?;
    if !is_demo {
        bail!("store {} is not the demo's store (store.path is set or demo.enabled is false)", path.display());
    }
    let mut store = Store::open(&path).with_context(|| format!("opening the store {}", path.display()))?;
    let r = demo::reset(&mut store, &demo_root(loaded), &redactor()?, now_ms())?;
    println!(
        "Demo world reloaded into {}: {} events ingested, {} rejected, {} incidents.",
        path.display(),
        r.ingested,
        r.rejected.len(),
        r.incidents
    );
    for rej in r.rejected.iter().take(10) {
        println!("  rejected {rej}");
    }
    Ok(())
}

fn screenshots(loaded: &Loaded, out: &std::path::Path) -> Result<()> {
    let (store, ring) = tui::shots::demo_store(&demo_root(loaded), 0).map_err(anyhow::Error::msg)?;
    let mut snapshot = tui::run::snapshot(&store, &ring)?;
    // Patches are not part of the demo's recorded world: they are what
    // `suture propose` (or `verify`) made in this store, if it made any.
    if let Ok((path, _)) = store_path(loaded)
        && path.exists()
        && let Ok(real) = Store::open(&path)
    {
        snapshot.patches = real.patches()?;
        if let Some(r) = real.rollouts()?.into_iter().next() {
            snapshot.rollout_points = real.rollout_points(&r.id, r.updated - 180_000)?;
            snapshot.clock = r.updated;
            snapshot.rollouts = real.rollouts()?;
        }
    }
    // Without a rollout of its own, the Rollouts view shows two recorded from real demo runs.
    if snapshot.rollouts.is_empty() {
        tui::shots::recorded_rollouts(&demo_root(loaded), &mut snapshot).map_err(anyhow::Error::msg)?;
    }
    let tree = source_tree(loaded, true);
    let detail = match snapshot.incidents.first() {
        Some(inc) => crate::inspect::load(&store, &inc.id, tree.as_ref())?,
        None => None,
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let theme = Theme::load(&loaded.config.ui.theme, Depth::TrueColor).map_err(anyhow::Error::msg)?;
    let keymap = keymap(loaded)?;
    for (name, svg) in tui::shots::render_all(&snapshot, detail.as_ref(), &theme, &keymap, 120, 36) {
        let path = out.join(format!("{name}.svg"));
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
