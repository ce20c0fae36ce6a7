//! Step (g): a regression test made from the repro, in the project's own
//! test language, added to the patch. Python (unittest, which pytest also
//! collects) is the language Suture writes tests in today; for other
//! projects the step is skipped and says so.
//!
//! The test runs the repro's command from the project root with the repro's
//! environment and asserts that it succeeds and that the incident's
//! exception no longer appears, so it fails on the base and passes once
//! the bug is fixed. The gauntlet checks both.

use crate::model::ReproSpec;

/// The new test file: its path (relative to the project root) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegressionTest {
    pub path: String,
    pub text: String,
}

impl RegressionTest {
    /// A unified diff that adds the file, as `git diff` writes a new file.
    pub fn diff(&self) -> String {
        let lines: Vec<&str> = self.text.lines().collect();
        let mut d = format!(
            "diff --git a/{p} b/{p}\nnew file mode 100644\n--- /dev/null\n+++ b/{p}\n@@ -0,0 +1,{n} @@\n",
            p = self.path,
            n = lines.len()
        );
        for l in lines {
            d.push('+');
            d.push_str(l);
            d.push('\n');
        }
        d
    }
}

/// A Python identifier made of the spec's id.
fn ident(id: &str) -> String {
    let mut s: String = id.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "r_");
    }
    s
}

/// A Python string literal (JSON's escaping is valid Python for these).
fn py(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Whether the repro command runs Python, so a Python test can drive it.
pub fn is_python_command(argv: &[String]) -> bool {
    argv.first().and_then(|a| a.rsplit('/').next()).is_some_and(|a| a.starts_with("python"))
}

/// Writes the test for `spec` into `dir` (relative to the project root).
pub fn python_test(spec: &ReproSpec, dir: &str) -> RegressionTest {
    let name = ident(&spec.id);
    let dir = dir.trim_matches('/');
    let depth = if dir.is_empty() || dir == "." { 0 } else { dir.split('/').filter(|p| !p.is_empty() && *p != ".").count() };
    let path = if depth == 0 { format!("test_suture_regression_{name}.py") } else { format!("{dir}/test_suture_regression_{name}.py") };
    let mut root = "os.path.abspath(__file__)".to_string();
    for _ in 0..=depth {
        root = format!("os.path.dirname({root})");
    }
    let mut argv = Vec::new();
    for (i, a) in spec.command.iter().enumerate() {
        if i == 0 && is_python_command(&spec.command) {
            argv.push("sys.executable".to_string());
        } else {
            argv.push(py(a));
        }
    }
    let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{}: {}", py(k), py(v))).collect();
    let mut text = String::new();
    text.push_str(&format!(
        "\"\"\"Regression test written by Suture from repro spec {id}.\n\n{title}\n\"\"\"\n\n",
        id = spec.id.replace('"', "'"),
        title = spec.title.replace("\"\"\"", "'''").replace('\\', "/")
    ));
    text.push_str("import os\nimport subprocess\nimport sys\nimport unittest\n\n");
    text.push_str(&format!("ROOT = {root}\n\n\n"));
    text.push_str(&format!("class SutureRegression_{name}(unittest.TestCase):\n"));
    text.push_str(&format!("    def test_{name}(self):\n"));
    text.push_str("        env = dict(os.environ)\n");
    text.push_str(&format!("        env.update({{{}}})\n", env.join(", ")));
    text.push_str(&format!(
        "        proc = subprocess.run([{}], cwd=ROOT, env=env, capture_output=True, text=True, timeout={})\n",
        argv.join(", "),
        spec.timeout_secs.max(1)
    ));
    text.push_str("        self.assertEqual(proc.returncode, 0, proc.stderr[-4000:])\n");
    if let Some(t) = &spec.expect.exception_type {
        text.push_str(&format!("        self.assertNotIn({}, proc.stderr)\n", py(t)));
    }
    text.push_str("\n\nif __name__ == \"__main__\":\n    unittest.main()\n");
    RegressionTest { path, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ReproSpec {
        toml::from_str(
            r#"id = "pricing-null-discount"
title = "Quote fails \"badly\""
command = ["python3", "repro/replay.py", "repro/cases/x.json"]
[env]
TZ = "UTC"
[expect]
exception_type = "TypeError""#,
        )
        .unwrap()
    }

    #[test]
    fn the_test_runs_the_repro_from_the_project_root() {
        let t = python_test(&spec(), "tests");
        assert_eq!(t.path, "tests/test_suture_regression_pricing_null_discount.py");
        assert!(t.text.contains("ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))"));
        assert!(t.text.contains("[sys.executable, \"repro/replay.py\", \"repro/cases/x.json\"]"));
        assert!(t.text.contains("env.update({\"TZ\": \"UTC\"})"));
        assert!(t.text.contains("self.assertNotIn(\"TypeError\", proc.stderr)"));
        let d = t.diff();
        assert!(d.starts_with("diff --git a/tests/test_suture_regression_pricing_null_discount.py"));
        assert_eq!(d.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count(), t.text.lines().count());
        assert_eq!(python_test(&spec(), ".").path, "test_suture_regression_pricing_null_discount.py");
    }

    #[test]
    fn the_generated_file_is_valid_python() {
        let d = tempfile::tempdir().unwrap();
        let t = python_test(&spec(), "tests");
        let p = d.path().join("t.py");
        std::fs::write(&p, &t.text).unwrap();
        let out = std::process::Command::new("python3").args(["-m", "py_compile"]).arg(&p).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
