//! The gauntlet's own cost: verifying a demo patch with `suture::verify`
//! (steps one by one, then independent steps in parallel) against a plain
//! shell script that makes the same two copies, applies the patch and runs
//! the same commands one after another, in one benchmark run.
//!
//!     cargo bench --bench gauntlet
//!
//! The patch is the demo's `pricing-null-discount.diff` with the demo's
//! gauntlet settings (tests, the lint check, three flakiness reruns, the
//! regression test, the perf gate with one warm-up and five runs a tree).
//! The three contenders alternate for `SUTURE_BENCH_ROUNDS` rounds (default
//! 7); the medians are compared, and so is the median of each round's ratio
//! (steadier when the machine's speed drifts). Last, the sandbox's own cost
//! per command: `/bin/true` through `sandbox::run` against a plain spawn. The bench checks that the gauntlet ran
//! exactly the commands the script runs, so the comparison is like for like.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use suture::config::VerifyCfg;
use suture::model::{ReproSpec, StepStatus};
use suture::repro::runner::{Options, load_specs};
use suture::verify::{self, Plan, regression};

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo")
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn argv(a: &[String]) -> String {
    a.iter().map(|s| sh_quote(s)).collect::<Vec<_>>().join(" ")
}

/// The script: the same copies, patch and commands, in the gauntlet's
/// sequential order, with the same pinned environment, output to a file.
fn script(spec: &ReproSpec, cfg: &VerifyCfg, source: &Path, patch: &Path, reg_file: &Path, reg_path: &str) -> (String, usize) {
    let mut s = String::from("#!/bin/sh\nd=$(mktemp -d)\nlog=\"$d/log\"\n");
    s.push_str("export TZ=UTC LC_ALL=C LANG=C PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 SOURCE_DATE_EPOCH=0 NO_COLOR=1\n");
    s.push_str(&format!("cp -R {src} \"$d/base\"\ncp -R {src} \"$d/patched\"\n", src = sh_quote(&source.display().to_string())));
    s.push_str(&format!("(cd \"$d/patched\" && git apply < {}) >>\"$log\" 2>&1\n", sh_quote(&patch.display().to_string())));
    let mut n = 0;
    let mut run = |s: &mut String, tree: &str, a: &[String], env: &str| {
        s.push_str(&format!("(cd \"$d/{tree}\" && {env}{}) >>\"$log\" 2>&1\n", argv(a)));
        n += 1;
    };
    let spec_env: String = spec.env.iter().map(|(k, v)| format!("{k}={} ", sh_quote(v))).collect();
    // (a), (b)
    run(&mut s, "base", &spec.command, &spec_env);
    run(&mut s, "patched", &spec.command, &spec_env);
    // (c)
    let tests = cfg.tests.as_ref().unwrap();
    run(&mut s, "base", &tests.command, "");
    run(&mut s, "patched", &tests.command, "");
    // (e)
    for c in &cfg.checks {
        run(&mut s, "base", &c.command, "");
        run(&mut s, "patched", &c.command, "");
    }
    // (d): the repro K more times (no test changed or failed with this patch).
    for _ in 0..cfg.flaky_reruns {
        run(&mut s, "patched", &spec.command, &spec_env);
    }
    // (g)
    let reg = [spec.command[0].clone(), reg_path.to_string()];
    let rf = sh_quote(&reg_file.display().to_string());
    s.push_str(&format!("cp {rf} \"$d/patched/{reg_path}\"\n"));
    run(&mut s, "patched", &reg, "");
    s.push_str(&format!("cp {rf} \"$d/base/{reg_path}\"\n"));
    run(&mut s, "base", &reg, "");
    s.push_str(&format!("rm \"$d/base/{reg_path}\"\n"));
    // (f): a warm-up and `runs` runs, alternating.
    let perf = cfg.perf.as_ref().unwrap();
    for _ in 0..=perf.runs {
        run(&mut s, "base", &perf.command, "");
        run(&mut s, "patched", &perf.command, "");
    }
    s.push_str("rm -rf \"$d\"\n");
    (s, n)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn main() {
    let rounds: usize = std::env::var("SUTURE_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(7).max(1);
    let source = demo().join("service");
    let patch_file = demo().join("patches/pricing-null-discount.diff");
    let diff = std::fs::read_to_string(&patch_file).unwrap();
    let spec = load_specs(&demo().join("repros")).unwrap().into_iter().find(|s| s.id == "pricing-null-discount").unwrap();
    let cfg: VerifyCfg = toml::from_str(&std::fs::read_to_string(demo().join("verify.toml")).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let reg = regression::python_test(&spec, &cfg.regression.dir);
    let reg_file = tmp.path().join("regression.py");
    std::fs::write(&reg_file, &reg.text).unwrap();
    let (text, commands) = script(&spec, &cfg, &source, &patch_file, &reg_file, &reg.path);
    let script_path = tmp.path().join("gauntlet.sh");
    std::fs::write(&script_path, &text).unwrap();
    let under = tmp.path().join("ws");

    let gauntlet = |parallel: bool| -> Duration {
        // The perf gate's limit is raised: this measures the gauntlet's cost,
        // and a noisy moment must not add confirmation runs the script lacks.
        let mut cfg = VerifyCfg { parallel, ..cfg.clone() };
        if let Some(p) = cfg.perf.as_mut() {
            p.threshold = 100.0;
        }
        let plan = Plan { spec: spec.clone(), cfg, opts: Options::default() };
        let t = Instant::now();
        let v = verify::run(&plan, &source, None, &diff, &under, &|_| {}).unwrap();
        let took = t.elapsed();
        for s in &v.report.steps {
            assert_eq!(s.status, StepStatus::Passed, "{:?}: {}", s.kind, s.detail);
        }
        let ran: usize = v.logs.values().map(|l| l.lines().filter(|l| l.starts_with("$ ")).count()).sum();
        assert_eq!(ran, commands, "the gauntlet and the script run the same commands");
        took
    };
    let shell = || -> Duration {
        let t = Instant::now();
        let st = Command::new("sh").arg(&script_path).status().unwrap();
        assert!(st.success());
        t.elapsed()
    };

    println!("gauntlet overhead: {commands} commands, {rounds} rounds, medians");
    // One untimed round of each, to warm file caches.
    shell();
    gauntlet(false);
    let (mut sh, mut seq, mut par) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let a = shell().as_secs_f64() * 1000.0;
        let b = gauntlet(false).as_secs_f64() * 1000.0;
        let c = gauntlet(true).as_secs_f64() * 1000.0;
        println!("  round {}: shell {a:.0} ms, gauntlet one by one {b:.0} ms, in parallel {c:.0} ms", r + 1);
        sh.push(a);
        seq.push(b);
        par.push(c);
    }
    let mut rq: Vec<f64> = seq.iter().zip(&sh).map(|(a, b)| a / b).collect();
    let mut rp: Vec<f64> = par.iter().zip(&sh).map(|(a, b)| a / b).collect();
    let (ms, mq, mp) = (median(&mut sh), median(&mut seq), median(&mut par));
    println!("shell script           {ms:>7.0} ms");
    println!(
        "gauntlet, one by one   {mq:>7.0} ms   {:.3}x the script, per-round ratio median {:.3}x (goal ≤ 1.05x)",
        mq / ms,
        median(&mut rq)
    );
    println!(
        "gauntlet, in parallel  {mp:>7.0} ms   {:.3}x the script, per-round ratio median {:.3}x (goal ≤ 0.80x)",
        mp / ms,
        median(&mut rp)
    );

    let n = 200;
    let t = Instant::now();
    for _ in 0..n {
        Command::new("/bin/true").status().unwrap();
    }
    let plain = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let t = Instant::now();
    for _ in 0..n {
        let spec = suture::repro::sandbox::Spec::new(vec!["/bin/true".into()], tmp.path());
        assert!(suture::repro::sandbox::run(&spec, &mut |_, _| {}).succeeded());
    }
    let boxed = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    println!("per command: plain spawn {plain:.2} ms, sandboxed {boxed:.2} ms (+{:.2} ms; {commands} commands)", boxed - plain);
}
