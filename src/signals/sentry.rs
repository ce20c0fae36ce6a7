//! Sentry event JSON (`exception.values[].stacktrace.frames[]`, oldest call
//! first; chained exceptions oldest first). Parsed into borrowed typed structs:
//! several times faster than going through `serde_json::Value`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::Rejection;
use super::redact::Redactor;
use crate::model::{ErrorEvent, ExceptionInfo, Level, StackFrame};

type Str<'a> = Cow<'a, str>;

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow)]
    event_id: Option<Str<'a>>,
    timestamp: Option<RawTime<'a>>,
    #[serde(borrow)]
    level: Option<Str<'a>>,
    #[serde(borrow)]
    release: Option<Str<'a>>,
    #[serde(borrow)]
    environment: Option<Str<'a>>,
    #[serde(borrow)]
    transaction: Option<Str<'a>>,
    #[serde(borrow)]
    message: Option<RawMessage<'a>>,
    #[serde(borrow)]
    logentry: Option<RawMessage<'a>>,
    #[serde(borrow)]
    exception: Option<RawExceptions<'a>>,
    #[serde(borrow, default)]
    tags: Option<RawTags<'a>>,
    #[serde(borrow)]
    user: Option<RawUser<'a>>,
    #[serde(borrow)]
    contexts: Option<RawContexts<'a>>,
}

#[derive(Deserialize)]
struct RawContexts<'a> {
    #[serde(borrow)]
    flags: Option<RawFlags<'a>>,
}

/// Sentry's feature-flag context: `{"values": [{"flag": "k", "result": true}]}`.
#[derive(Deserialize)]
struct RawFlags<'a> {
    #[serde(borrow, default)]
    values: Vec<RawFlag<'a>>,
}

#[derive(Deserialize)]
struct RawFlag<'a> {
    #[serde(borrow)]
    flag: Option<Str<'a>>,
    #[serde(default)]
    result: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTime<'a> {
    Seconds(f64),
    #[serde(borrow)]
    Text(Str<'a>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawMessage<'a> {
    #[serde(borrow)]
    Text(Str<'a>),
    Entry {
        #[serde(borrow)]
        formatted: Option<Str<'a>>,
        #[serde(borrow)]
        message: Option<Str<'a>>,
    },
}

#[derive(Deserialize)]
struct RawExceptions<'a> {
    #[serde(borrow, default)]
    values: Vec<RawException<'a>>,
}

#[derive(Deserialize)]
struct RawException<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    value: Option<Str<'a>>,
    #[serde(borrow)]
    module: Option<Str<'a>>,
    mechanism: Option<RawMechanism>,
    #[serde(borrow)]
    stacktrace: Option<RawStack<'a>>,
}

#[derive(Deserialize)]
struct RawMechanism {
    handled: Option<bool>,
}

#[derive(Deserialize)]
struct RawStack<'a> {
    #[serde(borrow, default)]
    frames: Vec<RawFrame<'a>>,
}

#[derive(Deserialize)]
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
    #[serde(borrow, default)]
    pre_context: Vec<Str<'a>>,
    #[serde(borrow, default)]
    post_context: Vec<Str<'a>>,
    in_app: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTags<'a> {
    #[serde(borrow)]
    Map(BTreeMap<Str<'a>, Option<Str<'a>>>),
    #[serde(borrow)]
    Pairs(Vec<(Str<'a>, Option<Str<'a>>)>),
}

#[derive(Deserialize)]
struct RawUser<'a> {
    #[serde(borrow)]
    id: Option<Str<'a>>,
    #[serde(borrow)]
    email: Option<Str<'a>>,
    #[serde(borrow)]
    ip_address: Option<Str<'a>>,
    #[serde(borrow)]
    username: Option<Str<'a>>,
}

fn own(s: Option<Str<'_>>) -> Option<String> {
    s.map(Cow::into_owned)
}

/// Parses one Sentry event. Errors are short reasons for a rejection report.
pub fn parse_event(json: &str, redactor: &Redactor) -> Result<ErrorEvent, String> {
    let raw: RawEvent = serde_json::from_str(json).map_err(|e| format!("not a Sentry event: {e}"))?;
    let id = raw.event_id.map(Cow::into_owned).filter(|s| !s.is_empty()).ok_or("missing event_id")?;
    let timestamp = match raw.timestamp {
        Some(RawTime::Seconds(s)) if s.is_finite() => (s * 1000.0) as i64,
        Some(RawTime::Text(t)) => t.parse::<jiff::Timestamp>().map_err(|e| format!("timestamp {t:?}: {e}"))?.as_millisecond(),
        _ => return Err("missing timestamp".into()),
    };
    let mut tags: Vec<(String, String)> = match raw.tags {
        Some(RawTags::Map(m)) => m.into_iter().filter_map(|(k, v)| Some((k.into_owned(), v?.into_owned()))).collect(),
        Some(RawTags::Pairs(p)) => p.into_iter().filter_map(|(k, v)| Some((k.into_owned(), v?.into_owned()))).collect(),
        None => Vec::new(),
    };
    for (_, v) in tags.iter_mut() {
        if let Cow::Owned(clean) = redactor.scrub(v) {
            *v = clean;
        }
    }
    tags.sort();
    let mut flags: Vec<(String, String)> = Vec::new();
    tags.retain(|(k, v)| match k.strip_prefix("flag.").or_else(|| k.strip_prefix("feature_flag.")) {
        Some(name) if !name.is_empty() => {
            flags.push((name.to_string(), v.clone()));
            false
        }
        _ => true,
    });
    for f in raw.contexts.and_then(|c| c.flags).map(|f| f.values).unwrap_or_default() {
        let Some(name) = f.flag.filter(|n| !n.is_empty()) else { continue };
        let Some(variant) = super::flag_variant(f.result) else { continue };
        flags.push((name.into_owned(), redactor.scrub(&variant).into_owned()));
    }
    flags.sort();
    flags.dedup_by(|a, b| a.0 == b.0);
    let take = |tags: &mut Vec<(String, String)>, key: &str| tags.iter().position(|(k, _)| k == key).map(|i| tags.remove(i).1);
    let tenant = take(&mut tags, "tenant");
    let region = take(&mut tags, "region");
    let service =
        take(&mut tags, "service").or_else(|| raw.release.as_deref().and_then(|r| r.split_once('@')).map(|(name, _)| name.to_string()));
    let user = raw.user.and_then(|u| u.id.or(u.email).or(u.username).or(u.ip_address)).map(|v| redactor.hash("user", &v));
    let message = match raw.logentry.or(raw.message) {
        Some(RawMessage::Text(t)) => Some(t.into_owned()),
        Some(RawMessage::Entry { formatted, message }) => own(formatted.or(message)),
        None => None,
    }
    .map(|m| redactor.scrub(&m).into_owned());
    let exceptions: Vec<ExceptionInfo> = raw
        .exception
        .map(|e| e.values)
        .unwrap_or_default()
        .into_iter()
        .map(|e| ExceptionInfo {
            kind: own(e.kind).unwrap_or_else(|| "Error".into()),
            value: e.value.map(|v| redactor.scrub(&v).into_owned()).unwrap_or_default(),
            module: own(e.module),
            handled: e.mechanism.and_then(|m| m.handled),
            frames: e.stacktrace.map(|s| s.frames).unwrap_or_default().into_iter().map(frame).collect(),
        })
        .collect();
    if exceptions.is_empty() && message.is_none() {
        return Err("event has neither an exception nor a message".into());
    }
    Ok(ErrorEvent {
        id,
        timestamp,
        level: raw.level.as_deref().and_then(Level::parse).unwrap_or_default(),
        service,
        environment: own(raw.environment),
        release: own(raw.release),
        message,
        exceptions,
        user,
        tenant,
        region,
        transaction: raw.transaction.map(|t| redactor.scrub(&t).into_owned()),
        tags,
        flags,
    })
}

/// Streams a top-level JSON array of Sentry events, element by element: only
/// one element is held at a time. Each element is parsed by [`parse_event`];
/// a bad one is a rejection located `[index]` and the rest go on. An error is
/// returned when the document itself is broken (not an array, truncated);
/// what was emitted before it stands.
pub fn parse_events_array<R: std::io::Read>(
    reader: R,
    redactor: &Redactor,
    emit: &mut dyn FnMut(Result<ErrorEvent, Rejection>),
) -> Result<(), String> {
    use serde::Deserializer as _;
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 << 10, reader));
    de.deserialize_seq(EventsArray { redactor, emit }).map_err(|e| format!("not a JSON array of Sentry events: {e}"))?;
    de.end().map_err(|e| format!("after the array: {e}"))
}

struct EventsArray<'a> {
    redactor: &'a Redactor,
    emit: &'a mut dyn FnMut(Result<ErrorEvent, Rejection>),
}

impl<'de> serde::de::Visitor<'de> for EventsArray<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of Sentry events")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        while let Some(raw) = seq.next_element::<Box<serde_json::value::RawValue>>()? {
            let outcome = parse_event(raw.get(), self.redactor).map_err(|reason| Rejection { location: format!("[{index}]"), reason });
            (self.emit)(outcome);
            index += 1;
        }
        Ok(())
    }
}

fn frame(f: RawFrame<'_>) -> StackFrame {
    StackFrame {
        filename: own(f.filename),
        abs_path: own(f.abs_path),
        function: own(f.function),
        module: own(f.module),
        lineno: f.lineno,
        colno: f.colno,
        context_line: own(f.context_line),
        pre_context: f.pre_context.into_iter().map(Cow::into_owned).collect(),
        post_context: f.post_context.into_iter().map(Cow::into_owned).collect(),
        in_app: f.in_app,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"event_id":"abc","timestamp":"2026-11-20T10:00:00Z","level":"error",
      "release":"shop@9c4e","environment":"production","tags":{"tenant":"acme","region":"eu-west-1","request_id":"r1"},
      "user":{"id":"u-17","email":"ann@example.com","ip_address":"10.1.2.3"},
      "exception":{"values":[{"type":"TypeError","value":"'NoneType' object is not subscriptable","module":"builtins",
        "mechanism":{"type":"generic","handled":false},
        "stacktrace":{"frames":[{"filename":"socketserver.py","function":"serve","lineno":3,"in_app":false},
                                {"filename":"app/pricing.py","module":"app.pricing","function":"apply_discount","lineno":41,"in_app":true,
                                 "context_line":"    return x","pre_context":["a"],"post_context":[]}]}}]}}"#;

    #[test]
    fn flags_come_from_tags_and_the_flags_context() {
        let r = Redactor::new([7; 32]);
        let json = r#"{"event_id":"f","timestamp":1.5,"message":"m","tags":{"flag.legacy-tax-rounding":"on","x":"1"},
          "contexts":{"flags":{"values":[{"flag":"new-cart","result":false},{"flag":"tier","result":"gold"},{"flag":"nothing","result":null}]}}}"#;
        let ev = parse_event(json, &r).unwrap();
        let flags: Vec<(&str, &str)> = ev.flags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(flags, [("legacy-tax-rounding", "on"), ("new-cart", "off"), ("tier", "gold")]);
        assert_eq!(ev.tags, [("x".to_string(), "1".to_string())]);
    }

    #[test]
    fn parses_a_full_event_and_hashes_the_user() {
        let r = Redactor::new([7; 32]);
        let ev = parse_event(EVENT, &r).unwrap();
        assert_eq!(ev.id, "abc");
        assert_eq!(ev.timestamp, 1_795_168_800_000);
        assert_eq!(ev.service.as_deref(), Some("shop"));
        assert_eq!(ev.tenant.as_deref(), Some("acme"));
        assert_eq!(ev.tags, [("request_id".to_string(), "r1".to_string())]);
        assert_eq!(ev.user, Some(r.hash("user", "u-17")));
        let e = ev.primary_exception().unwrap();
        assert_eq!((e.kind.as_str(), e.handled, e.frames.len()), ("TypeError", Some(false), 2));
        assert_eq!(ev.culprit().unwrap().function.as_deref(), Some("apply_discount"));
        assert!(!serde_json::to_string(&ev).unwrap().contains("ann@example.com"));
    }

    #[test]
    fn arrays_stream_element_by_element_and_reject_by_index() {
        let r = Redactor::new([7; 32]);
        let array = format!("[{EVENT}, 5, {{\"event_id\":\"b\",\"timestamp\":2,\"message\":\"m\"}}, {{\"timestamp\":1}}]");
        let mut out = Vec::new();
        parse_events_array(array.as_bytes(), &r, &mut |o| out.push(o)).unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].as_ref().unwrap().id, "abc");
        assert_eq!(out[2].as_ref().unwrap().id, "b");
        let bad: Vec<&str> = out.iter().filter_map(|o| o.as_ref().err()).map(|r| r.location.as_str()).collect();
        assert_eq!(bad, ["[1]", "[3]"]);
        // The same events as one per line.
        assert_eq!(out[0].as_ref().unwrap(), &parse_event(EVENT, &r).unwrap());
        let mut n = 0;
        parse_events_array(&b" [ ] "[..], &r, &mut |_| n += 1).unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn broken_arrays_keep_what_was_read() {
        let r = Redactor::new([7; 32]);
        for (input, read) in
            [("", 0), ("{}", 0), ("[1,", 1), (r#"[{"event_id":"a","timestamp":1,"message":"m"}"#, 1), ("[1] [2]", 1), ("[1 2]", 1)]
        {
            let mut n = 0;
            let res = parse_events_array(input.as_bytes(), &r, &mut |_| n += 1);
            assert!(res.is_err(), "{input:?}");
            assert_eq!(n, read, "{input:?}");
        }
    }

    #[test]
    fn bad_input_is_a_reason_not_a_panic() {
        let r = Redactor::new([0; 32]);
        for (input, want) in [
            ("", "not a Sentry event"),
            ("[1,2]", "not a Sentry event"),
            (r#"{"timestamp":1}"#, "missing event_id"),
            (r#"{"event_id":"a"}"#, "missing timestamp"),
            (r#"{"event_id":"a","timestamp":"yesterday","message":"m"}"#, "timestamp"),
            (r#"{"event_id":"a","timestamp":1.5}"#, "neither an exception nor a message"),
        ] {
            let err = parse_event(input, &r).unwrap_err();
            assert!(err.contains(want), "{input}: {err}");
        }
        let ev = parse_event(r#"{"event_id":"a","timestamp":1.5,"logentry":{"formatted":"timeout"},"tags":[["tenant","x"]]}"#, &r).unwrap();
        assert_eq!((ev.timestamp, ev.message.as_deref(), ev.tenant.as_deref()), (1500, Some("timeout"), Some("x")));
    }
}

#[cfg(test)]
mod bad_input {
    use proptest::prelude::*;

    use super::*;

    fn r() -> Redactor {
        Redactor::new([5; 32])
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflowing_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_event(&deep, &r()).unwrap_err().contains("not a Sentry event"));
        let deep_obj = format!(r#"{{"event_id":"a","timestamp":1,"message":"m","extra":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        // Deep nesting inside a field the parser does not read is skipped safely.
        assert_eq!(parse_event(&deep_obj, &r()).unwrap().message.as_deref(), Some("m"));
        let deep_frames =
            format!(r#"{{"event_id":"a","timestamp":1,"exception":{{"values":{}{}}}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_event(&deep_frames, &r()).is_err(), "deep nesting where the parser reads is rejected");
    }

    #[test]
    fn wrong_types_truncation_and_nul_bytes_are_reasons() {
        for input in [
            r#"{"event_id":5,"timestamp":1,"message":"m"}"#,
            r#"{"event_id":"a","timestamp":true,"message":"m"}"#,
            r#"{"event_id":"a","timestamp":1,"exception":{"values":"no"}}"#,
            r#"{"event_id":"a","timestamp":1,"exception":{"values":[{"stacktrace":{"frames":[{"lineno":-3}]}}]}}"#,
            r#"{"event_id":"a","timestamp":1,"message":"m""#,
            "{\"event_id\":\"a\u{0}\",\"timestamp\":1,\"message\":\"m\"\u{0}}",
        ] {
            assert!(parse_event(input, &r()).is_err(), "{input:?} was accepted");
        }
    }

    #[test]
    fn a_ten_megabyte_event_parses_or_fails_cleanly() {
        let big = format!(r#"{{"event_id":"big","timestamp":1,"message":"{}"}}"#, "x".repeat(10 << 20));
        let ev = parse_event(&big, &r()).unwrap();
        assert_eq!(ev.message.map(|m| m.len()), Some(10 << 20));
    }

    #[test]
    fn escape_sequences_survive_parsing_as_data_and_are_made_inert_for_display() {
        let ev = parse_event(r#"{"event_id":"e","timestamp":1,"message":"boom\u001b[2J\u001b]0;pwned\u0007"}"#, &r()).unwrap();
        let shown = crate::tui::widgets::text::inert(&ev.title()).into_owned();
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
    }

    #[test]
    fn deep_nesting_in_an_array_is_a_rejection_or_an_error() {
        let mut out = Vec::new();
        let deep = format!(r#"[{}{}, {{"event_id":"a","timestamp":1,"message":"m"}}]"#, "[".repeat(100_000), "]".repeat(100_000));
        parse_events_array(deep.as_bytes(), &r(), &mut |o| out.push(o)).unwrap();
        assert!(out[0].is_err());
        assert!(out[1].is_ok());
        let deep_doc = "[".repeat(100_000);
        assert!(parse_events_array(deep_doc.as_bytes(), &r(), &mut |_| {}).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic_the_array_reader(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_events_array(bytes.as_slice(), &r(), &mut |_| {});
        }

        /// Arbitrary bytes (made into text the way ingest does) never panic the parser.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_event(&text, &r());
        }

        /// Valid events with arbitrary strings in every field parse, and what
        /// comes out is redacted and complete.
        #[test]
        fn arbitrary_field_values_never_panic(
            id in "[a-f0-9]{1,32}",
            kind in any::<String>(),
            value in any::<String>(),
            function in any::<String>(),
            tenant in any::<String>(),
            secs in 0f64..4e9,
        ) {
            let json = serde_json::json!({
                "event_id": id, "timestamp": secs, "tags": {"tenant": tenant},
                "exception": {"values": [{"type": kind, "value": value,
                    "stacktrace": {"frames": [{"function": function, "in_app": true}]}}]}
            });
            let ev = parse_event(&json.to_string(), &r()).unwrap();
            prop_assert_eq!(ev.exceptions.len(), 1);
            prop_assert_eq!(ev.exceptions[0].frames.len(), 1);
        }
    }
}
