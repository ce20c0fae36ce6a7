//! The OpenFeature Remote Evaluation Protocol (OFREP) as a flag backend.
//!
//! OFREP (open-feature/protocol, `service/openapi.yaml`) is how any
//! OpenFeature provider that speaks it (flagd, GO Feature Flag, flipt, …)
//! answers "what does this flag evaluate to for this context":
//!
//! - `POST {base}/ofrep/v1/evaluate/flags/{key}` with `{"context": {…}}`:
//!   200 `{key, value, reason, variant, metadata}`; 400 `{key, errorCode,
//!   errorDetails}` (`PARSE_ERROR`, `TARGETING_KEY_MISSING`,
//!   `INVALID_CONTEXT`, `GENERAL`); 404 `FLAG_NOT_FOUND`; 401/403; 429 with
//!   `Retry-After`; 5xx `{errorDetails}`.
//! - `POST {base}/ofrep/v1/evaluate/flags` (bulk): 200 `{"flags": [...]}`
//!   with an `ETag`; sent back as `If-None-Match`, it may get 304 (nothing
//!   changed), and the client answers from the copy it kept.
//!
//! It is evaluation only, so this backend reads and watches but cannot set:
//! a set says to change the flag in its provider.
//!
//! A 429 is remembered: until the instant the server named (at most an
//! hour ahead), calls fail at once with [`FlagError::RateLimited`] instead
//! of asking again, so a watch or a busy console cannot make it worse.
//! Credentials (`X-API-Key` or `Authorization: Bearer`) are sent as headers
//! marked sensitive, never printed by `Debug`, and redacted from anything a
//! server says back.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use reqwest::header::{ACCEPT, AUTHORIZATION, ETAG, HeaderMap, HeaderName, HeaderValue, IF_NONE_MATCH};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    BoxFut, Capabilities, Change, Flag, FlagBackend, FlagError, Probe, Probed, Segment, Setting, inert, path_segment, poll_changes,
    read_body, redact, server_message, status_error, transport_error,
};

/// The targeting key [`FlagBackend::read`] evaluates with: OFREP needs a
/// context, and the console has no user of its own.
const READ_TARGETING_KEY: &str = "suture";

/// How OFREP requests are authenticated. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum OfrepAuth {
    /// `X-API-Key: <key>`.
    ApiKey(String),
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

impl fmt::Debug for OfrepAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OfrepAuth::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            OfrepAuth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl OfrepAuth {
    /// The secret, for redaction.
    fn secret(&self) -> &str {
        match self {
            OfrepAuth::ApiKey(secret) | OfrepAuth::Bearer(secret) => secret,
        }
    }

    /// The header to send, marked sensitive.
    fn header(&self) -> Result<(HeaderName, HeaderValue), FlagError> {
        let (name, value, what) = match self {
            OfrepAuth::ApiKey(key) => (HeaderName::from_static("x-api-key"), key.clone(), "API key"),
            OfrepAuth::Bearer(token) => (AUTHORIZATION, format!("Bearer {token}"), "bearer token"),
        };
        let invalid = |message: String| FlagError::Invalid { place: "OFREP credentials".to_owned(), line: None, column: None, message };
        if self.secret().trim().is_empty() {
            return Err(invalid(format!("the {what} is empty")));
        }
        let mut value =
            HeaderValue::from_str(&value).map_err(|_| invalid(format!("the {what} has characters an HTTP header cannot carry")))?;
        value.set_sensitive(true);
        Ok((name, value))
    }
}

/// One flag's evaluation: OFREP's success reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub key: String,
    /// `Null` only when the provider left it out of a `DISABLED` evaluation.
    pub value: Value,
    /// Why this value: `STATIC`, `TARGETING_MATCH`, `SPLIT`, `DEFAULT`,
    /// `DISABLED`, …
    pub reason: Option<String>,
    pub variant: Option<String>,
    /// The provider's flag metadata; empty when it sent none.
    pub metadata: Map<String, Value>,
}

/// A flag the provider could not evaluate: OFREP's failure reply, or one
/// item of a bulk reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalError {
    pub key: String,
    /// `PARSE_ERROR`, `TARGETING_KEY_MISSING`, `INVALID_CONTEXT`,
    /// `FLAG_NOT_FOUND`, `GENERAL`, …
    pub error_code: String,
    /// What the provider said, redacted and cut short.
    pub error_details: Option<String>,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error_details {
            Some(details) => write!(f, "{}: {}: {details}", self.key, self.error_code),
            None => write!(f, "{}: {}", self.key, self.error_code),
        }
    }
}

/// A bulk evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Bulk {
    /// Every flag the provider evaluated, in its order.
    pub flags: Vec<Result<Evaluation, EvalError>>,
    /// The reply's `ETag`, sent back next time as `If-None-Match`.
    pub etag: Option<String>,
    /// The server said 304: `flags` is the copy kept from last time.
    pub not_modified: bool,
}

/// An OFREP client: evaluates, and (as a [`FlagBackend`]) reads and
/// watches. Cloning shares the connection pool, the kept bulk reply and the
/// rate limit.
#[derive(Clone)]
pub struct OfrepClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// Checked, without a trailing slash.
    base: String,
    auth: Option<OfrepAuth>,
    /// `auth` as a ready header.
    header: Option<(HeaderName, HeaderValue)>,
    client: reqwest::Client,
    /// The last bulk reply, with the context it answered.
    bulk: tokio::sync::Mutex<Option<Kept>>,
    /// Until when the server asked not to be called (HTTP 429).
    quiet_until: Mutex<Option<Instant>>,
}

/// A bulk reply kept for `If-None-Match`.
struct Kept {
    context: Value,
    bulk: Bulk,
}

/// A reply, read whole.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl fmt::Debug for OfrepClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfrepClient").field("base", &self.inner.base).field("auth", &self.inner.auth).finish_non_exhaustive()
    }
}

impl OfrepClient {
    /// A client for the OFREP service at `base_url` (http or https, no
    /// credentials in it), using `client` for the requests (its timeouts,
    /// TLS and proxy settings apply).
    pub fn new(base_url: &str, auth: Option<OfrepAuth>, client: reqwest::Client) -> Result<OfrepClient, FlagError> {
        let base = super::base_url(base_url, "OFREP")?;
        let header = auth.as_ref().map(OfrepAuth::header).transpose()?;
        let inner = Inner { base, auth, header, client, bulk: tokio::sync::Mutex::new(None), quiet_until: Mutex::new(None) };
        Ok(OfrepClient { inner: Arc::new(inner) })
    }

    /// The service's base URL, as checked.
    pub fn base(&self) -> &str {
        &self.inner.base
    }

    /// Evaluates one flag for `context` (a JSON object, normally with a
    /// `targetingKey`). A flag the provider does not know is
    /// [`FlagError::NotFound`]; a request it finds wrong is
    /// [`FlagError::Invalid`] with its error code and details.
    pub async fn evaluate(&self, key: &str, context: &Value) -> Result<Evaluation, FlagError> {
        self.inner.evaluate(key, context).await
    }

    /// Evaluates every flag for `context`, sending the last reply's `ETag`
    /// when the context is the same; a 304 returns the kept reply with
    /// `not_modified: true`.
    pub async fn evaluate_all(&self, context: &Value) -> Result<Bulk, FlagError> {
        self.inner.evaluate_all(context).await
    }
}

impl Inner {
    fn secret(&self) -> &str {
        self.auth.as_ref().map_or("", OfrepAuth::secret)
    }

    fn place(&self) -> String {
        format!("OFREP {}", self.base)
    }

    async fn evaluate(&self, key: &str, context: &Value) -> Result<Evaluation, FlagError> {
        check_context(context)?;
        let url = format!("{}/ofrep/v1/evaluate/flags/{}", self.base, path_segment(key));
        let reply = self.post(&url, context, None).await?;
        if reply.status != 200 {
            return Err(self.failure(&url, Some(key), &reply));
        }
        let json = self.json(&url, &reply)?;
        if json.get("errorCode").is_some() && json.get("value").is_none() {
            return Err(self.failure(&url, Some(key), &reply));
        }
        evaluation(&json, key).map_err(|message| FlagError::Http { url, status: Some(reply.status), message })
    }

    async fn evaluate_all(&self, context: &Value) -> Result<Bulk, FlagError> {
        check_context(context)?;
        let url = format!("{}/ofrep/v1/evaluate/flags", self.base);
        // Held across the request, so concurrent bulk calls take turns and
        // the kept reply always matches its ETag.
        let mut kept = self.bulk.lock().await;
        let etag = kept.as_ref().filter(|kept| kept.context == *context).and_then(|kept| kept.bulk.etag.clone());
        let reply = self.post(&url, context, etag.as_deref()).await?;
        match reply.status {
            304 => match kept.as_ref().filter(|kept| kept.context == *context) {
                Some(kept) => Ok(Bulk { not_modified: true, ..kept.bulk.clone() }),
                None => Err(FlagError::Http {
                    url,
                    status: Some(304),
                    message: "\"not modified\", but nothing was asked conditionally".to_owned(),
                }),
            },
            200 => {
                let json = self.json(&url, &reply)?;
                let Some(items) = json.get("flags").and_then(Value::as_array) else {
                    return Err(FlagError::Http { url, status: Some(200), message: "the reply has no \"flags\" list".to_owned() });
                };
                let flags = items.iter().map(|item| bulk_item(item, self.secret())).collect();
                let etag = reply.headers.get(ETAG).and_then(|etag| etag.to_str().ok()).map(str::to_owned);
                let bulk = Bulk { flags, etag, not_modified: false };
                *kept = Some(Kept { context: context.clone(), bulk: bulk.clone() });
                Ok(bulk)
            }
            _ => Err(self.failure(&url, None, &reply)),
        }
    }

    /// The flag as the console sees it: evaluated for
    /// [`READ_TARGETING_KEY`].
    async fn read(&self, key: &str) -> Result<Flag, FlagError> {
        let context = serde_json::json!({ "targetingKey": READ_TARGETING_KEY });
        let evaluation = self.evaluate(key, &context).await?;
        Ok(Flag {
            key: key.to_owned(),
            enabled: evaluation.reason.as_deref() != Some("DISABLED"),
            value: evaluation.value,
            variant: evaluation.variant,
            segments: Vec::new(),
            etag: None,
        })
    }

    /// Sends an evaluation request (unless a 429 still holds) and reads the
    /// reply.
    async fn post(&self, url: &str, context: &Value, etag: Option<&str>) -> Result<Reply, FlagError> {
        self.check_quiet(url)?;
        let body = serde_json::json!({ "context": context });
        let mut request = self.client.post(url).header(ACCEPT, "application/json").json(&body);
        if let Some((name, value)) = &self.header {
            request = request.header(name.clone(), value.clone());
        }
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let mut response = request.send().await.map_err(|e| transport_error(url, &e, self.secret()))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_body(&mut response, url, self.secret()).await?;
        Ok(Reply { status, headers, body })
    }

    fn json(&self, url: &str, reply: &Reply) -> Result<Value, FlagError> {
        serde_json::from_slice(&reply.body).map_err(|e| FlagError::Http {
            url: url.to_owned(),
            status: Some(reply.status),
            message: format!("the reply is not JSON ({e}): {}", server_message(&reply.body, self.secret())),
        })
    }

    /// The error for an unsuccessful reply: `FLAG_NOT_FOUND` is
    /// [`FlagError::NotFound`], another 400 [`FlagError::Invalid`], and a
    /// 429 is remembered.
    fn failure(&self, url: &str, key: Option<&str>, reply: &Reply) -> FlagError {
        let code = serde_json::from_slice::<Value>(&reply.body)
            .ok()
            .and_then(|body| body.get("errorCode").and_then(Value::as_str).map(str::to_owned));
        if code.as_deref() == Some("FLAG_NOT_FOUND")
            && let Some(key) = key
        {
            return FlagError::NotFound { key: key.to_owned(), place: self.place() };
        }
        let message = || server_message(&reply.body, self.secret());
        let error = match reply.status {
            400 => FlagError::Invalid { place: url.to_owned(), line: None, column: None, message: message() },
            404 if code.is_none() => FlagError::Http {
                url: url.to_owned(),
                status: Some(404),
                message: format!("{} (is {} an OFREP service?)", message(), self.base),
            },
            status => status_error(url, status, &reply.headers, &reply.body, self.secret()),
        };
        if let FlagError::RateLimited { retry_after: Some(wait), .. } = &error {
            let until = Instant::now().checked_add(*wait);
            *self.quiet_until.lock().unwrap_or_else(PoisonError::into_inner) = until;
        }
        error
    }

    /// [`FlagError::RateLimited`] while an earlier 429 still holds.
    fn check_quiet(&self, url: &str) -> Result<(), FlagError> {
        let until = *self.quiet_until.lock().unwrap_or_else(PoisonError::into_inner);
        let left = until.and_then(|until| until.checked_duration_since(Instant::now())).filter(|left| !left.is_zero());
        match left {
            Some(left) => Err(FlagError::RateLimited { url: url.to_owned(), retry_after: Some(left) }),
            None => Ok(()),
        }
    }
}

/// OFREP contexts are JSON objects.
fn check_context(context: &Value) -> Result<(), FlagError> {
    if context.is_object() {
        return Ok(());
    }
    Err(FlagError::Invalid {
        place: "OFREP evaluation context".to_owned(),
        line: None,
        column: None,
        message: format!("must be a JSON object such as {{\"targetingKey\": \"user-1\"}}, not {context}"),
    })
}

/// A success reply (or bulk item) as an [`Evaluation`]; `fallback_key` when
/// it names no key.
fn evaluation(item: &Value, fallback_key: &str) -> Result<Evaluation, String> {
    let Some(object) = item.as_object() else {
        return Err(format!("the evaluation of {fallback_key:?} is not a JSON object"));
    };
    let text = |field: &str| object.get(field).and_then(Value::as_str).map(str::to_owned);
    let key = text("key").unwrap_or_else(|| fallback_key.to_owned());
    let reason = text("reason");
    let value = match object.get("value") {
        Some(value) => value.clone(),
        None if reason.as_deref() == Some("DISABLED") => Value::Null,
        None => return Err(format!("the evaluation of {key:?} has no value")),
    };
    let metadata = object.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
    Ok(Evaluation { key, value, reason, variant: text("variant"), metadata })
}

/// An item of a bulk reply: an evaluation or a failure.
fn bulk_item(item: &Value, secret: &str) -> Result<Evaluation, EvalError> {
    let key = item.get("key").and_then(Value::as_str).unwrap_or("(no key)");
    if let Some(code) = item.get("errorCode").and_then(Value::as_str) {
        let details = item.get("errorDetails").and_then(Value::as_str).map(|details| inert(&redact(details, secret)));
        return Err(EvalError { key: key.to_owned(), error_code: inert(code), error_details: details });
    }
    evaluation(item, key).map_err(|message| EvalError {
        key: key.to_owned(),
        error_code: "GENERAL".to_owned(),
        error_details: Some(format!("a malformed reply item: {message}")),
    })
}

impl FlagBackend for OfrepClient {
    fn name(&self) -> String {
        format!("ofrep {}", self.inner.base)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { read: true, set: false, watch: true, segments: false }
    }

    fn read<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Flag, FlagError>> {
        Box::pin(self.inner.read(key))
    }

    fn set<'a>(&'a self, _key: &'a str, _setting: &'a Setting, _segment: Option<&'a Segment>) -> BoxFut<'a, Result<Change, FlagError>> {
        let error = FlagError::Unsupported {
            backend: self.name(),
            message: "OFREP is read-only: set the flag in its provider, e.g. flagd's file".to_owned(),
        };
        Box::pin(async move { Err(error) })
    }

    /// Evaluates the flag every `every` and yields it when the answer
    /// changes; a rate limit or an outage is yielded once as an error.
    fn watch(&self, key: String, every: Duration) -> BoxStream<'static, Result<Flag, FlagError>> {
        let inner = Arc::clone(&self.inner);
        let probe: Probe = Box::new(move || -> BoxFut<'static, Probed> {
            let inner = Arc::clone(&inner);
            let key = key.clone();
            Box::pin(async move { Some(inner.read(&key).await) })
        });
        poll_changes(every, probe)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use futures::StreamExt;
    use serde_json::json;

    use super::*;

    const KEY: &str = "sk-ofrep-right-4242";
    const TOKEN: &str = "tok-ofrep-right-4242";

    /// A loopback OFREP service: what it was sent, and a few flags that
    /// fail in each way the protocol knows.
    #[derive(Default)]
    struct Mock {
        requests: AtomicUsize,
        limited: AtomicBool,
        /// `(X-API-Key, Authorization)` of every request.
        seen: Mutex<Vec<(Option<String>, Option<String>)>>,
        contexts: Mutex<Vec<Value>>,
    }

    fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
        headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
    }

    /// Counts the request and notes its credentials; the 401 reply when they
    /// are wrong.
    fn refused(mock: &Mock, headers: &HeaderMap) -> Option<Response> {
        mock.requests.fetch_add(1, Ordering::SeqCst);
        let api_key = header_text(headers, "x-api-key");
        let authorization = header_text(headers, "authorization");
        mock.seen.lock().unwrap().push((api_key.clone(), authorization.clone()));
        if api_key.as_deref() == Some(KEY) || authorization.as_deref() == Some(format!("Bearer {TOKEN}").as_str()) {
            return None;
        }
        let echo = api_key.or(authorization).unwrap_or_default();
        Some((StatusCode::UNAUTHORIZED, axum::Json(json!({ "errorDetails": format!("unknown credentials {echo}") }))).into_response())
    }

    async fn single(State(mock): State<Arc<Mock>>, Path(key): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
        if let Some(refusal) = refused(&mock, &headers) {
            return refusal;
        }
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        mock.contexts.lock().unwrap().push(request["context"].clone());
        let failure = |status: StatusCode, code: &str| {
            (status, axum::Json(json!({ "key": key, "errorCode": code, "errorDetails": format!("{code} for {key}") }))).into_response()
        };
        match key.as_str() {
            "parse" => failure(StatusCode::BAD_REQUEST, "PARSE_ERROR"),
            "no-targeting-key" => failure(StatusCode::BAD_REQUEST, "TARGETING_KEY_MISSING"),
            "bad-context" => failure(StatusCode::BAD_REQUEST, "INVALID_CONTEXT"),
            "general" => failure(StatusCode::BAD_REQUEST, "GENERAL"),
            "missing" => failure(StatusCode::NOT_FOUND, "FLAG_NOT_FOUND"),
            "boom" => {
                let echo = header_text(&headers, "x-api-key").unwrap_or_default();
                (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({ "errorDetails": format!("crashed on a request with key {echo}") })))
                    .into_response()
            }
            "huge" => "x".repeat(1024 * 1024 + 10).into_response(),
            "limited" if !mock.limited.swap(true, Ordering::SeqCst) => {
                (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "2")], "slow down").into_response()
            }
            "dark" => axum::Json(json!({ "key": key, "reason": "DISABLED" })).into_response(),
            _ => axum::Json(
                json!({ "key": key, "value": true, "reason": "TARGETING_MATCH", "variant": "on", "metadata": { "team": "shop" } }),
            )
            .into_response(),
        }
    }

    async fn bulk(State(mock): State<Arc<Mock>>, headers: HeaderMap) -> Response {
        if let Some(refusal) = refused(&mock, &headers) {
            return refusal;
        }
        if header_text(&headers, "if-none-match").as_deref() == Some("\"v1\"") {
            return StatusCode::NOT_MODIFIED.into_response();
        }
        let flags = json!({ "flags": [
            { "key": "a", "value": 20, "reason": "STATIC", "variant": "small" },
            { "key": "b", "errorCode": "PARSE_ERROR", "errorDetails": "bad rule" },
        ] });
        ([(header::ETAG, "\"v1\"")], axum::Json(flags)).into_response()
    }

    async fn serve(mock: Arc<Mock>) -> String {
        let app = Router::new()
            .route("/ofrep/v1/evaluate/flags", post(bulk))
            .route("/ofrep/v1/evaluate/flags/{key}", post(single))
            .with_state(mock);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    async fn setup(auth: Option<OfrepAuth>) -> (Arc<Mock>, OfrepClient) {
        let mock = Arc::new(Mock::default());
        let base = serve(Arc::clone(&mock)).await;
        let client = OfrepClient::new(&format!("{base}/"), auth, reqwest::Client::new()).unwrap();
        (mock, client)
    }

    fn api_key() -> Option<OfrepAuth> {
        Some(OfrepAuth::ApiKey(KEY.to_owned()))
    }

    #[tokio::test]
    async fn evaluates_a_flag_and_reads_it_as_a_flag() {
        let (mock, client) = setup(api_key()).await;
        let context = json!({ "targetingKey": "user-1", "tenant": "acme" });
        let evaluation = client.evaluate("new-checkout-ui", &context).await.unwrap();
        assert_eq!(evaluation.key, "new-checkout-ui");
        assert_eq!(evaluation.value, json!(true));
        assert_eq!(evaluation.reason.as_deref(), Some("TARGETING_MATCH"));
        assert_eq!(evaluation.variant.as_deref(), Some("on"));
        assert_eq!(evaluation.metadata.get("team"), Some(&json!("shop")));
        assert_eq!(mock.contexts.lock().unwrap()[0], context);

        let flag = client.read("new-checkout-ui").await.unwrap();
        assert!(flag.enabled && flag.value == json!(true) && flag.variant.as_deref() == Some("on"));
        assert_eq!(mock.contexts.lock().unwrap()[1], json!({ "targetingKey": "suture" }));
        let dark = client.read("dark").await.unwrap();
        assert!(!dark.enabled && dark.value.is_null());
        assert_eq!(client.name(), format!("ofrep {}", client.base()));
        assert!(!client.capabilities().set);

        let mut watch = client.watch("new-checkout-ui".to_owned(), Duration::from_millis(20));
        assert_eq!(watch.next().await.unwrap().unwrap().value, json!(true));
    }

    #[tokio::test]
    async fn each_error_code_is_an_error_that_names_it() {
        let (mock, client) = setup(api_key()).await;
        let context = json!({ "targetingKey": "user-1" });
        for (key, code) in [
            ("parse", "PARSE_ERROR"),
            ("no-targeting-key", "TARGETING_KEY_MISSING"),
            ("bad-context", "INVALID_CONTEXT"),
            ("general", "GENERAL"),
        ] {
            let error = client.evaluate(key, &context).await.unwrap_err();
            assert!(matches!(error, FlagError::Invalid { .. }), "{key}: {error:?}");
            let shown = error.to_string();
            assert!(shown.contains(code) && shown.contains(&format!("{code} for {key}")), "{shown}");
            assert!(shown.contains(&format!("/ofrep/v1/evaluate/flags/{key}")), "{shown}");
        }
        let error = client.evaluate("missing", &context).await.unwrap_err();
        assert_eq!(error, FlagError::NotFound { key: "missing".to_owned(), place: format!("OFREP {}", client.base()) });

        let before = mock.requests.load(Ordering::SeqCst);
        let error = client.evaluate("x", &json!("user-1")).await.unwrap_err();
        assert!(error.to_string().contains("must be a JSON object"), "{error}");
        assert_eq!(mock.requests.load(Ordering::SeqCst), before, "an invalid context is not sent");

        let error = client.evaluate("huge", &context).await.unwrap_err();
        assert!(error.to_string().contains("larger than"), "{error}");
    }

    #[tokio::test]
    async fn a_wrong_key_is_unauthorized_and_never_shown() {
        let secret = "wrong-key-5678";
        let (_mock, client) = setup(Some(OfrepAuth::ApiKey(secret.to_owned()))).await;
        let error = client.evaluate("new-checkout-ui", &json!({ "targetingKey": "u" })).await.unwrap_err();
        assert!(matches!(error, FlagError::Unauthorized { status: 401, .. }), "{error:?}");
        let shown = error.to_string();
        assert!(!shown.contains(secret) && shown.contains("<redacted>"), "{shown}");
        assert!(!format!("{client:?}").contains(secret));
    }

    #[tokio::test]
    async fn a_server_echoing_the_key_does_not_leak_it() {
        let (_mock, client) = setup(api_key()).await;
        let error = client.evaluate("boom", &json!({ "targetingKey": "u" })).await.unwrap_err();
        assert!(matches!(error, FlagError::Http { status: Some(500), .. }), "{error:?}");
        let shown = error.to_string();
        assert!(!shown.contains(KEY) && shown.contains("crashed on a request with key <redacted>"), "{shown}");
    }

    #[tokio::test]
    async fn a_rate_limit_is_waited_out_without_asking_again() {
        let (mock, client) = setup(api_key()).await;
        let context = json!({ "targetingKey": "u" });
        let error = client.evaluate("limited", &context).await.unwrap_err();
        assert!(matches!(error, FlagError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(2)), "{error:?}");
        assert_eq!(mock.requests.load(Ordering::SeqCst), 1);

        // At once: refused here, the server never hears of it.
        let error = client.evaluate("new-checkout-ui", &context).await.unwrap_err();
        assert!(matches!(error, FlagError::RateLimited { retry_after: Some(wait), .. } if wait <= Duration::from_secs(2)), "{error:?}");
        assert!(client.evaluate_all(&context).await.is_err());
        assert_eq!(mock.requests.load(Ordering::SeqCst), 1);

        tokio::time::sleep(Duration::from_millis(2100)).await;
        let evaluation = client.evaluate("limited", &context).await.unwrap();
        assert_eq!(evaluation.value, json!(true));
        assert_eq!(mock.requests.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn bulk_evaluations_use_the_etag_and_the_kept_reply() {
        let (mock, client) = setup(api_key()).await;
        let context = json!({ "targetingKey": "u" });
        let first = client.evaluate_all(&context).await.unwrap();
        assert_eq!(first.etag.as_deref(), Some("\"v1\""));
        assert!(!first.not_modified);
        assert_eq!(first.flags.len(), 2);
        let a = first.flags[0].as_ref().unwrap();
        assert_eq!((a.key.as_str(), &a.value, a.variant.as_deref()), ("a", &json!(20), Some("small")));
        let b = first.flags[1].as_ref().unwrap_err();
        assert_eq!(b, &EvalError { key: "b".to_owned(), error_code: "PARSE_ERROR".to_owned(), error_details: Some("bad rule".to_owned()) });
        assert_eq!(b.to_string(), "b: PARSE_ERROR: bad rule");

        let second = client.evaluate_all(&context).await.unwrap();
        assert!(second.not_modified);
        assert_eq!(second.flags, first.flags);
        assert_eq!(mock.requests.load(Ordering::SeqCst), 2);

        // Another context is not asked conditionally.
        let other = client.evaluate_all(&json!({ "targetingKey": "v" })).await.unwrap();
        assert!(!other.not_modified);
    }

    #[tokio::test]
    async fn credentials_go_in_the_right_header() {
        let (mock, client) = setup(api_key()).await;
        client.evaluate("x", &json!({ "targetingKey": "u" })).await.unwrap();
        assert_eq!(mock.seen.lock().unwrap().last().cloned().unwrap(), (Some(KEY.to_owned()), None));

        let (mock, client) = setup(Some(OfrepAuth::Bearer(TOKEN.to_owned()))).await;
        client.evaluate("x", &json!({ "targetingKey": "u" })).await.unwrap();
        assert_eq!(mock.seen.lock().unwrap().last().cloned().unwrap(), (None, Some(format!("Bearer {TOKEN}"))));

        assert_eq!(format!("{:?}", OfrepAuth::ApiKey(KEY.to_owned())), "ApiKey(<redacted>)");
        assert_eq!(format!("{:?}", OfrepAuth::Bearer(TOKEN.to_owned())), "Bearer(<redacted>)");
        assert!(!format!("{client:?}").contains(TOKEN));
    }

    #[tokio::test]
    async fn set_is_unsupported_and_odd_setups_are_refused() {
        let (mock, client) = setup(None).await;
        let error = client.set("x", &Setting::Enabled(true), None).await.unwrap_err();
        assert!(matches!(error, FlagError::Unsupported { .. }));
        assert!(error.to_string().contains("OFREP is read-only: set the flag in its provider"), "{error}");
        assert_eq!(mock.requests.load(Ordering::SeqCst), 0);

        assert!(OfrepClient::new("ftp://flagd:8016", None, reqwest::Client::new()).is_err());
        let error = OfrepClient::new("http://flagd:8016", Some(OfrepAuth::Bearer("a\nb".to_owned())), reqwest::Client::new()).unwrap_err();
        assert!(!error.to_string().contains("a\nb"), "{error}");
        assert!(OfrepClient::new("http://flagd:8016", Some(OfrepAuth::ApiKey(" ".to_owned())), reqwest::Client::new()).is_err());
    }
}
