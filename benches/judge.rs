//! Mann-Whitney on 10,000 against 10,000 samples: Suture's `canary::stats`
//! against scipy's `mannwhitneyu`, in one run, on the same numbers.
//!
//!     cargo bench --bench judge          (needs python3 with scipy)
//!
//! The samples are latency-like (log-normal, the canary 3% slower), made by a
//! fixed generator and written to a JSON file that `benches/mannwhitney_scipy.py`
//! reads; it times scipy (best of 30 after a warm-up) and prints U, p and its
//! time. This side is timed the same way. The bench fails when U or p differ
//! by more than 1e-9 and prints the speed ratio (goal: at least 10x).
//! Hodges-Lehmann and the 98% shift interval, which scipy does not compute,
//! are timed too.

use std::process::Command;
use std::time::Instant;

use suture::canary::stats::{Alternative, Method, hodges_lehmann, mann_whitney, shift_interval};

/// A fixed sequence of log-normal samples (Box-Muller over a 64-bit LCG).
fn lognormal(n: usize, seed: u64, median: f64, sigma: f64) -> Vec<f64> {
    let mut state = seed;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let z = (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
            // Rounded to microseconds, as a proxy measures them (and so with ties).
            ((median * (sigma * z).exp()) * 1000.0).round() / 1000.0
        })
        .collect()
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut out = f();
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (out, best)
}

fn main() {
    let x = lognormal(10_000, 7, 12.0, 0.4);
    let y = lognormal(10_000, 11, 12.0 * 1.03, 0.4);
    let dir = std::env::temp_dir().join(format!("suture-judge-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("samples.json");
    std::fs::write(&input, serde_json::json!({ "x": x, "y": y }).to_string()).unwrap();

    let (mw, ours) = best_of(30, || mann_whitney(&x, &y, Alternative::TwoSided, Method::Auto).unwrap());
    let (_, sort_only) = best_of(30, || suture::canary::stats::Samples::new(&x, &y));
    let (_, hl) = best_of(5, || hodges_lehmann(&x, &y).unwrap());
    let (_, ci) = best_of(5, || shift_interval(&x, &y, 0.98).unwrap());

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/mannwhitney_scipy.py");
    let out = Command::new("python3").arg(script).arg(&input).output().expect("python3");
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        eprintln!("scipy side failed (pip install scipy):\n{}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1);
    }
    let scipy: serde_json::Value = serde_json::from_slice(&out.stdout).expect("scipy's JSON line");
    let (su, sp, st) = (scipy["u"].as_f64().unwrap(), scipy["p"].as_f64().unwrap(), scipy["seconds"].as_f64().unwrap());

    println!("Mann-Whitney U, 10,000 vs 10,000, two-sided, {} method", if mw.exact { "exact" } else { "asymptotic" });
    println!("  suture: U = {:.1}  p = {:.12}  {:.3} ms (best of 30)", mw.u, mw.p, ours * 1e3);
    println!("  scipy:  U = {su:.1}  p = {sp:.12}  {:.3} ms (best of 30)", st * 1e3);
    println!("  |ΔU| = {:.2e}  |Δp| = {:.2e}", (mw.u - su).abs(), (mw.p - sp).abs());
    println!("  speed: {:.1}x scipy (goal ≥ 10x)", st / ours);
    println!("  of which sorting both samples: {:.3} ms", sort_only * 1e3);
    println!("  also: Hodges-Lehmann {:.3} ms, 98% shift interval {:.3} ms (scipy has neither)", hl * 1e3, ci * 1e3);
    if (mw.u - su).abs() > 1e-9 || (mw.p - sp).abs() > 1e-9 {
        eprintln!("MISMATCH with scipy");
        std::process::exit(1);
    }
}
