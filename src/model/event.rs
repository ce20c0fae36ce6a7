//! Error events as Suture stores them after ingest, independent of the source
//! format (Sentry, OTLP, Suture JSON lines).

use serde::{Deserialize, Serialize};

use super::Millis;

/// Severity of an event, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warning,
    #[default]
    Error,
    Fatal,
}

impl Level {
    /// Parses the level names used by Sentry and OpenTelemetry severity texts.
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "debug" | "trace" => Some(Level::Debug),
            "info" | "log" => Some(Level::Info),
            "warning" | "warn" => Some(Level::Warning),
            "error" => Some(Level::Error),
            "fatal" | "critical" => Some(Level::Fatal),
            _ => None,
        }
    }
}

/// One frame of a stack trace, oldest call first within [`ExceptionInfo::frames`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StackFrame {
    pub filename: Option<String>,
    pub abs_path: Option<String>,
    pub function: Option<String>,
    pub module: Option<String>,
    pub lineno: Option<u32>,
    pub colno: Option<u32>,
    pub context_line: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_context: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_context: Vec<String>,
    /// Whether the frame belongs to the application rather than a library.
    /// `None` when the source did not say; triage decides then.
    pub in_app: Option<bool>,
}

/// One exception of a possibly chained set, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExceptionInfo {
    pub kind: String,
    pub value: String,
    pub module: Option<String>,
    pub handled: Option<bool>,
    #[serde(default)]
    pub frames: Vec<StackFrame>,
}

/// A normalized error event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ErrorEvent {
    pub id: String,
    pub timestamp: Millis,
    pub level: Level,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    /// Message for events without an exception (log lines).
    pub message: Option<String>,
    /// Chained exceptions, oldest first; the last is the one that escaped.
    #[serde(default)]
    pub exceptions: Vec<ExceptionInfo>,
    /// Already-redacted user key (a keyed hash), never a raw identifier.
    pub user: Option<String>,
    pub tenant: Option<String>,
    pub region: Option<String>,
    pub transaction: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// Feature flags evaluated for the request, `(flag key, variant)`, sorted
    /// by key (Sentry's `contexts.flags`, `flag.*` tags, OpenTelemetry's
    /// `feature_flag.*` attributes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<(String, String)>,
}

impl ErrorEvent {
    /// The exception that escaped (the newest of a chain).
    pub fn primary_exception(&self) -> Option<&ExceptionInfo> {
        self.exceptions.last()
    }

    /// A one-line title like Sentry's: `Type: value` or the message.
    pub fn title(&self) -> String {
        match self.primary_exception() {
            Some(e) if e.value.is_empty() => e.kind.clone(),
            Some(e) => format!("{}: {}", e.kind, e.value),
            None => self.message.clone().unwrap_or_else(|| "(no message)".into()),
        }
    }

    /// The innermost in-app frame of the escaping exception, where a fix usually goes.
    pub fn culprit(&self) -> Option<&StackFrame> {
        let e = self.primary_exception()?;
        e.frames.iter().rev().find(|f| f.in_app == Some(true))
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, in_app: bool) -> StackFrame {
        StackFrame { function: Some(function.into()), in_app: Some(in_app), ..Default::default() }
    }

    #[test]
    fn title_and_culprit_use_the_escaping_exception() {
        let ev = ErrorEvent {
            exceptions: vec![
                ExceptionInfo { kind: "KeyError".into(), value: "'x'".into(), ..Default::default() },
                ExceptionInfo {
                    kind: "RuntimeError".into(),
                    value: "sync failed".into(),
                    frames: vec![frame("serve", false), frame("handle", true), frame("sync", true), frame("get", false)],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(ev.title(), "RuntimeError: sync failed");
        assert_eq!(ev.culprit().and_then(|f| f.function.as_deref()), Some("sync"));
    }

    #[test]
    fn message_only_event_has_message_title() {
        let ev = ErrorEvent { message: Some("timeout after 30 ms".into()), ..Default::default() };
        assert_eq!(ev.title(), "timeout after 30 ms");
        assert!(ev.culprit().is_none());
    }

    #[test]
    fn levels_parse_and_order() {
        assert_eq!(Level::parse("WARN"), Some(Level::Warning));
        assert_eq!(Level::parse("nope"), None);
        assert!(Level::Fatal > Level::Warning);
    }
}
