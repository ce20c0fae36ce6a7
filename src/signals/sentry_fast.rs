//! The ingest fast path for Sentry events: a borrowed view holding only what
//! grouping and the incident aggregates need (id, time, release, tenant,
//! region, user, flags, tags, the escaping exception's type, value and
//! frames, the message). Most events are only counted; the full
//! [`super::sentry::parse_event`] runs for the few kept as samples.
//!
//! Field types that vary (timestamp as number or text, message as text or
//! object, tags as map or pairs) have hand-written visitors: serde's
//! untagged enums buffer the value first and cost more than the parse.
//!
//! Validation is the full parser's: the same events are rejected, for the
//! same reasons, so the two paths never disagree about what was ingested.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::redact::Redactor;
use crate::model::Millis;
use crate::triage::fingerprint::{FrameRef, Groupable};

type Str<'a> = Cow<'a, str>;

/// Text borrowed from the input when it has no escapes. (serde's own
/// `Option<Cow<str>>` always allocates, `#[serde(borrow)]` or not.)
struct Text<'a>(Str<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text<'a>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

fn cow(t: Option<Text<'_>>) -> Option<Str<'_>> {
    t.map(|t| t.0)
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow)]
    event_id: Option<Text<'a>>,
    timestamp: Option<Time>,
    #[serde(borrow)]
    release: Option<Text<'a>>,
    #[serde(borrow)]
    environment: Option<Text<'a>>,
    #[serde(borrow)]
    message: Option<Message<'a>>,
    #[serde(borrow)]
    logentry: Option<Message<'a>>,
    #[serde(borrow)]
    exception: Option<Exceptions<'a>>,
    #[serde(borrow, default)]
    tags: Tags<'a>,
    #[serde(borrow)]
    user: Option<User<'a>>,
    #[serde(borrow)]
    contexts: Option<Contexts<'a>>,
}

#[derive(Deserialize)]
struct Exceptions<'a> {
    #[serde(borrow, default)]
    values: Vec<Exception<'a>>,
}

#[derive(Deserialize)]
struct Exception<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    value: Option<Text<'a>>,
    #[serde(borrow)]
    stacktrace: Option<Stack<'a>>,
}

#[derive(Deserialize)]
struct Stack<'a> {
    #[serde(borrow, default)]
    frames: Vec<Frame<'a>>,
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    filename: Option<Text<'a>>,
    #[serde(borrow)]
    abs_path: Option<Text<'a>>,
    #[serde(borrow)]
    function: Option<Text<'a>>,
    #[serde(borrow)]
    module: Option<Text<'a>>,
    in_app: Option<bool>,
}

#[derive(Deserialize)]
struct User<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    email: Option<Text<'a>>,
    #[serde(borrow)]
    ip_address: Option<Text<'a>>,
    #[serde(borrow)]
    username: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Contexts<'a> {
    #[serde(borrow)]
    flags: Option<Flags<'a>>,
}

#[derive(Deserialize)]
struct Flags<'a> {
    #[serde(borrow, default)]
    values: Vec<Flag<'a>>,
}

#[derive(Deserialize)]
struct Flag<'a> {
    #[serde(borrow)]
    flag: Option<Text<'a>>,
    #[serde(default)]
    result: serde_json::Value,
}

/// A Sentry timestamp: seconds since the epoch, or RFC 3339 text.
enum Time {
    Seconds(f64),
    Millis(Millis),
    Text(String),
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of seconds or an RFC 3339 timestamp")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Time, E> {
                Ok(Time::Seconds(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Time, E> {
                Ok(Time::Seconds(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Time, E> {
                Ok(Time::Seconds(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Time, E> {
                // Parsed right away: no allocation for the common case.
                match v.parse::<jiff::Timestamp>() {
                    Ok(t) => Ok(Time::Millis(t.as_millisecond())),
                    Err(_) => Ok(Time::Text(v.to_string())),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `"text"` or `{"formatted": …, "message": …}`.
struct Message<'a>(Option<Str<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Message<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Message<'a>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Message<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message string or an object with formatted/message")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Message<'de>, E> {
                Ok(Message(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Message<'de>, E> {
                Ok(Message(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message<'de>, A::Error> {
                let (mut formatted, mut message) = (None, None);
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    match &*key {
                        "formatted" => formatted = cow(map.next_value::<Option<Text<'de>>>()?),
                        "message" => message = cow(map.next_value::<Option<Text<'de>>>()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Message(formatted.or(message)))
            }
        }
        d.deserialize_any(V)
    }
}

/// `{"k": "v"}` or `[["k", "v"]]`; null values dropped.
#[derive(Default)]
struct Tags<'a>(Vec<(Str<'a>, Str<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Tags<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tags<'a>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tags<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("tags as an object or a list of pairs")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Tags<'de>, E> {
                Ok(Tags::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tags<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Text<'de>, Option<Text<'de>>>()? {
                    if let Some(v) = v {
                        out.push((k.0, v.0));
                    }
                }
                Ok(Tags(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tags<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = seq.next_element::<(Text<'de>, Option<Text<'de>>)>()? {
                    if let Some(v) = v {
                        out.push((k.0, v.0));
                    }
                }
                Ok(Tags(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One Sentry event as the ingest fast path sees it. Free text (exception
/// value, message, tag values) is already scrubbed; the user is a keyed hash.
pub struct View<'a> {
    pub id: Str<'a>,
    pub timestamp: Millis,
    pub release: Option<Str<'a>>,
    pub environment: Option<Str<'a>>,
    pub service: Option<Str<'a>>,
    pub tenant: Option<Str<'a>>,
    pub region: Option<Str<'a>>,
    /// `Redactor::hash64("user", …)` of the first of id, e-mail, username, IP.
    pub user: Option<u64>,
    pub message: Option<Str<'a>>,
    /// The escaping exception (the last of the chain).
    kind: Option<Str<'a>>,
    /// Raw: scrubbed when grouping reads it (most events group by frames).
    value: Str<'a>,
    frames: Vec<Frame<'a>>,
    redactor: &'a Redactor,
    /// Tags other than tenant/region/service and the flags, raw: scrubbed
    /// when read through [`Groupable::tag`].
    tags: Vec<(Str<'a>, Str<'a>)>,
    pub flags: Vec<(Str<'a>, Str<'a>)>,
}

fn scrub<'a>(r: &Redactor, s: Str<'a>) -> Str<'a> {
    match r.scrub(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(clean) => Cow::Owned(clean),
    }
}

/// Parses one Sentry event into a [`View`]; rejects exactly what the full
/// parser rejects, with the same reasons.
pub fn parse_view<'a>(json: &'a str, redactor: &'a Redactor) -> Result<View<'a>, String> {
    let raw: Raw<'a> = serde_json::from_str(json).map_err(|e| format!("not a Sentry event: {e}"))?;
    let id = cow(raw.event_id).filter(|s| !s.is_empty()).ok_or("missing event_id")?;
    let timestamp = match raw.timestamp {
        Some(Time::Seconds(s)) if s.is_finite() => (s * 1000.0) as i64,
        Some(Time::Millis(ms)) => ms,
        Some(Time::Text(t)) => t.parse::<jiff::Timestamp>().map_err(|e| format!("timestamp {t:?}: {e}"))?.as_millisecond(),
        _ => return Err("missing timestamp".into()),
    };
    let (mut service, mut tenant, mut region) = (None, None, None);
    let mut tags = Vec::new();
    let mut flags = Vec::new();
    for (k, v) in raw.tags.0 {
        match k.as_ref() {
            "tenant" => tenant = Some(scrub(redactor, v)),
            "region" => region = Some(scrub(redactor, v)),
            "service" => service = Some(scrub(redactor, v)),
            key => match key.strip_prefix("flag.").or_else(|| key.strip_prefix("feature_flag.")) {
                Some(name) if !name.is_empty() => flags.push((Cow::Owned(name.to_string()), scrub(redactor, v))),
                _ => tags.push((k, v)),
            },
        }
    }
    for f in raw.contexts.and_then(|c| c.flags).map(|f| f.values).unwrap_or_default() {
        let Some(name) = f.flag.filter(|n| !n.is_empty()) else { continue };
        let Some(variant) = super::flag_variant(f.result) else { continue };
        flags.push((name.0, Cow::Owned(redactor.scrub(&variant).into_owned())));
    }
    if flags.len() > 1 {
        flags.sort();
        flags.dedup_by(|a, b| a.0 == b.0);
    }
    let release = cow(raw.release);
    let service = service.or_else(|| match &release {
        Some(Cow::Borrowed(r)) => r.split_once('@').map(|(name, _)| Cow::Borrowed(name)),
        Some(Cow::Owned(r)) => r.split_once('@').map(|(name, _)| Cow::Owned(name.to_string())),
        None => None,
    });
    let user = raw.user.and_then(|u| u.id.or(u.email).or(u.username).or(u.ip_address)).map(|v| redactor.hash64("user", &v));
    let message = raw.logentry.or(raw.message).and_then(|m| m.0).map(|m| scrub(redactor, m));
    let mut exceptions = raw.exception.map(|e| e.values).unwrap_or_default();
    let primary = exceptions.pop();
    if primary.is_none() && message.is_none() {
        return Err("event has neither an exception nor a message".into());
    }
    let (kind, value, frames) = match primary {
        Some(e) => (
            Some(cow(e.kind).unwrap_or(Cow::Borrowed("Error"))),
            cow(e.value).unwrap_or_default(),
            e.stacktrace.map(|s| s.frames).unwrap_or_default(),
        ),
        None => (None, Cow::Borrowed(""), Vec::new()),
    };
    Ok(View {
        id,
        timestamp,
        release,
        environment: cow(raw.environment),
        service,
        tenant,
        region,
        user,
        message,
        kind,
        value,
        frames,
        redactor,
        tags,
        flags,
    })
}

impl Groupable for View<'_> {
    fn exception_kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }
    fn exception_value(&self) -> Cow<'_, str> {
        self.redactor.scrub(&self.value)
    }
    fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
    fn frames(&self, f: &mut dyn FnMut(FrameRef<'_>)) {
        for fr in &self.frames {
            f(FrameRef {
                module: fr.module.as_deref(),
                filename: fr.filename.as_deref(),
                abs_path: fr.abs_path.as_deref(),
                function: fr.function.as_deref(),
                in_app: fr.in_app,
            });
        }
    }
    fn service(&self) -> Option<&str> {
        self.service.as_deref()
    }
    fn tag(&self, key: &str) -> Option<Cow<'_, str>> {
        match key {
            "tenant" => self.tenant.as_deref().map(Cow::Borrowed),
            "region" => self.region.as_deref().map(Cow::Borrowed),
            "release" => self.release.as_deref().map(Cow::Borrowed),
            "environment" => self.environment.as_deref().map(Cow::Borrowed),
            _ => self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| self.redactor.scrub(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::sentry::parse_event;
    use crate::triage::fingerprint::Grouper;

    /// The fast path and the full parser agree on every demo event: same
    /// fingerprint, same identity, same dimensions, same user key.
    #[test]
    fn the_view_groups_and_counts_like_the_full_event() {
        let root = crate::config::paths::builtin_demo_root();
        let text = std::fs::read_to_string(crate::demo::sentry_events(&root)).unwrap();
        let r = Redactor::new([5; 32]);
        let g = Grouper::default();
        let mut n = 0;
        for line in text.lines() {
            let full = parse_event(line, &r).unwrap();
            let view = parse_view(line, &r).unwrap();
            assert_eq!(g.fingerprint(&view), g.fingerprint(&full), "{}", full.id);
            assert_eq!(view.id, full.id);
            assert_eq!(view.timestamp, full.timestamp);
            assert_eq!(view.release.as_deref(), full.release.as_deref());
            assert_eq!(view.tenant.as_deref(), full.tenant.as_deref());
            assert_eq!(view.region.as_deref(), full.region.as_deref());
            assert_eq!(view.service.as_deref(), full.service.as_deref());
            assert_eq!(view.user.map(|u| format!("user:{u:016x}")), full.user);
            let flags: Vec<(String, String)> = view.flags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(flags, full.flags);
            n += 1;
        }
        assert_eq!(n, 5000);
    }

    #[test]
    fn both_parsers_reject_the_same_inputs_for_the_same_reasons() {
        let r = Redactor::new([5; 32]);
        for bad in [
            "",
            "{",
            "[]",
            r#"{"timestamp":1}"#,
            r#"{"event_id":"","timestamp":1,"message":"m"}"#,
            r#"{"event_id":"a","message":"m"}"#,
            r#"{"event_id":"a","timestamp":"yesterday","message":"m"}"#,
            r#"{"event_id":"a","timestamp":1}"#,
            r#"{"event_id":"a","timestamp":1,"tags":7,"message":"m"}"#,
            r#"{"event_id":"a","timestamp":1,"exception":{"values":[{"type":3}]}}"#,
        ] {
            let full = parse_event(bad, &r).map(|e| e.id);
            let view = parse_view(bad, &r).map(|v| v.id.to_string());
            assert_eq!(full.is_err(), view.is_err(), "{bad}: {full:?} vs {view:?}");
            if let (Err(a), Err(b)) = (&full, &view) {
                // serde's messages name the first problem each parser met.
                assert_eq!(a.split(':').next(), b.split(':').next(), "{bad}");
            }
        }
    }

    #[test]
    fn tags_as_pairs_and_messages_as_objects() {
        let r = Redactor::new([5; 32]);
        let v = parse_view(
            r#"{"event_id":"a","timestamp":"2026-11-20T10:00:00Z","tags":[["tenant","acme"],["x",null]],"logentry":{"message":"m %s","formatted":"m ann@example.com"}}"#,
            &r,
        )
        .unwrap();
        assert_eq!(v.tenant.as_deref(), Some("acme"));
        assert!(v.tags.is_empty(), "a null tag is dropped");
        assert!(v.message.as_deref().unwrap().starts_with("m [email:"));
        assert_eq!(v.timestamp, 1_795_168_800_000);
    }

    mod bad_input {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
            #[test]
            fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
                let _ = parse_view(&s, &Redactor::new([0; 32]));
            }

            #[test]
            fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
                let s = String::from_utf8_lossy(&b);
                let _ = parse_view(&s, &Redactor::new([0; 32]));
            }
        }

        #[test]
        fn deep_nesting_is_never_a_stack_overflow() {
            let r = Redactor::new([0; 32]);
            // Where the parser reads, serde_json's depth limit rejects it…
            let read = format!(r#"{{"event_id":"a","timestamp":1,"exception":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
            assert!(parse_view(&read, &r).is_err());
            // …and where it skips, skipping is iterative: the same as the full parser.
            let skipped =
                format!(r#"{{"event_id":"a","timestamp":1,"message":"m","extra":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
            assert_eq!(parse_view(&skipped, &r).is_ok(), parse_event(&skipped, &r).is_ok());
        }
    }
}
