//! Feature flags: read, flip and watch flags in the service's own flag
//! system. A flag is the quickest mitigation an incident console can offer:
//! a kill switch takes effect within a second, a code fix takes a deploy.
//!
//! One trait, [`FlagBackend`], over three systems:
//! - [`flagd::FlagdFile`], a flagd flag-definition file. flagd (and the demo
//!   service) re-read the file when it changes, so rewriting it atomically is
//!   the management API. The embedded default, and the only backend that can
//!   give a segment (`tenant=acme`) its own variant.
//! - [`ofrep::OfrepClient`], the OpenFeature Remote Evaluation Protocol. It is
//!   evaluation only: it reads and watches what any OFREP provider decides
//!   and cannot set anything.
//! - [`unleash::UnleashAdmin`], the Unleash admin API, which turns a flag on
//!   or off per environment.
//!
//! The trait returns boxed futures and streams so that `dyn FlagBackend`
//! works: the console picks a backend from the configuration at run time.
//!
//! Errors say what was wrong and where: the file, line and flag, or the URL,
//! the HTTP status and what the server said. They never carry a token: a
//! server's message is redacted (in case it echoes the credentials back) and
//! cut short before it goes into an error.

pub mod flagd;
pub mod ofrep;
pub mod unleash;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A boxed, sendable future: what the trait's async methods return.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The largest reply read from a flag service, in bytes.
const BODY_LIMIT: usize = 1024 * 1024;
/// How much of a server's message an error quotes, in characters.
const QUOTE_CHARS: usize = 300;
/// The longest wait a `Retry-After` header is believed for.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);
/// The shortest interval a watch polls at, whatever it is asked.
const MIN_POLL: Duration = Duration::from_millis(10);

/// What a backend can do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// [`FlagBackend::read`] works.
    pub read: bool,
    /// [`FlagBackend::set`] works (for some [`Setting`]s at least).
    pub set: bool,
    /// [`FlagBackend::watch`] works.
    pub watch: bool,
    /// [`FlagBackend::set`] accepts a [`Segment`].
    pub segments: bool,
}

/// A flag system Suture can read and (depending on [`Capabilities`]) change.
pub trait FlagBackend: Send + Sync {
    /// What and where the backend is, for the console and the audit log:
    /// `flagd file /srv/flags.json`, `ofrep http://flagd:8016`,
    /// `unleash http://unleash:4242 env production`.
    fn name(&self) -> String;

    /// What the backend can do.
    fn capabilities(&self) -> Capabilities;

    /// The flag's current state.
    fn read<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Flag, FlagError>>;

    /// Changes the flag: for everyone, or only for `segment` when one is given
    /// (everyone else keeps what they had).
    fn set<'a>(&'a self, key: &'a str, setting: &'a Setting, segment: Option<&'a Segment>) -> BoxFut<'a, Result<Change, FlagError>>;

    /// Polls (every `every`) and yields the flag each time it changes (first
    /// item = current state). A failed poll is yielded as an `Err` item and
    /// the stream goes on; it ends only when dropped.
    fn watch(&self, key: String, every: Duration) -> BoxStream<'static, Result<Flag, FlagError>>;
}

/// A flag as a backend reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub key: String,
    /// Whether the flag is on at all (flagd `state`, Unleash environment
    /// `enabled`, OFREP reason other than `DISABLED`).
    pub enabled: bool,
    /// The value the default rule gives (no context); `Null` if none.
    pub value: Value,
    /// The variant that value belongs to, when the backend has variants.
    pub variant: Option<String>,
    /// Segment overrides Suture wrote or can read, in the order they apply.
    pub segments: Vec<SegmentRule>,
    /// A version tag: the same tag means the same flag definition.
    pub etag: Option<String>,
}

/// A segment that gets its own variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRule {
    pub segment: Segment,
    pub variant: String,
}

/// A set of evaluation contexts: those whose `attribute` is one of `values`.
/// Written and parsed as `tenant=acme,globex`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Segment {
    /// The context key: `tenant`, `region` or any other.
    pub attribute: String,
    /// At least one value, none empty, no duplicates.
    pub values: Vec<String>,
}

impl Segment {
    /// Whether both name the same contexts (same attribute, same values in
    /// any order).
    pub fn same_as(&self, other: &Segment) -> bool {
        let mut mine: Vec<&str> = self.values.iter().map(String::as_str).collect();
        let mut theirs: Vec<&str> = other.values.iter().map(String::as_str).collect();
        mine.sort_unstable();
        mine.dedup();
        theirs.sort_unstable();
        theirs.dedup();
        self.attribute == other.attribute && mine == theirs
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.attribute, self.values.join(","))
    }
}

impl FromStr for Segment {
    type Err = FlagError;

    /// `attribute=value[,value…]`; spaces around the parts are ignored,
    /// repeated values are dropped.
    fn from_str(text: &str) -> Result<Segment, FlagError> {
        let invalid = |message: &str| FlagError::Invalid {
            place: format!("segment {:?}", text.trim()),
            line: None,
            column: None,
            message: format!("{message}; write it as attribute=value[,value…], e.g. tenant=acme,globex"),
        };
        let Some((attribute, values)) = text.split_once('=') else {
            return Err(invalid(if text.trim().is_empty() { "is empty" } else { "has no '='" }));
        };
        let attribute = attribute.trim();
        if attribute.is_empty() {
            return Err(invalid("names no attribute before '='"));
        }
        if attribute.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '=') {
            return Err(invalid("has an attribute with spaces, commas or control characters"));
        }
        let mut parsed: Vec<&str> = Vec::new();
        for value in values.split(',') {
            let value = value.trim();
            if value.is_empty() {
                return Err(invalid(if values.trim().is_empty() { "has no values after '='" } else { "has an empty value" }));
            }
            if value.chars().any(|c| c.is_control() || c == '=') {
                return Err(invalid("has a value with '=' or control characters"));
            }
            if !parsed.contains(&value) {
                parsed.push(value);
            }
        }
        Ok(Segment { attribute: attribute.to_owned(), values: parsed.into_iter().map(str::to_owned).collect() })
    }
}

/// What to set a flag to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Setting {
    /// The flag's state: on or off as a whole.
    Enabled(bool),
    /// Select a variant by name.
    Variant(String),
    /// Select the variant whose value equals this.
    Value(Value),
}

impl Setting {
    /// Reads what a user typed: `enabled` / `disabled` set the state;
    /// `true`, `false`, numbers and other JSON select the variant with that
    /// value; anything else is a variant name (`on`, `off`, `vector`).
    pub fn parse(text: &str) -> Setting {
        let text = text.trim();
        if text.eq_ignore_ascii_case("enabled") {
            return Setting::Enabled(true);
        }
        if text.eq_ignore_ascii_case("disabled") {
            return Setting::Enabled(false);
        }
        match serde_json::from_str::<Value>(text) {
            Ok(value) => Setting::Value(value),
            Err(_) => Setting::Variant(text.to_owned()),
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Setting::Enabled(true) => f.write_str("enabled"),
            Setting::Enabled(false) => f.write_str("disabled"),
            Setting::Variant(name) => f.write_str(name),
            Setting::Value(value) => write!(f, "{value}"),
        }
    }
}

/// What a [`FlagBackend::set`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub key: String,
    /// The flag before; `None` when the set created it.
    pub before: Option<Flag>,
    /// The flag as read back after the write.
    pub after: Flag,
    /// [`FlagBackend::name`] of the backend that wrote it.
    pub backend: String,
    /// One line saying what was written, e.g. `default variant on → off`.
    pub detail: String,
}

/// Why a flag could not be read or set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlagError {
    /// No flag with that key where it was looked for.
    #[error("no flag {key:?} in {place}")]
    NotFound {
        key: String,
        /// The file, or the service with its project and environment.
        place: String,
    },
    /// Malformed input: a flag file that is not JSON or not flagd's shape, a
    /// setting the flag cannot take, a segment that does not parse, a
    /// request the service found invalid.
    #[error("{place}{}: {message}", position(.line, .column))]
    Invalid {
        /// The file (or URL, or the text that was parsed).
        place: String,
        /// 1-based, when the problem has a place in a file.
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// The backend cannot do this; the message says what to do instead.
    #[error("{backend}: {message}")]
    Unsupported { backend: String, message: String },
    /// Someone else got there first: a lock is held, or the flag changed.
    #[error("{place}: {message}")]
    Conflict { place: String, message: String },
    /// The service answered with an error, or could not be reached
    /// (`status` is then `None`).
    #[error("{url}: {}{message}", status_prefix(.status))]
    Http { url: String, status: Option<u16>, message: String },
    /// The service asked to slow down (HTTP 429).
    #[error("{url}: rate limited (HTTP 429); {}", retry_hint(.retry_after))]
    RateLimited { url: String, retry_after: Option<Duration> },
    /// The credentials were refused (HTTP 401 or 403).
    #[error("{url}: HTTP {status}: the token was refused; check it and its permissions (server said: {message})")]
    Unauthorized { url: String, status: u16, message: String },
    /// A file could not be read or written.
    #[error("{}: {message}", .path.display())]
    Io { path: PathBuf, message: String },
}

/// `:line:column` for an error message, or nothing.
fn position(line: &Option<usize>, column: &Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(":{line}:{column}"),
        (Some(line), None) => format!(":{line}"),
        _ => String::new(),
    }
}

fn status_prefix(status: &Option<u16>) -> String {
    status.map(|status| format!("HTTP {status}: ")).unwrap_or_default()
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!("retry in {} s", wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
        None => "retry later".to_owned(),
    }
}

// --- watching -------------------------------------------------------------

/// One poll's outcome: `None` when nothing can have changed since the last.
type Probed = Option<Result<Flag, FlagError>>;
/// What a watch calls each time round.
type Probe = Box<dyn FnMut() -> BoxFut<'static, Probed> + Send>;

/// The loop behind every backend's `watch`: calls `probe` at once and then
/// every `every`, and yields its result whenever it differs from the last
/// one yielded (an error included, so a broken file is reported once, and
/// its repair too).
fn poll_changes(every: Duration, probe: Probe) -> BoxStream<'static, Result<Flag, FlagError>> {
    struct Poll {
        probe: Probe,
        last: Option<Result<Flag, FlagError>>,
        first: bool,
    }
    let every = every.max(MIN_POLL);
    let start = Poll { probe, last: None, first: true };
    futures::stream::unfold(start, move |mut poll| async move {
        loop {
            if poll.first {
                poll.first = false;
            } else {
                tokio::time::sleep(every).await;
            }
            let Some(result) = (poll.probe)().await else { continue };
            if poll.last.as_ref() == Some(&result) {
                continue;
            }
            poll.last = Some(result.clone());
            return Some((result, poll));
        }
    })
    .boxed()
}

// --- HTTP helpers shared by the OFREP and Unleash clients -------------------

/// A service's base URL, checked: http or https, a host, no credentials (they
/// would end up in error messages), no query or fragment. Returned without a
/// trailing slash, ready for `{base}/path`.
fn base_url(text: &str, service: &str) -> Result<String, FlagError> {
    let trimmed = text.trim();
    let invalid = |message: String| FlagError::Invalid { place: format!("{service} base URL"), line: None, column: None, message };
    let url = reqwest::Url::parse(trimmed).map_err(|e| {
        if trimmed.contains('@') { invalid(format!("not a URL ({e})")) } else { invalid(format!("{trimmed:?} is not a URL ({e})")) }
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials; give the token separately".to_owned()));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("{url} must be http or https, not {}", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("{url} has no host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!("{url} must not have a query or a fragment")));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Percent-encodes one path segment (a flag key, a project, an environment).
fn path_segment(text: &str) -> String {
    crate::encode::percent_encode(text)
}

/// `text` with every occurrence of `secret` replaced.
fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() { text.to_owned() } else { text.replace(secret, "<redacted>") }
}

/// Text from a server made safe to show: control characters become spaces,
/// and it is cut at [`QUOTE_CHARS`] characters.
fn inert(text: &str) -> String {
    let clean: String = text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= QUOTE_CHARS {
        return clean;
    }
    let mut cut: String = clean.chars().take(QUOTE_CHARS).collect();
    cut.push('…');
    cut
}

/// What a server said in an error reply: OFREP's `errorCode` and
/// `errorDetails`, Unleash's `message` and `details[0].message`, or the body
/// itself. Redacted before it is cut, so no piece of the secret survives.
fn server_message(body: &[u8], secret: &str) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(reply) => json_message(&reply).unwrap_or_else(|| reply.to_string()),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let text = inert(&redact(&text, secret));
    if text.is_empty() { "(no message)".to_owned() } else { text }
}

fn json_message(reply: &Value) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for field in ["errorCode", "errorDetails", "message", "error", "error_description"] {
        if let Some(text) = reply.get(field).and_then(Value::as_str)
            && !text.trim().is_empty()
        {
            parts.push(text);
        }
    }
    if let Some(text) = reply.pointer("/details/0/message").and_then(Value::as_str)
        && !text.trim().is_empty()
        && !parts.contains(&text)
    {
        parts.push(text);
    }
    if parts.is_empty() { None } else { Some(parts.join(": ")) }
}

/// A failure below HTTP: no connection, a timeout, a broken reply.
fn transport_error(url: &str, error: &reqwest::Error, secret: &str) -> FlagError {
    let chain = std::iter::successors(Some(error as &(dyn std::error::Error + 'static)), |e| e.source());
    let detail = chain.map(ToString::to_string).collect::<Vec<_>>().join(": ");
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    FlagError::Http { url: url.to_owned(), status: None, message: inert(&redact(&format!("{what}: {detail}"), secret)) }
}

/// The reply's body, refused when it is over [`BODY_LIMIT`].
async fn read_body(response: &mut reqwest::Response, url: &str, secret: &str) -> Result<Vec<u8>, FlagError> {
    let status = Some(response.status().as_u16());
    let too_large = || FlagError::Http { url: url.to_owned(), status, message: format!("the reply is larger than {BODY_LIMIT} bytes") };
    if let Some(length) = response.content_length()
        && length > BODY_LIMIT as u64
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > BODY_LIMIT {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(transport_error(url, &e, secret)),
        }
    }
}

/// The error for an unsuccessful status that means nothing special to the
/// service: 401 and 403 are [`FlagError::Unauthorized`], 429
/// [`FlagError::RateLimited`], anything else [`FlagError::Http`].
fn status_error(url: &str, status: u16, headers: &HeaderMap, body: &[u8], secret: &str) -> FlagError {
    match status {
        401 | 403 => FlagError::Unauthorized { url: url.to_owned(), status, message: server_message(body, secret) },
        429 => FlagError::RateLimited { url: url.to_owned(), retry_after: retry_after(headers) },
        _ => FlagError::Http { url: url.to_owned(), status: Some(status), message: server_message(body, secret) },
    }
}

/// The `Retry-After` header as a wait from now, at most [`RETRY_AFTER_CAP`].
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, jiff::Timestamp::now())
}

/// `Retry-After` is either delta-seconds (`120`) or an HTTP date (`Wed, 21
/// Oct 2015 07:28:00 GMT`); a date in the past means no wait.
fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let when = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(value).ok()?;
        Duration::from_secs(u64::try_from(when.as_second().saturating_sub(now.as_second())).unwrap_or(0))
    };
    Some(wait.min(RETRY_AFTER_CAP))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn setting_parse_tells_state_values_and_variant_names_apart() {
        assert_eq!(Setting::parse("enabled"), Setting::Enabled(true));
        assert_eq!(Setting::parse(" Disabled "), Setting::Enabled(false));
        assert_eq!(Setting::parse("true"), Setting::Value(json!(true)));
        assert_eq!(Setting::parse("false"), Setting::Value(json!(false)));
        assert_eq!(Setting::parse("20"), Setting::Value(json!(20)));
        assert_eq!(Setting::parse("\"vector\""), Setting::Value(json!("vector")));
        assert_eq!(Setting::parse("{\"a\": [1]}"), Setting::Value(json!({"a": [1]})));
        assert_eq!(Setting::parse("on"), Setting::Variant("on".to_owned()));
        assert_eq!(Setting::parse("off"), Setting::Variant("off".to_owned()));
        assert_eq!(Setting::parse("vector"), Setting::Variant("vector".to_owned()));
        assert_eq!(Setting::parse("true").to_string(), "true");
        assert_eq!(Setting::parse("disabled").to_string(), "disabled");
    }

    #[test]
    fn segments_parse_and_print() {
        let segment: Segment = "tenant=acme,globex".parse().unwrap();
        assert_eq!(segment, Segment { attribute: "tenant".to_owned(), values: vec!["acme".to_owned(), "globex".to_owned()] });
        assert_eq!(segment.to_string(), "tenant=acme,globex");
        let spaced: Segment = " region = eu-west-1 , us-east-1 ,eu-west-1".parse().unwrap();
        assert_eq!(spaced.to_string(), "region=eu-west-1,us-east-1");
        let reordered: Segment = "tenant=globex,acme".parse().unwrap();
        assert!(segment.same_as(&reordered));
        assert!(!segment.same_as(&"tenant=acme".parse().unwrap()));
        assert!(!segment.same_as(&"region=acme,globex".parse().unwrap()));
    }

    #[test]
    fn odd_segments_are_refused_with_a_reason() {
        for (text, reason) in [
            ("", "is empty"),
            ("tenant", "has no '='"),
            ("=acme", "names no attribute"),
            ("tenant=", "has no values"),
            ("tenant=acme,,globex", "has an empty value"),
            ("ten ant=acme", "spaces"),
            ("tenant=a=b", "'='"),
        ] {
            let error = text.parse::<Segment>().unwrap_err();
            assert!(matches!(error, FlagError::Invalid { .. }), "{text:?}: {error:?}");
            let shown = error.to_string();
            assert!(shown.contains(reason), "{text:?}: {shown}");
            assert!(shown.contains("tenant=acme,globex"), "{text:?} gives an example: {shown}");
        }
    }

    #[test]
    fn errors_name_place_and_position() {
        let error = FlagError::Invalid { place: "/f.json".to_owned(), line: Some(3), column: Some(7), message: "oops".to_owned() };
        assert_eq!(error.to_string(), "/f.json:3:7: oops");
        let error = FlagError::Http { url: "http://x/y".to_owned(), status: Some(500), message: "down".to_owned() };
        assert_eq!(error.to_string(), "http://x/y: HTTP 500: down");
        let error = FlagError::RateLimited { url: "http://x".to_owned(), retry_after: Some(Duration::from_millis(1500)) };
        assert_eq!(error.to_string(), "http://x: rate limited (HTTP 429); retry in 2 s");
        let error = FlagError::Io { path: PathBuf::from("/f.json"), message: "cannot read: gone".to_owned() };
        assert_eq!(error.to_string(), "/f.json: cannot read: gone");
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(base_url(" http://flagd:8016/ ", "OFREP").unwrap(), "http://flagd:8016");
        assert_eq!(base_url("https://x.example/flags/", "OFREP").unwrap(), "https://x.example/flags");
        assert!(base_url("ftp://x.example", "OFREP").unwrap_err().to_string().contains("http or https"));
        assert!(base_url("not a url", "OFREP").is_err());
        assert!(base_url("http://x.example/?a=1", "OFREP").is_err());
        let error = base_url("http://user:hunter2@x.example", "OFREP").unwrap_err().to_string();
        assert!(error.contains("credentials") && !error.contains("hunter2"), "{error}");
    }

    #[test]
    fn server_messages_are_redacted_before_they_are_cut() {
        let secret = "s3cr3t-token";
        let body = json!({"errorCode": "GENERAL", "errorDetails": format!("bad token {secret}")}).to_string();
        assert_eq!(server_message(body.as_bytes(), secret), "GENERAL: bad token <redacted>");
        let body = json!({"message": "nope", "details": [{"message": "really nope"}]}).to_string();
        assert_eq!(server_message(body.as_bytes(), secret), "nope: really nope");
        let long = format!("{}{secret}", "x".repeat(QUOTE_CHARS - 4));
        let shown = server_message(long.as_bytes(), secret);
        assert!(!shown.contains("s3cr"), "{shown}");
        assert_eq!(server_message(b"", secret), "(no message)");
        assert_eq!(server_message(b"line\none", secret), "line one");
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_and_capped() {
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("999999", now), Some(RETRY_AFTER_CAP));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::ZERO));
        let later = jiff::Timestamp::from_second(1_700_000_090).unwrap();
        let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&later).unwrap();
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(90)));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("suture.kill.checkout"), "suture.kill.checkout");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}
