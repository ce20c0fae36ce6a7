//! V8 traces (Node, Deno, Chrome): a `Name: message` header, possibly after
//! Node's uncaught-error preamble (`file:line`, the source line, a `^` line
//! and a blank line), then frames innermost first:
//! `    at fn (/app/x.js:10:5)`, `    at /app/x.js:1:2` (anonymous),
//! `    at async Promise.all (index 0)`, `    at new Foo (…)`,
//! `    at Array.reduce (<anonymous>)`, `node:internal/…` and `file://` URLs.
//! Node prints `error.cause` nested as `  [cause]: Name: message` with deeper
//! frames; the cause is older, so print order is reversed. The frames Node
//! elides as `... N lines matching cause stack trace ...` are not restored:
//! they sit in the middle of the trace and the cause's lines do not say which.

use super::type_and_message;
use crate::model::{ExceptionInfo, StackFrame};

/// `fn (location)` or a bare location with `:line:col`.
pub(super) fn looks_like_frame(rest: &str) -> bool {
    let rest = rest.trim_end().trim_end_matches(" {");
    (rest.ends_with(')') && rest.contains(" (")) || split_location(rest).is_some_and(|(_, l, _)| l.is_some())
}

/// `path:line:col` → (path, line, column); `None` for an empty location.
fn split_location(loc: &str) -> Option<(&str, Option<u32>, Option<u32>)> {
    if loc.is_empty() {
        return None;
    }
    let Some((head, last)) = loc.rsplit_once(':') else { return Some((loc, None, None)) };
    let Ok(last) = last.parse::<u32>() else { return Some((loc, None, None)) };
    match head.rsplit_once(':') {
        Some((path, line)) if line.parse::<u32>().is_ok() && !path.is_empty() => Some((path, line.parse().ok(), Some(last))),
        _ if !head.is_empty() => Some((head, Some(last), None)),
        _ => Some((loc, None, None)),
    }
}

fn is_library(path: &str) -> bool {
    path.starts_with("node:") || path.starts_with("internal/") || path.contains("/node_modules/") || path.starts_with("node_modules/")
}

/// Built-ins without a file: `(<anonymous>)`, `(native)`, `(index 0)`.
fn is_builtin_location(loc: &str) -> bool {
    loc == "<anonymous>" || loc == "native" || loc.strip_prefix("index ").is_some_and(|n| n.parse::<u32>().is_ok())
}

fn frame(rest: &str) -> StackFrame {
    let rest = rest.trim_end();
    let rest = rest.strip_suffix(" {").unwrap_or(rest);
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let (function, location) = match function_and_location(rest) {
        Some((f, loc)) => (Some(f), loc),
        None => (None, rest),
    };
    // `eval at f (x.js:1:2), <anonymous>:1:1`: the eval'd code's own position is last.
    let location = location.rsplit_once(", ").map_or(location, |(_, l)| l);
    let mut f = StackFrame { function: function.map(str::to_string), ..StackFrame::default() };
    if is_builtin_location(location) {
        f.in_app = Some(false);
        return f;
    }
    if let Some((path, line, col)) = split_location(location) {
        let plain = path.strip_prefix("file://").unwrap_or(path);
        f.filename = Some(plain.to_string());
        f.abs_path = Some(path.to_string());
        f.lineno = line;
        f.colno = col;
        f.in_app = is_library(plain).then_some(false);
    }
    f
}

/// `fn (location)` with the location's parentheses balanced from the right,
/// so `eval at x (a.js:1:2)` inside a location does not confuse the split.
fn function_and_location(rest: &str) -> Option<(&str, &str)> {
    let body = rest.strip_suffix(')')?;
    let mut depth = 0usize;
    for (i, c) in body.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' if depth == 0 => {
                let function = body[..i].strip_suffix(' ')?;
                return (!function.is_empty()).then_some((function, &body[i + 1..]));
            }
            '(' => depth -= 1,
            _ => {}
        }
    }
    None
}

struct Block {
    header: Vec<String>,
    frames: Vec<StackFrame>,
    /// Set once something other than a frame follows the frames (Node prints
    /// the error's own properties there); later `at` lines are not ours.
    frames_done: bool,
}

pub(super) fn parse(text: &str) -> Vec<ExceptionInfo> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(first_frame) = lines.iter().position(|l| l.trim_start().strip_prefix("at ").is_some_and(looks_like_frame)) else {
        return Vec::new();
    };
    // The header runs back from the first frame to a blank line (which ends
    // Node's uncaught-error preamble) or the start.
    let start = lines[..first_frame].iter().rposition(|l| l.trim().is_empty()).map_or(0, |i| i + 1);
    let mut blocks = vec![Block {
        header: lines[start..first_frame].iter().map(|l| l.trim().to_string()).collect(),
        frames: Vec::new(),
        frames_done: false,
    }];
    for line in &lines[first_frame..] {
        let t = line.trim();
        if let Some(header) = t.strip_prefix("[cause]: ") {
            blocks.push(Block { header: vec![header.to_string()], frames: Vec::new(), frames_done: false });
            continue;
        }
        let Some(b) = blocks.last_mut() else { break };
        match t.strip_prefix("at ") {
            Some(rest) if !b.frames_done => b.frames.push(frame(rest)),
            _ if t.starts_with("... ") && t.ends_with(" lines matching cause stack trace ...") => {}
            // Error properties (`code: 'ENOENT'`, `}`) end the frames.
            _ => b.frames_done = !b.frames.is_empty(),
        }
    }
    blocks
        .into_iter()
        .rev()
        .map(|b| {
            let header = b.header.join("\n");
            let (first, more) = header.split_once('\n').map_or((header.as_str(), None), |(a, b)| (a, Some(b)));
            let (kind, mut value) = match type_and_message(first) {
                // `TypeError [ERR_INVALID_ARG_TYPE]: message`
                None => match first.split_once(" [").filter(|(k, r)| is_plain_name(k) && r.contains("]: ")) {
                    Some((k, r)) => (k.to_string(), r.split_once("]: ").map_or("", |(_, m)| m).to_string()),
                    None => ("Error".to_string(), first.to_string()),
                },
                Some((k, v)) => (k.to_string(), v.to_string()),
            };
            if let Some(more) = more {
                value.push('\n');
                value.push_str(more);
            }
            let mut frames = b.frames;
            frames.reverse();
            // JavaScript error names have no package; a dotted name stays whole.
            ExceptionInfo { kind, value, module: None, handled: None, frames }
        })
        .collect()
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, frames};
    use super::*;

    const GEN: &str = "/work/wt-parsers/fixtures/stacks/gen";

    #[test]
    fn async_trace_with_constructor_and_anonymous_frames() {
        let ex = parse(&fixture("node_async.txt"));
        assert_eq!(ex.len(), 1);
        assert_eq!((ex[0].kind.as_str(), ex[0].value.as_str()), ("TypeError", "Cannot read properties of undefined (reading 'amount')"));
        let file = format!("{GEN}/node_async.js");
        assert_eq!(
            frames(&ex[0]),
            [
                ("Promise.all".into(), String::new(), 0, Some(false)),
                ("quote".into(), file.clone(), 17, None),
                ("new Cart".into(), file.clone(), 6, None),
                ("Array.reduce".into(), String::new(), 0, Some(false)),
                (String::new(), file, 6, None),
            ]
        );
        assert_eq!(ex[0].frames[4].colno, Some(63));
    }

    #[test]
    fn uncaught_preamble_and_nested_cause() {
        let ex = parse(&fixture("node_cause.txt"));
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[1].kind, "Error");
        assert_eq!(ex[1].value, "cannot load /nonexistent/suture.json");
        assert_eq!(ex[0].value, "ENOENT: no such file or directory, open '/nonexistent/suture.json'");
        let outer = frames(&ex[1]);
        assert_eq!(outer.len(), 4);
        assert_eq!(outer[0], (String::new(), "node:internal/main/run_main_module".into(), 28, Some(false)));
        assert_eq!(outer[3].0, "readConfig");
        let cause = frames(&ex[0]);
        assert_eq!(cause.len(), 10);
        assert_eq!(cause[9], ("Object.readFileSync".into(), "node:fs".into(), 448, Some(false)));
        assert_eq!(cause[8], ("readConfig".into(), format!("{GEN}/node_cause.js"), 7, None));
        assert_eq!(cause[0].0, "Function.executeUserEntryPoint [as runMain]");
    }

    #[test]
    fn esm_file_urls_and_node_modules() {
        let ex = parse(&fixture("node_esm.txt"));
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].kind, "SyntaxError");
        let fs = &ex[0].frames;
        let orders = &fs[fs.len() - 2];
        assert_eq!(orders.function.as_deref(), Some("Object.orders"));
        assert_eq!(orders.filename.as_deref(), Some(format!("{GEN}/node_esm.mjs").as_str()));
        assert_eq!(orders.abs_path.as_deref(), Some(format!("file://{GEN}/node_esm.mjs").as_str()));
        assert_eq!((orders.lineno, orders.colno, orders.in_app), (Some(6), Some(17), None));
        let route = &fs[fs.len() - 3];
        assert_eq!((route.function.as_deref(), route.in_app), (Some("route"), Some(false)));
        assert_eq!(fs[0].function.as_deref(), Some("asyncRunEntryPointWithESMLoader"));
    }

    #[test]
    fn header_shapes() {
        let ex = parse("TypeError [ERR_INVALID_ARG_TYPE]: The \"path\" argument must be of type string\n    at f (/a.js:1:2)\n");
        assert_eq!((ex[0].kind.as_str(), ex[0].value.as_str()), ("TypeError", "The \"path\" argument must be of type string"));
        let ex = parse("Error: line one\nline two\n    at f (/a.js:1:2)\n");
        assert_eq!(ex[0].value, "line one\nline two");
        let ex = parse("something odd happened\n    at /a.js:1:2\n    at eval (eval at run (/b.js:3:4), <anonymous>:1:1)\n");
        assert_eq!((ex[0].kind.as_str(), ex[0].value.as_str()), ("Error", "something odd happened"));
        assert_eq!(ex[0].frames[0].function.as_deref(), Some("eval"));
        assert_eq!(ex[0].frames[0].filename.as_deref(), Some("<anonymous>"));
    }
}
