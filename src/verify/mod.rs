//! The verification gauntlet: the proof a patch must carry before anyone is
//! asked to approve it.
//!
//! Two scratch workspaces are made from the source at the base revision; the
//! patch is applied to one of them. Then, each step recorded with status,
//! duration and log:
//!
//! - (a) the repro on the base must fail the incident's way;
//! - (b) the repro on the patched tree must pass;
//! - (c) the test command on both trees: no test passing on the base may
//!   fail (or vanish) on the patched tree;
//! - (d) changed and failing tests, and the repro, rerun K times on the
//!   patched tree: a result that changes between runs is flaky;
//! - (e) static checks on both trees: only findings new in the patched tree
//!   count (positions are ignored, so a finding that moved is not new);
//! - (f) a benchmark on both trees, alternating, the ratio of medians within
//!   the threshold;
//! - (g) a regression test written from the repro must fail on the base and
//!   pass on the patched tree; it is added to the patch.
//!
//! Order and parallelism: (a) and (b) together; if either fails the rest is
//! skipped. Then (c) and (e) together; then (d) and (g) together (d needs
//! c's results) with the perf gate's warm-up runs; and the perf gate's
//! measured runs last and alone, so nothing else disturbs its timings. With `parallel = false` every command runs one after another.

pub mod apply;
pub mod regression;
pub mod results;
pub mod service;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::VerifyCfg;
use crate::model::{ReproSpec, ReproVerdict, StepKind, StepStatus, VerificationReport, VerificationStep};
use crate::repro::runner::{self, Options};
use crate::repro::sandbox::{self, Limits, Outcome, Stream};
use crate::repro::workspace::Workspace;
use results::{Results, TestStatus};

/// What the gauntlet reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Started(StepKind),
    /// Output of a step's command, as it arrives.
    Output(StepKind, Vec<u8>),
    Finished(VerificationStep),
}

/// Everything a verification needs besides the patch.
#[derive(Debug, Clone)]
pub struct Plan {
    pub spec: ReproSpec,
    pub cfg: VerifyCfg,
    pub opts: Options,
}

/// The finished verification: the report (with the regression test the
/// gauntlet wrote, as a diff adding it) and each step's full log.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub report: VerificationReport,
    pub logs: BTreeMap<StepKind, String>,
    /// The revision (or tree digest) both workspaces were made from.
    pub base: String,
}

pub const ORDER: [StepKind; 7] = [
    StepKind::ReproBase,
    StepKind::ReproPatched,
    StepKind::Tests,
    StepKind::Flakiness,
    StepKind::StaticChecks,
    StepKind::Perf,
    StepKind::RegressionTest,
];

type Sink<'a> = &'a (dyn Fn(Event) + Sync);

/// One step's result as it is built.
struct Step {
    kind: StepKind,
    status: StepStatus,
    detail: String,
    log: String,
    took: Duration,
}

impl Step {
    fn new(kind: StepKind, status: StepStatus, detail: impl Into<String>) -> Step {
        Step { kind, status, detail: detail.into(), log: String::new(), took: Duration::ZERO }
    }
}

/// Runs the gauntlet for `diff` against `source` at `base` (HEAD, or the
/// tree as it is when it is not a git repository), with workspaces under
/// `under`. An `Err` means no verification could start (the workspaces could
/// not be made); a patch that does not apply is a report whose step (b)
/// failed and says why.
pub fn run(plan: &Plan, source: &Path, base: Option<&str>, diff: &str, under: &Path, sink: Sink) -> Result<Verified, String> {
    let started = crate::model::now_millis();
    let base_ws = Workspace::create(source, base, under).map_err(|e| format!("making the base workspace: {e}"))?;
    let patched_ws = Workspace::create(source, base, under).map_err(|e| format!("making the patched workspace: {e}"))?;
    let digest = crate::model::Patch::digest_of(base_ws.base(), diff);
    let mut report = VerificationReport {
        patch_digest: digest,
        started,
        finished: None,
        repro_on_base: None,
        repro_on_patched: None,
        steps: Vec::new(),
        regression_test: None,
    };
    let mut steps: BTreeMap<StepKind, Step> = BTreeMap::new();
    let g = Gauntlet { plan, base: base_ws.path(), patched: patched_ws.path(), sink };

    if let Err(why) = apply::apply(patched_ws.path(), diff) {
        let why = with_disk_note(why, patched_ws.path());
        let mut s = Step::new(StepKind::ReproPatched, StepStatus::Failed, why.clone());
        s.log = format!("{why}\n");
        g.finish(&mut steps, s);
        g.skip_rest(&mut steps, "not run: the patch does not apply");
        return Ok(g.close(report, steps, None, base_ws.base().to_string()));
    }

    // (a) and (b).
    let done_repro = |k| {
        let (s, v) = g.repro(k);
        (g.done(s), v)
    };
    let (a, b) = g.par(|| done_repro(StepKind::ReproBase), || done_repro(StepKind::ReproPatched));
    report.repro_on_base = Some(a.1);
    report.repro_on_patched = Some(b.1);
    let (a_ok, b_ok) = (a.0.status == StepStatus::Passed, b.0.status == StepStatus::Passed);
    Gauntlet::keep(&mut steps, a.0);
    Gauntlet::keep(&mut steps, b.0);
    if !a_ok || !b_ok {
        let why = if !a_ok { "not run: the repro did not fail on the base" } else { "not run: the repro still fails on the patched tree" };
        g.skip_rest(&mut steps, why);
        return Ok(g.close(report, steps, None, base_ws.base().to_string()));
    }

    // (c) and (e).
    let (tests, checks) = g.par(
        || {
            let (s, runs) = g.tests();
            (g.done(s), runs)
        },
        || g.done(g.checks()),
    );
    let (tests_step, test_runs) = tests;
    Gauntlet::keep(&mut steps, tests_step);
    Gauntlet::keep(&mut steps, checks);

    // (d) and (g), and the perf gate's warm-up runs (not measured).
    let touched = apply::touched_files(diff);
    let ((flaky, reg), warm) = g.par(
        || {
            g.par(
                || g.done(g.flakiness(test_runs.as_ref(), &touched)),
                || {
                    let (s, t) = g.regression();
                    (g.done(s), t)
                },
            )
        },
        || g.perf_warm_up(),
    );
    Gauntlet::keep(&mut steps, flaky);
    let (reg_step, regression_test) = reg;
    Gauntlet::keep(&mut steps, reg_step);

    // (f): the measured runs, alone.
    let perf = g.perf(warm);
    g.finish(&mut steps, perf);
    Ok(g.close(report, steps, regression_test, base_ws.base().to_string()))
}

struct Gauntlet<'a> {
    plan: &'a Plan,
    base: &'a Path,
    patched: &'a Path,
    sink: Sink<'a>,
}

/// A test command's results on one tree.
struct TestRun {
    results: Results,
    outcome_ok: bool,
}

struct TestRuns {
    base: TestRun,
    patched: TestRun,
}

impl<'a> Gauntlet<'a> {
    fn par<A: Send, B: Send>(&self, fa: impl FnOnce() -> A + Send, fb: impl FnOnce() -> B + Send) -> (A, B) {
        if self.plan.cfg.parallel {
            std::thread::scope(|s| {
                let h = s.spawn(fa);
                let b = fb();
                let a = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                (a, b)
            })
        } else {
            let a = fa();
            (a, fb())
        }
    }

    /// Reports a step as finished, the moment it is.
    fn done(&self, step: Step) -> Step {
        (self.sink)(Event::Finished(public(&step)));
        step
    }

    fn finish(&self, steps: &mut BTreeMap<StepKind, Step>, step: Step) {
        let step = self.done(step);
        steps.insert(step.kind, step);
    }

    fn keep(steps: &mut BTreeMap<StepKind, Step>, step: Step) {
        steps.insert(step.kind, step);
    }

    fn skip_rest(&self, steps: &mut BTreeMap<StepKind, Step>, why: &str) {
        for k in ORDER {
            if !steps.contains_key(&k) {
                self.finish(steps, Step::new(k, StepStatus::Skipped, why));
            }
        }
    }

    fn close(&self, mut report: VerificationReport, steps: BTreeMap<StepKind, Step>, reg: Option<String>, base: String) -> Verified {
        let mut logs = BTreeMap::new();
        for k in ORDER {
            if let Some(s) = steps.get(&k) {
                report.steps.push(public(s));
                logs.insert(k, s.log.clone());
            }
        }
        report.finished = Some(crate::model::now_millis());
        report.regression_test = reg;
        Verified { report, logs, base }
    }

    /// Runs one command for `step` on `tree`, appending it to `log`.
    fn exec(&self, step: StepKind, argv: &[String], tree: &Path, timeout: Duration, log: &mut String) -> Outcome {
        let mut spec = sandbox::Spec::new(argv.to_vec(), tree);
        spec.pass = self.plan.opts.pass.clone();
        spec.limits = Limits { timeout, ..self.plan.opts.limits.clone() };
        let which = if tree == self.base { "base" } else { "patched" };
        let out = sandbox::run(&spec, &mut |_, bytes| (self.sink)(Event::Output(step, bytes.to_vec())));
        log_command(log, argv, which, &out);
        out
    }

    fn repro(&self, kind: StepKind) -> (Step, ReproVerdict) {
        (self.sink)(Event::Started(kind));
        let t = Instant::now();
        let tree = if kind == StepKind::ReproBase { self.base } else { self.patched };
        let j = runner::run_once(&self.plan.spec, tree, &self.plan.opts, &mut |_, b| (self.sink)(Event::Output(kind, b.to_vec())));
        let mut log = String::new();
        log_command(&mut log, &self.plan.spec.command, if kind == StepKind::ReproBase { "base" } else { "patched" }, &j.outcome);
        log.push_str(&format!("verdict: {:?}: {}\n", j.verdict, j.reason));
        let (status, detail) = match (kind, j.verdict) {
            (StepKind::ReproBase, ReproVerdict::Reproduced) => (StepStatus::Passed, format!("fails on the base: {}", j.reason)),
            (StepKind::ReproBase, v) => {
                (StepStatus::Failed, format!("does not fail the incident's way on the base ({}): {}", verdict_word(v), j.reason))
            }
            (_, ReproVerdict::Passed) => (StepStatus::Passed, "passes on the patched tree".to_string()),
            (_, v) => (StepStatus::Failed, format!("still fails on the patched tree ({}): {}", verdict_word(v), j.reason)),
        };
        let detail = if status == StepStatus::Failed { with_disk_note(detail, tree) } else { detail };
        (Step { kind, status, detail, log, took: t.elapsed() }, j.verdict)
    }

    fn run_tests(&self, tree: &Path, log: &mut String) -> Result<TestRun, String> {
        let cfg = self.plan.cfg.tests.as_ref().expect("checked by caller");
        let out = self.exec(StepKind::Tests, &cfg.command, tree, Duration::from_secs(cfg.timeout_secs), log);
        let which = if tree == self.base { "base" } else { "patched" };
        if !out.exited() {
            return Err(with_disk_note(format!("the test command did not finish on the {which} tree: {}", out.status()), tree));
        }
        let text = match (cfg.format, &cfg.junit) {
            (results::Format::Junit, Some(file)) => std::fs::read_to_string(tree.join(file))
                .map_err(|e| format!("the test command wrote no JUnit file {file} on the {which} tree: {e}"))?,
            _ => format!("{}\n{}", out.text(Stream::Stdout), out.text(Stream::Stderr)),
        };
        Ok(TestRun { results: results::parse(cfg.format, &text), outcome_ok: out.succeeded() })
    }

    fn tests(&self) -> (Step, Option<TestRuns>) {
        let kind = StepKind::Tests;
        let Some(cfg) = &self.plan.cfg.tests else {
            return (Step::new(kind, StepStatus::Skipped, "no test command configured (verify.tests)"), None);
        };
        if cfg.command.is_empty() {
            return (Step::new(kind, StepStatus::Skipped, "verify.tests.command is empty"), None);
        }
        (self.sink)(Event::Started(kind));
        let t = Instant::now();
        let (mut log_b, mut log_p) = (String::new(), String::new());
        let (b, p) = self.par(|| self.run_tests(self.base, &mut log_b), || self.run_tests(self.patched, &mut log_p));
        let log = format!("{log_b}{log_p}");
        let done = |status, detail: String| Step { kind, status, detail, log: log.clone(), took: t.elapsed() };
        let (b, p) = match (b, p) {
            (Err(e), _) | (_, Err(e)) => return (done(StepStatus::Failed, e), None),
            (Ok(b), Ok(p)) => (b, p),
        };
        let runs = TestRuns { base: b, patched: p };
        let step = compare_tests(&runs, cfg.format);
        let mut s = done(step.0, step.1);
        s.log.push_str(&step.2);
        (s, Some(runs))
    }

    fn flakiness(&self, runs: Option<&TestRuns>, touched: &[String]) -> Step {
        let kind = StepKind::Flakiness;
        let k = self.plan.cfg.flaky_reruns;
        if k == 0 {
            return Step::new(kind, StepStatus::Skipped, "verify.flaky_reruns is 0");
        }
        (self.sink)(Event::Started(kind));
        let t = Instant::now();
        let mut log = String::new();
        // The repro on the patched tree: K more runs, each must pass.
        let mut repro_passes = 1; // step (b)
        for _ in 0..k {
            let j =
                runner::run_once(&self.plan.spec, self.patched, &self.plan.opts, &mut |_, b| (self.sink)(Event::Output(kind, b.to_vec())));
            log_command(&mut log, &self.plan.spec.command, "patched", &j.outcome);
            if j.verdict == ReproVerdict::Passed {
                repro_passes += 1;
            }
        }
        let mut flaky = Vec::new();
        if repro_passes != k + 1 {
            flaky.push(format!("the repro passed {repro_passes} of {} runs", k + 1));
        }
        // Changed and failing tests.
        let mut chosen = BTreeSet::new();
        if let (Some(runs), Some(cfg)) = (runs, &self.plan.cfg.tests) {
            for (id, st) in &runs.patched.results {
                let changed = runs.base.results.get(id) != Some(st);
                let in_touched = touched.iter().any(|f| test_in_file(id, f));
                if *st == TestStatus::Failed || changed || in_touched {
                    chosen.insert(id.clone());
                }
            }
            let chosen: Vec<String> = chosen.iter().take(200).cloned().collect();
            if !chosen.is_empty() {
                let mut seen: BTreeMap<&str, (u32, u32)> =
                    chosen.iter().map(|id| (id.as_str(), counts(runs.patched.results.get(id)))).collect();
                let argv = if cfg.rerun.is_empty() { cfg.command.clone() } else { expand(&cfg.rerun, &chosen) };
                for _ in 0..k {
                    let out = self.exec(kind, &argv, self.patched, Duration::from_secs(cfg.timeout_secs), &mut log);
                    if !out.exited() {
                        return Step {
                            kind,
                            status: StepStatus::Failed,
                            detail: format!("a test rerun did not finish: {}", out.status()),
                            log,
                            took: t.elapsed(),
                        };
                    }
                    let r = results::parse(cfg.format, &format!("{}\n{}", out.text(Stream::Stdout), out.text(Stream::Stderr)));
                    for (id, c) in seen.iter_mut() {
                        let (p, f) = counts(r.get(*id));
                        c.0 += p;
                        c.1 += f;
                    }
                }
                for (id, (p, f)) in seen {
                    if p > 0 && f > 0 {
                        flaky.push(format!("{id} passed {p} of {} runs", p + f));
                    }
                }
            }
            log.push_str(&format!("reran {} test(s) {k} time(s): {}\n", chosen.len(), chosen.join(", ")));
        }
        let what = if chosen.is_empty() { "the repro".to_string() } else { format!("the repro and {} test(s)", chosen.len()) };
        let (status, detail) = if flaky.is_empty() {
            (StepStatus::Passed, format!("{what} rerun {k}x: every result held"))
        } else {
            (StepStatus::Flaky, format!("flaky: {}", flaky.join("; ")))
        };
        Step { kind, status, detail, log, took: t.elapsed() }
    }

    fn checks(&self) -> Step {
        let kind = StepKind::StaticChecks;
        if self.plan.cfg.checks.is_empty() {
            return Step::new(kind, StepStatus::Skipped, "no static checks configured (verify.checks)");
        }
        (self.sink)(Event::Started(kind));
        let t = Instant::now();
        let mut log = String::new();
        let mut new = Vec::new();
        let mut problems = Vec::new();
        for c in &self.plan.cfg.checks {
            let timeout = Duration::from_secs(c.timeout_secs);
            let (mut lb, mut lp) = (String::new(), String::new());
            let (b, p) = self.par(
                || self.exec(kind, &c.command, self.base, timeout, &mut lb),
                || self.exec(kind, &c.command, self.patched, timeout, &mut lp),
            );
            log.push_str(&lb);
            log.push_str(&lp);
            if let Some(bad) = [(&b, "base"), (&p, "patched")].iter().find(|(o, _)| !o.exited()) {
                problems.push(format!("{} did not finish on the {} tree: {}", c.name, bad.1, bad.0.status()));
                continue;
            }
            let found = new_findings(&b.text(Stream::Stdout), &p.text(Stream::Stdout), &[self.base, self.patched]);
            for f in found {
                new.push(format!("{}: {f}", c.name));
            }
        }
        log.push_str(&format!("new findings: {}\n", new.len()));
        for f in &new {
            log.push_str(&format!("  {f}\n"));
        }
        let n = self.plan.cfg.checks.len();
        let (status, detail) = if !problems.is_empty() {
            (StepStatus::Failed, problems.join("; "))
        } else if new.is_empty() {
            (StepStatus::Passed, format!("{n} check(s): no new findings"))
        } else {
            let first = new.first().cloned().unwrap_or_default();
            (StepStatus::Failed, format!("{} new finding(s): {first}", new.len()))
        };
        Step { kind, status, detail, log, took: t.elapsed() }
    }

    fn bench_failed(&self, tree: &Path, out: &Outcome) -> String {
        let which = if tree == self.base { "base" } else { "patched" };
        with_disk_note(format!("the benchmark failed on the {which} tree: {}", out.status()), tree)
    }

    /// One run of the benchmark on each tree before the measured runs, to
    /// warm caches; it may overlap other steps. Its log, and a failure as the
    /// step's result.
    fn perf_warm_up(&self) -> Option<Result<String, Step>> {
        let cfg = self.plan.cfg.perf.as_ref().filter(|c| !c.command.is_empty())?;
        let t = Instant::now();
        let mut log = String::from("warm-up (not measured):\n");
        for tree in [self.base, self.patched] {
            let out = self.exec(StepKind::Perf, &cfg.command, tree, Duration::from_secs(cfg.timeout_secs), &mut log);
            if !out.succeeded() {
                return Some(Err(Step {
                    kind: StepKind::Perf,
                    status: StepStatus::Failed,
                    detail: self.bench_failed(tree, &out),
                    log,
                    took: t.elapsed(),
                }));
            }
        }
        Some(Ok(log))
    }

    fn perf(&self, warm: Option<Result<String, Step>>) -> Step {
        let kind = StepKind::Perf;
        let Some(cfg) = &self.plan.cfg.perf else {
            return Step::new(kind, StepStatus::Skipped, "no benchmark configured (verify.perf)");
        };
        if cfg.command.is_empty() {
            return Step::new(kind, StepStatus::Skipped, "verify.perf.command is empty");
        }
        let mut log = match warm {
            Some(Ok(log)) => log,
            Some(Err(step)) => return step,
            None => String::new(),
        };
        (self.sink)(Event::Started(kind));
        let t = Instant::now();
        let timeout = Duration::from_secs(cfg.timeout_secs);
        let (mut base, mut patched) = (Vec::new(), Vec::new());
        let runs = cfg.runs.max(1);
        // Base and patched alternating, so a slow moment hits both. A ratio
        // over the limit is confirmed by as many runs again before it fails
        // the patch: a busy machine alone should not.
        for round in 0..2 {
            for _ in 0..runs {
                for (tree, into) in [(self.base, &mut base), (self.patched, &mut patched)] {
                    let out = self.exec(kind, &cfg.command, tree, timeout, &mut log);
                    if !out.succeeded() {
                        return Step { kind, status: StepStatus::Failed, detail: self.bench_failed(tree, &out), log, took: t.elapsed() };
                    }
                    into.push(out.duration.as_secs_f64() * 1000.0);
                }
            }
            let ratio = median(&mut patched.clone()) / median(&mut base.clone()).max(f64::MIN_POSITIVE);
            if round == 0 && ratio > cfg.threshold {
                log.push_str("over the limit: confirming with as many runs again\n");
                continue;
            }
            break;
        }
        let runs = base.len();
        let (mb, mp) = (median(&mut base), median(&mut patched));
        let ratio = if mb > 0.0 { mp / mb } else { 1.0 };
        log.push_str(&format!("base ms: {base:.1?}\npatched ms: {patched:.1?}\nmedians {mb:.1} / {mp:.1} ms, ratio {ratio:.3}\n"));
        let detail = format!("{ratio:.2}x (median {mp:.0} ms patched, {mb:.0} ms base, {runs} runs each; limit {:.2}x)", cfg.threshold);
        let status = if ratio <= cfg.threshold { StepStatus::Passed } else { StepStatus::Failed };
        Step { kind, status, detail, log, took: t.elapsed() }
    }

    fn regression(&self) -> (Step, Option<String>) {
        let kind = StepKind::RegressionTest;
        let cfg = &self.plan.cfg.regression;
        if !cfg.enabled {
            return (Step::new(kind, StepStatus::Skipped, "verify.regression.enabled is false"), None);
        }
        let python = self.plan.cfg.tests.as_ref().map(|t| t.format.is_python()).unwrap_or(false)
            || regression::is_python_command(&self.plan.spec.command);
        if !python {
            return (
                Step::new(kind, StepStatus::Skipped, "no regression-test template for this project's language (Python is supported)"),
                None,
            );
        }
        (self.sink)(Event::Started(kind));
        let t = Instant::now();
        let test = regression::python_test(&self.plan.spec, &cfg.dir);
        let mut log = format!("wrote {}:\n{}\n", test.path, test.text);
        let fail = |detail: String, log: String| (Step { kind, status: StepStatus::Failed, detail, log, took: t.elapsed() }, None);
        let interp =
            if regression::is_python_command(&self.plan.spec.command) { self.plan.spec.command[0].clone() } else { "python3".into() };
        let argv = vec![interp, test.path.clone()];
        let timeout = Duration::from_secs(self.plan.spec.timeout_secs.saturating_mul(2).max(10));
        let mut results = Vec::new();
        for tree in [self.patched, self.base] {
            let file = tree.join(&test.path);
            if file.exists() {
                return fail(format!("{} already exists in the project", test.path), log);
            }
            if let Some(dir) = file.parent()
                && let Err(e) = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&file, &test.text))
            {
                return fail(with_disk_note(format!("could not write {}: {e}", test.path), tree), log);
            }
            let out = self.exec(kind, &argv, tree, timeout, &mut log);
            // The test leaves the base as it was; on the patched tree it stays, as part of the patch.
            if tree == self.base {
                let _ = std::fs::remove_file(&file);
            }
            if !out.exited() {
                return fail(format!("the regression test did not finish: {}", out.status()), log);
            }
            results.push(out.succeeded());
        }
        match (results[0], results[1]) {
            (true, false) => {
                let detail = format!("{} fails on the base and passes when patched; added to the patch", test.path);
                (Step { kind, status: StepStatus::Passed, detail, log, took: t.elapsed() }, Some(test.diff()))
            }
            (false, _) => fail(format!("{} fails on the patched tree", test.path), log),
            (true, true) => fail(format!("{} passes on the base too, so it would not catch the bug", test.path), log),
        }
    }
}

/// (c): nothing that passed on the base may fail or vanish when patched.
fn compare_tests(runs: &TestRuns, format: results::Format) -> (StepStatus, String, String) {
    let (b, p) = (&runs.base.results, &runs.patched.results);
    if b.is_empty() && p.is_empty() {
        let detail = format!(
            "no per-test results in the output ({format:?} format); exit status only: base {}, patched {}",
            if runs.base.outcome_ok { "passed" } else { "failed" },
            if runs.patched.outcome_ok { "passed" } else { "failed" }
        );
        let status = if runs.base.outcome_ok && !runs.patched.outcome_ok { StepStatus::Failed } else { StepStatus::Passed };
        return (status, detail, String::new());
    }
    let passing = |r: &Results| r.values().filter(|s| **s == TestStatus::Passed).count();
    let mut broke = Vec::new();
    let mut vanished = Vec::new();
    for (id, st) in b {
        if *st != TestStatus::Passed {
            continue;
        }
        match p.get(id) {
            Some(TestStatus::Passed) | Some(TestStatus::Skipped) => {}
            Some(TestStatus::Failed) => broke.push(id.clone()),
            None => vanished.push(id.clone()),
        }
    }
    let new_failing: Vec<&String> =
        p.iter().filter(|(id, s)| **s == TestStatus::Failed && !b.contains_key(*id)).map(|(id, _)| id).collect();
    let mut log = String::from("\ncomparison, base → patched:\n");
    for id in b.keys().chain(p.keys().filter(|k| !b.contains_key(*k))) {
        let show = |s: Option<&TestStatus>| s.map(|s| format!("{s:?}").to_lowercase()).unwrap_or_else(|| "absent".into());
        let (x, y) = (b.get(id), p.get(id));
        let mark = if x != y { "≠" } else { " " };
        log.push_str(&format!("{mark} {id}: {} → {}\n", show(x), show(y)));
    }
    let counts = format!("{} of {} passed on the base, {} of {} when patched", passing(b), b.len(), passing(p), p.len());
    if broke.is_empty() && vanished.is_empty() && new_failing.is_empty() {
        return (StepStatus::Passed, format!("{counts}; none broke"), log);
    }
    let mut why = Vec::new();
    if !broke.is_empty() {
        why.push(format!("{} broke: {}", broke.len(), list(&broke)));
    }
    if !vanished.is_empty() {
        why.push(format!("{} vanished: {}", vanished.len(), list(&vanished)));
    }
    if !new_failing.is_empty() {
        let v: Vec<String> = new_failing.iter().map(|s| s.to_string()).collect();
        why.push(format!("{} new and failing: {}", v.len(), list(&v)));
    }
    (StepStatus::Failed, format!("{}; {counts}", why.join("; ")), log)
}

fn list(ids: &[String]) -> String {
    let mut s = ids.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if ids.len() > 3 {
        s.push_str(&format!(" and {} more", ids.len() - 3));
    }
    s
}

fn counts(s: Option<&TestStatus>) -> (u32, u32) {
    match s {
        Some(TestStatus::Passed) => (1, 0),
        Some(TestStatus::Failed) => (0, 1),
        _ => (0, 0),
    }
}

/// Whether test id `id` lives in file `file` (Python dotted ids, pytest
/// `path::name` ids, or a file stem in the id).
fn test_in_file(id: &str, file: &str) -> bool {
    if let Some((path, _)) = id.split_once("::") {
        return path == file;
    }
    let module = file.trim_end_matches(".py").replace('/', ".");
    let test_file = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| s.starts_with("test") || s.ends_with("_test") || s.ends_with("Test") || s.ends_with("Tests"));
    (file.ends_with(".py") && id.starts_with(&format!("{module}.")))
        || test_file.is_some_and(|stem| id.split(['.', '/', ':']).any(|part| part == stem))
}

/// `{test}` becomes one argument per test id; other arguments are kept.
fn expand(template: &[String], tests: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for a in template {
        if a == "{test}" {
            out.extend(tests.iter().cloned());
        } else {
            out.push(a.clone());
        }
    }
    out
}

/// Findings in `patched` that `base` does not have, compared with the
/// workspaces' paths removed and positions (`:12`, `:12:5`) blanked, as a
/// multiset: a finding that merely moved is not new; a second copy is.
pub fn new_findings(base: &str, patched: &str, roots: &[&Path]) -> Vec<String> {
    let norm = |line: &str| -> String {
        let mut l = line.trim().to_string();
        for r in roots {
            let r = format!("{}/", r.display());
            l = l.replace(&r, "");
        }
        let mut out = String::with_capacity(l.len());
        let mut chars = l.chars().peekable();
        while let Some(c) = chars.next() {
            out.push(c);
            if c == ':' {
                while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                    chars.next();
                }
            }
        }
        out
    };
    let mut have: BTreeMap<String, usize> = BTreeMap::new();
    for l in base.lines().filter(|l| !l.trim().is_empty()) {
        *have.entry(norm(l)).or_default() += 1;
    }
    let mut new = Vec::new();
    for l in patched.lines().filter(|l| !l.trim().is_empty()) {
        match have.get_mut(&norm(l)) {
            Some(n) if *n > 0 => *n -= 1,
            _ => {
                let mut shown = l.trim().to_string();
                for r in roots {
                    shown = shown.replace(&format!("{}/", r.display()), "");
                }
                new.push(shown);
            }
        }
    }
    new
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn verdict_word(v: ReproVerdict) -> &'static str {
    match v {
        ReproVerdict::Reproduced => "reproduced",
        ReproVerdict::Passed => "passed",
        ReproVerdict::DifferentFailure => "a different failure",
        ReproVerdict::Error => "could not run",
    }
}

fn log_command(log: &mut String, argv: &[String], which: &str, out: &Outcome) {
    log.push_str(&format!("$ {}    ({which} tree)\n", argv.join(" ")));
    for s in [Stream::Stdout, Stream::Stderr] {
        let t = out.text(s);
        if !t.is_empty() {
            log.push_str(&t);
            if !t.ends_with('\n') {
                log.push('\n');
            }
        }
    }
    log.push_str(&format!("→ {} after {} ms\n\n", out.status(), out.duration.as_millis()));
}

fn public(s: &Step) -> VerificationStep {
    VerificationStep { kind: s.kind, status: s.status, duration_ms: s.took.as_millis() as u64, detail: s.detail.clone(), log_ref: None }
}

/// Adds "the workspace's disk is full" to a failure when it is.
fn with_disk_note(why: String, tree: &Path) -> String {
    if disk_full(tree) && !why.contains("No space left") { format!("{why} (the workspace's disk is full)") } else { why }
}

/// Whether the file system holding `path` has no space left for us.
pub fn disk_full(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_bavail == 0
}

/// The default workspace directory beside the store's data.
pub fn workspaces_dir(data: &Path) -> PathBuf {
    data.join("workspaces")
}

#[cfg(test)]
mod tests;
