//! Applying a unified diff inside a scratch workspace, with `git apply`.
//!
//! `git apply` refuses absolute paths, `..` and paths through a symbolic
//! link, checks every hunk before writing any, and tolerates hunks that
//! moved (it searches for the context). It runs with the workspace's parent
//! as a ceiling, so it can never find and write to a repository around the
//! workspace. (The Proposals issue brings Suture's own diff applier; this is
//! the verification's way in until then.)

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Applies `diff` to the tree at `workspace`. On failure, the message is
/// git's own, naming the file and hunk that did not apply.
pub fn apply(workspace: &Path, diff: &str) -> Result<(), String> {
    if diff.trim().is_empty() {
        return Err("the patch is empty".into());
    }
    if !diff.lines().any(|l| l.starts_with("@@ ") || l.starts_with("GIT binary patch") || l.starts_with("rename from ")) {
        return Err("not a unified diff: no `@@` hunk header".into());
    }
    let ceiling = workspace.parent().unwrap_or(workspace);
    let mut child = Command::new("git")
        .arg("apply")
        .arg("--whitespace=nowarn")
        .arg("--verbose")
        .current_dir(workspace)
        .env("GIT_CEILING_DIRECTORIES", ceiling)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run git apply: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A closed pipe means git already gave up; its stderr says why.
        let _ = stdin.write_all(diff.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| format!("git apply: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> =
        err.lines().filter(|l| l.starts_with("error:") || l.contains("No space left") || l.starts_with("fatal:")).collect();
    let why = if lines.is_empty() { err.trim().to_string() } else { lines.join("; ") };
    Err(format!("the patch does not apply: {why}"))
}

/// Files a unified diff touches (the `b/` side; the `a/` side for deletions).
pub fn touched_files(diff: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut minus: Option<String> = None;
    for line in diff.lines() {
        if let Some(p) = line.strip_prefix("--- ") {
            minus = Some(strip(p));
        } else if let Some(p) = line.strip_prefix("+++ ") {
            let plus = strip(p);
            let f = if plus == "/dev/null" { minus.take().unwrap_or_default() } else { plus };
            if !f.is_empty() && f != "/dev/null" && !files.contains(&f) {
                files.push(f);
            }
        }
    }
    files
}

fn strip(p: &str) -> String {
    let p = p.split('\t').next().unwrap_or(p).trim_end();
    p.strip_prefix("a/").or_else(|| p.strip_prefix("b/")).unwrap_or(p).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIX: &str = "--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n def f(x):\n-    return x[1]\n+    return x[0]\n";

    #[test]
    fn a_diff_applies_and_a_stale_one_names_the_file() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        std::fs::create_dir(&ws).unwrap();
        std::fs::write(ws.join("m.py"), "def f(x):\n    return x[1]\n").unwrap();
        apply(&ws, FIX).unwrap();
        assert_eq!(std::fs::read_to_string(ws.join("m.py")).unwrap(), "def f(x):\n    return x[0]\n");
        let err = apply(&ws, FIX).unwrap_err();
        assert!(err.contains("does not apply") && err.contains("m.py"), "{err}");
    }

    #[test]
    fn paths_outside_the_workspace_and_non_diffs_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        std::fs::create_dir(&ws).unwrap();
        let evil = "--- a/../evil.txt\n+++ b/../evil.txt\n@@ -0,0 +1 @@\n+x\n";
        assert!(apply(&ws, evil).is_err());
        assert!(!d.path().join("evil.txt").exists());
        assert!(apply(&ws, "hello\n").unwrap_err().contains("not a unified diff"));
        assert!(apply(&ws, "").unwrap_err().contains("empty"));
    }

    #[test]
    fn touched_files_reads_both_sides() {
        let d = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+c\n--- a/old.py\t2020\n+++ /dev/null\n";
        assert_eq!(touched_files(d), ["x.py", "new.py", "old.py"]);
    }
}
