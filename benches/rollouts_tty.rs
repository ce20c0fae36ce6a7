//! Bytes written to the terminal per second while the Rollouts view is live,
//! at 160x48 with one store update a second, measured through a
//! pseudo-terminal; against a full-screen repaint every second (what
//! `kubectl argo rollouts get rollout --watch` does).
//!
//!     cargo bench --bench rollouts_tty
//!
//! The real console runs in a pty (160x48, TERM=xterm-256color) on a store
//! that a feeder updates once a second, the way `suture serve` does during a
//! canary: the rollout record (revision, actual weight, step clock) and one
//! more second of per-cohort measurements. The feeder replays the recorded
//! demo rollout (`fixtures/demo/rollouts/promoted-candidate.json`) second by
//! second. Everything the console writes to the pty is counted for 20 s.
//!
//! The reference is the same sequence of screens drawn in full every second:
//! each frame rendered from scratch (clear, then every cell with its style)
//! by the same renderer, its bytes counted. Goal: at most a tenth.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use suture::model::{Rollout, RolloutStatus};
use suture::store::{Point, Store};
use suture::tui::app::{Action, update};
use suture::tui::keymap::{Command as Cmd, Keymap};
use suture::tui::shots::state_with;
use suture::tui::theme::{Depth, Theme};

const W: u16 = 160;
const H: u16 = 48;
const SECONDS: u64 = 20;

fn recorded() -> (Rollout, Vec<Point>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo/rollouts/promoted-candidate.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    (serde_json::from_value(v["rollout"].clone()).unwrap(), serde_json::from_value(v["points"].clone()).unwrap())
}

/// The rollout as it stood `k` seconds in: its points so far, the step and
/// weight it had then, re-based so that "now" is `now`.
fn at_second(r: &Rollout, points: &[Point], k: usize, now: i64) -> (Rollout, Vec<Point>) {
    let t0 = points.first().map_or(r.started, |p| p.t);
    let shift = now - (t0 + k as i64 * 1000);
    let mut r = r.clone();
    let seen: Vec<Point> = points.iter().filter(|p| p.t <= t0 + k as i64 * 1000).map(|p| Point { t: p.t + shift, ..p.clone() }).collect();
    r.started += shift;
    r.status = RolloutStatus::Progressing;
    let mut elapsed = k as u64;
    r.current_step = 0;
    for (i, s) in r.steps.iter().enumerate() {
        r.current_step = i;
        if elapsed < s.pause_secs || i + 1 == r.steps.len() {
            break;
        }
        elapsed -= s.pause_secs;
    }
    r.desired_weight = r.steps[r.current_step].weight;
    r.step_started = Some(now - elapsed as i64 * 1000);
    r.verdicts.retain(|v| v.step < r.current_step);
    r.actual_weight = Some(r.desired_weight.saturating_sub((k % 3) as u8));
    r.updated = now;
    r.revision = k as u64 + 2;
    (r, seen)
}

fn write(db: &rusqlite::Connection, r: &Rollout, points: &[Point]) {
    db.execute(
        "INSERT INTO rollouts(id, patch_id, status, revision, updated, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET status = excluded.status, revision = excluded.revision, updated = excluded.updated, body = excluded.body",
        rusqlite::params![r.id, r.patch_id, r.status.label(), r.revision as i64, r.updated, serde_json::to_string(r).unwrap()],
    )
    .unwrap();
    db.execute("DELETE FROM rollout_points WHERE rollout_id = ?1", [&r.id]).unwrap();
    for p in points {
        db.execute(
            "INSERT INTO rollout_points(rollout_id, t, cohort, requests, errors, p50_ms, p95_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![r.id, p.t, p.cohort, p.requests as i64, p.errors as i64, p.p50_ms, p.p95_ms],
        )
        .unwrap();
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A pty pair sized W x H: (master, slave).
fn pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize { ws_row: H, ws_col: W, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty writes two fds; the pointers are to locals.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just opened and are owned here.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

fn console_bytes_per_second() -> f64 {
    let dir = std::env::temp_dir().join(format!("suture-tty-bench-{}", std::process::id()));
    for sub in ["home", "config", "data"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let store_path = dir.join("bench.db");
    drop(Store::open(&store_path).unwrap());
    let db = rusqlite::Connection::open(&store_path).unwrap();
    let (r, points) = recorded();
    let (first, seen) = at_second(&r, &points, 0, now_ms());
    write(&db, &first, &seen);

    let (master, slave) = pty();
    let fd = |f: &OwnedFd| Stdio::from(f.try_clone().unwrap());
    let slave_fd = slave.as_raw_fd();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_suture"));
    cmd.args(["--store", store_path.to_str().unwrap()])
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("TERM", "xterm-256color")
        .env("COLORTERM", "truecolor")
        .env_remove("NO_COLOR")
        .stdin(fd(&slave))
        .stdout(fd(&slave))
        .stderr(Stdio::null());
    // SAFETY: setsid and TIOCSCTTY are async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            libc::setsid();
            libc::ioctl(slave_fd, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("the suture binary");
    drop(slave);

    let counted = Arc::new(AtomicU64::new(0));
    let reader = {
        let counted = Arc::clone(&counted);
        let mut m = std::fs::File::from(master.try_clone().unwrap());
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = m.read(&mut buf) {
                if n == 0 {
                    break;
                }
                counted.fetch_add(n as u64, Ordering::Relaxed);
            }
        })
    };
    let mut keys = std::fs::File::from(master);
    std::thread::sleep(Duration::from_secs(3));
    keys.write_all(b"3").unwrap();
    std::thread::sleep(Duration::from_secs(2));

    let before = counted.load(Ordering::Relaxed);
    eprintln!("console up: {before} bytes so far (first screen and the switch to Rollouts)");
    let start = Instant::now();
    for k in 1..=SECONDS {
        let (r_k, seen) = at_second(&r, &points, k as usize, now_ms());
        write(&db, &r_k, &seen);
        let next = start + Duration::from_secs(k);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let bytes = counted.load(Ordering::Relaxed) - before;
    let secs = start.elapsed().as_secs_f64();
    keys.write_all(b"q").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            eprintln!("the console did not quit on q; killed");
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(keys);
    // The reader ends when the pty's last writer is gone.
    drop(reader);
    let _ = std::fs::remove_dir_all(&dir);
    bytes as f64 / secs
}

/// The same screens, each drawn in full: a fresh frame every second, drawn
/// on an empty terminal after a clear.
fn full_repaint_bytes_per_second() -> f64 {
    let (r, points) = recorded();
    let theme = Theme::builtin(Depth::TrueColor);
    let keymap = Keymap::default();
    let snapshot = suture::tui::app::Snapshot::default();
    let mut total = 0usize;
    for k in 1..=SECONDS {
        let now = now_ms();
        let (r_k, seen) = at_second(&r, &points, k as usize, now);
        let mut state = state_with(&snapshot, W, H);
        update(&mut state, Action::Command(Cmd::TabRollouts));
        state.rollouts = vec![r_k];
        state.rollout_points = seen;
        state.clock = now;
        // Clear and home, then every cell that is not blank: what a
        // full-screen redraw costs (blank cells after a clear cost nothing).
        let mut out = b"\x1b[H\x1b[2J".to_vec();
        {
            let backend = CrosstermBackend::new(&mut out);
            let mut term = Terminal::with_options(
                backend,
                ratatui::TerminalOptions { viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, W, H)) },
            )
            .unwrap();
            let review = std::cell::RefCell::new(suture::review::hl::DocCache::default());
            let ctx = suture::tui::views::Ctx { theme: &theme, keymap: &keymap, review: &review };
            term.draw(|f| suture::tui::views::draw(f, &state, &ctx)).unwrap();
        }
        total += out.len();
    }
    total as f64 / SECONDS as f64
}

fn main() {
    let full = full_repaint_bytes_per_second();
    let live = console_bytes_per_second();
    println!("Rollouts view live at {W}x{H}, one store update a second, {SECONDS} s through a pty:");
    println!("  suture console:          {:>9.0} bytes/s", live);
    println!("  full repaint every 1 s:  {:>9.0} bytes/s (the same screens, each drawn in full)", full);
    println!("  ratio: {:.3} (goal ≤ 0.100)", live / full);
}
