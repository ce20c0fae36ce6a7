//! Stack traces as text — what OpenTelemetry SDKs put in `exception.stacktrace`
//! and what lands in log files — parsed into frames for Python, Java (and other
//! JVM languages printing `Throwable.printStackTrace`), Go panics and Node/V8.
//!
//! The output follows Sentry's conventions like the rest of ingest: chained
//! exceptions oldest first (the last one escaped), frames oldest call first
//! (the innermost frame last). Java, Node and Go print the innermost frame
//! first and are reversed; Python prints it last.
//!
//! `in_app` is set to `Some(false)` only for frames that are clearly library or
//! runtime code (site-packages, the Python standard library, `node_modules`,
//! `node:` built-ins, JDK classes, the Go runtime, GOROOT and the module
//! cache); everything else stays `None` so triage decides with the project's
//! own path rules.
//!
//! Never panics and stays linear in the input: every language parser makes a
//! single pass over the lines, and the output is capped ([`MAX_FRAMES`] per
//! exception, [`MAX_EXCEPTIONS`] per trace) because Java's `... N more` lines
//! copy frames and could otherwise amplify a small input.

mod go;
mod java;
mod node;
mod python;

use crate::model::{ExceptionInfo, StackFrame};

/// Frames kept per exception; the innermost ones are kept when there are more.
pub const MAX_FRAMES: usize = 1000;
/// Exceptions kept per trace: the escaping one and the oldest before it.
pub const MAX_EXCEPTIONS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    Java,
    Go,
    Node,
}

/// A parsed trace: exceptions oldest first, each with frames oldest call first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub lang: Lang,
    pub exceptions: Vec<ExceptionInfo>,
}

/// Parses a stack trace, detecting its language. `None` when the text is not
/// recognizably a trace of a supported language.
pub fn parse(text: &str) -> Option<Parsed> {
    let lang = detect(text)?;
    let mut exceptions = match lang {
        Lang::Python => python::parse(text),
        Lang::Java => java::parse(text),
        Lang::Go => go::parse(text),
        Lang::Node => node::parse(text),
    };
    if exceptions.is_empty() {
        return None;
    }
    for e in exceptions.iter_mut() {
        if e.frames.len() > MAX_FRAMES {
            // Oldest calls go first; the innermost frames are where the bug is.
            let extra = e.frames.len() - MAX_FRAMES;
            e.frames.drain(..extra);
        }
    }
    if exceptions.len() > MAX_EXCEPTIONS {
        let escaped = exceptions.pop();
        exceptions.truncate(MAX_EXCEPTIONS - 1);
        exceptions.extend(escaped);
    }
    Some(Parsed { lang, exceptions })
}

/// The language of a trace, from the first line that only one language prints.
pub fn detect(text: &str) -> Option<Lang> {
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("Traceback (most recent call last):") || python::frame_header(line).is_some() {
            return Some(Lang::Python);
        }
        if go::is_goroutine_header(line) {
            return Some(Lang::Go);
        }
        if let Some(rest) = t.strip_prefix("at ") {
            if java::looks_like_frame(rest) {
                return Some(Lang::Java);
            }
            if node::looks_like_frame(rest) {
                return Some(Lang::Node);
            }
        }
    }
    None
}

/// The exception chain of an error reported as type, message and stack text
/// (OpenTelemetry's `exception.*` attributes, Suture's JSON lines): the chain
/// the text holds, with the reported type and message taking precedence for
/// the escaping exception; a single exception without frames when the text is
/// absent or not a trace. Empty when all three are absent. Values are not
/// scrubbed here.
pub fn reported_chain(kind: Option<&str>, message: Option<&str>, stack: Option<&str>) -> Vec<ExceptionInfo> {
    let mut chain = stack.and_then(parse).map(|p| p.exceptions).unwrap_or_default();
    if chain.is_empty() {
        if kind.is_none() && message.is_none() && stack.is_none() {
            return chain;
        }
        chain.push(ExceptionInfo { kind: "Error".into(), ..ExceptionInfo::default() });
    }
    if let Some(last) = chain.last_mut() {
        if let Some(k) = kind.filter(|k| !k.is_empty()) {
            (last.kind, last.module) = split_type_name(k);
        }
        if let Some(m) = message {
            last.value = m.to_string();
        }
    }
    chain
}

/// Splits a reported type name the way trace headers are split: a dotted name
/// (`java.lang.IllegalStateException`) becomes (`IllegalStateException`,
/// `Some("java.lang")`); anything else (`*errors.errorString`) stays whole.
pub fn split_type_name(name: &str) -> (String, Option<String>) {
    if is_dotted_name(name) { split_type(name) } else { (name.to_string(), None) }
}

/// Splits `pkg.mod.Type` into (`Type`, `Some("pkg.mod")`), the way Sentry's
/// SDKs report exception types for Python and Java.
fn split_type(qualified: &str) -> (String, Option<String>) {
    match qualified.rsplit_once('.') {
        Some((module, kind)) if !module.is_empty() && !kind.is_empty() => (kind.to_string(), Some(module.to_string())),
        _ => (qualified.to_string(), None),
    }
}

/// Parses an exception header `Type: message` or a bare `Type`, where a type
/// is a dotted name (`$` allowed for JVM inner classes). `None` for other text.
fn type_and_message(line: &str) -> Option<(&str, &str)> {
    let (kind, message) = match line.split_once(':') {
        Some((k, m)) => (k, m.strip_prefix(' ').unwrap_or(m)),
        None => (line.trim_end(), ""),
    };
    is_dotted_name(kind).then_some((kind, message))
}

fn is_dotted_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        })
}

fn exception(qualified: &str, value: &str, frames: Vec<StackFrame>) -> ExceptionInfo {
    let (kind, module) = split_type(qualified);
    ExceptionInfo { kind, value: value.to_string(), module, handled: None, frames }
}

/// Leading whitespace width (a tab counts as one).
fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn fixture(name: &str) -> String {
        let path = format!("{}/fixtures/stacks/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// (function, module or filename, line, in_app) per frame, oldest call first.
    pub(super) fn frames(e: &ExceptionInfo) -> Vec<(String, String, u32, Option<bool>)> {
        e.frames
            .iter()
            .map(|f| {
                let place = f.module.clone().or_else(|| f.filename.clone()).unwrap_or_default();
                (f.function.clone().unwrap_or_default(), place, f.lineno.unwrap_or(0), f.in_app)
            })
            .collect()
    }

    #[test]
    fn detects_each_fixture() {
        for (name, lang) in [
            ("python_simple.txt", Lang::Python),
            ("python_chained.txt", Lang::Python),
            ("java_caused_by.txt", Lang::Java),
            ("java_suppressed.txt", Lang::Java),
            ("node_async.txt", Lang::Node),
            ("node_cause.txt", Lang::Node),
            ("node_esm.txt", Lang::Node),
            ("go_panic.txt", Lang::Go),
            ("go_http_goroutines.txt", Lang::Go),
            ("go_custom.txt", Lang::Go),
        ] {
            assert_eq!(detect(&fixture(name)), Some(lang), "{name}");
            assert!(parse(&fixture(name)).is_some(), "{name}");
        }
    }

    #[test]
    fn text_that_is_no_trace_is_none() {
        for text in ["", "hello", "Error: boom", "at the end of the day", "panic: x", "\n\n\t\n"] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn caps_keep_the_innermost_frames_and_the_escaping_exception() {
        let mut text = String::from("Traceback (most recent call last):\n");
        for i in 0..(MAX_FRAMES + 10) {
            text.push_str(&format!("  File \"/app/x.py\", line {}, in f\n", i + 1));
        }
        text.push_str("ValueError: deep\n");
        for i in 0..(MAX_EXCEPTIONS + 5) {
            text.push_str(&format!(
                "\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"/app/y.py\", line 1, in g\nKeyError: {i}\n"
            ));
        }
        let p = parse(&text).unwrap();
        assert_eq!(p.exceptions.len(), MAX_EXCEPTIONS);
        assert_eq!(p.exceptions[0].frames.len(), MAX_FRAMES);
        assert_eq!(p.exceptions[0].frames.last().unwrap().lineno, Some(MAX_FRAMES as u32 + 10));
        assert_eq!(p.exceptions.last().unwrap().value, format!("{}", MAX_EXCEPTIONS + 4));
    }

    #[test]
    fn reported_type_and_message_win_over_the_text() {
        let text = fixture("java_caused_by.txt");
        let chain = reported_chain(Some("java.lang.reflect.UndeclaredThrowableException"), Some("m"), Some(&text));
        assert_eq!(chain.len(), 4);
        let last = chain.last().unwrap();
        assert_eq!(
            (last.kind.as_str(), last.module.as_deref(), last.value.as_str()),
            ("UndeclaredThrowableException", Some("java.lang.reflect"), "m")
        );
        assert_eq!(last.frames.len(), 5);
        let plain = reported_chain(Some("*errors.errorString"), None, Some("not a trace"));
        assert_eq!((plain[0].kind.as_str(), plain[0].value.as_str(), plain[0].frames.len()), ("*errors.errorString", "", 0));
        assert_eq!(reported_chain(None, Some("boom"), None)[0].kind, "Error");
        assert!(reported_chain(None, None, None).is_empty());
    }

    #[test]
    fn type_names() {
        assert_eq!(type_and_message("java.lang.Foo$Bar: x: y"), Some(("java.lang.Foo$Bar", "x: y")));
        assert_eq!(type_and_message("KeyError"), Some(("KeyError", "")));
        assert_eq!(type_and_message("not a type: x"), None);
        assert_eq!(type_and_message(": x"), None);
        assert_eq!(split_type("json.decoder.JSONDecodeError"), ("JSONDecodeError".into(), Some("json.decoder".into())));
    }
}

#[cfg(test)]
mod bad_input {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn long_inputs_stay_linear() {
        // Each of these would be quadratic with a naive rescan per line.
        let many_more =
            format!("java.lang.Error: x\n{}{}", "\tat a.B.c(B.java:1)\n".repeat(5000), "Caused by: a.E\n\t... 5000 more\n".repeat(5000));
        let start = std::time::Instant::now();
        let p = parse(&many_more).unwrap();
        assert!(p.exceptions.len() <= MAX_EXCEPTIONS);
        assert!(p.exceptions.iter().all(|e| e.frames.len() <= MAX_FRAMES));
        let long_line = format!("Error: x\n    at {}(/a.js:1:1)\n", "(".repeat(1 << 20));
        let _ = parse(&long_line);
        let py = format!("Traceback (most recent call last):\n{}", "  File \"a\", line 1, in f\n    x\n".repeat(100_000));
        assert_eq!(parse(&py).unwrap().exceptions[0].frames.len(), MAX_FRAMES);
        let go = format!("panic: x\n\ngoroutine 1 [running]:\n{}", "main.f(0x1)\n\t/a/b.go:1 +0x1\n".repeat(100_000));
        assert_eq!(parse(&go).unwrap().exceptions[0].frames.len(), MAX_FRAMES);
        assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
    }

    fn trace_line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("Traceback (most recent call last):".to_string()),
            Just("  File \"/a.py\", line 3, in f".to_string()),
            Just("    ^^^^".to_string()),
            Just("The above exception was the direct cause of the following exception:".to_string()),
            Just("Caused by: a.B: c".to_string()),
            Just("\t... 3 more".to_string()),
            Just("\tSuppressed: x.Y".to_string()),
            Just("\tat a.B.c(B.java:1)".to_string()),
            Just("    at f (/a.js:1:2)".to_string()),
            Just("  [cause]: Error: x".to_string()),
            Just("goroutine 1 [running]:".to_string()),
            Just("panic: x [recovered]".to_string()),
            Just("main.f(...)".to_string()),
            Just("\t/a.go:3 +0x1".to_string()),
            Just(String::new()),
            "[ -~\t]{0,40}",
            any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&String::from_utf8_lossy(&bytes));
        }

        /// Lines that each language treats specially, shuffled together.
        #[test]
        fn mixed_trace_lines_never_panic(lines in proptest::collection::vec(trace_line(), 0..60)) {
            if let Some(p) = parse(&lines.join("\n")) {
                prop_assert!(!p.exceptions.is_empty());
                prop_assert!(p.exceptions.len() <= MAX_EXCEPTIONS);
            }
        }
    }
}
