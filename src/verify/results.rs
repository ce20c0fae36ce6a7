//! Per-test results read from a test command's output, so the gauntlet can
//! compare the set of tests passing on the base with the set passing on the
//! patched tree (step c) and pick the tests to rerun (step d).
//!
//! Formats: Python's `unittest -v`, `pytest -v` (or `-rA`), `go test -v`,
//! `cargo test`, TAP, and JUnit XML (a file the command writes). A test id is
//! what the format names a test by; ids are compared as text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    Passed,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `python3 -m unittest -v`: `name (module.Class.name) ... ok` on stderr.
    #[default]
    Unittest,
    /// `pytest -v`: `path::test PASSED`.
    Pytest,
    /// `go test -v`: `--- PASS: TestName (0.00s)`.
    Go,
    /// `cargo test`: `test path::name ... ok`.
    Cargo,
    /// Test Anything Protocol: `ok 1 - name`, `not ok 2 - name`.
    Tap,
    /// JUnit XML written by the command to `tests.junit`.
    Junit,
}

impl Format {
    /// The language a regression test would be written in, when Suture has a
    /// template for it.
    pub fn is_python(self) -> bool {
        matches!(self, Format::Unittest | Format::Pytest)
    }
}

/// Test id → status. A test reported twice keeps its worst status.
pub type Results = BTreeMap<String, TestStatus>;

fn record(out: &mut Results, id: &str, status: TestStatus) {
    let id = id.trim();
    if id.is_empty() {
        return;
    }
    let e = out.entry(id.to_string()).or_insert(status);
    if status == TestStatus::Failed {
        *e = TestStatus::Failed;
    }
}

/// Reads the results in `text` (stdout and stderr together) in `format`.
/// JUnit's text is the XML file's content.
pub fn parse(format: Format, text: &str) -> Results {
    let mut out = Results::new();
    match format {
        Format::Unittest => unittest(text, &mut out),
        Format::Pytest => pytest(text, &mut out),
        Format::Go => go(text, &mut out),
        Format::Cargo => cargo(text, &mut out),
        Format::Tap => tap(text, &mut out),
        Format::Junit => junit(text, &mut out),
    }
    out
}

fn unittest(text: &str, out: &mut Results) {
    // `test_x (pkg.mod.Class.test_x) ... ok`; a docstring's first line may
    // sit between the name and ` ... `, on the next line. Python < 3.11
    // writes `(pkg.mod.Class)` without the method.
    let mut pending: Option<String> = None;
    for line in text.lines() {
        let (head, verdict) = match line.rsplit_once(" ... ") {
            Some((h, v)) => (h, Some(v)),
            None => (line, None),
        };
        let id = unittest_id(head).or_else(|| if verdict.is_some() { pending.take() } else { None });
        match (id, verdict) {
            (Some(id), Some(v)) => {
                pending = None;
                let v = v.trim();
                let status = if v == "ok" || v == "expected failure" {
                    TestStatus::Passed
                } else if v.starts_with("skipped") {
                    TestStatus::Skipped
                } else if v == "FAIL" || v == "ERROR" || v == "unexpected success" {
                    TestStatus::Failed
                } else {
                    continue;
                };
                record(out, &id, status);
            }
            (Some(id), None) => pending = Some(id),
            (None, _) => {}
        }
    }
    // The summary block names failures again: `FAIL: name (id)`.
    for line in text.lines() {
        for tag in ["FAIL: ", "ERROR: "] {
            if let Some(rest) = line.strip_prefix(tag)
                && let Some(id) = unittest_id(rest)
            {
                record(out, &id, TestStatus::Failed);
            }
        }
    }
}

fn unittest_id(head: &str) -> Option<String> {
    // `name (pkg.mod.Class.name)`, and for a subtest `name (id) (i=1)`.
    let (name, rest) = head.trim().split_once(" (")?;
    let inner = &rest[..rest.find(')')?];
    if name.contains(' ') || inner.contains(' ') || !inner.contains('.') {
        return None;
    }
    if inner.rsplit('.').next() == Some(name) { Some(inner.to_string()) } else { Some(format!("{inner}.{name}")) }
}

fn pytest(text: &str, out: &mut Results) {
    for line in text.lines() {
        let line = line.trim();
        // `-v`: `tests/t.py::test_a PASSED [ 50%]`; `-rA`: `PASSED tests/t.py::test_a`.
        let mut words = line.split_whitespace();
        let (Some(a), Some(b)) = (words.next(), words.next()) else { continue };
        let (id, word) = if a.contains("::") {
            (a, b)
        } else if b.contains("::") {
            (b, a)
        } else {
            continue;
        };
        let status = match word {
            "PASSED" | "XFAIL" => TestStatus::Passed,
            "FAILED" | "ERROR" | "XPASS" => TestStatus::Failed,
            "SKIPPED" => TestStatus::Skipped,
            _ => continue,
        };
        record(out, id, status);
    }
}

fn go(text: &str, out: &mut Results) {
    for line in text.lines() {
        let line = line.trim_start();
        let Some(rest) = line.strip_prefix("--- ") else { continue };
        let Some((word, rest)) = rest.split_once(": ") else { continue };
        let status = match word {
            "PASS" => TestStatus::Passed,
            "FAIL" => TestStatus::Failed,
            "SKIP" => TestStatus::Skipped,
            _ => continue,
        };
        let name = rest.split(" (").next().unwrap_or(rest);
        record(out, name, status);
    }
}

fn cargo(text: &str, out: &mut Results) {
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("test ") else { continue };
        let Some((name, v)) = rest.rsplit_once(" ... ") else { continue };
        let status = match v.trim() {
            "ok" => TestStatus::Passed,
            "FAILED" => TestStatus::Failed,
            v if v.starts_with("ignored") => TestStatus::Skipped,
            _ => continue,
        };
        record(out, name, status);
    }
}

fn tap(text: &str, out: &mut Results) {
    for line in text.lines() {
        let (ok, rest) = if let Some(r) = line.strip_prefix("not ok ") {
            (false, r)
        } else if let Some(r) = line.strip_prefix("ok ") {
            (true, r)
        } else {
            continue;
        };
        let (desc, directive) = match rest.split_once(" # ") {
            Some((d, x)) => (d, x.to_ascii_uppercase()),
            None => (rest, String::new()),
        };
        let desc = desc.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start().trim_start_matches("- ");
        let name = if desc.is_empty() { rest.split_whitespace().next().unwrap_or("") } else { desc };
        let status = if directive.starts_with("SKIP") {
            TestStatus::Skipped
        } else if ok || directive.starts_with("TODO") {
            TestStatus::Passed
        } else {
            TestStatus::Failed
        };
        record(out, name, status);
    }
}

/// A small scanner for `<testcase classname=".." name="..">` elements and
/// their `<failure>`, `<error>` and `<skipped>` children; enough for the
/// files pytest, go-junit-report, nextest and surefire write.
fn junit(xml: &str, out: &mut Results) {
    let mut rest = xml;
    while let Some(at) = rest.find("<testcase") {
        rest = &rest[at + "<testcase".len()..];
        let Some(end) = rest.find('>') else { break };
        let attrs = &rest[..end];
        let self_closing = attrs.ends_with('/');
        let body = if self_closing {
            ""
        } else {
            let close = rest.find("</testcase>").unwrap_or(rest.len());
            &rest[end..close]
        };
        let name = attr(attrs, "name").unwrap_or_default();
        let id = match attr(attrs, "classname") {
            Some(c) if !c.is_empty() => format!("{c}.{name}"),
            _ => name,
        };
        let status = if body.contains("<failure") || body.contains("<error") {
            TestStatus::Failed
        } else if body.contains("<skipped") {
            TestStatus::Skipped
        } else {
            TestStatus::Passed
        };
        record(out, &unescape(&id), status);
        rest = &rest[end..];
    }
}

fn attr(attrs: &str, key: &str) -> Option<String> {
    let mut search = attrs;
    while let Some(i) = search.find(key) {
        let before_ok = i == 0 || search.as_bytes()[i - 1].is_ascii_whitespace();
        let after = &search[i + key.len()..];
        let after_trim = after.trim_start();
        if before_ok && let Some(v) = after_trim.strip_prefix('=') {
            let v = v.trim_start();
            let quote = v.chars().next()?;
            if quote == '"' || quote == '\'' {
                let v = &v[1..];
                return v.find(quote).map(|e| v[..e].to_string());
            }
        }
        search = after;
    }
    None
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unittest_verbose_lines_old_and_new_style_and_docstrings() {
        let text = "test_a (tests.t.A.test_a) ... ok\n\
                    test_b (tests.t.A) ... FAIL\n\
                    test_c (tests.t.A.test_c)\nDoes c. ... ERROR\n\
                    test_d (tests.t.A.test_d) ... skipped 'no db'\n\
                    test_s (tests.t.A.test_s) ... \n  test_s (tests.t.A.test_s) (i=1) ... FAIL\n\
                    noise line ... ok\n\
                    ======\nFAIL: test_e (tests.t.B.test_e)\n";
        let r = parse(Format::Unittest, text);
        assert_eq!(r["tests.t.A.test_a"], TestStatus::Passed);
        assert_eq!(r["tests.t.A.test_b"], TestStatus::Failed);
        assert_eq!(r["tests.t.A.test_c"], TestStatus::Failed);
        assert_eq!(r["tests.t.A.test_d"], TestStatus::Skipped);
        assert_eq!(r["tests.t.B.test_e"], TestStatus::Failed);
        assert_eq!(r["tests.t.A.test_s"], TestStatus::Failed);
        assert_eq!(r.len(), 6);
    }

    #[test]
    fn pytest_go_cargo_and_tap() {
        let p = parse(Format::Pytest, "tests/t.py::test_a PASSED [ 50%]\nFAILED tests/t.py::test_b - assert 1\nSKIPPED tests/t.py::c\n");
        assert_eq!(p.len(), 3);
        assert_eq!(p["tests/t.py::test_b"], TestStatus::Failed);
        let g = parse(Format::Go, "=== RUN TestA\n--- PASS: TestA (0.00s)\n    --- FAIL: TestA/sub (0.01s)\n--- SKIP: TestC (0.00s)\n");
        assert_eq!(g["TestA"], TestStatus::Passed);
        assert_eq!(g["TestA/sub"], TestStatus::Failed);
        assert_eq!(g["TestC"], TestStatus::Skipped);
        let c = parse(Format::Cargo, "test a::b ... ok\ntest a::c ... FAILED\ntest d ... ignored, slow\ntest result: ok. 1 passed\n");
        assert_eq!(c.len(), 3);
        assert_eq!(c["a::c"], TestStatus::Failed);
        let t = parse(Format::Tap, "1..4\nok 1 - adds\nnot ok 2 - subtracts\nok 3 - net # SKIP offline\nnot ok 4 - later # TODO\n");
        assert_eq!(t["adds"], TestStatus::Passed);
        assert_eq!(t["subtracts"], TestStatus::Failed);
        assert_eq!(t["net"], TestStatus::Skipped);
        assert_eq!(t["later"], TestStatus::Passed);
    }

    #[test]
    fn junit_cases_with_failures_errors_and_skips() {
        let xml = r#"<?xml version="1.0"?><testsuites><testsuite name="s">
            <testcase classname="pkg.T" name="a" time="0.1"/>
            <testcase classname="pkg.T" name="b"><failure message="x">boom</failure></testcase>
            <testcase classname='pkg.T' name='c &amp; d'><skipped/></testcase>
            <testcase name="e"><error/></testcase>
        </testsuite></testsuites>"#;
        let r = parse(Format::Junit, xml);
        assert_eq!(r["pkg.T.a"], TestStatus::Passed);
        assert_eq!(r["pkg.T.b"], TestStatus::Failed);
        assert_eq!(r["pkg.T.c & d"], TestStatus::Skipped);
        assert_eq!(r["e"], TestStatus::Failed);
    }

    #[test]
    fn nothing_recognisable_is_no_results() {
        assert!(parse(Format::Unittest, "Ran 0 tests\nOK\n").is_empty());
        assert!(parse(Format::Junit, "not xml").is_empty());
    }
}
