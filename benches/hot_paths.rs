//! Benchmarks of the hot paths, reported as ratios to a reference.
//!
//!     cargo bench --bench hot_paths
//!
//! - Sentry ingest parse: our borrowed typed parser vs `serde_json::Value`
//!   (REFERENCE.md: typed borrowed structs ~160k–240k events/s here, Value ~75k/s).
//! - Triage: fingerprinting, and ingest end to end into an in-memory store.
//! - Rendering: one frame of the Incidents view at 160×48 into a TestBackend,
//!   vs the 16 ms frame budget.
//!
//! Plain `std::time` with warm-up and the median of several rounds; no
//! external harness needed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use suture::signals::redact::Redactor;
use suture::signals::sentry::parse_event;
use suture::store::Store;
use suture::triage::cluster::skeleton;
use suture::tui::keymap::Keymap;
use suture::tui::shots::{render, state_with};
use suture::tui::theme::{Depth, Theme};

fn median_of(rounds: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let _ = f();
    let mut v: Vec<Duration> = (0..rounds).map(|_| f()).collect();
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let text = std::fs::read_to_string(suture::demo::sentry_events(&root)).expect("the demo events (fixtures/demo/events/sentry.jsonl)");
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len() as f64;
    let redactor = Redactor::new([1; 32]);

    let typed = median_of(7, || {
        let t = Instant::now();
        for l in &lines {
            black_box(parse_event(l, &redactor).ok());
        }
        t.elapsed()
    });
    let value = median_of(7, || {
        let t = Instant::now();
        for l in &lines {
            black_box(serde_json::from_str::<serde_json::Value>(l).ok());
        }
        t.elapsed()
    });
    println!("sentry parse (typed, borrowed): {:>9.0} events/s", n / typed.as_secs_f64());
    println!("sentry parse (serde_json::Value reference): {:>9.0} events/s", n / value.as_secs_f64());
    println!("  ratio typed / Value: {:.2}x", value.as_secs_f64() / typed.as_secs_f64());

    let events: Vec<_> = lines.iter().filter_map(|l| parse_event(l, &redactor).ok()).collect();
    let fp = median_of(7, || {
        let t = Instant::now();
        for e in &events {
            black_box(skeleton(e));
        }
        t.elapsed()
    });
    println!("fingerprint: {:>9.0} events/s", n / fp.as_secs_f64());
    let end_to_end = median_of(3, || {
        let mut store = Store::open_in_memory().unwrap();
        let t = Instant::now();
        suture::demo::load(&mut store, &root, &redactor, 0).unwrap();
        t.elapsed()
    });
    println!("ingest end to end (parse, redact, fingerprint, store in memory): {:>9.0} events/s", n / end_to_end.as_secs_f64());
    println!("  ratio to the typed-parse ceiling: {:.2}", typed.as_secs_f64() / end_to_end.as_secs_f64());

    let (store, ring) = suture::tui::shots::demo_store(&root, 0).unwrap();
    let snapshot = suture::tui::run::snapshot(&store, &ring).unwrap();
    let state = state_with(&snapshot, 160, 48);
    let theme = Theme::builtin(Depth::TrueColor);
    let keymap = Keymap::default();
    let frame = median_of(51, || {
        let t = Instant::now();
        black_box(render(&state, &theme, &keymap));
        t.elapsed()
    });
    println!("render Incidents 160x48: {:>7.1} µs/frame", frame.as_secs_f64() * 1e6);
    println!("  ratio to the 16 ms frame budget: {:.4}", frame.as_secs_f64() / 0.016);
}
