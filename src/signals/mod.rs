//! Ingest: turns error signals from outside into [`ErrorEvent`]s.
//!
//! Everything that arrives here is untrusted. Parsers never panic on bad input;
//! a bad record is rejected with a reason naming where it was (file and line).
//! Identifiers of people are replaced by keyed hashes (see [`redact`]) before
//! an event leaves this module, so raw values never reach the store.

pub mod detect;
pub mod jsonl;
pub mod otlp;
pub mod redact;
pub mod sentry;
pub mod sentry_fast;
pub mod stacktext;

/// Why one input record was not ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub location: String,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.reason)
    }
}

/// A feature flag's evaluated value as a variant name: strings as they are,
/// booleans as `on`/`off`, other values as JSON; `None` for null.
pub fn flag_variant(value: serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Bool(b) => Some(if b { "on" } else { "off" }.to_string()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}
