//! The review screen against delta: time to the first screen of a side-by-side
//! highlighted diff of a 20,000-line Python file with 200 changed hunks, and
//! the cost of each scroll step after it.
//!
//!     cargo bench --bench diffview
//!
//! Both sides are measured the same way, as fresh processes fed the same diff
//! file, timed from spawn:
//! - Suture: this bench binary re-run in child mode. It reads the diff, loads
//!   the syntaxes, lays the patch out, opens the review screen at 160x48 and
//!   writes the frame's bytes (escape sequences and all) to stdout, then exits.
//! - delta: `delta --side-by-side --width 160 --paging never` with the diff on
//!   stdin; the clock stops when the first 48 lines of its output have arrived
//!   (a screenful, which is generous to delta: a pager shows its first screen
//!   then), and again when it exits.
//!
//! Scroll steps are measured in process on a warm console: one line down at
//! a time through the whole file, each step an `update` and a full redraw.
//! Goals: at least 10x faster to the first screen; a scroll step at most 2 ms.
//!
//! `-- --parts` prints what loading syntect costs (the syntaxes, the themes,
//! relinking the set, a first and a later stream of Python); set
//! `DIFFVIEW_PHASES=1` to see the child's phases on stderr.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use suture::model::{Actor, Patch, PatchKind};
use suture::tui::app::{Action, Snapshot, update};
use suture::tui::keymap::{Command as Cmd, Keymap};
use suture::tui::shots::{Renderer, state_with};
use suture::tui::theme::{Depth, Theme};

const LINES: usize = 20_000;
const HUNKS: usize = 200;
const W: u16 = 160;
const H: u16 = 48;
const RUNS: usize = 7;

/// A plausible Python module: functions with docstrings, loops, strings,
/// comments and comparisons.
fn source() -> String {
    let mut out = String::from("import os\nimport json\n\n");
    let mut i = 0;
    while out.lines().count() < LINES {
        out.push_str(&format!(
            "def handler_{i}(items, limit=10):\n    \"\"\"Return the first items for page {i}, skipping\n    the ones marked hidden.\"\"\"\n    out = []\n    for n, item in enumerate(items):\n        if n >= limit:  # stop at the limit\n            break\n        if item.get(\"hidden\") is not True:\n            out.append({{\"id\": item[\"id\"], \"label\": f\"item {{n}} of {i}\"}})\n    return json.dumps(out)\n\n\n"
        ));
        i += 1;
    }
    out.lines().take(LINES).map(|l| format!("{l}\n")).collect()
}

/// The source with `HUNKS` one-line changes spread evenly: a comparison
/// loosened where the line has one, else a comment added.
fn changed(old: &str) -> String {
    let every = LINES / HUNKS;
    let mut out = String::new();
    for (i, l) in old.lines().enumerate() {
        if i % every == every / 2 {
            if l.contains(">=") {
                out.push_str(&l.replace(">=", ">"));
            } else {
                out.push_str(l);
                out.push_str("  # checked");
            }
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    out
}

fn child(diff_path: &Path) {
    let verbose = std::env::var_os("DIFFVIEW_PHASES").is_some();
    let t0 = Instant::now();
    let phase = |name: &str| {
        if verbose {
            eprintln!("{name:<12} {}", ms(t0.elapsed()));
        }
    };
    let diff = std::fs::read_to_string(diff_path).expect("the diff");
    phase("read");
    let patch = Patch::new(PatchKind::Code, "bench", diff, "tree:bench", vec!["app/big.py".into()], Actor::bot("bench"), None, 0);
    phase("patch");
    let mut state = state_with(&Snapshot { patches: vec![patch], ..Default::default() }, W, H);
    update(&mut state, Action::Command(Cmd::TabPatches));
    update(&mut state, Action::Command(Cmd::Open));
    phase("opened");
    let theme = Theme::builtin(Depth::TrueColor);
    let keymap = Keymap::default();
    phase("theme+keys");
    let _ = suture::highlight::Highlighter::get();
    phase("syntaxes");
    let mut bytes = Vec::with_capacity(64 * 1024);
    {
        let backend = CrosstermBackend::new(&mut bytes);
        let mut term =
            Terminal::with_options(backend, ratatui::TerminalOptions { viewport: ratatui::Viewport::Fixed(Rect::new(0, 0, W, H)) })
                .expect("an in-memory terminal");
        let mut r = Renderer::default();
        let buf = r.render(&state, &theme, &keymap).clone();
        phase("rendered");
        term.draw(|f| *f.buffer_mut() = buf).expect("drawing into memory");
    }
    phase("encoded");
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes).expect("stdout");
    out.flush().expect("stdout");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--parts") {
        let t = Instant::now();
        let ss = syntect::parsing::SyntaxSet::load_defaults_newlines();
        println!("load_defaults_newlines {}", ms(t.elapsed()));
        let t = Instant::now();
        let _ts = syntect::highlighting::ThemeSet::load_defaults();
        println!("themes {}", ms(t.elapsed()));
        let t = Instant::now();
        let _b = ss.into_builder().build();
        println!("rebuild {}", ms(t.elapsed()));
        let t = Instant::now();
        let _h = suture::highlight::Highlighter::get();
        println!("Highlighter::get {}", ms(t.elapsed()));
        let text: Vec<String> = source().lines().skip(40).take(46).map(String::from).collect();
        for round in 0..3 {
            let t = Instant::now();
            let mut st = suture::review::hl::Stream::new("py", text.len());
            st.ensure(&text, 0..text.len());
            println!("46 python lines, stream {round}: {}", ms(t.elapsed()));
        }
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--first-screen") {
        child(Path::new(&args[i + 1]));
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-diffview");
    std::fs::create_dir_all(&dir).unwrap();
    let old = source();
    let new = changed(&old);
    let diff = suture::propose::patch::diff_text("app/big.py", &old, &new);
    let diff_path = dir.join("big.diff");
    std::fs::write(&diff_path, &diff).unwrap();
    let parsed = suture::propose::patch::Diff::parse(&diff).expect("the generated diff parses");
    let hunks = parsed.files[0].hunks.len();
    println!("diff: {} lines of a {LINES}-line file, {hunks} hunks, {} bytes ({})", diff.lines().count(), diff.len(), diff_path.display());
    assert_eq!(hunks, HUNKS, "the generator makes {HUNKS} hunks");

    // Suture, cold, in a fresh process each run.
    let me = std::env::current_exe().unwrap();
    let mut suture_runs = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = Command::new(&me).arg("--first-screen").arg(&diff_path).stdout(Stdio::piped()).output().unwrap();
        suture_runs.push(t.elapsed());
        assert!(out.status.success() && out.stdout.len() > 1000, "the child drew a screen");
    }
    let suture_first = median(suture_runs.clone());

    // delta, the same diff on stdin.
    let delta = std::env::var("DELTA").unwrap_or_else(|_| "delta".into());
    let mut delta_first = Vec::new();
    let mut delta_all = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let child = Command::new(&delta)
            .args(["--side-by-side", "--width", "160", "--paging", "never", "--true-color", "always", "--no-gitconfig"])
            .stdin(Stdio::from(std::fs::File::open(&diff_path).unwrap()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                println!("delta: cannot run `{delta}` ({e}); install it with `cargo install git-delta` or name it in DELTA=");
                break;
            }
        };
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = Vec::new();
        let mut n = 0;
        let mut first = None;
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            n += 1;
            if n == H as usize {
                first = Some(t.elapsed());
            }
            line.clear();
        }
        let _ = child.wait();
        delta_all.push(t.elapsed());
        delta_first.push(first.unwrap_or_else(|| t.elapsed()));
        assert!(n > H as usize, "delta printed {n} lines");
    }

    // Scroll steps, warm, in process.
    let patch = Patch::new(PatchKind::Code, "bench", diff.clone(), "tree:bench", vec!["app/big.py".into()], Actor::bot("bench"), None, 0);
    let mut state = state_with(&Snapshot { patches: vec![patch], ..Default::default() }, W, H);
    update(&mut state, Action::Command(Cmd::TabPatches));
    update(&mut state, Action::Command(Cmd::Open));
    let theme = Theme::builtin(Depth::TrueColor);
    let keymap = Keymap::default();
    let mut r = Renderer::default();
    let t = Instant::now();
    r.render(&state, &theme, &keymap);
    let first_in_process = t.elapsed();
    let rows = state.patch_view.as_ref().and_then(|v| v.file_doc().map(|f| f.rows.len())).unwrap_or(0);
    let mut steps = Vec::with_capacity(rows);
    for _ in 0..rows {
        let t = Instant::now();
        let o = update(&mut state, Action::Command(Cmd::PatchDown));
        if !o.redraw {
            break;
        }
        r.render(&state, &theme, &keymap);
        steps.push(t.elapsed());
    }
    // Back up the same rows: everything is highlighted, so this is the cost of a redraw.
    let mut back = Vec::with_capacity(rows);
    for _ in 0..rows {
        let t = Instant::now();
        if !update(&mut state, Action::Command(Cmd::PatchUp)).redraw {
            break;
        }
        r.render(&state, &theme, &keymap);
        back.push(t.elapsed());
    }
    let mut sorted = steps.clone();
    sorted.sort();
    let p99 = sorted[sorted.len() * 99 / 100];
    let step_max = *sorted.last().unwrap();
    // Hunk jumps from the top, on a fresh console: each `n` lands on unseen code.
    let mut fresh = Renderer::default();
    update(&mut state, Action::Command(Cmd::PatchTop));
    fresh.render(&state, &theme, &keymap);
    let mut jumps = Vec::new();
    for _ in 0..hunks {
        let t = Instant::now();
        if !update(&mut state, Action::Command(Cmd::NextHunk)).redraw {
            break;
        }
        fresh.render(&state, &theme, &keymap);
        jumps.push(t.elapsed());
    }
    // The end of the file straight from the top, cold: the worst jump.
    let mut cold = Renderer::default();
    update(&mut state, Action::Command(Cmd::PatchTop));
    cold.render(&state, &theme, &keymap);
    let t = Instant::now();
    update(&mut state, Action::Command(Cmd::PatchBottom));
    cold.render(&state, &theme, &keymap);
    let to_end_cold = t.elapsed();
    // The same jump after the console has been idle for a moment (it saves
    // parse states ahead while nothing else happens).
    let mut idle = Renderer::default();
    update(&mut state, Action::Command(Cmd::PatchTop));
    idle.render(&state, &theme, &keymap);
    let t = Instant::now();
    let mut slices = 0;
    while !idle.warm(&state, 64) {
        slices += 1;
    }
    let warming = t.elapsed();
    let t = Instant::now();
    update(&mut state, Action::Command(Cmd::PatchBottom));
    idle.render(&state, &theme, &keymap);
    let to_end_warm = t.elapsed();

    println!();
    println!("first screen, 160x48, fresh process (median of {RUNS}):");
    println!("  suture review screen        {}", ms(suture_first));
    if !delta_first.is_empty() {
        let df = median(delta_first);
        let da = median(delta_all);
        println!("  delta --side-by-side       {} to its first 48 lines, {} to the end", ms(df), ms(da));
        println!(
            "  ratio                      {:.1}x faster to the first screen (goal: at least 10x)",
            df.as_secs_f64() / suture_first.as_secs_f64()
        );
        println!(
            "                             {:.1}x faster than delta's whole run (what a reader waits for to see the last hunk)",
            da.as_secs_f64() / suture_first.as_secs_f64()
        );
    }
    println!("  (in process, warm start: {})", ms(first_in_process));
    println!();
    println!("scroll, one row down per step through {} rows, update + full redraw:", steps.len());
    println!("  median {}  p99 {}  max {}  (goal: at most 2 ms)", ms(median(steps)), ms(p99), ms(step_max));
    println!("  back up over highlighted rows: median {}  max {}", ms(median(back.clone())), ms(*back.iter().max().unwrap()));
    println!(
        "hunk jumps (n) through {} hunks on a fresh cache: median {}  max {}",
        jumps.len(),
        ms(median(jumps.clone())),
        ms(*jumps.iter().max().unwrap())
    );
    println!("top to the end of the file (G) on a fresh cache: {}", ms(to_end_cold));
    println!(
        "the same after idle warming ({slices} slices of 64 lines per side, {} in all, between keys): {}",
        ms(warming),
        ms(to_end_warm)
    );
}
