//! Python tracebacks: `Traceback (most recent call last):`, `  File "p", line
//! N, in f` with the source line below it (caret lines under it are dropped),
//! then `Type: message`. Chained tracebacks ("The above exception was the
//! direct cause…", "During handling of the above exception…") are printed
//! oldest first, which is already the order Suture stores.

use super::{exception, type_and_message};
use crate::model::{ExceptionInfo, StackFrame};

/// `File "path", line N, in function` → (path, line, function).
pub(super) fn frame_header(line: &str) -> Option<(&str, Option<u32>, Option<&str>)> {
    let rest = line.trim_start().strip_prefix("File \"")?;
    // Paths may contain `", line` only in pathological cases; the last one wins.
    let (path, tail) = rest.rsplit_once("\", line ")?;
    let (lineno, function) = match tail.split_once(", in ") {
        Some((n, f)) => (n, Some(f.trim_end())),
        None => (tail.trim_end(), None),
    };
    Some((path, lineno.trim().parse().ok(), function))
}

fn is_caret_line(t: &str) -> bool {
    !t.is_empty() && t.chars().all(|c| matches!(c, '^' | '~' | ' ' | '-'))
}

fn is_chain_marker(t: &str) -> bool {
    t.starts_with("The above exception was the direct cause of the following exception")
        || t.starts_with("During handling of the above exception, another exception occurred")
}

/// Standard library, site-packages, dist-packages and frozen bootstrap modules.
fn is_library(path: &str) -> bool {
    if path.starts_with("<frozen ") || path.contains("/site-packages/") || path.contains("/dist-packages/") {
        return true;
    }
    // .../lib/python3.11/..., including pyenv, virtualenvs and /usr/local.
    path.match_indices("/lib/python").any(|(i, m)| path[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

enum State {
    /// Outside a traceback (before it, or between chained ones).
    Outside,
    /// Reading frames; the flag says whether the last frame still lacks its source line.
    Frames { want_source: bool },
    /// After the exception line: continuation lines extend the message.
    Message,
}

pub(super) fn parse(text: &str) -> Vec<ExceptionInfo> {
    let mut out: Vec<ExceptionInfo> = Vec::new();
    let mut frames: Vec<StackFrame> = Vec::new();
    let mut state = State::Outside;
    for line in text.lines() {
        let t = line.trim();
        if line.starts_with("Traceback (most recent call last):") {
            frames.clear();
            state = State::Frames { want_source: false };
            continue;
        }
        if is_chain_marker(t) {
            state = State::Outside;
            continue;
        }
        match state {
            State::Outside => {}
            State::Frames { want_source } => {
                if let Some((path, lineno, function)) = frame_header(line) {
                    frames.push(StackFrame {
                        filename: Some(path.to_string()),
                        abs_path: Some(path.to_string()),
                        function: function.map(str::to_string),
                        lineno,
                        in_app: is_library(path).then_some(false),
                        ..StackFrame::default()
                    });
                    state = State::Frames { want_source: true };
                } else if line.starts_with(' ') || line.starts_with('\t') || t.is_empty() {
                    // Source lines, caret lines, `[Previous line repeated N more times]`,
                    // exception-group drawing (`  | `, `  +-`).
                    if want_source && !is_caret_line(t) && !t.starts_with("[Previous line repeated") {
                        if let Some(f) = frames.last_mut() {
                            f.context_line = Some(t.to_string());
                        }
                        state = State::Frames { want_source: false };
                    }
                } else {
                    let (kind, value) = type_and_message(line).unwrap_or(("Exception", line));
                    out.push(exception(kind, value, std::mem::take(&mut frames)));
                    state = State::Message;
                }
            }
            State::Message => {
                if t.is_empty() {
                    state = State::Outside;
                } else if let Some(e) = out.last_mut() {
                    e.value.push('\n');
                    e.value.push_str(line);
                }
            }
        }
    }
    if !frames.is_empty() {
        // A traceback cut off before its exception line still has useful frames.
        out.push(exception("Exception", "", frames));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, frames};
    use super::*;

    fn f(function: &str, place: &str, line: u32, in_app: Option<bool>) -> (String, String, u32, Option<bool>) {
        (function.into(), place.into(), line, in_app)
    }

    #[test]
    fn simple_traceback_with_carets() {
        let ex = parse(&fixture("python_simple.txt"));
        assert_eq!(ex.len(), 1);
        let e = &ex[0];
        assert_eq!((e.kind.as_str(), e.value.as_str(), e.module.as_deref()), ("TypeError", "'NoneType' object is not subscriptable", None));
        let p = "/work/wt-parsers/fixtures/stacks/gen/python_simple.py";
        assert_eq!(
            frames(e),
            [f("<module>", p, 21, None), f("handle", p, 18, None), f("quote", p, 13, None), f("apply_discount", p, 9, None)]
        );
        assert_eq!(e.frames[3].context_line.as_deref(), Some("return amount - amount * order.discount[\"percent\"] // 100"));
        assert_eq!(e.frames[0].context_line.as_deref(), Some("handle({})"));
    }

    #[test]
    fn chained_tracebacks_are_oldest_first_and_stdlib_is_not_in_app() {
        let ex = parse(&fixture("python_chained.txt"));
        let kinds: Vec<_> = ex.iter().map(|e| (e.module.as_deref(), e.kind.as_str(), e.value.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (Some("json.decoder"), "JSONDecodeError", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
                (None, "ValueError", "config is not JSON"),
                (None, "KeyError", "'port'"),
            ]
        );
        let first = frames(&ex[0]);
        assert_eq!(first.len(), 5);
        assert_eq!(first[0].0, "read_config");
        assert_eq!(first[0].3, None);
        assert_eq!(first[4], f("raw_decode", "/root/.pyenv/versions/3.11.7/lib/python3.11/json/decoder.py", 353, Some(false)));
        assert_eq!(ex[1].frames[1].context_line.as_deref(), Some("raise ValueError(\"config is not JSON\") from e"));
        assert_eq!(frames(&ex[2]).iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["<module>", "start"]);
    }

    #[test]
    fn library_paths() {
        for p in [
            "/usr/lib/python3.11/threading.py",
            "/usr/local/lib/python3.12/site-packages/flask/app.py",
            "/srv/venv/lib/python3.11/site-packages/x.py",
            "/usr/lib/python3/dist-packages/requests/api.py",
            "<frozen importlib._bootstrap>",
        ] {
            assert!(is_library(p), "{p}");
        }
        for p in ["/srv/shop/app/pricing.py", "/srv/lib/python_utils/x.py", "<stdin>", "app.py"] {
            assert!(!is_library(p), "{p}");
        }
    }

    #[test]
    fn odd_shapes() {
        let text = "Traceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\n  File \"/a/b.py\", line 2, in f\n    f()\n  [Previous line repeated 996 more times]\nRecursionError: maximum recursion depth exceeded\n";
        let ex = parse(text);
        assert_eq!(ex[0].kind, "RecursionError");
        assert_eq!(ex[0].frames[0].context_line, None);
        assert_eq!(ex[0].frames[1].context_line.as_deref(), Some("f()"));
        // A bare type, a multi-line message, and a traceback cut short.
        let ex = parse("Traceback (most recent call last):\n  File \"a.py\", line 1, in f\nKeyboardInterrupt\n");
        assert_eq!((ex[0].kind.as_str(), ex[0].value.as_str()), ("KeyboardInterrupt", ""));
        let ex = parse(
            "Traceback (most recent call last):\n  File \"a.py\", line 1, in f\nsqlalchemy.exc.OperationalError: (x) no such table\n[SQL: SELECT 1]\n",
        );
        assert_eq!(ex[0].value, "(x) no such table\n[SQL: SELECT 1]");
        let ex = parse(
            "Traceback (most recent call last):\n  File \"/app/main.py\", line 1, in <module>\n    import cfg\n  File \"/app/cfg.py\", line 3\n    x = (\n        ^\nSyntaxError: '(' was never closed\n",
        );
        assert_eq!(frames(&ex[0]), [f("<module>", "/app/main.py", 1, None), f("", "/app/cfg.py", 3, None)]);
        assert_eq!(ex[0].frames[1].context_line.as_deref(), Some("x = ("));
        let ex = parse("Traceback (most recent call last):\n  File \"a.py\", line 7, in f\n");
        assert_eq!((ex[0].kind.as_str(), ex[0].frames[0].lineno), ("Exception", Some(7)));
    }
}
