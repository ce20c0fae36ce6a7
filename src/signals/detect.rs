//! Which ingest format a file holds, from its first bytes (the caller passes
//! up to 64 KiB; more is fine, less may decide less).
//!
//! Rules, in order, after a UTF-8 byte-order mark and leading whitespace:
//! 1. Nothing left: [`Format::Unknown`].
//! 2. `[`: a JSON array of Sentry events, [`Format::SentryArray`].
//! 3. `{` and the first line is a complete JSON object (JSON lines), judged
//!    by that object's top-level keys:
//!    - `resourceLogs` (or `resource_logs`): [`Format::OtlpLines`] when
//!      another line follows, else [`Format::OtlpDocument`] (a one-line
//!      document; streaming it is as good as reading it whole);
//!    - `event_id`: [`Format::SentryLines`];
//!    - `timestamp` with `message` or `exception`: [`Format::SutureLines`];
//!    - otherwise [`Format::Unknown`].
//! 4. `{` and the first object spans lines (pretty-printed) or runs past the
//!    bytes given: its top-level keys as far as they were read decide —
//!    `resourceLogs` makes an [`Format::OtlpDocument`], `event_id` or any key
//!    only Sentry events have a [`Format::SentryEvent`]. A JSON-lines file
//!    whose first line is longer than the bytes given lands here too.
//! 5. Anything else: [`Format::Unknown`].

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One Sentry event per line.
    SentryLines,
    /// A JSON array of Sentry events.
    SentryArray,
    /// One Sentry event document, possibly pretty-printed.
    SentryEvent,
    /// One OTLP/JSON logs request (`{"resourceLogs": …}`), possibly huge.
    OtlpDocument,
    /// One OTLP/JSON logs request per line.
    OtlpLines,
    /// Suture's own JSON lines (the README's "Suture JSON lines").
    SutureLines,
    Unknown,
}

/// Top-level keys of Sentry events that neither OTLP requests nor Suture lines have.
const SENTRY_KEYS: [&str; 10] =
    ["event_id", "platform", "sdk", "contexts", "logentry", "server_name", "breadcrumbs", "fingerprint", "request", "logger"];

pub fn sniff(first_bytes: &[u8]) -> Format {
    let bytes = first_bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(first_bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let bytes = &bytes[start..];
    match bytes.first() {
        Some(b'[') => return Format::SentryArray,
        Some(b'{') => {}
        _ => return Format::Unknown,
    }
    let (line, rest) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
        None => (bytes, None),
    };
    let mut keys = Vec::new();
    let complete_line = top_level_keys(line, &mut keys);
    let has = |k: &str| keys.iter().any(|x| x == k);
    let is_otlp = has("resourceLogs") || has("resource_logs");
    // The first line is a whole object: JSON lines (or a one-line document).
    if complete_line {
        if is_otlp {
            let another = rest.is_some_and(|r| r.iter().any(|b| !b.is_ascii_whitespace()));
            return if another { Format::OtlpLines } else { Format::OtlpDocument };
        }
        if has("event_id") {
            return Format::SentryLines;
        }
        if has("timestamp") && (has("message") || has("exception")) {
            return Format::SutureLines;
        }
        return Format::Unknown;
    }
    keys.clear();
    top_level_keys(bytes, &mut keys);
    let has = |k: &str| keys.iter().any(|x| x == k);
    if has("resourceLogs") || has("resource_logs") {
        Format::OtlpDocument
    } else if SENTRY_KEYS.iter().any(|k| has(k)) {
        Format::SentryEvent
    } else {
        Format::Unknown
    }
}

/// Collects the top-level keys of the object at the start of `bytes`, as far
/// as it can be read. True when the object is complete and nothing but
/// whitespace follows it.
fn top_level_keys(bytes: &[u8], keys: &mut Vec<String>) -> bool {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.deserialize_map(KeyCollector(keys)).is_ok() && de.end().is_ok()
}

struct KeyCollector<'k>(&'k mut Vec<String>);

impl<'de> Visitor<'de> for KeyCollector<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            self.0.push(key);
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn fixture_head(path: &str) -> Vec<u8> {
        let bytes = std::fs::read(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        bytes[..bytes.len().min(64 << 10)].to_vec()
    }

    #[test]
    fn the_demo_files() {
        assert_eq!(sniff(&fixture_head("fixtures/demo/events/sentry.jsonl")), Format::SentryLines);
        // One line of 784 KB: cut at 64 KiB, read as a document.
        assert_eq!(sniff(&fixture_head("fixtures/demo/events/otlp-logs.json")), Format::OtlpDocument);
    }

    #[test]
    fn each_format() {
        let cases: [(&str, Format); 14] = [
            ("{\"event_id\":\"a\",\"timestamp\":1,\"message\":\"m\"}\n{\"event_id\":\"b\"", Format::SentryLines),
            ("{\"event_id\":\"a\",\"timestamp\":1,\"message\":\"m\"}", Format::SentryLines),
            ("\u{feff}  [\n {\"event_id\":\"a\"},\n", Format::SentryArray),
            ("{\n  \"event_id\": \"a\",\n  \"timestamp\": 1\n}\n", Format::SentryEvent),
            ("{\n  \"platform\": \"python\",\n  \"exception\": {\"values\": [", Format::SentryEvent),
            ("{\"resourceLogs\":[{\"resource\":{}}]}", Format::OtlpDocument),
            ("{\"resourceLogs\":[{\"resource\":{}}]}\n\n", Format::OtlpDocument),
            ("{\n \"resourceLogs\": [\n", Format::OtlpDocument),
            ("{\"resourceLogs\":[]}\n{\"resourceLogs\":[]}\n", Format::OtlpLines),
            ("{\"resource_logs\":[]}\n{\"resource_logs\":[]}", Format::OtlpLines),
            ("{\"timestamp\":1,\"message\":\"m\"}\n", Format::SutureLines),
            ("{\"exception\":{\"type\":\"E\"},\"timestamp\":\"2026-01-01T00:00:00Z\"}\n{", Format::SutureLines),
            ("{\"timestamp\":1,\"msg\":\"m\"}\n", Format::Unknown),
            ("{\n  \"timestamp\": 1,\n  \"message\": \"pretty suture\"\n}", Format::Unknown),
        ];
        for (text, want) in cases {
            assert_eq!(sniff(text.as_bytes()), want, "{text:?}");
        }
        for text in ["", "   \n", "hello", "Traceback (most recent call last):", "\"str\"", "{", "{\"a\":"] {
            assert_eq!(sniff(text.as_bytes()), Format::Unknown, "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = sniff(&bytes);
        }
    }
}
