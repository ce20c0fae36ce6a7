//! Fingerprints, the way Sentry groups and then some: exception type plus the
//! in-app frames (module over filename, filename reduced to its base name, line
//! numbers ignored, recursion collapsed, generated names normalized); events
//! without a stack group by their message reduced to a template.
//!
//! The grouping is versioned ([`GROUPING_VERSION`]): a change to these rules
//! must bump it, because stored fingerprints were computed with the old rules.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use super::drain::Drain;

use crate::config::{FingerprintRule, Triage};
use crate::model::{ErrorEvent, StackFrame};

pub const GROUPING_VERSION: &str = "suture-grouping:1";

/// The components that made a fingerprint, so an incident can explain itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub hash: String,
    pub components: Vec<String>,
}

/// One stack frame as the grouper sees it, borrowed from any source format.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameRef<'a> {
    pub module: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub abs_path: Option<&'a str>,
    pub function: Option<&'a str>,
    pub in_app: Option<bool>,
}

impl<'a> From<&'a StackFrame> for FrameRef<'a> {
    fn from(f: &'a StackFrame) -> FrameRef<'a> {
        FrameRef {
            module: f.module.as_deref(),
            filename: f.filename.as_deref(),
            abs_path: f.abs_path.as_deref(),
            function: f.function.as_deref(),
            in_app: f.in_app,
        }
    }
}

/// What grouping reads of an event. Implemented by [`ErrorEvent`] and by the
/// ingest fast path's borrowed views, so both group identically.
pub trait Groupable {
    /// The escaping exception's type, when the event has an exception.
    fn exception_kind(&self) -> Option<&str>;
    /// The escaping exception's value, redacted (computed only when needed).
    fn exception_value(&self) -> Cow<'_, str>;
    fn message(&self) -> Option<&str>;
    /// The escaping exception's frames, oldest call first.
    fn frames(&self, f: &mut dyn FnMut(FrameRef<'_>));
    fn service(&self) -> Option<&str>;
    fn tag(&self, key: &str) -> Option<Cow<'_, str>>;
}

impl Groupable for ErrorEvent {
    fn exception_kind(&self) -> Option<&str> {
        self.primary_exception().map(|e| e.kind.as_str())
    }
    fn exception_value(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.primary_exception().map(|e| e.value.as_str()).unwrap_or(""))
    }
    fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
    fn frames(&self, f: &mut dyn FnMut(FrameRef<'_>)) {
        for fr in self.primary_exception().map(|e| e.frames.as_slice()).unwrap_or_default() {
            f(fr.into());
        }
    }
    fn service(&self) -> Option<&str> {
        self.service.as_deref()
    }
    fn tag(&self, key: &str) -> Option<Cow<'_, str>> {
        match key {
            "tenant" => self.tenant.as_deref(),
            "region" => self.region.as_deref(),
            "release" => self.release.as_deref(),
            "environment" => self.environment.as_deref(),
            _ => ErrorEvent::tag(self, key),
        }
        .map(Cow::Borrowed)
    }
}

/// The grouping configuration: the built-in rules plus the config's in-app
/// path rules and fingerprint rules (`[triage]` in `suture.toml`).
#[derive(Debug, Clone, Default)]
pub struct Grouper {
    in_app: Vec<String>,
    not_in_app: Vec<String>,
    rules: Vec<FingerprintRule>,
    version: String,
    /// Message shapes learned so far (shared by clones: one ingest, one tree).
    drain: std::sync::Arc<std::sync::Mutex<Drain>>,
}

impl Grouper {
    pub fn new(cfg: &Triage) -> Grouper {
        let mut version = GROUPING_VERSION.to_string();
        if !cfg.rules.is_empty() || !cfg.in_app.is_empty() || !cfg.not_in_app.is_empty() {
            let mut h = Sha256::new();
            for p in cfg.in_app.iter().chain([&"\0".to_string()]).chain(&cfg.not_in_app) {
                h.update(p.as_bytes());
                h.update(b"\n");
            }
            h.update(serde_json::to_string(&cfg.rules).unwrap_or_default().as_bytes());
            version = format!("{GROUPING_VERSION}+config:{}", &hex::encode(h.finalize())[..8]);
        }
        Grouper {
            in_app: cfg.in_app.clone(),
            not_in_app: cfg.not_in_app.clone(),
            rules: cfg.rules.clone(),
            version,
            drain: Default::default(),
        }
    }

    /// The grouping version incidents record: the built-in version, plus a
    /// digest of the config's grouping rules when there are any.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether a frame is application code: the frame's own flag when the
    /// source gave one, else the config's path rules (`not_in_app` first).
    pub fn in_app(&self, f: &FrameRef<'_>) -> bool {
        if let Some(b) = f.in_app {
            return b;
        }
        let paths = [f.abs_path, f.filename];
        let hit = |rules: &[String]| rules.iter().any(|r| paths.iter().flatten().any(|p| prefix_match(r, p)));
        !hit(&self.not_in_app) && hit(&self.in_app)
    }

    /// A Python frame from stack text has a path but no module; under an
    /// in-app path rule the module is the path below the rule's prefix
    /// (`/srv/shop/` + `app/pricing.py` → `app.pricing`), the name the
    /// Python SDKs report, so the same code groups the same from any source.
    fn python_module(&self, f: &FrameRef<'_>) -> Option<String> {
        let path = f.abs_path.or(f.filename)?;
        let stem = path.strip_suffix(".py")?;
        let rest = self.in_app.iter().find_map(|rule| strip_prefix_rule(rule, stem))?;
        let rest = rest.trim_start_matches('/');
        let module = rest.strip_suffix("/__init__").unwrap_or(rest).replace('/', ".");
        (!module.is_empty() && !module.contains("..")).then_some(module)
    }

    /// Writes the fingerprint's components, `\n`-separated, into `out`, and
    /// returns the index of the fingerprint rule that applied, if any.
    pub fn components_into(&self, e: &dyn Groupable, out: &mut String) -> Option<usize> {
        out.clear();
        let rule = self.rules.iter().position(|r| rule_matches(r, e));
        match rule {
            Some(i) => {
                for part in &self.rules[i].fingerprint {
                    let t = part.trim();
                    if t == "{{ default }}" || t == "{{default}}" {
                        self.default_components(e, out);
                    } else {
                        push_component(out, "rule", &expand(t, e));
                    }
                }
                if out.is_empty() {
                    self.default_components(e, out);
                }
            }
            None => self.default_components(e, out),
        }
        rule
    }

    fn default_components(&self, e: &dyn Groupable, out: &mut String) {
        match e.exception_kind() {
            Some(kind) => {
                push_component(out, "type", kind);
                let mut frames = 0;
                let mut last_start = usize::MAX;
                let mut last_len = 0;
                e.frames(&mut |f| {
                    if !self.in_app(&f) {
                        return;
                    }
                    let start = out.len();
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str("frame:");
                    let body = out.len();
                    let derived = if f.module.is_none() { self.python_module(&f) } else { None };
                    push_frame_key(out, &FrameRef { module: derived.as_deref().or(f.module), ..f });
                    // Recursion: the same frame repeated back to back counts once.
                    let key_len = out.len() - body;
                    if last_start != usize::MAX && key_len == last_len && out[body..] == out[last_start..last_start + last_len] {
                        out.truncate(start);
                        return;
                    }
                    last_start = body;
                    last_len = key_len;
                    frames += 1;
                });
                if frames == 0 {
                    // No in-app frames: fall back to the value's template.
                    push_component(out, "value", &self.learned(&template(&e.exception_value())));
                }
            }
            None => push_component(out, "message", &self.learned(&template(e.message().unwrap_or("")))),
        }
    }

    /// The learned group (its seed) of a message template; see [`Drain`].
    fn learned(&self, template: &str) -> String {
        self.drain.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).group(template)
    }

    /// Restores message groups the store kept (`(seed, template)`).
    pub fn restore_groups(&self, groups: &[(String, String)]) {
        let mut d = self.drain.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (seed, template) in groups {
            d.restore(seed, template);
        }
    }

    /// Message groups founded or widened since the last call, for the store.
    pub fn changed_groups(&self) -> Vec<(String, String)> {
        self.drain.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take_changed()
    }

    /// The fingerprint hash of components written by [`Grouper::components_into`].
    pub fn hash(&self, components: &str, rule: Option<usize>) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(GROUPING_VERSION.as_bytes());
        if let Some(i) = rule {
            // A rule's groups are its own: keyed by what the rule matches and makes.
            h.update(b"\nrule:");
            h.update(serde_json::to_string(&self.rules[i]).unwrap_or_default().as_bytes());
        }
        for c in components.split('\n') {
            h.update(b"\n");
            h.update(c.as_bytes());
        }
        h.finalize().into()
    }

    pub fn fingerprint(&self, e: &dyn Groupable) -> Grouping {
        let mut buf = String::new();
        let rule = self.components_into(e, &mut buf);
        let hash = hex::encode(self.hash(&buf, rule));
        let mut components: Vec<String> = buf.split('\n').map(str::to_string).collect();
        if let Some(i) = rule {
            components.insert(0, format!("rule:#{} {}", i + 1, describe(&self.rules[i])));
        }
        Grouping { hash, components }
    }

    pub fn rule_title(&self, rule: usize) -> Option<&str> {
        self.rules.get(rule).and_then(|r| r.title.as_deref())
    }
}

/// The grouping configuration an incident was made with (incidents from
/// before the version was recorded read as the built-in one).
pub fn version_of(inc: &crate::model::Incident) -> &str {
    if inc.grouping_version.is_empty() { GROUPING_VERSION } else { &inc.grouping_version }
}

/// The built-in grouping (no config rules).
pub fn fingerprint(ev: &ErrorEvent) -> Grouping {
    Grouper::default().fingerprint(ev)
}

fn push_component(out: &mut String, kind: &str, value: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(kind);
    out.push(':');
    // A newline inside a value would forge a component boundary.
    if value.contains('\n') {
        out.push_str(&value.replace('\n', " "));
    } else {
        out.push_str(value);
    }
}

fn push_frame_key(out: &mut String, f: &FrameRef<'_>) {
    match (f.module, f.filename.or(f.abs_path)) {
        (Some(m), _) if !m.is_empty() => out.push_str(m),
        (_, Some(name)) => out.push_str(name.rsplit(['/', '\\']).next().unwrap_or(name)),
        _ => out.push('?'),
    }
    out.push(':');
    let func = normalize_function(f.function.unwrap_or("?"));
    if func.contains('\n') {
        out.push_str(&func.replace('\n', " "));
    } else {
        out.push_str(&func);
    }
}

/// `pattern` with an optional `*` (any run of characters) is a prefix of `path`.
fn prefix_match(pattern: &str, path: &str) -> bool {
    match pattern.split_once('*') {
        None => path.starts_with(pattern),
        Some((head, tail)) => {
            let Some(rest) = path.strip_prefix(head) else { return false };
            if tail.is_empty() {
                return true;
            }
            (0..=rest.len()).filter(|i| rest.is_char_boundary(*i)).any(|i| prefix_match(tail, &rest[i..]))
        }
    }
}

/// What is left of `path` after a rule's prefix (with its optional `*`).
fn strip_prefix_rule<'p>(pattern: &str, path: &'p str) -> Option<&'p str> {
    match pattern.split_once('*') {
        None => path.strip_prefix(pattern),
        Some((head, tail)) => {
            let rest = path.strip_prefix(head)?;
            (0..=rest.len()).filter(|i| rest.is_char_boundary(*i)).find_map(|i| strip_prefix_rule(tail, &rest[i..]))
        }
    }
}

/// `*` wildcard over the whole string (case-sensitive).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else { return false };
            (0..=rest.len()).filter(|i| rest.is_char_boundary(*i)).any(|i| glob(tail, &rest[i..]))
        }
    }
}

fn innermost_in_app(e: &dyn Groupable) -> (Option<String>, Option<String>) {
    let mut found = (None, None);
    e.frames(&mut |f| {
        if f.in_app == Some(true) || (f.in_app.is_none() && (f.module.is_some() || f.function.is_some())) {
            found = (f.module.map(str::to_string), f.function.map(str::to_string));
        }
    });
    found
}

fn rule_matches(r: &FingerprintRule, e: &dyn Groupable) -> bool {
    let m = &r.matches;
    let text = |p: &Option<String>, v: Option<&str>| p.as_ref().is_none_or(|p| v.is_some_and(|v| glob(p, v)));
    let message = e.exception_kind().map(|_| e.exception_value()).or(e.message().map(Cow::Borrowed));
    if !text(&m.kind, e.exception_kind()) || !text(&m.message, message.as_deref()) || !text(&m.service, e.service()) {
        return false;
    }
    if !m.tags.iter().all(|(k, p)| e.tag(k).is_some_and(|v| glob(p, &v))) {
        return false;
    }
    if m.module.is_some() || m.function.is_some() {
        let (module, function) = innermost_in_app(e);
        return text(&m.module, module.as_deref()) && text(&m.function, function.as_deref());
    }
    true
}

/// `{{ type }}`, `{{ message }}`, `{{ tags.NAME }}`… in a rule's component.
fn expand(part: &str, e: &dyn Groupable) -> String {
    let mut out = String::new();
    let mut rest = part;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find("}}") else {
            out.push_str(&rest[i..]);
            return out;
        };
        let name = rest[i + 2..i + j].trim();
        let value: Cow<'_, str> = match name {
            "type" => e.exception_kind().unwrap_or("").into(),
            "message" => {
                template(&e.exception_kind().map(|_| e.exception_value()).or(e.message().map(Cow::Borrowed)).unwrap_or_default()).into()
            }
            "service" => e.service().unwrap_or("").into(),
            "module" => innermost_in_app(e).0.unwrap_or_default().into(),
            "function" => innermost_in_app(e).1.unwrap_or_default().into(),
            "release" => e.tag("release").unwrap_or_default(),
            other => match other.strip_prefix("tags.") {
                Some(k) => e.tag(k).unwrap_or_default(),
                None => format!("{{{{ {other} }}}}").into(),
            },
        };
        out.push_str(&value);
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    out
}

fn describe(r: &FingerprintRule) -> String {
    let m = &r.matches;
    let mut parts = Vec::new();
    for (k, v) in [("type", &m.kind), ("message", &m.message), ("module", &m.module), ("function", &m.function), ("service", &m.service)] {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    }
    for (k, v) in &m.tags {
        parts.push(format!("tags.{k}={v}"));
    }
    if parts.is_empty() { "(matches all)".to_string() } else { parts.join(" ") }
}

/// Generated names vary between builds; strip what varies.
pub fn normalize_function(name: &str) -> Cow<'_, str> {
    let name = name.trim();
    // Most names need nothing: no marker characters, no numeric suffix.
    if !name.is_empty() && !name.ends_with(|c: char| c.is_ascii_digit()) && !name.bytes().any(|b| matches!(b, b'<' | b'$' | b'{')) {
        return name.into();
    }
    if name.starts_with("<lambda") || name.contains("lambda$") {
        return "<lambda>".into();
    }
    if name.starts_with("<anonymous") || name.is_empty() {
        return "<anonymous>".into();
    }
    if let Some(i) = name.find("::{{closure}}") {
        return format!("{}::{{{{closure}}}}", &name[..i]).into();
    }
    // handler_17, handler17, func$3 → handler_N
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if trimmed.len() < name.len() && !trimmed.is_empty() {
        let base = trimmed.trim_end_matches(['_', '$']);
        return format!("{base}_N").into();
    }
    name.into()
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
