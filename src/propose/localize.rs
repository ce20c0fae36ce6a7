//! Fault localization: which lines are most likely wrong.
//!
//! Two signals, combined:
//! - **The stack.** The failing run's traceback, parsed by
//!   [`crate::signals::stacktext`]; frames whose file is inside the tree (not
//!   a library, not the runtime) are suspects, the innermost scoring 1.0 and
//!   each caller 0.7 of the frame below it.
//! - **The spectrum (Ochiai)**, when `[propose] coverage = "coverage.py"`:
//!   coverage.py records which lines the failing repro runs and, per test
//!   (its `test_function` dynamic context), which lines the passing tests
//!   run. A line's suspiciousness is `ef / sqrt((ef + nf) · (ef + ep))`
//!   (ef/ep: failing/passing runs that execute it, nf: failing runs that do
//!   not); with one failing run that is `1 / sqrt(1 + ep)` for every line the
//!   repro executes.
//!
//! A suspect's score is the stack score alone without coverage, and
//! `0.7 × stack + 0.3 × ochiai` with it, so a line on the stack always ranks
//! above a line that is merely executed by the failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::repro::sandbox::{self, Spec};

/// A suspicious line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suspect {
    /// Relative to the tree's root.
    pub path: String,
    /// 1-based.
    pub line: usize,
    pub function: Option<String>,
    pub score: f64,
    /// Why: the frame's depth, the Ochiai score.
    pub why: String,
}

/// The failure as the traceback states it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Failure {
    pub exception: String,
    pub message: String,
    /// Suspects from the stack, innermost first.
    pub suspects: Vec<Suspect>,
}

/// Reads the last exception's traceback in `output` and keeps its frames
/// inside `root`, innermost first.
pub fn from_trace(output: &str, root: &Path) -> Failure {
    let Some(parsed) = crate::signals::stacktext::parse(output) else { return Failure::default() };
    let Some(e) = parsed.exceptions.last() else { return Failure::default() };
    let canon = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut suspects: Vec<Suspect> = Vec::new();
    let mut score = 1.0;
    for f in e.frames.iter().rev() {
        let Some(raw) = f.abs_path.as_deref().or(f.filename.as_deref()) else { continue };
        let Some(rel) = relative(raw, root, &canon) else { continue };
        let Some(line) = f.lineno else { continue };
        if suspects.iter().any(|s| s.path == rel && s.line == line as usize) {
            continue;
        }
        let depth = suspects.len();
        suspects.push(Suspect {
            path: rel,
            line: line as usize,
            function: f.function.clone(),
            score,
            why: if depth == 0 { "innermost frame in the tree".into() } else { format!("frame {} from the innermost", depth + 1) },
        });
        score *= 0.7;
    }
    Failure { exception: e.kind.clone(), message: e.value.clone(), suspects }
}

/// `raw` as a path relative to the tree, when it names a file inside it
/// that is not a library's.
fn relative(raw: &str, root: &Path, canon: &Path) -> Option<String> {
    let p = Path::new(raw);
    let rel: PathBuf =
        if p.is_absolute() { p.strip_prefix(canon).or_else(|_| p.strip_prefix(root)).ok()?.to_path_buf() } else { p.to_path_buf() };
    let s = rel.to_str()?.trim_start_matches("./").to_string();
    if s.contains("site-packages/") || s.contains("node_modules/") || s.starts_with("node:") || s.starts_with('<') {
        return None;
    }
    crate::propose::patch::check_path_text(&s).ok()?;
    root.join(&s).is_file().then_some(s)
}

/// Line spectra: for each (file, line), whether the failing run executed
/// it, and how many passing tests did.
#[derive(Debug, Clone, Default)]
pub struct Spectrum {
    pub failing: BTreeSet<(String, usize)>,
    pub passing: BTreeMap<(String, usize), usize>,
    pub passing_tests: usize,
}

impl Spectrum {
    /// Ochiai with one failing run: 1/sqrt(1 + ep) on the lines it ran.
    pub fn ochiai(&self, path: &str, line: usize) -> f64 {
        let key = (path.to_string(), line);
        if !self.failing.contains(&key) {
            return 0.0;
        }
        let ep = self.passing.get(&key).copied().unwrap_or(0) as f64;
        1.0 / (1.0 + ep).sqrt()
    }
}

/// Combines the stack's suspects with a spectrum: stack lines re-scored,
/// and the top lines the failure ran added. At most `limit` suspects.
pub fn combine(stack: &[Suspect], spectrum: Option<&Spectrum>, limit: usize) -> Vec<Suspect> {
    let Some(sp) = spectrum else {
        return stack.iter().take(limit).cloned().collect();
    };
    let mut out: Vec<Suspect> = stack
        .iter()
        .map(|s| {
            let o = sp.ochiai(&s.path, s.line);
            Suspect { score: 0.7 * s.score + 0.3 * o, why: format!("{}; Ochiai {o:.2}", s.why), ..s.clone() }
        })
        .collect();
    for (path, line) in &sp.failing {
        if out.iter().any(|s| &s.path == path && s.line == *line) {
            continue;
        }
        let o = sp.ochiai(path, *line);
        out.push(Suspect {
            path: path.clone(),
            line: *line,
            function: None,
            score: 0.3 * o,
            why: format!("run by the failure; Ochiai {o:.2}"),
        });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.path.cmp(&b.path)).then(a.line.cmp(&b.line)));
    out.truncate(limit);
    out
}

/// Measures a spectrum with coverage.py: the failing command once, the test
/// command once with per-test contexts. Both commands must start with
/// `python3` (or `python`); each runs in the sandbox in `workspace`.
pub fn coverage_py(workspace: &Path, failing: &[String], tests: &[String], env: &BTreeMap<String, String>) -> Result<Spectrum, String> {
    let scratch = Scratch::new()?;
    let rc = scratch.path().join("coveragerc");
    std::fs::write(&rc, "[run]\ndynamic_context = test_function\n").map_err(|e| format!("coverage: {e}"))?;
    let fail_data = scratch.path().join("fail.cov");
    let pass_data = scratch.path().join("pass.cov");
    run_cov(workspace, failing, &fail_data, None, env)?;
    run_cov(workspace, tests, &pass_data, Some(&rc), env)?;
    let fail_json = export(workspace, &fail_data, &scratch.path().join("fail.json"), env)?;
    let pass_json = export(workspace, &pass_data, &scratch.path().join("pass.json"), env)?;
    spectrum_from(&fail_json, &pass_json, workspace)
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, String> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("suture-cov-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("coverage: {}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether `[propose] coverage` asks for coverage.py for this repro: always
/// for `coverage.py`, and for `auto` when the repro is a Python command and
/// `python3 -m coverage` is installed.
pub fn wants_coverage(setting: &str, repro: &[String]) -> bool {
    match setting {
        "coverage.py" => true,
        "auto" => {
            python_args(repro).is_ok()
                && std::process::Command::new("python3")
                    .args(["-c", "import coverage"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        }
        _ => false,
    }
}

fn python_args(argv: &[String]) -> Result<&[String], String> {
    match argv.first().map(String::as_str) {
        Some("python3" | "python") => Ok(&argv[1..]),
        _ => Err(format!("coverage.py measures Python commands; `{}` does not start with python3", argv.join(" "))),
    }
}

fn run_cov(ws: &Path, argv: &[String], data: &Path, rc: Option<&Path>, env: &BTreeMap<String, String>) -> Result<(), String> {
    let mut cmd = vec!["python3".to_string(), "-m".into(), "coverage".into(), "run".into(), format!("--data-file={}", data.display())];
    if let Some(rc) = rc {
        cmd.push(format!("--rcfile={}", rc.display()));
    }
    cmd.extend(python_args(argv)?.iter().cloned());
    let mut spec = Spec::new(cmd, ws);
    spec.env = env.clone();
    let out = sandbox::run(&spec, &mut |_, _| {});
    if !out.exited() {
        return Err(format!("coverage run did not finish: {}", out.status()));
    }
    if !data.exists() {
        let err = out.text(sandbox::Stream::Stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").to_string();
        return Err(format!("coverage.py wrote no data (is it installed? `python3 -m pip install coverage`): {last}"));
    }
    Ok(())
}

fn export(ws: &Path, data: &Path, json: &Path, env: &BTreeMap<String, String>) -> Result<serde_json::Value, String> {
    let cmd = vec![
        "python3".to_string(),
        "-m".into(),
        "coverage".into(),
        "json".into(),
        "--show-contexts".into(),
        format!("--data-file={}", data.display()),
        "-o".into(),
        json.display().to_string(),
    ];
    let mut spec = Spec::new(cmd, ws);
    spec.env = env.clone();
    let out = sandbox::run(&spec, &mut |_, _| {});
    if !out.succeeded() {
        return Err(format!("coverage json failed: {}", out.status()));
    }
    let text = std::fs::read_to_string(json).map_err(|e| format!("coverage json: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("coverage json: {e}"))
}

/// Reads coverage.py's JSON reports (format 3: `files.<path>.executed_lines`
/// and, with `--show-contexts`, `files.<path>.contexts.<line>`).
pub fn spectrum_from(fail: &serde_json::Value, pass: &serde_json::Value, root: &Path) -> Result<Spectrum, String> {
    let canon = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let files =
        |v: &serde_json::Value| v.get("files").and_then(|f| f.as_object()).cloned().ok_or("coverage json without `files`".to_string());
    let mut sp = Spectrum::default();
    for (path, data) in files(fail)? {
        let Some(rel) = relative(&path, root, &canon) else { continue };
        for l in data.get("executed_lines").and_then(|l| l.as_array()).into_iter().flatten() {
            if let Some(n) = l.as_u64() {
                sp.failing.insert((rel.clone(), n as usize));
            }
        }
    }
    let mut tests = BTreeSet::new();
    for (path, data) in files(pass)? {
        let Some(rel) = relative(&path, root, &canon) else { continue };
        let Some(ctx) = data.get("contexts").and_then(|c| c.as_object()) else { continue };
        for (line, names) in ctx {
            let Ok(n) = line.parse::<usize>() else { continue };
            let names: BTreeSet<&str> =
                names.as_array().into_iter().flatten().filter_map(|s| s.as_str()).filter(|s| !s.is_empty()).collect();
            if !names.is_empty() {
                sp.passing.insert((rel.clone(), n), names.len());
                tests.extend(names.into_iter().map(str::to_string));
            }
        }
    }
    sp.passing_tests = tests.len();
    Ok(sp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_frames_inside_the_tree_become_suspects_innermost_first() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("app")).unwrap();
        std::fs::write(d.path().join("app/a.py"), "x\n".repeat(40)).unwrap();
        std::fs::write(d.path().join("run.py"), "x\n".repeat(10)).unwrap();
        let root = d.path().display();
        let tb = format!(
            "Traceback (most recent call last):\n  File \"{root}/run.py\", line 3, in <module>\n    main()\n  File \"{root}/app/a.py\", line 30, in outer\n    inner()\n  File \"/usr/lib/python3.11/json/__init__.py\", line 4, in loads\n    x\n  File \"app/a.py\", line 12, in inner\n    return d[\"k\"]\nTypeError: 'NoneType' object is not subscriptable\n"
        );
        let f = from_trace(&tb, d.path());
        assert_eq!(f.exception, "TypeError");
        assert!(f.message.contains("NoneType"));
        let got: Vec<(&str, usize)> = f.suspects.iter().map(|s| (s.path.as_str(), s.line)).collect();
        assert_eq!(got, [("app/a.py", 12), ("app/a.py", 30), ("run.py", 3)]);
        assert_eq!(f.suspects[0].score, 1.0);
        assert!((f.suspects[1].score - 0.7).abs() < 1e-12);
        assert_eq!(f.suspects[0].function.as_deref(), Some("inner"));
    }

    #[test]
    fn ochiai_follows_the_formula_and_combines_with_the_stack() {
        let mut sp = Spectrum::default();
        for l in [10, 11, 12] {
            sp.failing.insert(("m.py".into(), l));
        }
        sp.passing.insert(("m.py".into(), 10), 3);
        sp.passing.insert(("m.py".into(), 20), 5);
        sp.passing_tests = 5;
        // ef = 1, nf = 0, ep = 3 → 1/sqrt(1·4) = 0.5
        assert!((sp.ochiai("m.py", 10) - 0.5).abs() < 1e-12);
        assert_eq!(sp.ochiai("m.py", 11), 1.0);
        assert_eq!(sp.ochiai("m.py", 20), 0.0);
        let stack = vec![Suspect { path: "m.py".into(), line: 10, function: None, score: 1.0, why: "innermost".into() }];
        let all = combine(&stack, Some(&sp), 10);
        assert_eq!((all[0].line, all[0].score), (10, 0.7 + 0.15));
        assert_eq!(all.len(), 3);
        assert!((all[1].score - 0.3).abs() < 1e-12);
        assert_eq!(combine(&stack, None, 10), stack);
    }

    #[test]
    fn coverage_reports_are_read_per_test_context() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("m.py"), "x\n".repeat(30)).unwrap();
        let path = d.path().join("m.py").display().to_string();
        let fail = serde_json::json!({"files": {path.clone(): {"executed_lines": [1, 2, 5]}, "/usr/lib/x.py": {"executed_lines": [1]}}});
        let pass = serde_json::json!({"files": {path: {"executed_lines": [1, 2], "contexts": {"1": [""], "2": ["t.A.test_a", "t.A.test_b"], "5": ["t.A.test_a"]}}}});
        let sp = spectrum_from(&fail, &pass, d.path()).unwrap();
        assert_eq!(sp.failing.len(), 3);
        assert_eq!(sp.passing.get(&("m.py".to_string(), 2)), Some(&2));
        assert_eq!(sp.passing.get(&("m.py".to_string(), 1)), None);
        assert_eq!(sp.passing_tests, 2);
        assert!(spectrum_from(&serde_json::json!({}), &pass, d.path()).is_err());
    }
}
