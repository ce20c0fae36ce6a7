//! Applying a unified diff inside a scratch workspace, with Suture's own
//! applier ([`crate::propose::patch`]): paths checked (no absolute paths, no
//! `..`, no link out of the workspace), every hunk placed before any file is
//! written, shifted hunks found the way `patch` finds them.

use std::path::Path;

use crate::propose::patch::Diff;

/// Applies `diff` to the tree at `workspace`. On failure, the message names
/// the file and hunk that did not apply, or the path that is not safe.
pub fn apply(workspace: &Path, diff: &str) -> Result<(), String> {
    if diff.trim().is_empty() {
        return Err("the patch is empty".into());
    }
    let parsed = Diff::parse(diff).map_err(|e| format!("not a unified diff: {e}"))?;
    crate::propose::patch::apply_tree(workspace, &parsed).map(|_| ()).map_err(|e| format!("the patch does not apply: {e}"))
}

/// Files a unified diff touches (the `b/` side; the `a/` side for deletions);
/// none when it does not parse.
pub fn touched_files(diff: &str) -> Vec<String> {
    Diff::parse(diff).map(|d| d.paths()).unwrap_or_default()
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
        let d = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+c\n--- a/old.py\t2020\n+++ /dev/null\n@@ -1 +0,0 @@\n-z\n";
        assert_eq!(touched_files(d), ["x.py", "new.py", "old.py"]);
    }
}
