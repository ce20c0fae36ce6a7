//! Go panics: `panic: message` (re-panics follow as `\tpanic: …`, each newer
//! than the one before; `[recovered]` marks the earlier ones), an optional
//! `[signal SIGSEGV …]` line, then `goroutine N [running]:` and frames
//! innermost first, each a function line `pkg/path.(*T).method(args)` and a
//! tab-indented `/path/file.go:42 +0x1d` line. Only the first goroutine (the
//! one that panicked) is read; `created by` ends it, because the creator runs
//! in another goroutine.
//!
//! The exception kind is `runtime error` for runtime panics (the value is the
//! rest), `fatal error` for `fatal error:` crashes, and `panic` otherwise: the
//! text does not say which Go type was passed to `panic`.

use super::indent;
use crate::model::{ExceptionInfo, StackFrame};

/// `goroutine 1 [running]:` (also `[running, locked to thread]`, `[chan receive, 5 minutes]`).
pub(super) fn is_goroutine_header(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("goroutine ") else { return false };
    let Some((n, state)) = rest.split_once(' ') else { return false };
    n.parse::<u64>().is_ok() && state.starts_with('[') && state.trim_end().ends_with("]:")
}

/// GOROOT (the standard library and runtime) and the module cache (dependencies).
fn is_library(path: &str, module: Option<&str>) -> bool {
    if module.is_some_and(|m| m == "runtime" || m.starts_with("runtime/")) {
        return true;
    }
    const GOROOTS: [&str; 6] = [
        "/usr/local/go/src/",
        "/usr/lib/go/src/",
        "/usr/local/Cellar/go/",
        "/opt/homebrew/Cellar/go/",
        "/snap/go/",
        "C:/Program Files/Go/src/",
    ];
    GOROOTS.iter().any(|r| path.starts_with(r))
        || path.contains("/pkg/mod/")
        || (path.starts_with("/usr/lib/go-") && path.contains("/src/"))
}

/// `github.com/a/b.(*T).m` → (`github.com/a/b`, `(*T).m`): the package path
/// ends at the first dot after the last slash.
fn split_function(name: &str) -> (Option<&str>, &str) {
    let head_end = name.find(['(', '[']).unwrap_or(name.len());
    let pkg_start = name[..head_end].rfind('/').map_or(0, |i| i + 1);
    match name[pkg_start..].find('.') {
        Some(dot) => (Some(&name[..pkg_start + dot]), &name[pkg_start + dot + 1..]),
        None => (None, name),
    }
}

/// Strips the argument list: the last balanced `(...)` at the end of the line.
fn function_name(line: &str) -> Option<&str> {
    let body = line.trim_end().strip_suffix(')')?;
    let mut depth = 0usize;
    for (i, c) in body.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' if depth == 0 => return Some(&body[..i]).filter(|n| !n.is_empty() && !n.contains(' ')),
            '(' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `\t/path/file.go:42 +0x1d` → (path, line).
fn file_line(line: &str) -> Option<(&str, Option<u32>)> {
    let t = line.trim();
    let t = t.split_once(" +0x").map_or(t, |(a, _)| a);
    let (path, n) = t.rsplit_once(':')?;
    Some((path, n.parse().ok()))
}

fn exception(message: &str) -> ExceptionInfo {
    let message = message.trim_end();
    let message = match message.rfind(" [recovered") {
        Some(i) if message.ends_with(']') => &message[..i],
        _ => message,
    };
    let (kind, value) = match message.strip_prefix("runtime error: ") {
        Some(v) => ("runtime error", v),
        None => ("panic", message),
    };
    ExceptionInfo { kind: kind.to_string(), value: value.to_string(), ..ExceptionInfo::default() }
}

pub(super) fn parse(text: &str) -> Vec<ExceptionInfo> {
    let mut panics: Vec<ExceptionInfo> = Vec::new();
    let mut frames: Vec<StackFrame> = Vec::new();
    let mut in_goroutine = false;
    for line in text.lines() {
        if in_goroutine {
            if line.trim().is_empty() || line.starts_with("created by ") {
                break;
            }
            if indent(line) > 0 {
                if let (Some(f), Some((path, lineno))) = (frames.last_mut(), file_line(line))
                    && f.filename.is_none()
                {
                    f.in_app = is_library(path, f.module.as_deref()).then_some(false);
                    f.filename = Some(path.to_string());
                    f.abs_path = Some(path.to_string());
                    f.lineno = lineno;
                }
            } else if let Some(name) = function_name(line) {
                let (module, function) = split_function(name);
                frames.push(StackFrame {
                    function: Some(function.to_string()),
                    module: module.map(str::to_string),
                    in_app: module.is_some_and(|m| is_library("", Some(m))).then_some(false),
                    ..StackFrame::default()
                });
            }
            continue;
        }
        if is_goroutine_header(line) {
            in_goroutine = true;
        } else if let Some(m) = line.trim_start().strip_prefix("panic: ") {
            panics.push(exception(m));
        } else if let Some(m) = line.strip_prefix("fatal error: ") {
            panics.push(ExceptionInfo { kind: "fatal error".into(), value: m.trim_end().to_string(), ..ExceptionInfo::default() });
        }
    }
    if panics.is_empty() && frames.is_empty() {
        return Vec::new();
    }
    if panics.is_empty() {
        panics.push(ExceptionInfo { kind: "panic".into(), ..ExceptionInfo::default() });
    }
    frames.reverse();
    // All panics unwound the same goroutine; the stack belongs to the last.
    if let Some(last) = panics.last_mut() {
        last.frames = frames;
    }
    panics
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, frames};
    use super::*;

    #[test]
    fn index_out_of_range_with_methods_and_inlined_frames() {
        let ex = parse(&fixture("go_panic.txt"));
        assert_eq!(ex.len(), 1);
        assert_eq!((ex[0].kind.as_str(), ex[0].value.as_str()), ("runtime error", "index out of range [5] with length 3"));
        assert_eq!(
            frames(&ex[0]),
            [
                ("main".into(), "main".into(), 12, None),
                ("pick".into(), "main".into(), 7, None),
                ("(*Server).handle".into(), "main".into(), 42, None)
            ]
        );
        assert_eq!(ex[0].frames[2].filename.as_deref(), Some("/home/u/app/server.go"));
    }

    #[test]
    fn repanic_in_a_test_goroutine_reads_only_that_goroutine() {
        let ex = parse(&fixture("go_http_goroutines.txt"));
        assert_eq!(ex.len(), 2);
        assert!(ex[0].frames.is_empty());
        assert_eq!(ex[1].value, "invalid memory address or nil pointer dereference");
        let fs = frames(&ex[1]);
        assert_eq!(fs.len(), 6);
        assert_eq!(fs[0], ("(*Mux).routeHTTP".into(), "github.com/go-chi/chi/v5".into(), 459, Some(false)));
        assert_eq!(fs[1], ("HandlerFunc.ServeHTTP".into(), "net/http".into(), 2220, Some(false)));
        assert_eq!(fs[2], ("(*Server).quoteHandler.func1".into(), "github.com/acme/shop/internal/api".into(), 91, None));
        assert_eq!(fs[3], ("(*Quoter).Quote".into(), "github.com/acme/shop/internal/pricing".into(), 58, None));
        assert_eq!(fs[4], ("panic".into(), "/usr/local/go/src/runtime/panic.go".into(), 785, Some(false)));
        assert_eq!(fs[5].0, "tRunner.func1.2");
    }

    #[test]
    fn plain_panic_and_fatal_error() {
        let ex = parse(&fixture("go_custom.txt"));
        assert_eq!(
            (ex[0].kind.as_str(), ex[0].value.as_str()),
            ("panic", "load config: open /etc/shop/config.yaml: no such file or directory")
        );
        assert_eq!(frames(&ex[0]).iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["main", "main.func1", "mustLoad"]);
        let ex = parse(
            "fatal error: concurrent map writes\n\ngoroutine 7 [running]:\nruntime.throw({0x4c1, 0x15})\n\t/usr/local/go/src/runtime/panic.go:1023 +0x5c\nmain.Map[...].Put(...)\n\t/app/m.go:9\n",
        );
        assert_eq!((ex[0].kind.as_str(), ex[0].value.as_str()), ("fatal error", "concurrent map writes"));
        assert_eq!(
            frames(&ex[0]),
            [("Map[...].Put".into(), "main".into(), 9, None), ("throw".into(), "runtime".into(), 1023, Some(false))]
        );
    }

    #[test]
    fn function_names() {
        assert_eq!(split_function("github.com/a/b.v2/pkg.(*T).m"), (Some("github.com/a/b.v2/pkg"), "(*T).m"));
        assert_eq!(split_function("main.main.func1"), (Some("main"), "main.func1"));
        assert_eq!(split_function("panic"), (None, "panic"));
        assert_eq!(function_name("main.(*S).h(0xc0, {0x4b, 0x5})"), Some("main.(*S).h"));
        assert_eq!(function_name("main.f(...)"), Some("main.f"));
        assert_eq!(function_name("exit status 2"), None);
    }
}
