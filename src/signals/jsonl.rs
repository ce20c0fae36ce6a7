//! Suture's own JSON-lines events: one JSON object per line, meant to be
//! written by hand and emitted by scripts. The schema is documented in
//! the README's "Suture JSON lines" section; this module is its reference.
//!
//! Strict on purpose: an unknown field is an error naming it, because the
//! people writing these lines by hand make typos (`mesage`, `enviroment`)
//! that a tolerant parser would turn into silently missing data. Anything
//! extra has a place: `tags`.
//!
//! Without an `id` the event id is derived from the line's content
//! ([`Redactor::derived_id`], a keyed hash, over a canonical form: fields in a
//! fixed order, tags and flags sorted, the timestamp as milliseconds), so
//! whitespace and key order do not matter and ingesting a file twice finds
//! duplicates.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::redact::Redactor;
use super::stacktext::{self, MAX_EXCEPTIONS, MAX_FRAMES};
use crate::model::{ErrorEvent, ExceptionInfo, Level, StackFrame};

type Str<'a> = Cow<'a, str>;

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawLine<'a> {
    #[serde(borrow, default, skip_serializing)]
    id: Option<Str<'a>>,
    #[serde(borrow)]
    timestamp: Option<RawTime<'a>>,
    #[serde(borrow)]
    level: Option<Str<'a>>,
    #[serde(borrow)]
    message: Option<Str<'a>>,
    #[serde(borrow)]
    exception: Option<RawException<'a>>,
    #[serde(borrow)]
    service: Option<Str<'a>>,
    #[serde(borrow)]
    environment: Option<Str<'a>>,
    #[serde(borrow)]
    release: Option<Str<'a>>,
    #[serde(borrow)]
    user: Option<Scalar<'a>>,
    #[serde(borrow)]
    tenant: Option<Str<'a>>,
    #[serde(borrow)]
    region: Option<Str<'a>>,
    #[serde(borrow)]
    transaction: Option<Str<'a>>,
    #[serde(borrow, default)]
    tags: BTreeMap<Str<'a>, Option<Scalar<'a>>>,
    #[serde(borrow, default)]
    flags: BTreeMap<Str<'a>, Option<Scalar<'a>>>,
}

#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum RawTime<'a> {
    Millis(f64),
    #[serde(borrow)]
    Text(Str<'a>),
}

/// A string, number or boolean, taken as text.
#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum Scalar<'a> {
    #[serde(borrow)]
    Text(Str<'a>),
    Bool(bool),
    Number(serde_json::Number),
}

impl Scalar<'_> {
    fn text(&self) -> Cow<'_, str> {
        match self {
            Scalar::Text(t) => Cow::Borrowed(t),
            Scalar::Bool(b) => Cow::Owned(b.to_string()),
            Scalar::Number(n) => Cow::Owned(n.to_string()),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawException<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    value: Option<Str<'a>>,
    #[serde(borrow)]
    module: Option<Str<'a>>,
    handled: Option<bool>,
    #[serde(borrow)]
    stacktrace: Option<Str<'a>>,
    #[serde(borrow)]
    frames: Option<Vec<RawFrame<'a>>>,
    #[serde(borrow)]
    cause: Option<Box<RawException<'a>>>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawFrame<'a> {
    #[serde(borrow)]
    filename: Option<Str<'a>>,
    #[serde(borrow)]
    abs_path: Option<Str<'a>>,
    #[serde(borrow)]
    function: Option<Str<'a>>,
    #[serde(borrow)]
    module: Option<Str<'a>>,
    lineno: Option<u32>,
    colno: Option<u32>,
    #[serde(borrow)]
    context_line: Option<Str<'a>>,
    in_app: Option<bool>,
}

fn own(s: Option<Str<'_>>) -> Option<String> {
    s.map(Cow::into_owned)
}

/// Parses one line of Suture JSON lines. Errors are short reasons for a rejection report.
pub fn parse_line(line: &str, redactor: &Redactor) -> Result<ErrorEvent, String> {
    let mut raw: RawLine = serde_json::from_str(line).map_err(|e| format!("not a Suture event: {e}"))?;
    let timestamp = match &raw.timestamp {
        None => return Err("missing timestamp".into()),
        Some(RawTime::Text(t)) => t.parse::<jiff::Timestamp>().map_err(|e| format!("timestamp {t:?}: {e}"))?.as_millisecond(),
        Some(RawTime::Millis(ms)) => millis(*ms)?,
    };
    raw.timestamp = Some(RawTime::Millis(timestamp as f64));
    let level = match raw.level.as_deref() {
        None => Level::default(),
        Some(l) => Level::parse(l).ok_or_else(|| format!("level {l:?} is not one of debug, info, warning, error, fatal"))?,
    };
    let message = raw.message.as_deref().filter(|m| !m.is_empty()).map(|m| redactor.scrub(m).into_owned());
    let mut exceptions = Vec::new();
    if let Some(e) = &raw.exception {
        chain(e, &mut exceptions, 0)?;
    }
    if exceptions.len() > MAX_EXCEPTIONS {
        let escaped = exceptions.pop();
        exceptions.truncate(MAX_EXCEPTIONS - 1);
        exceptions.extend(escaped);
    }
    for e in exceptions.iter_mut() {
        if let Cow::Owned(clean) = redactor.scrub(&e.value) {
            e.value = clean;
        }
    }
    if exceptions.is_empty() && message.is_none() {
        return Err("event has neither an exception nor a message".into());
    }
    let id = match raw.id.as_deref() {
        Some("") => return Err("id is empty".into()),
        Some(id) => id.to_string(),
        None => {
            let canonical = serde_json::to_string(&raw).map_err(|e| e.to_string())?;
            redactor.derived_id(&["suture-jsonl", &canonical])
        }
    };
    let tags = raw.tags.iter().filter_map(|(k, v)| Some((k.to_string(), redactor.scrub(&v.as_ref()?.text()).into_owned()))).collect();
    let flags = raw
        .flags
        .iter()
        .filter_map(|(k, v)| {
            let variant = match v.as_ref()? {
                Scalar::Bool(b) => Cow::Borrowed(if *b { "on" } else { "off" }),
                other => other.text(),
            };
            Some((k.to_string(), redactor.scrub(&variant).into_owned()))
        })
        .collect();
    Ok(ErrorEvent {
        id,
        timestamp,
        level,
        service: own(raw.service),
        environment: own(raw.environment),
        release: own(raw.release),
        message,
        exceptions,
        user: raw.user.as_ref().map(|u| redactor.hash("user", &u.text())),
        tenant: own(raw.tenant),
        region: own(raw.region),
        transaction: raw.transaction.map(|t| redactor.scrub(&t).into_owned()),
        tags,
        flags,
    })
}

/// Epoch milliseconds; a number that reads as seconds is refused with a hint.
fn millis(ms: f64) -> Result<i64, String> {
    if !(0.0..=253_402_300_800_000.0).contains(&ms) {
        return Err(format!("timestamp {ms} is not epoch milliseconds"));
    }
    // 1e9..1e10 ms is January to April 1970, but as seconds it is 2001 to 2286.
    if (1e9..1e10).contains(&ms) {
        return Err(format!("timestamp {ms} looks like seconds; write epoch milliseconds or an RFC 3339 string"));
    }
    Ok(ms as i64)
}

/// Appends the exception's cause chain (oldest first), then the exception.
fn chain(e: &RawException<'_>, out: &mut Vec<ExceptionInfo>, depth: usize) -> Result<(), String> {
    if let Some(cause) = &e.cause {
        chain(cause, out, depth + 1)?;
    }
    let kind = e.kind.as_deref().filter(|k| !k.is_empty());
    let frames = match (&e.frames, &e.stacktrace) {
        (Some(_), Some(_)) => return Err("exception has both stacktrace and frames; give one".into()),
        (Some(frames), None) => Some(frames),
        (None, _) => None,
    };
    if kind.is_none() && e.value.is_none() && e.stacktrace.is_none() && frames.is_none() {
        return Err(if depth == 0 { "exception is empty" } else { "cause is empty" }.into());
    }
    // The trace's own message stands when no value was given.
    let mut here = stacktext::reported_chain(kind, e.value.as_deref(), e.stacktrace.as_deref());
    if let Some(last) = here.last_mut() {
        if e.module.is_some() {
            last.module = own(e.module.clone());
        }
        last.handled = e.handled;
        if let Some(frames) = frames {
            let skip = frames.len().saturating_sub(MAX_FRAMES);
            last.frames = frames[skip..].iter().map(frame).collect();
        }
    }
    out.extend(here);
    Ok(())
}

fn frame(f: &RawFrame<'_>) -> StackFrame {
    StackFrame {
        filename: own(f.filename.clone()),
        abs_path: own(f.abs_path.clone()),
        function: own(f.function.clone()),
        module: own(f.module.clone()),
        lineno: f.lineno,
        colno: f.colno,
        context_line: own(f.context_line.clone()),
        in_app: f.in_app,
        ..StackFrame::default()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn r() -> Redactor {
        Redactor::new([3; 32])
    }

    /// The complete example of the README's "Suture JSON lines" section.
    const EXAMPLE: &str = r#"{"timestamp":"2026-11-20T10:00:00Z","level":"error","service":"shop","environment":"production","release":"9c4e7b1","user":"u-17","tenant":"acme","region":"eu-west-1","transaction":"POST /orders/quote","tags":{"request_id":"r-81","attempt":2},"flags":{"new-cart":"on","legacy-tax-rounding":false},"exception":{"type":"TypeError","value":"'NoneType' object is not subscriptable","frames":[{"filename":"app/handlers.py","function":"dispatch","lineno":38,"in_app":true},{"filename":"app/pricing.py","module":"app.pricing","function":"apply_discount","lineno":35,"context_line":"return amount - amount * discount[\"percent\"] // 100","in_app":true}],"cause":{"type":"KeyError","value":"'discount'"}}}"#;

    #[test]
    fn the_readme_shows_this_example() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let section = &readme[readme.find("## Suture JSON lines").expect("the README documents Suture JSON lines")..];
        let block = section.split("```json\n").nth(1).unwrap();
        assert_eq!(block.lines().next(), Some(EXAMPLE));
    }

    #[test]
    fn the_documented_example_parses() {
        let ev = parse_line(EXAMPLE, &r()).unwrap();
        assert_eq!(ev.timestamp, 1_795_168_800_000);
        assert_eq!(ev.id.len(), 32);
        assert_eq!(
            (ev.service.as_deref(), ev.environment.as_deref(), ev.release.as_deref()),
            (Some("shop"), Some("production"), Some("9c4e7b1"))
        );
        assert_eq!(
            (ev.tenant.as_deref(), ev.region.as_deref(), ev.transaction.as_deref()),
            (Some("acme"), Some("eu-west-1"), Some("POST /orders/quote"))
        );
        assert_eq!(ev.user, Some(r().hash("user", "u-17")));
        assert_eq!(ev.tags, [("attempt".to_string(), "2".to_string()), ("request_id".to_string(), "r-81".to_string())]);
        assert_eq!(ev.flags, [("legacy-tax-rounding".to_string(), "off".to_string()), ("new-cart".to_string(), "on".to_string())]);
        assert_eq!(ev.exceptions.len(), 2);
        assert_eq!(ev.exceptions[0].kind, "KeyError");
        assert_eq!(ev.title(), "TypeError: 'NoneType' object is not subscriptable");
        assert_eq!(ev.culprit().unwrap().function.as_deref(), Some("apply_discount"));
        assert_eq!(ev.culprit().unwrap().module.as_deref(), Some("app.pricing"));
    }

    #[test]
    fn minimal_lines() {
        let ev = parse_line(r#"{"timestamp":1795168800000,"message":"disk full on 10.0.0.7"}"#, &r()).unwrap();
        assert_eq!((ev.timestamp, ev.level), (1_795_168_800_000, Level::Error));
        assert!(ev.message.unwrap().starts_with("disk full on [ip:"));
        let ev = parse_line(r#"{"timestamp":"2026-11-20T11:00:00+01:00","level":"warn","exception":{"type":"Timeout"}}"#, &r()).unwrap();
        assert_eq!((ev.timestamp, ev.level, ev.title()), (1_795_168_800_000, Level::Warning, "Timeout".to_string()));
    }

    #[test]
    fn stack_text_is_parsed_and_chains_with_cause() {
        let stack = std::fs::read_to_string(format!("{}/fixtures/stacks/python_chained.txt", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let line = serde_json::json!({"timestamp": 1, "exception": {"stacktrace": stack, "cause": {"type": "OSError", "value": "disk"}}});
        let ev = parse_line(&line.to_string(), &r()).unwrap();
        let kinds: Vec<&str> = ev.exceptions.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["OSError", "JSONDecodeError", "ValueError", "KeyError"]);
        assert_eq!(ev.title(), "KeyError: 'port'", "the trace's own message stands");
        assert_eq!(ev.primary_exception().unwrap().frames.len(), 2);
        let line =
            serde_json::json!({"timestamp": 1, "exception": {"type": "LookupError", "value": "v", "handled": true, "stacktrace": stack}});
        let ev = parse_line(&line.to_string(), &r()).unwrap();
        let top = ev.primary_exception().unwrap();
        assert_eq!((top.kind.as_str(), top.value.as_str(), top.handled), ("LookupError", "v", Some(true)));
    }

    #[test]
    fn mistakes_are_named() {
        for (line, want) in [
            ("", "not a Suture event"),
            ("[]", "not a Suture event"),
            (r#"{"timestamp":1,"mesage":"x"}"#, "unknown field `mesage`"),
            (r#"{"timestamp":1,"exception":{"type":"E","valu":"x"}}"#, "unknown field `valu`"),
            (r#"{"timestamp":1,"exception":{"frames":[{"line":3}]}}"#, "unknown field `line`"),
            (r#"{"message":"m"}"#, "missing timestamp"),
            (r#"{"timestamp":"yesterday","message":"m"}"#, "timestamp \"yesterday\""),
            (r#"{"timestamp":1732000000,"message":"m"}"#, "looks like seconds"),
            (r#"{"timestamp":-5,"message":"m"}"#, "not epoch milliseconds"),
            (r#"{"timestamp":1}"#, "neither an exception nor a message"),
            (r#"{"timestamp":1,"message":""}"#, "neither an exception nor a message"),
            (r#"{"timestamp":1,"level":"loud","message":"m"}"#, "level \"loud\""),
            (r#"{"timestamp":1,"exception":{}}"#, "exception is empty"),
            (r#"{"timestamp":1,"exception":{"type":"E","cause":{}}}"#, "cause is empty"),
            (r#"{"timestamp":1,"id":"","message":"m"}"#, "id is empty"),
            (r#"{"timestamp":1,"exception":{"type":"E","stacktrace":"x","frames":[]}}"#, "both stacktrace and frames"),
            (r#"{"timestamp":1,"message":"m","tags":{"a":[1]}}"#, "not a Suture event"),
            (r#"{"timestamp":1,"message":"m","tags":["a"]}"#, "not a Suture event"),
            (r#"{"timestamp":1,"message":"m"} x"#, "trailing characters"),
        ] {
            let err = parse_line(line, &r()).unwrap_err();
            assert!(err.contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn derived_ids_ignore_layout_and_follow_content() {
        let a = parse_line(r#"{"timestamp":"2026-11-20T10:00:00Z","message":"m","tags":{"a":"1","b":"2"}}"#, &r()).unwrap();
        let b = parse_line(r#"{ "tags": {"b":"2", "a":"1"}, "message": "m", "timestamp": 1795168800000 }"#, &r()).unwrap();
        let c = parse_line(r#"{"timestamp":"2026-11-20T10:00:00Z","message":"m","tags":{"a":"1","b":"3"}}"#, &r()).unwrap();
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(parse_line(r#"{"id":"mine","timestamp":1,"message":"m"}"#, &r()).unwrap().id, "mine");
    }

    #[test]
    fn deep_causes_nul_bytes_and_escapes() {
        let deep = format!(r#"{{"timestamp":1,"exception":{}"type":"E"{}}}"#, r#"{"cause":"#.repeat(100_000), "}".repeat(100_000));
        assert!(parse_line(&deep, &r()).unwrap_err().contains("recursion limit"));
        let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_line(&deep_array, &r()).is_err());
        let ev = parse_line(r#"{"timestamp":1,"message":"a\u0000b\u001b[2J","tags":{"k\u0000":"\u0000"}}"#, &r()).unwrap();
        assert_eq!(ev.message.as_deref(), Some("a\0b\u{1b}[2J"));
        assert_eq!(ev.tag("k\0"), Some("\0"));
        assert!(parse_line("{\"timestamp\":1,\u{0}\"message\":\"m\"}", &r()).is_err());
        // Many causes: the escaping exception and the oldest are kept.
        let many = format!(r#"{{"timestamp":1,"exception":{}{{"type":"Root"}}{}}}"#, r#"{"type":"E","cause":"#.repeat(60), "}".repeat(60));
        let ev = parse_line(&many, &r()).unwrap();
        assert_eq!(ev.exceptions.len(), MAX_EXCEPTIONS);
        assert_eq!(ev.exceptions[0].kind, "Root");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_line(&String::from_utf8_lossy(&bytes), &r());
        }

        #[test]
        fn arbitrary_field_values(
            message in any::<String>(),
            kind in any::<String>(),
            stack in any::<String>(),
            tag in any::<String>(),
            flag in any::<String>(),
            ms in 10_000_000_000i64..4_000_000_000_000,
        ) {
            let line = serde_json::json!({"timestamp": ms, "message": message, "tags": {tag.clone(): tag},
                "flags": {flag.clone(): flag}, "exception": {"type": kind, "stacktrace": stack}});
            let ev = parse_line(&line.to_string(), &r()).unwrap();
            prop_assert_eq!(ev.timestamp, ms);
            prop_assert!(!ev.exceptions.is_empty());
        }
    }
}
