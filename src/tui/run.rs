//! The console's loop: terminal events, store results and signals become
//! actions; `update` decides; the screen is redrawn only when something
//! changed, at most once per `frame_ms`, inside a synchronized update.
//!
//! The store lives on its own thread (a SQLite connection is not shared
//! across threads); it answers load requests and polls `PRAGMA data_version`
//! every `poll_ms` so a change made by another process shows within a second.
//! It also loads the open incident in full (`inspect::load`, which reads the
//! source tree and highlights it), so neither the loop nor `update` does IO.
//! Requests that queue up while it works are coalesced: only the newest load
//! of each kind runs.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::app::{Action, Effect, Snapshot, State, update};
use super::keymap::{Context, Keymap, is_text};
use super::terminal;
use super::theme::Theme;
use super::views::{self, Ctx};
use crate::audit::chain;
use crate::audit::sign::Keyring;
use crate::source::SourceTree;
use crate::store::{Store, StoreError};

pub struct Options {
    pub store: PathBuf,
    pub theme: Theme,
    pub keymap: Keymap,
    pub read_only: bool,
    pub environment: String,
    pub frame_ms: u64,
    pub poll_ms: u64,
    /// Rollouts charts in one dot a cell instead of braille.
    pub dot_charts: bool,
    /// When set (the demo), a live rollout that no `suture serve` runs gets
    /// one started in the background for this store; it outlives the console.
    pub serve_in_background: Option<PathBuf>,
    /// Where frames' source files are read from; `None` shows only the events' own context.
    pub source: Option<SourceTree>,
    /// Repros and verification, or why they cannot run from this console.
    pub jobs: Result<std::sync::Arc<super::jobs::Jobs>, String>,
    /// Who decides from this console; `None` when no identity could be set up.
    pub gov: Option<std::sync::Arc<super::jobs::Gov>>,
    /// The team keyring the audit log is verified against.
    pub keyring: Option<PathBuf>,
}

/// Reads everything the views show from the store, and verifies the audit
/// log (chain, signatures against `keyring`, signed head).
pub fn snapshot(store: &Store, keyring: &Keyring) -> Result<Snapshot, StoreError> {
    let log = store.audit_log()?;
    let chain = chain::verify_log(&log, store.audit_head()?.as_ref(), keyring).map(|v| v.entries).map_err(|b| b.to_string());
    let audit = log.into_iter().map(|(e, _)| e).collect();
    let rollouts = store.rollouts()?;
    let clock = jiff::Timestamp::now().as_millisecond();
    // The newest rollout's last three minutes, for the live charts.
    let rollout_points = match rollouts.first() {
        Some(r) => store.rollout_points(&r.id, if r.status.is_live() { clock } else { r.updated } - 180_000)?,
        None => Vec::new(),
    };
    Ok(Snapshot {
        incidents: store.incidents()?,
        patches: store.patches()?,
        audit,
        chain,
        events: store.event_count()?,
        rollouts,
        rollout_points,
        clock,
    })
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(run_async(opts))
}

/// Starts `suture serve` for `store` in its own session, detached from this
/// terminal (its output goes to a log beside the store), and returns its pid.
fn start_serve(store: &std::path::Path) -> Result<u32, String> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let log_path = store.with_extension("serve.log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(exe);
    // The same environment and working directory find the same (demo) store.
    cmd.arg("serve").stdin(std::process::Stdio::null()).stdout(log).stderr(err);
    // SAFETY: setsid is async-signal-safe: the child leaves this terminal's session.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn().map(|c| c.id()).map_err(|e| e.to_string())
}

/// The action that answers a load request.
pub fn answer(store: &Store, source: Option<&SourceTree>, keyring: Option<&std::path::Path>, effect: Effect) -> Option<Action> {
    match effect {
        Effect::Load { request } => Some(match load_keyring(keyring).and_then(|k| snapshot(store, &k).map_err(|e| e.to_string())) {
            Ok(s) => Action::Loaded { request, snapshot: Box::new(s) },
            Err(e) => Action::LoadFailed { request, error: e },
        }),
        Effect::LoadIncident { request, id } => Some(match crate::inspect::load(store, &id, source) {
            Ok(Some(d)) => Action::IncidentLoaded { request, detail: Box::new(d) },
            Ok(None) => Action::IncidentFailed { request, error: format!("{id} is no longer in the store") },
            Err(e) => Action::IncidentFailed { request, error: e.to_string() },
        }),
        Effect::LoadLog { request, log_ref } => Some(Action::LogLoaded {
            request,
            result: match store.step_log(&log_ref) {
                Ok(Some(t)) => Ok(t),
                Ok(None) => Err(format!("the log {log_ref} is not in the store")),
                Err(e) => Err(e.to_string()),
            },
        }),
        Effect::RunRepro { .. }
        | Effect::Verify { .. }
        | Effect::Propose { .. }
        | Effect::Decide { .. }
        | Effect::Steer { .. }
        | Effect::WriteRecord { .. }
        | Effect::Quit => None,
    }
}

/// The keyring, read afresh for each load so a team's update shows at once.
fn load_keyring(path: Option<&std::path::Path>) -> Result<Keyring, String> {
    match path {
        Some(p) => Keyring::load(p).map_err(|e| format!("the keyring: {e}")),
        None => Ok(Keyring::default()),
    }
}

/// Keeps the newest request of each kind, in arrival order; a quit wins.
fn coalesce(queue: Vec<Effect>) -> Vec<Effect> {
    if queue.contains(&Effect::Quit) {
        return vec![Effect::Quit];
    }
    let last_load = queue.iter().rposition(|e| matches!(e, Effect::Load { .. }));
    let last_incident = queue.iter().rposition(|e| matches!(e, Effect::LoadIncident { .. }));
    let last_log = queue.iter().rposition(|e| matches!(e, Effect::LoadLog { .. }));
    queue
        .into_iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) == last_load || Some(*i) == last_incident || Some(*i) == last_log)
        .map(|(_, e)| e)
        .collect()
}

fn spawn_store_worker(
    path: PathBuf,
    source: Option<SourceTree>,
    keyring: Option<PathBuf>,
    poll: Duration,
    tx: mpsc::UnboundedSender<Action>,
) -> std::io::Result<std_mpsc::Sender<Effect>> {
    let (req_tx, req_rx) = std_mpsc::channel::<Effect>();
    std::thread::Builder::new().name("suture-store".into()).spawn(move || {
        let store = match Store::open(&path) {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Action::LoadFailed { request: 1, error: e.to_string() });
                return;
            }
        };
        let mut seen = store.data_version().unwrap_or(0);
        loop {
            match req_rx.recv_timeout(poll) {
                Ok(first) => {
                    let mut queue = vec![first];
                    queue.extend(req_rx.try_iter());
                    for effect in coalesce(queue) {
                        let Some(action) = answer(&store, source.as_ref(), keyring.as_deref(), effect) else { return };
                        if tx.send(action).is_err() {
                            return;
                        }
                    }
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(v) = store.data_version()
                        && v != seen
                    {
                        seen = v;
                        if tx.send(Action::StoreChanged).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    })?;
    Ok(req_tx)
}

async fn run_async(opts: Options) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, mut rx) = mpsc::unbounded_channel::<Action>();
    let worker = spawn_store_worker(
        opts.store.clone(),
        opts.source.clone(),
        opts.keyring.clone(),
        Duration::from_millis(opts.poll_ms.max(50)),
        tx.clone(),
    )
    .context("starting the store thread")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;

    let mut guard = terminal::enter().context("entering the full-screen terminal")?;
    let store_label = shorten_home(&opts.store);
    let mut state = State::new(opts.environment.clone(), store_label, opts.read_only);
    state.dot_charts = opts.dot_charts;
    state.jobs_unavailable = opts.jobs.as_ref().err().cloned();
    state.me = opts.gov.as_ref().map(|g| super::app::Me { name: g.person.name.clone(), role: g.person.role });
    let size = guard.terminal.size()?;
    state.size = (size.width, size.height);
    let review = std::cell::RefCell::default();
    let ctx = Ctx { theme: &opts.theme, keymap: &opts.keymap, review: &review };
    let frame = Duration::from_millis(opts.frame_ms.max(1));
    let mut events = EventStream::new();
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut pending = vec![Action::StoreChanged];
    // Test hook: the end-to-end tests check that a panic restores the terminal.
    let panic_after_draw = std::env::var_os("SUTURE_TEST_PANIC").is_some();

    let mut pending_status: Option<String> = None;
    let mut serve_started = false;
    let mut warmed: Option<(usize, usize)> = None;
    loop {
        if let Some(s) = pending_status.take() {
            state.status = Some(s);
            dirty = true;
        }
        if let Some(store) = &opts.serve_in_background
            && !serve_started
            && state.rollouts.iter().any(|r| r.status.is_live())
            && !crate::serve_lock::running(store)
        {
            serve_started = true;
            state.status = Some(match start_serve(store) {
                Ok(pid) => format!("started suture serve (pid {pid}) to run the rollout; it keeps running when the console closes"),
                Err(e) => format!("✖ a rollout waits for suture serve, which could not be started: {e}"),
            });
            dirty = true;
        }
        for action in pending.drain(..) {
            let outcome = update(&mut state, action);
            dirty |= outcome.redraw;
            for effect in outcome.effects {
                match effect {
                    Effect::Load { .. } | Effect::LoadIncident { .. } | Effect::LoadLog { .. } => {
                        let _ = worker.send(effect);
                    }
                    Effect::Decide { request, patch, choice } => {
                        let spawned = opts.gov.as_ref().map(|g| g.spawn(request, patch, choice, tx.clone()));
                        if spawned != Some(true) {
                            let _ = tx.send(Action::Decided {
                                request,
                                result: Err("decisions cannot be recorded from this console (no identity)".into()),
                            });
                        }
                    }
                    Effect::Steer { request, rollout, command } => {
                        let spawned = opts.gov.as_ref().map(|g| g.spawn_steer(request, rollout, command, tx.clone()));
                        if spawned != Some(true) {
                            let _ = tx.send(Action::Decided {
                                request,
                                result: Err("rollouts cannot be steered from this console (no identity)".into()),
                            });
                        }
                    }
                    Effect::RunRepro { .. } | Effect::Verify { .. } | Effect::Propose { .. } | Effect::WriteRecord { .. } => {
                        if let Ok(jobs) = &opts.jobs
                            && !jobs.spawn(&effect, tx.clone())
                        {
                            pending_status = Some("could not start a background job".to_string());
                        }
                    }
                    Effect::Quit => {}
                }
            }
        }
        if state.quit {
            break;
        }
        let due = last_draw.map(|t| t + frame).unwrap_or_else(Instant::now);
        if dirty && Instant::now() >= due {
            draw(&mut guard, &state, &ctx)?;
            dirty = false;
            last_draw = Some(Instant::now());
            if panic_after_draw {
                panic!("SUTURE_TEST_PANIC is set: deliberate panic to test terminal restoration");
            }
        }
        let wake = dirty.then_some(due);
        // With nothing else to do, the review screen saves parse states ahead
        // in the file shown, a slice at a time, so a later jump anywhere
        // re-parses at most a few lines.
        let warm = if dirty { None } else { warm_target(&state).filter(|w| warmed != Some(w.key())) };
        tokio::select! {
            biased;
            ev = events.next() => match ev {
                Some(Ok(ev)) => pending.extend(map_event(ev, &state, &opts.keymap)),
                Some(Err(e)) => return Err(e).context("reading terminal input"),
                None => pending.push(Action::Terminate),
            },
            Some(a) = rx.recv() => {
                pending.push(a);
                while let Ok(a) = rx.try_recv() {
                    pending.push(a);
                }
            }
            _ = sigterm.recv() => pending.push(Action::Terminate),
            _ = sighup.recv() => pending.push(Action::Terminate),
            _ = tokio::time::sleep_until(wake.map(tokio::time::Instant::from_std).unwrap_or_else(tokio::time::Instant::now)), if wake.is_some() => {}
            _ = tokio::task::yield_now(), if warm.is_some() => {
                if let Some(w) = &warm
                    && review.borrow_mut().warm(&w.0, w.1, WARM_SLICE)
                {
                    warmed = Some(w.key());
                }
            }
        }
    }
    let _ = worker.send(Effect::Quit);
    drop(guard);
    Ok(())
}

/// Lines per side highlighted ahead in one idle slice (a few milliseconds).
const WARM_SLICE: usize = 64;

/// The document and file the review screen shows, to warm while idle.
struct Warm(std::sync::Arc<crate::review::Doc>, usize);

impl Warm {
    fn key(&self) -> (usize, usize) {
        (std::sync::Arc::as_ptr(&self.0) as usize, self.1)
    }
}

fn warm_target(state: &State) -> Option<Warm> {
    if state.tab != super::app::Tab::Patches {
        return None;
    }
    let v = state.patch_view.as_ref()?;
    let doc = v.doc.as_ref().ok()?;
    Some(Warm(doc.clone(), v.file))
}

fn draw(guard: &mut terminal::Guard, state: &State, ctx: &Ctx) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    crossterm::queue!(out, crossterm::terminal::BeginSynchronizedUpdate)?;
    guard.terminal.draw(|f| views::draw(f, state, ctx))?;
    crossterm::queue!(out, crossterm::terminal::EndSynchronizedUpdate)?;
    out.flush()?;
    Ok(())
}

pub fn map_event(ev: Event, state: &State, keymap: &Keymap) -> Option<Action> {
    match ev {
        Event::Key(k) if k.kind != KeyEventKind::Release => {
            let context = state.key_context();
            match keymap.lookup(context, &k) {
                Some(c) => Some(Action::Command(c)),
                None if context == Context::Filter => match k.code {
                    KeyCode::Char(c) if is_text(&k) => Some(Action::FilterInput(c)),
                    KeyCode::Backspace => Some(Action::FilterBackspace),
                    _ => None,
                },
                None if context == Context::Dialog => Some(Action::DialogKey(k)),
                None if context == Context::LogSearch => match k.code {
                    KeyCode::Char(c) if is_text(&k) => Some(Action::SearchInput(c)),
                    KeyCode::Backspace => Some(Action::SearchBackspace),
                    _ => None,
                },
                None if matches!(k.code, KeyCode::Char(_) | KeyCode::Enter | KeyCode::F(_)) => {
                    Some(Action::UnboundKey(super::keymap::Key { code: k.code, mods: k.modifiers }.to_string()))
                }
                None => None,
            }
        }
        Event::Resize(w, h) => Some(Action::Resize(w, h)),
        _ => None,
    }
}

fn shorten_home(p: &std::path::Path) -> String {
    let s = p.display().to_string();
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() && s.starts_with(&home) => format!("~{}", &s[home.len()..]),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyEvent, KeyModifiers};

    use super::*;
    use crate::tui::keymap::Command;

    fn key(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn keys_map_by_context_and_a_filter_takes_text() {
        let km = Keymap::default();
        let mut s = State::new("T", "mem", false);
        assert_eq!(map_event(key(KeyCode::Char('/')), &s, &km), Some(Action::Command(Command::Filter)));
        s.filtering = true;
        assert_eq!(map_event(key(KeyCode::Char('q')), &s, &km), Some(Action::FilterInput('q')));
        assert_eq!(map_event(key(KeyCode::Backspace), &s, &km), Some(Action::FilterBackspace));
        assert_eq!(map_event(key(KeyCode::Esc), &s, &km), Some(Action::Command(Command::FilterCancel)));
        s.filtering = false;
        assert_eq!(map_event(key(KeyCode::Enter), &s, &km), Some(Action::Command(Command::Open)));
    }

    #[test]
    fn queued_requests_are_coalesced_to_the_newest_of_each_kind() {
        let q = vec![
            Effect::Load { request: 1 },
            Effect::LoadIncident { request: 1, id: "A".into() },
            Effect::Load { request: 2 },
            Effect::LoadIncident { request: 2, id: "B".into() },
        ];
        assert_eq!(coalesce(q), [Effect::Load { request: 2 }, Effect::LoadIncident { request: 2, id: "B".into() }]);
        assert_eq!(coalesce(vec![Effect::Load { request: 1 }, Effect::Quit]), [Effect::Quit]);
    }
}
