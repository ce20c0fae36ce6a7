//! JVM traces as `Throwable.printStackTrace` prints them: an optional
//! `Exception in thread "main" ` prefix, `pkg.Type: message`, frames
//! `\tat [loader/][module/]pkg.Class.method(File.java:42)` innermost first,
//! `\t... N more` (the last N frames equal the enclosing trace's), then
//! `Caused by:` blocks, each the cause of the one before it — so the print
//! order is newest first and is reversed here. `Suppressed:` blocks (printed
//! one tab deeper) are skipped: they are side failures, not the chain.

use super::{exception, indent, type_and_message};
use crate::model::{ExceptionInfo, StackFrame};

/// Frames copied from enclosing traces by `... N more`, across the whole
/// trace. Bounds the work on inputs with many `Caused by` blocks.
const MAX_COPIED_FRAMES: usize = 8192;

/// `pkg.Class.method(Source)` with no space before the parenthesis (Node
/// prints `fn (source)`), optionally followed by packaging info (`~[app.jar:?]`).
pub(super) fn looks_like_frame(rest: &str) -> bool {
    let Some(open) = rest.find('(') else { return false };
    let name = &rest[..open];
    !name.is_empty() && !name.contains(' ') && name.contains('.') && rest[open..].contains(')')
}

/// JDK classes and the modules they live in.
fn is_library(class: &str) -> bool {
    ["java.", "javax.", "jdk.", "sun.", "com.sun."].iter().any(|p| class.starts_with(p))
}

fn frame(rest: &str) -> Option<StackFrame> {
    let open = rest.find('(')?;
    let close = open + rest[open..].find(')')?;
    let mut qualified = &rest[..open];
    // Drop `app//` and `java.base@17/` prefixes; a hidden class name such as
    // `Foo$$Lambda$14/0x0000000800c03000` keeps its slash.
    while let Some((head, tail)) = qualified.split_once('/') {
        if head.contains('$') {
            break;
        }
        qualified = tail;
    }
    let (class, method) = match qualified.rsplit_once('.') {
        Some((c, m)) => (Some(c), m),
        None => (None, qualified),
    };
    let source = &rest[open + 1..close];
    let (filename, lineno) = match source.rsplit_once(':') {
        Some((file, n)) if n.parse::<u32>().is_ok() => (Some(file), n.parse().ok()),
        _ if source == "Native Method" || source == "Unknown Source" || source.is_empty() => (None, None),
        _ => (Some(source), None),
    };
    Some(StackFrame {
        filename: filename.map(str::to_string),
        function: Some(method.to_string()),
        module: class.map(str::to_string),
        lineno,
        in_app: class.is_some_and(is_library).then_some(false),
        ..StackFrame::default()
    })
}

struct Block {
    kind: String,
    value: String,
    /// Innermost first, as printed.
    frames: Vec<StackFrame>,
    more: usize,
}

pub(super) fn parse(text: &str) -> Vec<ExceptionInfo> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut base: Option<usize> = None;
    let mut skipping_suppressed = false;
    for line in text.lines() {
        let t = line.trim();
        let depth = indent(line);
        if skipping_suppressed {
            if base.is_some_and(|b| depth > b) {
                continue;
            }
            skipping_suppressed = false;
        }
        if let Some(rest) = t.strip_prefix("at ") {
            if let (Some(b), Some(f)) = (blocks.last_mut(), frame(rest)) {
                b.frames.push(f);
            }
            continue;
        }
        // `... 5 more` (the JDK), `... 5 common frames omitted` (logback).
        if let Some(n) = t.strip_prefix("... ").and_then(|r| r.strip_suffix(" more").or_else(|| r.strip_suffix(" common frames omitted"))) {
            if let (Some(b), Ok(n)) = (blocks.last_mut(), n.trim().parse::<usize>()) {
                b.more = n;
            }
            continue;
        }
        if t.starts_with("Suppressed: ") {
            skipping_suppressed = true;
            continue;
        }
        let header = match t.strip_prefix("Caused by: ") {
            Some(h) if !blocks.is_empty() => h,
            Some(_) => continue,
            None if blocks.is_empty() => strip_thread_prefix(t),
            // Text after the trace (or a message's continuation lines): only
            // a message continuation while the header has no frames yet.
            None => {
                if let Some(b) = blocks.last_mut().filter(|b| b.frames.is_empty() && !t.is_empty()) {
                    b.value.push('\n');
                    b.value.push_str(t);
                }
                continue;
            }
        };
        let Some((kind, value)) = type_and_message(header) else { continue };
        if blocks.is_empty() {
            base = Some(depth);
        }
        blocks.push(Block { kind: kind.to_string(), value: value.to_string(), frames: Vec::new(), more: 0 });
    }
    // `... N more`: the last N frames are the enclosing trace's last N.
    let mut budget = MAX_COPIED_FRAMES;
    for i in 1..blocks.len() {
        let (done, rest) = blocks.split_at_mut(i);
        let (outer, b) = (&done[i - 1], &mut rest[0]);
        let n = b.more.min(outer.frames.len()).min(budget);
        budget -= n;
        b.frames.extend_from_slice(&outer.frames[outer.frames.len() - n..]);
    }
    blocks
        .into_iter()
        .rev()
        .map(|b| {
            let mut frames = b.frames;
            frames.reverse();
            exception(&b.kind, &b.value, frames)
        })
        .collect()
}

fn strip_thread_prefix(t: &str) -> &str {
    // `Exception in thread "main" java.lang.Error: x`
    match t.strip_prefix("Exception in thread \"").and_then(|r| r.split_once("\" ")) {
        Some((_, rest)) => rest,
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, frames};
    use super::*;

    #[test]
    fn caused_by_chain_is_oldest_first_with_more_frames_filled_in() {
        let ex = parse(&fixture("java_caused_by.txt"));
        let kinds: Vec<_> = ex.iter().map(|e| (e.module.as_deref().unwrap_or(""), e.kind.as_str())).collect();
        assert_eq!(
            kinds,
            [
                ("java.lang", "NullPointerException"),
                ("java.lang", "IllegalStateException"),
                ("java.lang", "RuntimeException"),
                ("java.lang.reflect", "InvocationTargetException"),
            ]
        );
        assert_eq!(ex[0].value, "Cannot invoke \"java.lang.Integer.intValue()\" because \"p\" is null");
        assert_eq!(ex[1].value, "cannot price order [apple, pear]");
        // The escaping exception: reflection frames, innermost last.
        let outer = frames(ex.last().unwrap());
        assert_eq!(outer[0], ("main".into(), "com.acme.shop.App".into(), 40, None));
        assert_eq!(outer[4], ("invoke0".into(), "jdk.internal.reflect.NativeMethodAccessorImpl".into(), 0, Some(false)));
        assert_eq!(ex.last().unwrap().frames[4].filename, None);
        // RuntimeException: its own frame plus the 5 shared with the enclosing trace.
        let rt = frames(&ex[2]);
        assert_eq!(rt.len(), 6);
        assert_eq!(rt[0].0, "main");
        assert_eq!(rt[5], ("handle".into(), "com.acme.shop.App".into(), 34, None));
        // The root cause: 11 of its own + 6 shared with IllegalStateException's trace.
        let npe = &ex[0];
        assert_eq!(npe.frames.len(), 17);
        assert_eq!(npe.frames[5].function.as_deref(), Some("handle"));
        assert_eq!(npe.frames[5].lineno, Some(32));
        let last = npe.frames.last().unwrap();
        assert_eq!(
            (last.module.as_deref(), last.function.as_deref(), last.filename.as_deref(), last.lineno),
            (Some("com.acme.shop.App$Repository"), Some("price"), Some("App.java"), Some(14))
        );
        assert_eq!(npe.frames[15].function.as_deref(), Some("lambda$total$0"));
        assert_eq!(npe.frames[14].module.as_deref(), Some("java.util.stream.ReferencePipeline$4$1"));
        assert_eq!(npe.frames[14].in_app, Some(false));
    }

    #[test]
    fn suppressed_blocks_are_skipped() {
        let ex = parse(&fixture("java_suppressed.txt"));
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].kind, "UnsupportedOperationException");
        let fs = frames(&ex[0]);
        assert_eq!(fs.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["main", "lambda$main$0", "query"]);
    }

    #[test]
    fn logback_omitted_frames_count_like_more() {
        let text = "java.lang.RuntimeException: outer\n\tat a.B.outer(B.java:9)\n\tat a.Main.main(Main.java:3)\n\
                    Caused by: java.io.IOException: inner\n\tat a.B.read(B.java:20)\n\t... 1 common frames omitted\n";
        let ex = parse(text);
        assert_eq!(frames(&ex[0]).iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["main", "read"]);
        assert_eq!((ex[0].kind.as_str(), ex[0].module.as_deref()), ("IOException", Some("java.io")));
    }

    #[test]
    fn frame_shapes() {
        let text = "com.acme.Oops\n\tat app//com.acme.Foo.bar(Foo.java:42)\n\tat com.acme.Foo$$Lambda$14/0x0000000800c03000.run(Unknown Source)\n\
                    \tat org.springframework.web.Servlet.service(Servlet.java) ~[spring-web.jar:6.1]\n\tat java.base@17/java.lang.Thread.run(Thread.java:833)\n\
                    \tat Main.main(Main.kt:3)\n";
        let ex = parse(text);
        assert_eq!((ex[0].kind.as_str(), ex[0].value.as_str(), ex[0].module.as_deref()), ("Oops", "", Some("com.acme")));
        let fs = frames(&ex[0]);
        assert_eq!(
            fs,
            [
                ("main".into(), "Main".into(), 3, None),
                ("run".into(), "java.lang.Thread".into(), 833, Some(false)),
                ("service".into(), "org.springframework.web.Servlet".into(), 0, None),
                ("run".into(), "com.acme.Foo$$Lambda$14/0x0000000800c03000".into(), 0, None),
                ("bar".into(), "com.acme.Foo".into(), 42, None),
            ]
        );
        assert_eq!(ex[0].frames[2].filename.as_deref(), Some("Servlet.java"));
        assert_eq!(ex[0].frames[4].filename.as_deref(), Some("Foo.java"));
    }
}
