//! OpenTelemetry logs in OTLP/JSON (`ExportLogsServiceRequest`):
//! `resourceLogs[].resource.attributes[]`, `resourceLogs[].scopeLogs[].logRecords[]`.
//!
//! A log record becomes an [`ErrorEvent`] when it carries `exception.type`,
//! `exception.message` or `exception.stacktrace` (parsed into frames by
//! [`stacktext`]), or when it is an ERROR or FATAL record (`severityNumber`
//! ≥ 17, or `severityText` error/fatal when the number is absent) with a body —
//! a message event. Other records are [`Outcome::Skipped`].
//!
//! Two entry points share one record-by-record visitor:
//! [`parse_request`] for a request held in memory (the HTTP receiver, one
//! request per line of a JSON-lines file), which is all-or-nothing like an
//! OTLP receiver — a request that is not well-formed JSON is one rejection;
//! and [`stream_reader`] for one huge document, which emits each record as it
//! is read and never holds more than one record (plus, if a resource's
//! `scopeLogs` come before its `resource`, that resource's raw records).
//!
//! A record that is well-formed JSON but wrong (a missing time, a string
//! where a number goes) is a rejection naming it, e.g.
//! `resourceLogs[0].scopeLogs[1].logRecords[5]`, and the others go on.
//!
//! Mapping (resource attributes, overridden by record attributes where both apply):
//! `service.name` → service, `service.version` → release (`name@version`),
//! `deployment.environment(.name)` → environment, `cloud.region` / `region` →
//! region, `tenant` / `tenant.id` → tenant, `enduser.id` / `user.id` → user
//! (keyed hash), `http.route` → transaction, `feature_flag.key` with
//! `feature_flag.result.variant` (or `feature_flag.variant`, or
//! `feature_flag.result.value`) → flags, `event.id` / `log.record.uid` → event
//! id; other record attributes, other resource attributes except
//! `telemetry.*` and `process.*`, and the trace and span ids become tags.
//! Without an id attribute the id is derived ([`Redactor::derived_id`], a
//! keyed hash) from the time, trace id, span id, exception type, message,
//! stack trace and body, so ingesting the same file twice finds duplicates.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::Rejection;
use super::redact::Redactor;
use super::stacktext;
use crate::model::{ErrorEvent, Level};

type Str<'a> = Cow<'a, str>;

/// What became of one log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Event(Box<ErrorEvent>),
    /// `location` names the record within the request (`resourceLogs[0]…`).
    Rejected(Rejection),
    /// Not an error: no exception attributes and below ERROR (or no body).
    Skipped,
}

/// Parses one OTLP/JSON logs request held in memory. All or nothing for the
/// document: if it is not well-formed JSON of the right shape, the only
/// outcome is one rejection (location `request`); otherwise one outcome per
/// log record, in document order.
pub fn parse_request(json: &str, redactor: &Redactor, emit: &mut dyn FnMut(Outcome)) {
    let mut outcomes = Vec::new();
    let mut de = serde_json::Deserializer::from_str(json);
    let result = visit_document(&mut de, redactor, &mut |o| outcomes.push(o)).and_then(|()| de.end().map_err(|e| e.to_string()));
    match result {
        Ok(()) => outcomes.into_iter().for_each(emit),
        Err(reason) => emit(Outcome::Rejected(Rejection { location: "request".into(), reason })),
    }
}

/// Streams one OTLP/JSON logs document, emitting each record's outcome as it
/// is read. An error is returned when the document itself is broken
/// (truncated, not JSON, wrong shape); outcomes emitted before it stand.
pub fn stream_reader<R: Read>(reader: R, redactor: &Redactor, emit: &mut dyn FnMut(Outcome)) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 << 10, reader));
    visit_document(&mut de, redactor, emit)?;
    de.end().map_err(|e| e.to_string())
}

fn visit_document<'de, D: Deserializer<'de, Error = serde_json::Error>>(
    de: D,
    redactor: &Redactor,
    emit: &mut dyn FnMut(Outcome),
) -> Result<(), String> {
    let mut walk = Walk { redactor, emit, place: Place { resource: 0, scope: 0, record: 0 }, resource: None, pending: Vec::new() };
    Walker { walk: &mut walk, node: Node::Request }.deserialize(de).map_err(|e| format!("not an OTLP/JSON logs request: {e}"))
}

/// Indices of a record, for rejection locations.
#[derive(Clone, Copy)]
struct Place {
    resource: usize,
    scope: usize,
    record: usize,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "resourceLogs[{}].scopeLogs[{}].logRecords[{}]", self.resource, self.scope, self.record)
    }
}

/// The state of one walk over a document.
struct Walk<'c> {
    redactor: &'c Redactor,
    emit: &'c mut dyn FnMut(Outcome),
    place: Place,
    /// The current resource, once its `resource` key has been read.
    resource: Option<Result<Resource, String>>,
    /// Records read before their resource, kept raw until it arrives.
    pending: Vec<(Place, Box<RawValue>)>,
}

impl Walk<'_> {
    fn record(&mut self, place: Place, raw: &RawValue) {
        let outcome = match &self.resource {
            Some(Err(reason)) => Outcome::Rejected(Rejection { location: place.to_string(), reason: format!("resource: {reason}") }),
            Some(Ok(res)) => match record(raw.get(), res, self.redactor) {
                Ok(Some(ev)) => Outcome::Event(Box::new(ev)),
                Ok(None) => Outcome::Skipped,
                Err(reason) => Outcome::Rejected(Rejection { location: place.to_string(), reason }),
            },
            None => {
                self.pending.push((place, raw.to_owned()));
                return;
            }
        };
        (self.emit)(outcome);
    }

    fn flush_pending(&mut self) {
        for (place, raw) in std::mem::take(&mut self.pending) {
            self.record(place, &raw);
        }
    }
}

/// Where in the document a [`Walker`] stands.
#[derive(Clone, Copy)]
enum Node {
    Request,
    ResourceList,
    ResourceLogs,
    ScopeList,
    ScopeLogs,
    RecordList,
}

/// Visits the request's structure without materializing it: each log record
/// is captured raw, parsed and emitted before the next one is read.
struct Walker<'a, 'c> {
    walk: &'a mut Walk<'c>,
    node: Node,
}

impl<'de> DeserializeSeed<'de> for Walker<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        match self.node {
            Node::Request | Node::ResourceLogs | Node::ScopeLogs => de.deserialize_map(self),
            Node::ResourceList | Node::ScopeList | Node::RecordList => de.deserialize_seq(self),
        }
    }
}

fn is_key(key: &str, camel: &str, snake: &str) -> bool {
    key == camel || key == snake
}

impl<'de> Visitor<'de> for Walker<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self.node {
            Node::Request => "an object with resourceLogs",
            Node::ResourceList => "an array of ResourceLogs",
            Node::ResourceLogs => "a ResourceLogs object",
            Node::ScopeList => "an array of ScopeLogs",
            Node::ScopeLogs => "a ScopeLogs object",
            Node::RecordList => "an array of LogRecords",
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let walk = self.walk;
        match self.node {
            Node::ResourceLogs => {
                walk.resource = None;
                walk.pending.clear();
                walk.place.scope = 0;
            }
            Node::ScopeLogs => walk.place.record = 0,
            _ => {}
        }
        while let Some(key) = map.next_key::<Str<'de>>()? {
            let child = match (self.node, key.as_ref()) {
                (Node::Request, k) if is_key(k, "resourceLogs", "resource_logs") => Some(Node::ResourceList),
                (Node::ResourceLogs, k) if is_key(k, "scopeLogs", "scope_logs") => Some(Node::ScopeList),
                (Node::ScopeLogs, k) if is_key(k, "logRecords", "log_records") => Some(Node::RecordList),
                (Node::ResourceLogs, "resource") => {
                    let raw = map.next_value::<Box<RawValue>>()?;
                    walk.resource = Some(Resource::parse(raw.get()));
                    walk.flush_pending();
                    continue;
                }
                _ => None,
            };
            match child {
                Some(node) => map.next_value_seed(Walker { walk: &mut *walk, node })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Node::ResourceLogs = self.node {
            if walk.resource.is_none() {
                walk.resource = Some(Ok(Resource::default()));
            }
            walk.flush_pending();
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let walk = self.walk;
        match self.node {
            Node::ResourceList => {
                walk.place.resource = 0;
                while seq.next_element_seed(Walker { walk: &mut *walk, node: Node::ResourceLogs })?.is_some() {
                    walk.place.resource += 1;
                }
            }
            Node::ScopeList => {
                while seq.next_element_seed(Walker { walk: &mut *walk, node: Node::ScopeLogs })?.is_some() {
                    walk.place.scope += 1;
                }
            }
            Node::RecordList => {
                while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
                    walk.record(walk.place, &raw);
                    walk.place.record += 1;
                }
            }
            _ => return Err(serde::de::Error::invalid_type(serde::de::Unexpected::Seq, &"an object")),
        }
        Ok(())
    }
}

// ---- one record ------------------------------------------------------------

/// An OTLP `AnyValue`: exactly one of these is set in well-formed input.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawAny<'a> {
    #[serde(borrow, alias = "string_value")]
    string_value: Option<Str<'a>>,
    #[serde(alias = "bool_value")]
    bool_value: Option<bool>,
    /// int64 is a string in proto3 JSON, but encoders also write numbers.
    #[serde(borrow, alias = "int_value")]
    int_value: Option<RawNumber<'a>>,
    /// A number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
    #[serde(borrow, alias = "double_value")]
    double_value: Option<RawNumber<'a>>,
    #[serde(borrow, alias = "array_value")]
    array_value: Option<RawArray<'a>>,
    #[serde(borrow, alias = "kvlist_value")]
    kvlist_value: Option<RawKvList<'a>>,
    /// Base64, kept as written.
    #[serde(borrow, alias = "bytes_value")]
    bytes_value: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawNumber<'a> {
    Int(i64),
    Uint(u64),
    Float(f64),
    #[serde(borrow)]
    Text(Str<'a>),
}

impl fmt::Display for RawNumber<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawNumber::Int(n) => write!(f, "{n}"),
            RawNumber::Uint(n) => write!(f, "{n}"),
            RawNumber::Float(n) => write!(f, "{n}"),
            RawNumber::Text(t) => f.write_str(t),
        }
    }
}

#[derive(Deserialize)]
struct RawArray<'a> {
    #[serde(borrow, default)]
    values: Vec<RawAny<'a>>,
}

#[derive(Deserialize)]
struct RawKvList<'a> {
    #[serde(borrow, default)]
    values: Vec<RawKv<'a>>,
}

#[derive(Deserialize)]
struct RawKv<'a> {
    #[serde(borrow)]
    key: Str<'a>,
    #[serde(borrow, default)]
    value: Option<RawAny<'a>>,
}

impl RawAny<'_> {
    /// The value as text: strings as they are, scalars printed, arrays and
    /// key-value lists as compact JSON. `None` for an empty `AnyValue`.
    fn text(&self) -> Option<Cow<'_, str>> {
        if let Some(s) = &self.string_value {
            return Some(Cow::Borrowed(s));
        }
        if let Some(b) = self.bool_value {
            return Some(Cow::Owned(b.to_string()));
        }
        if let Some(n) = self.int_value.as_ref().or(self.double_value.as_ref()) {
            return Some(Cow::Owned(n.to_string()));
        }
        if let Some(b) = &self.bytes_value {
            return Some(Cow::Borrowed(b));
        }
        if self.array_value.is_some() || self.kvlist_value.is_some() {
            return Some(Cow::Owned(self.json().to_string()));
        }
        None
    }

    fn json(&self) -> serde_json::Value {
        use serde_json::Value;
        if let Some(a) = &self.array_value {
            return Value::Array(a.values.iter().map(RawAny::json).collect());
        }
        if let Some(kv) = &self.kvlist_value {
            return Value::Object(
                kv.values.iter().map(|kv| (kv.key.to_string(), kv.value.as_ref().map_or(Value::Null, RawAny::json))).collect(),
            );
        }
        if let Some(b) = self.bool_value {
            return Value::Bool(b);
        }
        match self.text() {
            Some(t) => Value::String(t.into_owned()),
            None => Value::Null,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSeverity<'a> {
    Number(i64),
    /// Proto3 JSON may write the enum's name: `SEVERITY_NUMBER_ERROR`.
    #[serde(borrow)]
    Name(Str<'a>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRecord<'a> {
    #[serde(borrow, alias = "time_unix_nano")]
    time_unix_nano: Option<RawNumber<'a>>,
    #[serde(borrow, alias = "observed_time_unix_nano")]
    observed_time_unix_nano: Option<RawNumber<'a>>,
    #[serde(borrow, alias = "severity_number")]
    severity_number: Option<RawSeverity<'a>>,
    #[serde(borrow, alias = "severity_text")]
    severity_text: Option<Str<'a>>,
    #[serde(borrow)]
    body: Option<RawAny<'a>>,
    #[serde(borrow, default)]
    attributes: Vec<RawKv<'a>>,
    #[serde(borrow, alias = "trace_id")]
    trace_id: Option<Str<'a>>,
    #[serde(borrow, alias = "span_id")]
    span_id: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct RawResource<'a> {
    #[serde(borrow, default)]
    attributes: Vec<RawKv<'a>>,
}

/// What a resource contributes to each of its records' events.
#[derive(Debug, Clone, Default)]
struct Resource {
    service: Option<String>,
    release: Option<String>,
    environment: Option<String>,
    region: Option<String>,
    tenant: Option<String>,
    tags: Vec<(String, String)>,
}

impl Resource {
    fn parse(json: &str) -> Result<Resource, String> {
        let raw: RawResource = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let mut res = Resource::default();
        for kv in &raw.attributes {
            let Some(v) = kv.value.as_ref().and_then(RawAny::text) else { continue };
            let v = v.into_owned();
            match kv.key.as_ref() {
                "service.name" => res.service = Some(v),
                "service.version" => res.release = Some(v),
                "deployment.environment" | "deployment.environment.name" => res.environment = Some(v),
                "cloud.region" | "region" => res.region = Some(v),
                "tenant" | "tenant.id" => res.tenant = Some(v),
                k if k.starts_with("telemetry.") || k.starts_with("process.") => {}
                k => res.tags.push((k.to_string(), v)),
            }
        }
        // Releases read `name@version`, as Sentry's SDKs name them, so the
        // same deploy is one release whichever way its events arrived.
        if let (Some(name), Some(version)) = (&res.service, &res.release)
            && !version.contains('@')
        {
            res.release = Some(format!("{name}@{version}"));
        }
        Ok(res)
    }
}

fn nanos(n: &RawNumber<'_>) -> Result<Option<u64>, String> {
    let v = match n {
        RawNumber::Uint(n) => *n,
        RawNumber::Int(n) => u64::try_from(*n).map_err(|_| format!("negative time {n}"))?,
        RawNumber::Float(f) if f.is_finite() && *f >= 0.0 => *f as u64,
        RawNumber::Float(f) => return Err(format!("time {f} is not a time")),
        RawNumber::Text(t) => t.parse::<u64>().map_err(|_| format!("time {t:?} is not a number of nanoseconds"))?,
    };
    Ok((v != 0).then_some(v))
}

/// OpenTelemetry severity numbers: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO,
/// 13-16 WARN, 17-20 ERROR, 21-24 FATAL. `None` for 0 (unspecified).
fn severity_level(sev: &RawSeverity<'_>) -> Result<Option<Level>, String> {
    let n = match sev {
        RawSeverity::Number(n) => *n,
        RawSeverity::Name(name) => {
            let word = name.strip_prefix("SEVERITY_NUMBER_").unwrap_or(name);
            let word = word.trim_end_matches(|c: char| c.is_ascii_digit());
            return match word {
                "UNSPECIFIED" => Ok(None),
                "TRACE" | "DEBUG" => Ok(Some(Level::Debug)),
                "INFO" => Ok(Some(Level::Info)),
                "WARN" => Ok(Some(Level::Warning)),
                "ERROR" => Ok(Some(Level::Error)),
                "FATAL" => Ok(Some(Level::Fatal)),
                _ => Err(format!("severityNumber {name:?} is not a severity")),
            };
        }
    };
    match n {
        0 => Ok(None),
        1..=8 => Ok(Some(Level::Debug)),
        9..=12 => Ok(Some(Level::Info)),
        13..=16 => Ok(Some(Level::Warning)),
        17..=20 => Ok(Some(Level::Error)),
        21..=24 => Ok(Some(Level::Fatal)),
        _ => Err(format!("severityNumber {n} is out of range")),
    }
}

fn is_hex_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
}

/// Parses one log record into an event, `None` for a record that is not an error.
fn record(json: &str, res: &Resource, redactor: &Redactor) -> Result<Option<ErrorEvent>, String> {
    let raw: RawRecord = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let level = match &raw.severity_number {
        Some(s) => severity_level(s)?,
        None => None,
    }
    .or_else(|| raw.severity_text.as_deref().and_then(Level::parse));
    let mut ex_type = None;
    let mut ex_message = None;
    let mut ex_stack = None;
    let mut escaped = None;
    let mut id = None;
    let mut user = None;
    let mut flag_key = None;
    let mut flag_variant = None;
    let mut flag_value = None;
    let mut ev = ErrorEvent {
        service: res.service.clone(),
        environment: res.environment.clone(),
        release: res.release.clone(),
        region: res.region.clone(),
        tenant: res.tenant.clone(),
        ..ErrorEvent::default()
    };
    let mut tags: Vec<(String, String)> = res.tags.clone();
    for kv in &raw.attributes {
        let Some(value) = kv.value.as_ref() else { continue };
        let Some(text) = value.text() else { continue };
        match kv.key.as_ref() {
            "exception.type" => ex_type = Some(text),
            "exception.message" => ex_message = Some(text),
            "exception.stacktrace" => ex_stack = Some(text),
            "exception.escaped" => escaped = value.bool_value.or_else(|| text.parse().ok()),
            "event.id" | "log.record.uid" => id = Some(text.into_owned()),
            "enduser.id" | "user.id" => user = Some(redactor.hash("user", &text)),
            "tenant" | "tenant.id" => ev.tenant = Some(text.into_owned()),
            "region" | "cloud.region" => ev.region = Some(text.into_owned()),
            "http.route" => ev.transaction = Some(redactor.scrub(&text).into_owned()),
            "feature_flag.key" => flag_key = Some(text.into_owned()),
            "feature_flag.result.variant" | "feature_flag.variant" => flag_variant = Some(text.into_owned()),
            "feature_flag.result.value" => flag_value = Some(text.into_owned()),
            k => tags.push((k.to_string(), redactor.scrub(&text).into_owned())),
        }
    }
    let body = raw.body.as_ref().and_then(RawAny::text).filter(|b| !b.trim().is_empty());
    let is_exception = ex_type.is_some() || ex_message.is_some() || ex_stack.is_some();
    let is_error_message = level.is_some_and(|l| l >= Level::Error) && body.is_some();
    if !is_exception && !is_error_message {
        return Ok(None);
    }
    let time = match &raw.time_unix_nano {
        Some(t) => nanos(t)?,
        None => None,
    };
    let time = match (time, &raw.observed_time_unix_nano) {
        (Some(t), _) => t,
        (None, Some(o)) => nanos(o)?.ok_or("missing timeUnixNano")?,
        (None, None) => return Err("missing timeUnixNano".into()),
    };
    ev.timestamp = i64::try_from(time / 1_000_000).map_err(|_| "time out of range")?;
    ev.level = level.unwrap_or_default();
    ev.exceptions = stacktext::reported_chain(ex_type.as_deref(), ex_message.as_deref(), ex_stack.as_deref());
    for e in ev.exceptions.iter_mut() {
        if let Cow::Owned(clean) = redactor.scrub(&e.value) {
            e.value = clean;
        }
    }
    if let (Some(last), Some(escaped)) = (ev.exceptions.last_mut(), escaped) {
        last.handled = Some(!escaped);
    }
    // The body of an exception record usually repeats `Type: message`; keep it
    // only when it says something else.
    let repeats = |b: &str| ex_message.as_deref().is_some_and(|m| b == m || b.ends_with(&format!(": {m}")));
    ev.message = body.as_deref().filter(|b| !is_exception || !repeats(b)).map(|b| redactor.scrub(b).into_owned());
    ev.user = user;
    if let Some(key) = flag_key.filter(|k| !k.is_empty())
        && let Some(variant) = flag_variant.or(flag_value)
    {
        ev.flags.push((key, redactor.scrub(&variant).into_owned()));
    }
    let trace_id = raw.trace_id.as_deref().filter(|t| is_hex_id(t));
    let span_id = raw.span_id.as_deref().filter(|t| is_hex_id(t));
    if let Some(t) = trace_id {
        tags.push(("trace_id".into(), t.to_ascii_lowercase()));
    }
    if let Some(s) = span_id {
        tags.push(("span_id".into(), s.to_ascii_lowercase()));
    }
    // Record attributes come after the resource's: the last of a key wins.
    tags.reverse();
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    tags.dedup_by(|a, b| a.0 == b.0);
    ev.tags = tags;
    ev.id = match id.filter(|i| !i.is_empty()) {
        Some(id) => id,
        None => redactor.derived_id(&[
            raw.time_unix_nano.as_ref().map(|t| t.to_string()).unwrap_or_default().as_str(),
            raw.trace_id.as_deref().unwrap_or(""),
            raw.span_id.as_deref().unwrap_or(""),
            ex_type.as_deref().unwrap_or(""),
            ex_message.as_deref().unwrap_or(""),
            ex_stack.as_deref().unwrap_or(""),
            body.as_deref().unwrap_or(""),
        ]),
    };
    Ok(Some(ev))
}

#[cfg(test)]
mod tests;
