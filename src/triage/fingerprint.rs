//! Fingerprints, the way Sentry groups and then some: exception type plus the
//! in-app frames (module over filename, filename reduced to its base name, line
//! numbers ignored, recursion collapsed, generated names normalized); events
//! without a stack group by their message reduced to a template.
//!
//! The grouping is versioned ([`GROUPING_VERSION`]): a change to these rules
//! must bump it, because stored fingerprints were computed with the old rules.

use sha2::{Digest, Sha256};

use crate::model::{ErrorEvent, StackFrame};

pub const GROUPING_VERSION: &str = "suture-grouping:1";

/// The components that made a fingerprint, so an incident can explain itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub hash: String,
    pub components: Vec<String>,
}

pub fn fingerprint(ev: &ErrorEvent) -> Grouping {
    let mut components = Vec::new();
    if let Some(exc) = ev.primary_exception() {
        components.push(format!("type:{}", exc.kind));
        let mut last: Option<String> = None;
        for f in exc.frames.iter().filter(|f| f.in_app == Some(true)) {
            let c = format!("frame:{}", frame_key(f));
            // Recursion: the same frame repeated back to back counts once.
            if last.as_ref() != Some(&c) {
                components.push(c.clone());
            }
            last = Some(c);
        }
        if components.len() == 1 {
            // No in-app frames: fall back to the value's template.
            components.push(format!("value:{}", template(&exc.value)));
        }
    } else {
        components.push(format!("message:{}", template(ev.message.as_deref().unwrap_or(""))));
    }
    let mut h = Sha256::new();
    h.update(GROUPING_VERSION.as_bytes());
    for c in &components {
        h.update(b"\n");
        h.update(c.as_bytes());
    }
    Grouping { hash: hex::encode(h.finalize()), components }
}

fn frame_key(f: &StackFrame) -> String {
    let place = match (&f.module, &f.filename) {
        (Some(m), _) if !m.is_empty() => m.clone(),
        (_, Some(name)) => name.rsplit(['/', '\\']).next().unwrap_or(name).to_string(),
        _ => "?".into(),
    };
    format!("{place}:{}", normalize_function(f.function.as_deref().unwrap_or("?")))
}

/// Generated names vary between builds; strip what varies.
pub fn normalize_function(name: &str) -> String {
    let name = name.trim();
    if name.starts_with("<lambda") || name.contains("lambda$") {
        return "<lambda>".into();
    }
    if name.starts_with("<anonymous") || name.is_empty() {
        return "<anonymous>".into();
    }
    if let Some(i) = name.find("::{{closure}}") {
        return format!("{}::{{{{closure}}}}", &name[..i]);
    }
    // handler_17, handler17, func$3 → handler_N
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if trimmed.len() < name.len() && !trimmed.is_empty() {
        let base = trimmed.trim_end_matches(['_', '$']);
        return format!("{base}_N");
    }
    name.to_string()
}

/// A message reduced to a template: the parts that vary between occurrences
/// (numbers, hex, UUIDs, quoted strings, paths, IPs, e-mails) become placeholders.
pub fn template(message: &str) -> String {
    message
        .split_whitespace()
        .map(|tok| {
            if let Some((m, ph)) = marker(tok) {
                return tok.replacen(m, ph, 1);
            }
            let core = tok.trim_matches(|c: char| matches!(c, ',' | ';' | ':' | '(' | ')' | '[' | ']' | '.'));
            let ph = classify(core);
            match ph {
                Some(p) => tok.replacen(core, p, 1),
                None => tok.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Redaction markers (`[ip:0123456789abcdef]`, see `signals::redact`) are
/// placeholders already; `tok` may carry trailing punctuation.
fn marker(tok: &str) -> Option<(&str, &'static str)> {
    let start = tok.find('[')?;
    let end = start + tok[start..].find(']')?;
    let (kind, hash) = tok[start + 1..end].split_once(':')?;
    if hash.len() != 16 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let ph = match kind {
        "ip" => "<ip>",
        "email" => "<email>",
        "card" => "<card>",
        "token" => "<token>",
        _ => "<secret>",
    };
    Some((&tok[start..=end], ph))
}

fn classify(tok: &str) -> Option<&'static str> {
    if tok.is_empty() {
        return None;
    }
    if (tok.starts_with('\'') && tok.ends_with('\'') || tok.starts_with('"') && tok.ends_with('"')) && tok.len() >= 2 {
        return Some("<str>");
    }
    if tok.contains('@') && tok.contains('.') {
        return Some("<email>");
    }
    if tok.len() == 36 && tok.chars().filter(|c| *c == '-').count() == 4 && tok.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Some("<uuid>");
    }
    let ipv4 = tok.split(':').next().unwrap_or(tok);
    if ipv4.split('.').count() == 4 && ipv4.split('.').all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit())) {
        return Some("<ip>");
    }
    if tok.starts_with('/') && tok.len() > 1 {
        return Some("<path>");
    }
    let digits = tok.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit() || c == '.') && digits.chars().any(|c| c.is_ascii_digit()) {
        return Some("<num>");
    }
    if tok.len() >= 8 && tok.chars().all(|c| c.is_ascii_hexdigit()) && tok.chars().any(|c| c.is_ascii_digit()) {
        return Some("<hex>");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ExceptionInfo;

    fn frame(module: &str, function: &str, line: u32, in_app: bool) -> StackFrame {
        StackFrame {
            module: Some(module.into()),
            function: Some(function.into()),
            lineno: Some(line),
            in_app: Some(in_app),
            ..Default::default()
        }
    }

    fn exc_event(frames: Vec<StackFrame>) -> ErrorEvent {
        ErrorEvent {
            exceptions: vec![ExceptionInfo { kind: "TypeError".into(), value: "x".into(), frames, ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn line_numbers_and_library_frames_do_not_split_groups() {
        let a = exc_event(vec![frame("socketserver", "serve", 1, false), frame("app.pricing", "apply_discount", 41, true)]);
        let b = exc_event(vec![frame("http.server", "handle", 9, false), frame("app.pricing", "apply_discount", 38, true)]);
        assert_eq!(fingerprint(&a).hash, fingerprint(&b).hash);
        let c = exc_event(vec![frame("app.pagination", "paginate", 41, true)]);
        assert_ne!(fingerprint(&a).hash, fingerprint(&c).hash);
        assert_eq!(fingerprint(&a).components, ["type:TypeError", "frame:app.pricing:apply_discount"]);
    }

    #[test]
    fn recursion_collapses_and_generated_names_normalize() {
        let deep = exc_event(vec![frame("app.t", "walk", 1, true), frame("app.t", "walk", 1, true), frame("app.t", "walk", 1, true)]);
        let shallow = exc_event(vec![frame("app.t", "walk", 1, true)]);
        assert_eq!(fingerprint(&deep).hash, fingerprint(&shallow).hash);
        assert_eq!(normalize_function("handler_17"), "handler_N");
        assert_eq!(normalize_function("handler3"), "handler_N");
        assert_eq!(normalize_function("<lambda>"), "<lambda>");
        assert_eq!(normalize_function("lambda$main$0"), "<lambda>");
        assert_eq!(normalize_function("run::{{closure}}"), "run::{{closure}}");
        assert_eq!(normalize_function("apply_discount"), "apply_discount");
    }

    #[test]
    fn messages_without_stacks_group_by_template() {
        let m = |s: &str| ErrorEvent { message: Some(s.into()), ..Default::default() };
        let a = fingerprint(&m("timeout after 3001 ms talking to 10.0.0.7"));
        let b = fingerprint(&m("timeout after 12 ms talking to 10.0.0.9"));
        assert_eq!(a.hash, b.hash);
        assert_eq!(a.components, ["message:timeout after <num> ms talking to <ip>"]);
        assert_eq!(template("user 'bob' id 6f1c2a9e-0b1d-4c5e-9a7b-3d2e1f0a9b8c at /srv/x.py"), "user <str> id <uuid> at <path>");
        assert_eq!(template("took 30ms, sha deadbeef42"), "took <num>, sha <hex>");
        assert_eq!(template("talking to [ip:0123456789abcdef]"), "talking to <ip>");
    }
}
