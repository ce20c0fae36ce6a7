//! [`Client`]: building it from configuration, and one completion with
//! streaming, retries and backoff.

use std::env::VarError;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::Value;

use super::prompt::Prompt;
use super::sse::{SseEvent, SseParser};
use super::wire::{self, Step};
use super::{Api, Client, LlmError, excerpt};
use crate::config::LlmCfg;

/// The Messages API version this client speaks.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The wait before the first retry; it doubles for each retry after.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest `Retry-After` obeyed.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Connecting never gets longer than this, even with a long `timeout_secs`.
const MAX_CONNECT_SECS: u64 = 10;
/// Characters of an error body kept in `LlmError::Http`.
const BODY_EXCERPT_CHARS: usize = 300;
const USER_AGENT: &str = concat!("suture/", env!("CARGO_PKG_VERSION"));

impl Client {
    /// A client for `api` configured by `cfg` (the `propose.<api>` table),
    /// with the key read from the environment variable `cfg.key_env` names.
    ///
    /// An empty `key_env` or an unset variable means no key, which
    /// OpenAI-compatible local servers (Ollama, llama.cpp) are happy with;
    /// Anthropic needs one, so there it is an error naming the variable.
    pub fn new(api: Api, cfg: &LlmCfg) -> Result<Client, String> {
        let key = read_key(api, &cfg.key_env)?;
        Client::with_key(api, cfg, key)
    }

    /// Like [`Client::new`], with the key given instead of read from the
    /// environment (`cfg.key_env` is then only used in messages).
    pub fn with_key(api: Api, cfg: &LlmCfg, key: Option<String>) -> Result<Client, String> {
        check_cfg(api, cfg)?;
        let key = key.map(|key| key.trim().to_owned()).filter(|key| !key.is_empty());
        check_key(api, cfg, key.as_deref())?;
        let http = build_http(cfg)?;
        Ok(Client { api, cfg: cfg.clone(), key, http })
    }

    pub fn api(&self) -> Api {
        self.api
    }

    pub fn model(&self) -> &str {
        &self.cfg.model
    }

    pub fn base_url(&self) -> &str {
        &self.cfg.base_url
    }

    /// Bytes of code the prompt may carry (`context_bytes`).
    pub fn context_bytes(&self) -> usize {
        self.cfg.context_bytes
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Sends `prompt` and streams the reply: `on_text` gets each piece of
    /// text as it arrives, and the whole text is returned at the end.
    ///
    /// Connection failures, timeouts, HTTP 429, 500, 502, 503, 504 and 529
    /// are retried up to `retries` times with exponential backoff (or the
    /// server's `Retry-After`), but only while no text has reached `on_text`.
    pub async fn complete(&self, prompt: &Prompt, on_text: &mut (dyn FnMut(&str) + Send)) -> Result<String, LlmError> {
        let result = self.complete_with_retries(prompt, on_text).await;
        result.map_err(|error| error.redacted(self.key.as_deref()))
    }

    async fn complete_with_retries(&self, prompt: &Prompt, on_text: &mut (dyn FnMut(&str) + Send)) -> Result<String, LlmError> {
        let url = self.endpoint();
        let body = wire::request_body(self.api, &self.cfg.model, self.cfg.max_tokens, prompt);
        let mut retry = 0;
        loop {
            let mut sink = Sink { on_text: &mut *on_text, text: String::new() };
            let outcome = self.attempt(&url, &body, &mut sink).await;
            let failure = match outcome {
                Ok(()) => return Ok(sink.text),
                Err(failure) => failure,
            };
            let Some(wait) = self.retry_wait(&failure, retry, sink.delivered()) else {
                return Err(failure.error);
            };
            let shown = failure.error.redacted(self.key.as_deref());
            tracing::warn!(api = self.api.name(), retry = retry + 1, wait = ?wait, error = %shown, "retrying the LLM request");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// How long to wait before retry number `retry + 1`, or `None` when the
    /// failure is final.
    fn retry_wait(&self, failure: &Failure, retry: u32, delivered: bool) -> Option<Duration> {
        if delivered || !failure.retryable || retry >= self.cfg.retries {
            return None;
        }
        Some(failure.retry_after.map_or_else(|| backoff(retry), |wait| wait.min(MAX_RETRY_AFTER)))
    }

    /// One request and its whole reply.
    async fn attempt(&self, url: &str, body: &Value, sink: &mut Sink<'_>) -> Result<(), Failure> {
        let mut response = self.request(url, body).send().await.map_err(|e| self.transport_failure(&e))?;
        if !response.status().is_success() {
            return Err(status_failure(response).await);
        }
        let head = self.read_head(&mut response).await?;
        if head.trim_ascii_start().starts_with(b"{") {
            let whole = self.read_rest(&mut response, head).await?;
            sink.push(&wire::decode_full(self.api, &whole)?);
            return Ok(());
        }
        self.read_stream(&mut response, &head, sink).await
    }

    /// `POST {base}/v1/chat/completions` or `POST {base}/v1/messages`; a
    /// base that already ends in `/v1` does not get a second one.
    fn endpoint(&self) -> String {
        let base = self.cfg.base_url.trim().trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        let path = match self.api {
            Api::OpenAi => "chat/completions",
            Api::Anthropic => "messages",
        };
        format!("{base}/v1/{path}")
    }

    /// The request with the body and the API's headers; the key header is
    /// marked sensitive.
    fn request(&self, url: &str, body: &Value) -> reqwest::RequestBuilder {
        let request = self.http.post(url).json(body);
        match (self.api, self.key.as_deref()) {
            (Api::OpenAi, Some(key)) => request.bearer_auth(key),
            (Api::OpenAi, None) => request,
            (Api::Anthropic, key) => {
                let request = request.header("anthropic-version", ANTHROPIC_VERSION);
                match key.and_then(sensitive_value) {
                    Some(value) => request.header("x-api-key", value),
                    None => request,
                }
            }
        }
    }

    /// Reads until the first byte that is not whitespace, to tell a JSON body
    /// (`{`) from an event stream.
    async fn read_head(&self, response: &mut reqwest::Response) -> Result<Vec<u8>, Failure> {
        let mut head = Vec::new();
        while head.trim_ascii_start().is_empty() {
            match self.next_chunk(response).await? {
                Some(chunk) => head.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok(head)
    }

    /// The rest of a body whose start is `head`.
    async fn read_rest(&self, response: &mut reqwest::Response, mut head: Vec<u8>) -> Result<Vec<u8>, Failure> {
        while let Some(chunk) = self.next_chunk(response).await? {
            head.extend_from_slice(&chunk);
        }
        Ok(head)
    }

    /// Feeds the event stream, `head` first, to the parser until the API's
    /// end event or the end of the body.
    async fn read_stream(&self, response: &mut reqwest::Response, head: &[u8], sink: &mut Sink<'_>) -> Result<(), Failure> {
        let mut parser = SseParser::new();
        if self.handle_events(parser.push(head), sink)? {
            return Ok(());
        }
        while let Some(chunk) = self.next_chunk(response).await? {
            if self.handle_events(parser.push(&chunk), sink)? {
                return Ok(());
            }
        }
        self.handle_events(parser.finish(), sink)?;
        Ok(())
    }

    /// Passes the events' text to `sink`; true once the end event is seen.
    fn handle_events(&self, events: Vec<SseEvent>, sink: &mut Sink<'_>) -> Result<bool, Failure> {
        for event in &events {
            match wire::decode_event(self.api, event)? {
                Step::Text(text) => sink.push(&text),
                Step::Done => return Ok(true),
                Step::Nothing => {}
            }
        }
        Ok(false)
    }

    async fn next_chunk(&self, response: &mut reqwest::Response) -> Result<Option<Vec<u8>>, Failure> {
        match response.chunk().await {
            Ok(chunk) => Ok(chunk.map(|bytes| bytes.to_vec())),
            Err(e) => Err(self.transport_failure(&e)),
        }
    }

    /// A failure below HTTP: timeout, no connection, a broken connection.
    fn transport_failure(&self, error: &reqwest::Error) -> Failure {
        let base = self.cfg.base_url.trim();
        let error = if error.is_timeout() {
            LlmError::Timeout(self.cfg.timeout_secs)
        } else if error.is_builder() {
            return Failure::from(LlmError::Config(format!("cannot make the request to {base}: {}", root_cause(error))));
        } else if error.is_connect() {
            LlmError::Unreachable(format!("{base} ({})", root_cause(error)))
        } else {
            LlmError::Unreachable(format!("{base}: the connection broke ({})", root_cause(error)))
        };
        Failure { error, retryable: true, retry_after: None }
    }
}

/// Where the reply's text goes: the caller's callback, and the whole text.
struct Sink<'a> {
    on_text: &'a mut (dyn FnMut(&str) + Send),
    text: String,
}

impl Sink<'_> {
    fn push(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        (self.on_text)(text);
        self.text.push_str(text);
    }

    /// Whether any text reached the callback (after which nothing is retried).
    fn delivered(&self) -> bool {
        !self.text.is_empty()
    }
}

/// A failed attempt: the error, whether another try may help, and how long
/// the server asked to wait.
#[derive(Debug)]
struct Failure {
    error: LlmError,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl From<LlmError> for Failure {
    /// Errors found in a reply: only a transient error object is retried.
    fn from(error: LlmError) -> Failure {
        let retryable = matches!(&error, LlmError::Remote { kind, .. } if wire::remote_is_transient(kind));
        Failure { error, retryable, retry_after: None }
    }
}

/// An unsuccessful status: 429 is `RateLimited`, anything else `Http` with
/// an excerpt of the body. `Retry-After` is honoured on 429 and 503.
async fn status_failure(response: reqwest::Response) -> Failure {
    let status = response.status().as_u16();
    let retry_after = retry_after_secs(response.headers());
    let body = response.text().await.unwrap_or_default();
    let mut body = excerpt(&body, BODY_EXCERPT_CHARS);
    if body.is_empty() {
        body = "(empty body)".to_owned();
    }
    let error = match status {
        429 => LlmError::RateLimited { retry_after_secs: retry_after },
        _ => LlmError::Http { status, body },
    };
    let retryable = matches!(status, 429 | 500 | 502 | 503 | 504 | 529);
    let honoured = if matches!(status, 429 | 503) { retry_after } else { None };
    Failure { error, retryable, retry_after: honoured.map(Duration::from_secs) }
}

/// `Retry-After` as seconds from now: either a number of seconds or an
/// HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`; a past date is 0).
fn retry_after_secs(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let when = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(value).ok()?;
    let secs = when.as_second() - jiff::Timestamp::now().as_second();
    Some(u64::try_from(secs).unwrap_or(0))
}

/// 500 ms, 1 s, 2 s, … up to 30 s for retry number `retry + 1`.
fn backoff(retry: u32) -> Duration {
    let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

/// The innermost error's message, on one short line.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    excerpt(&cause.to_string(), 200)
}

fn sensitive_value(text: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The key from the environment variable named `key_env`; `None` when the
/// name is empty or the variable unset.
fn read_key(api: Api, key_env: &str) -> Result<Option<String>, String> {
    let name = key_env.trim();
    if name.is_empty() {
        return Ok(None);
    }
    match std::env::var(name) {
        Ok(key) => Ok(Some(key)),
        Err(VarError::NotPresent) => Ok(None),
        Err(VarError::NotUnicode(_)) => {
            Err(format!("the environment variable {name} (propose.{}.key_env) does not hold valid UTF-8", api.name()))
        }
    }
}

/// `base_url` is an http(s) URL with a host, a model is named, and the
/// timeout is at least a second.
fn check_cfg(api: Api, cfg: &LlmCfg) -> Result<(), String> {
    let field = |name: &str| format!("propose.{}.{name}", api.name());
    let base = cfg.base_url.trim();
    if base.is_empty() {
        return Err(format!("{} is not set", field("base_url")));
    }
    let url = reqwest::Url::parse(base).map_err(|e| format!("{} is not a valid URL ({e}): {base:?}", field("base_url")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{} must be an http:// or https:// URL, not {base:?}", field("base_url")));
    }
    if cfg.model.trim().is_empty() {
        return Err(format!("{} is not set", field("model")));
    }
    if cfg.timeout_secs == 0 {
        return Err(format!("{} must be at least 1", field("timeout_secs")));
    }
    Ok(())
}

/// Anthropic needs a key; any key must fit in an HTTP header.
fn check_key(api: Api, cfg: &LlmCfg, key: Option<&str>) -> Result<(), String> {
    let var = cfg.key_env.trim();
    let setting = format!("propose.{}.key_env", api.name());
    match key {
        None if api == Api::Anthropic && var.is_empty() => {
            Err(format!("the Anthropic API needs a key: set {setting} to the name of the environment variable that holds it"))
        }
        None if api == Api::Anthropic => {
            Err(format!("the Anthropic API needs a key: the environment variable {var} ({setting}) is not set"))
        }
        Some(key) if HeaderValue::from_str(key).is_err() => {
            Err(format!("the API key for {} ({setting} = {var:?}) has characters an HTTP header cannot carry", api.name()))
        }
        _ => Ok(()),
    }
}

/// The HTTP client: connect timeout `timeout_secs` (at most 10 s) and an
/// overall timeout of `timeout_secs` for each request, reply included.
fn build_http(cfg: &LlmCfg) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(cfg.timeout_secs.min(MAX_CONNECT_SECS)))
        .timeout(Duration::from_secs(cfg.timeout_secs))
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(base_url: &str) -> LlmCfg {
        LlmCfg { base_url: base_url.into(), model: "m".into(), ..LlmCfg::default() }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(6), Duration::from_secs(30));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after_secs(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after_secs(&headers), Some(7));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after_secs(&headers), Some(0), "a past date means now");
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&soon).unwrap();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
        let secs = retry_after_secs(&headers).unwrap();
        assert!((28..=30).contains(&secs), "{secs}");
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after_secs(&headers), None);
    }

    #[test]
    fn endpoints() {
        let openai = |base: &str| Client::with_key(Api::OpenAi, &cfg(base), None).unwrap().endpoint();
        assert_eq!(openai("https://api.openai.com"), "https://api.openai.com/v1/chat/completions");
        assert_eq!(openai("http://localhost:11434/v1"), "http://localhost:11434/v1/chat/completions");
        assert_eq!(openai("http://localhost:8000/v1/"), "http://localhost:8000/v1/chat/completions");
        let anthropic = Client::with_key(Api::Anthropic, &cfg("https://api.anthropic.com/"), Some("k".into())).unwrap();
        assert_eq!(anthropic.endpoint(), "https://api.anthropic.com/v1/messages");
    }

    #[test]
    fn bad_configuration_names_the_setting() {
        for base in ["", "ftp://example.com", "localhost:8080", "not a url"] {
            let error = Client::with_key(Api::OpenAi, &cfg(base), None).unwrap_err();
            assert!(error.contains("propose.openai.base_url"), "{base:?}: {error}");
        }
        let error = Client::with_key(Api::Anthropic, &cfg("ftp://x"), Some("k".into())).unwrap_err();
        assert!(error.contains("propose.anthropic.base_url"), "{error}");
        let no_model = LlmCfg { model: String::new(), ..cfg("http://localhost") };
        assert!(Client::with_key(Api::OpenAi, &no_model, None).unwrap_err().contains("propose.openai.model"));
        let no_timeout = LlmCfg { timeout_secs: 0, ..cfg("http://localhost") };
        assert!(Client::with_key(Api::OpenAi, &no_timeout, None).unwrap_err().contains("timeout_secs"));
    }

    #[test]
    fn a_key_that_cannot_be_a_header_is_refused_without_showing_it() {
        let error = Client::with_key(Api::OpenAi, &cfg("http://localhost"), Some("sk-bad\nkey".into())).unwrap_err();
        assert!(!error.contains("sk-bad"), "{error}");
    }
}
