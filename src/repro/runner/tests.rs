use super::*;
use crate::repro::workspace::{Workspace, tree_digest};

fn demo() -> std::path::PathBuf {
    crate::config::paths::builtin_demo_root()
}

fn spec(command: &[&str], expect_type: Option<&str>) -> ReproSpec {
    toml::from_str(&format!(
        "id = 't'\ntitle = 't'\ncommand = {:?}\ntimeout_secs = 20\n[expect]\n{}",
        command,
        expect_type.map(|t| format!("exception_type = {t:?}\n")).unwrap_or_default()
    ))
    .unwrap()
}

#[test]
fn each_demo_bug_reproduces_three_times_out_of_three_and_the_tree_is_untouched() {
    let service = demo().join("service");
    let before = tree_digest(&service).unwrap();
    let specs = load_specs(&demo().join("repros")).unwrap();
    assert_eq!(specs.len(), 3);
    let data = tempfile::tempdir().unwrap();
    for s in &specs {
        let ws = Workspace::create(&service, None, data.path()).unwrap();
        let mut streamed = 0;
        let report = run_repeated(s, ws.path(), 3, &Options::default(), &mut |_, _, b| streamed += b.len());
        assert!(report.deterministic, "{}: {}", s.id, report.summary);
        assert_eq!(report.verdict, ReproVerdict::Reproduced, "{}: {}", s.id, report.summary);
        assert!(report.summary.starts_with("reproduced 3 of 3 runs"), "{}", report.summary);
        let sig = report.runs[0].signature.as_ref().unwrap();
        assert_eq!((sig.module.as_deref(), sig.function.as_deref()), (s.expect.module.as_deref(), s.expect.function.as_deref()));
        assert!(streamed > 0, "output is streamed live");
    }
    assert_eq!(tree_digest(&service).unwrap(), before, "the demo's own tree is byte-for-byte unchanged");
}

#[test]
fn passing_a_different_failure_and_errors_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let ok = run_once(&spec(&["true"], Some("KeyError")), dir.path(), &Options::default(), &mut |_, _| {});
    assert_eq!(ok.verdict, ReproVerdict::Passed);

    std::fs::write(dir.path().join("boom.py"), "def f():\n    raise ValueError('bad value')\nf()\n").unwrap();
    let other = run_once(&spec(&["python3", "boom.py"], Some("KeyError")), dir.path(), &Options::default(), &mut |_, _| {});
    assert_eq!(other.verdict, ReproVerdict::DifferentFailure);
    assert_eq!(other.reason, "ValueError instead of KeyError");
    assert_eq!(other.signature.as_ref().unwrap().module.as_deref(), Some("boom"));

    let missing = run_once(&spec(&["no-such-repro-command"], None), dir.path(), &Options::default(), &mut |_, _| {});
    assert_eq!(missing.verdict, ReproVerdict::Error);
    assert!(missing.reason.contains("command not found"), "{}", missing.reason);

    let mut s = spec(&["sh", "-c", "sleep 30"], None);
    s.timeout_secs = 1;
    let slow = run_once(&s, dir.path(), &Options::default(), &mut |_, _| {});
    assert_eq!(slow.verdict, ReproVerdict::Error);
    assert!(slow.reason.contains("timeout"), "{}", slow.reason);

    let mut s = spec(&["true"], None);
    s.fixtures = vec!["cases/gone.json".into()];
    let nofix = run_once(&s, dir.path(), &Options::default(), &mut |_, _| {});
    assert_eq!((nofix.verdict, nofix.reason.as_str()), (ReproVerdict::Error, "fixture cases/gone.json is missing from the workspace"));
}

#[test]
fn a_repro_that_fails_only_sometimes_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    // Fails on odd runs: a counter file in the workspace.
    std::fs::write(
        dir.path().join("flaky.py"),
        "import os\nn = int(open('n').read()) if os.path.exists('n') else 0\nopen('n', 'w').write(str(n + 1))\nif n % 2 == 0:\n    raise KeyError('x')\n",
    )
    .unwrap();
    let report = run_repeated(&spec(&["python3", "flaky.py"], Some("KeyError")), dir.path(), 3, &Options::default(), &mut |_, _, _| {});
    assert!(!report.deterministic);
    assert_eq!(report.summary, "not deterministic: reproduced 2 of 3 runs");
    assert_eq!(report.verdict, ReproVerdict::Error);
}

#[test]
fn escape_sequences_in_output_are_data_not_terminal_commands() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("esc.py"),
        "import sys\nsys.stderr.write('\\x1b]0;pwned\\x07\\x1b[2J\\n')\nraise KeyError('\\x1b[31mred')\n",
    )
    .unwrap();
    let j = run_once(&spec(&["python3", "esc.py"], Some("KeyError")), dir.path(), &Options::default(), &mut |_, _| {});
    assert_eq!(j.verdict, ReproVerdict::Reproduced, "{}", j.reason);
    let shown = crate::tui::widgets::text::inert(&j.outcome.text(Stream::Stderr)).into_owned();
    assert!(!shown.contains('\u{1b}') && !shown.contains('\u{7}'), "{shown:?}");
}
