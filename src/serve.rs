//! The OTLP/HTTP logs receiver (`suture serve --otlp ADDR`): `POST /v1/logs`
//! with an OTLP/JSON `ExportLogsServiceRequest`, optionally gzip-compressed.
//!
//! Each request is parsed by [`otlp::parse_request`] (all or nothing for a
//! request that is not well-formed JSON, record by record otherwise) on a
//! blocking thread, and its events go to one dedicated writer thread that owns
//! the [`Store`]. The writer runs them through an [`Ingestor`] and commits
//! before it answers, so when the client gets its 200 the events are in the
//! store (and an open console, which polls the store file, shows them).
//!
//! Answers follow the OTLP/HTTP specification: 200 with an
//! `ExportLogsServiceResponse` (`{}`, or `partialSuccess` naming the rejected
//! records), 400 for a body that is not an OTLP/JSON request, 413 for a body
//! over [`MAX_BODY`], 415 for protobuf and other media types or encodings, 503
//! (retryable) when the store cannot be written. Error bodies are a JSON
//! `google.rpc.Status` (`{"code":…,"message":…}`) when the request was JSON and
//! plain text otherwise, so a protobuf exporter's log shows the message.

use crate::triage::fingerprint::Grouper;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use tokio::sync::{Semaphore, oneshot};

use crate::ingest::Ingestor;
use crate::model::{ErrorEvent, Millis};
use crate::signals::Rejection;
use crate::signals::otlp::{self, Outcome};
use crate::signals::redact::Redactor;
use crate::store::Store;

/// The OTLP/HTTP logs path.
pub const LOGS_PATH: &str = "/v1/logs";

/// Largest request body accepted, compressed or not (and the largest a gzip
/// body may inflate to).
pub const MAX_BODY: usize = 16 << 20;

/// Requests whose bodies are read and parsed at the same time; the others
/// wait. Bounds memory to a few times [`MAX_BODY`].
pub const CONCURRENT_REQUESTS: usize = 4;

/// Rejection reasons named in a partial-success message; beyond, only counted.
pub const REASONS_IN_RESPONSE: usize = 5;

const PROTOCOL_HINT: &str = "Suture's OTLP receiver accepts only OTLP/JSON (Content-Type: application/json); \
configure the exporter with OTEL_EXPORTER_OTLP_PROTOCOL=http/json (or OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=http/json)";

/// What the store made of some events: newly stored, or already there (same id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    pub ingested: usize,
    pub duplicates: usize,
}

/// Everything the receiver did, for the summary at shutdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: usize,
    pub ingested: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub skipped: usize,
}

impl Totals {
    pub fn summary(&self) -> String {
        format!(
            "{} requests accepted: {} events ingested, {} already stored, {} records rejected, {} not errors (skipped)",
            self.requests, self.ingested, self.duplicates, self.rejected, self.skipped
        )
    }
}

struct Job {
    events: Vec<ErrorEvent>,
    reply: oneshot::Sender<Result<Stored, String>>,
}

/// The handle to the writer thread. The thread ends when every handle is dropped.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the thread that owns `store`. Each batch of events is ingested
    /// by an [`Ingestor`] made for it (`now` gives its time, which ranking
    /// uses) and committed before the reply. The thread returns the totals
    /// of what it stored.
    pub fn spawn(
        mut store: Store,
        actor: String,
        now: fn() -> Millis,
        grouper: Grouper,
        slos: Vec<crate::config::Slo>,
        redaction: (Vec<String>, Redactor),
    ) -> std::io::Result<(Writer, JoinHandle<Stored>)> {
        let (tx, rx) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new().name("suture-store-writer".into()).spawn(move || {
            let mut totals = Stored::default();
            while let Ok(job) = rx.recv() {
                let result = write(&mut store, &actor, now(), &grouper, &slos, &redaction, job.events);
                match &result {
                    Ok(s) => {
                        totals.ingested += s.ingested;
                        totals.duplicates += s.duplicates;
                    }
                    Err(e) => tracing::error!("writing received events to the store: {e}"),
                }
                let _ = job.reply.send(result);
            }
            totals
        })?;
        Ok((Writer { tx }, handle))
    }

    /// Stores `events`; returns once they are committed.
    pub async fn store(&self, events: Vec<ErrorEvent>) -> Result<Stored, String> {
        if events.is_empty() {
            return Ok(Stored::default());
        }
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job { events, reply }).map_err(|_| "the store writer has stopped".to_string())?;
        answer.await.map_err(|_| "the store writer has stopped".to_string())?
    }
}

fn write(
    store: &mut Store,
    actor: &str,
    at: Millis,
    grouper: &Grouper,
    slos: &[crate::config::Slo],
    redaction: &(Vec<String>, Redactor),
    events: Vec<ErrorEvent>,
) -> Result<Stored, String> {
    let mut ingestor = Ingestor::new(store, actor, at)
        .with_grouper(grouper.clone())
        .with_redact_fields(&redaction.0, &redaction.1)
        .with_ranker(|incs, now, deploy| crate::triage::rank::rank_with_slos(incs, now, deploy, slos));
    for ev in events {
        ingestor.push(ev).map_err(|e| e.to_string())?;
    }
    let report = ingestor.finish().map_err(|e| e.to_string())?;
    Ok(Stored { ingested: report.ingested, duplicates: report.duplicates })
}

/// What the handlers share.
pub struct Receiver {
    redactor: Arc<Redactor>,
    writer: Writer,
    permits: Semaphore,
    totals: std::sync::Mutex<Totals>,
}

impl Receiver {
    pub fn new(redactor: Redactor, writer: Writer) -> Arc<Receiver> {
        Arc::new(Receiver {
            redactor: Arc::new(redactor),
            writer,
            permits: Semaphore::new(CONCURRENT_REQUESTS),
            totals: std::sync::Mutex::new(Totals::default()),
        })
    }

    pub fn totals(&self) -> Totals {
        *self.totals.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut Totals)) {
        f(&mut self.totals.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The receiver's routes: `POST /v1/logs`; other methods on it get 405, other paths 404.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route(LOGS_PATH, post(logs).fallback(wrong_method))
        .fallback(not_found)
        // The handler reads the body itself, with its own limit and message.
        .layer(DefaultBodyLimit::disable())
        .with_state(receiver)
}

/// A failed request: status, message, and whether to answer in JSON.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    message: String,
    json: bool,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>, json: bool) -> Failure {
        Failure { status, message: message.into(), json }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        if self.json {
            // google.rpc.Status, as the OTLP/HTTP specification asks for JSON requests.
            let code = match self.status {
                StatusCode::NOT_FOUND => 5,
                StatusCode::PAYLOAD_TOO_LARGE => 8,
                StatusCode::METHOD_NOT_ALLOWED => 12,
                StatusCode::SERVICE_UNAVAILABLE => 14,
                _ => 3,
            };
            let body = serde_json::json!({ "code": code, "message": self.message });
            (self.status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        } else {
            (self.status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", self.message)).into_response()
        }
    }
}

async fn not_found(req: Request) -> Failure {
    let path = req.uri().path();
    let what = match path {
        "/v1/traces" | "/v1/metrics" => "Suture receives only logs",
        _ => "not found",
    };
    Failure::new(StatusCode::NOT_FOUND, format!("{what}: send OTLP/JSON logs to POST {LOGS_PATH}"), wants_json(req.headers()))
}

async fn wrong_method(req: Request) -> Response {
    let mut resp =
        Failure::new(StatusCode::METHOD_NOT_ALLOWED, format!("{LOGS_PATH} takes POST, not {}", req.method()), wants_json(req.headers()))
            .into_response();
    resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    resp
}

/// The media type of a request, lower case, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

fn wants_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| m == "application/json")
}

/// Checks the Content-Type: JSON (UTF-8) only.
fn check_content_type(headers: &HeaderMap) -> Result<(), Failure> {
    let unsupported = |m: String| Failure::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, m, false);
    let Some(raw) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported(format!("no Content-Type: send Content-Type: application/json. {PROTOCOL_HINT}")));
    };
    let raw = raw.to_str().map_err(|_| unsupported(format!("unreadable Content-Type. {PROTOCOL_HINT}")))?;
    let mut parts = raw.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/json" => {}
        "application/x-protobuf" | "application/protobuf" => {
            return Err(unsupported(format!("OTLP/protobuf is not supported. {PROTOCOL_HINT}")));
        }
        _ => {
            let shown: String = media.chars().filter(|c| !c.is_control()).take(100).collect();
            return Err(unsupported(format!("Content-Type `{shown}` is not supported. {PROTOCOL_HINT}")));
        }
    }
    for param in parts {
        let Some((name, value)) = param.split_once('=') else { continue };
        if name.trim().eq_ignore_ascii_case("charset") {
            let value = value.trim().trim_matches('"');
            if !value.eq_ignore_ascii_case("utf-8") && !value.eq_ignore_ascii_case("utf8") {
                let shown: String = value.chars().filter(|c| !c.is_control()).take(40).collect();
                return Err(Failure::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("charset `{shown}` is not supported: OTLP/JSON is UTF-8"),
                    true,
                ));
            }
        }
    }
    Ok(())
}

/// Whether the body is gzip-compressed; other encodings are refused.
fn check_encoding(headers: &HeaderMap) -> Result<bool, Failure> {
    let Some(raw) = headers.get(header::CONTENT_ENCODING) else { return Ok(false) };
    let enc = raw.to_str().unwrap_or("?").trim().to_ascii_lowercase();
    match enc.as_str() {
        "" | "identity" => Ok(false),
        "gzip" | "x-gzip" => Ok(true),
        _ => {
            let shown: String = enc.chars().filter(|c| !c.is_control()).take(40).collect();
            Err(Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding `{shown}` is not supported; send gzip or no compression"),
                true,
            ))
        }
    }
}

fn too_large() -> Failure {
    Failure::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {} MiB; send smaller batches", MAX_BODY >> 20), true)
}

/// Reads the body, refusing more than [`MAX_BODY`] bytes.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Failure> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Failure::new(StatusCode::BAD_REQUEST, format!("reading the request body: {e}"), true))?;
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// One request's records, sorted out.
#[derive(Debug, Default)]
struct Parsed {
    events: Vec<ErrorEvent>,
    rejected: Vec<Rejection>,
    rejected_count: usize,
    skipped: usize,
}

/// Inflates (if gzip) and parses a body. CPU work: runs on a blocking thread.
fn decode_and_parse(body: Vec<u8>, gzip: bool, redactor: &Redactor) -> Result<Parsed, Failure> {
    let bytes = if gzip {
        let mut out = Vec::new();
        let mut dec = flate2::read::GzDecoder::new(&body[..]).take(MAX_BODY as u64 + 1);
        dec.read_to_end(&mut out).map_err(|e| {
            Failure::new(StatusCode::BAD_REQUEST, format!("Content-Encoding is gzip but the body does not inflate: {e}"), true)
        })?;
        if out.len() > MAX_BODY {
            return Err(too_large());
        }
        out
    } else {
        body
    };
    let text =
        std::str::from_utf8(&bytes).map_err(|e| Failure::new(StatusCode::BAD_REQUEST, format!("the body is not UTF-8: {e}"), true))?;
    let mut parsed = Parsed::default();
    let mut whole: Option<String> = None;
    otlp::parse_request(text, redactor, &mut |outcome| match outcome {
        Outcome::Event(ev) => parsed.events.push(*ev),
        Outcome::Skipped => parsed.skipped += 1,
        Outcome::Rejected(r) if r.location == "request" => whole = Some(r.reason),
        Outcome::Rejected(r) => {
            parsed.rejected_count += 1;
            if parsed.rejected.len() < REASONS_IN_RESPONSE {
                parsed.rejected.push(r);
            }
        }
    });
    match whole {
        Some(reason) => Err(Failure::new(StatusCode::BAD_REQUEST, reason, true)),
        None => Ok(parsed),
    }
}

/// The `ExportLogsServiceResponse` for a request some of whose records were rejected.
fn export_response(parsed: &Parsed) -> serde_json::Value {
    if parsed.rejected_count == 0 {
        return serde_json::json!({});
    }
    let mut message = format!("{} log records rejected: ", parsed.rejected_count);
    let reasons: Vec<String> = parsed.rejected.iter().map(ToString::to_string).collect();
    message.push_str(&reasons.join("; "));
    if parsed.rejected_count > parsed.rejected.len() {
        message.push_str(&format!("; and {} more", parsed.rejected_count - parsed.rejected.len()));
    }
    // int64 fields are strings in the protobuf JSON mapping, as the Collector sends them.
    serde_json::json!({ "partialSuccess": { "rejectedLogRecords": parsed.rejected_count.to_string(), "errorMessage": message } })
}

async fn logs(State(rx): State<Arc<Receiver>>, req: Request) -> Response {
    match handle_logs(&rx, req).await {
        Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response(),
        Err(f) => {
            tracing::info!(status = f.status.as_u16(), "refused an OTLP request: {}", f.message);
            f.into_response()
        }
    }
}

async fn handle_logs(rx: &Arc<Receiver>, req: Request) -> Result<serde_json::Value, Failure> {
    let (parts, body) = req.into_parts();
    check_content_type(&parts.headers)?;
    let gzip = check_encoding(&parts.headers)?;
    let _permit = rx.permits.acquire().await.map_err(|_| Failure::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down", true))?;
    let bytes = read_body(&parts.headers, body).await?;
    let redactor = Arc::clone(&rx.redactor);
    let parsed = tokio::task::spawn_blocking(move || decode_and_parse(bytes, gzip, &redactor))
        .await
        .map_err(|e| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, format!("parsing the request failed: {e}"), true))??;
    let response = export_response(&parsed);
    let (rejected, skipped) = (parsed.rejected_count, parsed.skipped);
    let stored =
        rx.writer.store(parsed.events).await.map_err(|e| {
            Failure::new(StatusCode::SERVICE_UNAVAILABLE, format!("the events could not be stored: {e}; retry later"), true)
        })?;
    tracing::info!(ingested = stored.ingested, duplicates = stored.duplicates, rejected, skipped, "OTLP logs request");
    rx.count(|t| {
        t.requests += 1;
        t.ingested += stored.ingested;
        t.duplicates += stored.duplicates;
        t.rejected += rejected;
        t.skipped += skipped;
    });
    Ok(response)
}

/// How to run the receiver.
pub struct Options {
    /// Where to listen, `HOST:PORT` (port 0 picks a free port).
    pub addr: String,
    pub store: Store,
    pub redactor: Redactor,
    /// Who the audit log names for what the receiver stores.
    pub actor: String,
    pub now: fn() -> Millis,
    /// The grouping configuration (the config's `[triage]`).
    pub grouper: Grouper,
    /// The config's SLOs, for the error-budget factor of the ranking.
    pub slos: Vec<crate::config::Slo>,
    /// Field names whose values are hashed (`triage.redact_fields`).
    pub redact_fields: Vec<String>,
}

/// How to run the rollout controller and its proxy.
pub struct Delivery {
    /// The controller's own store handle (it signs as the deployer).
    pub store: Store,
    pub env: crate::canary::controller::Env,
}

/// Why the receiver could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Setup(String),
}

/// Where `run` listens, once it does.
#[derive(Debug, Clone, Copy)]
pub struct Listening {
    pub otlp: Option<SocketAddr>,
    pub proxy: Option<SocketAddr>,
}

/// Runs the OTLP receiver (when `otlp` is given) and the rollout controller
/// with its proxy (when `delivery` is) until SIGINT or SIGTERM.
/// `on_listening` is called with the bound addresses (the real ports when 0
/// was asked for) once requests can be made. In-flight requests finish and
/// are stored before it returns.
pub fn run(otlp: Option<Options>, delivery: Option<Delivery>, on_listening: impl FnOnce(Listening)) -> Result<Totals, ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("suture-serve").build()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut writer_thread = None;
    let mut controller_thread = None;
    let mut receiver = None;
    let result = runtime.block_on(async {
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let mut listening = Listening { otlp: None, proxy: None };
        let mut tasks = Vec::new();
        if let Some(opts) = otlp {
            let (writer, thread) =
                Writer::spawn(opts.store, opts.actor, opts.now, opts.grouper, opts.slos, (opts.redact_fields, opts.redactor.clone()))?;
            writer_thread = Some(thread);
            let rx = Receiver::new(opts.redactor, writer);
            receiver = Some(Arc::clone(&rx));
            let listener =
                tokio::net::TcpListener::bind(&opts.addr).await.map_err(|source| ServeError::Bind { addr: opts.addr.clone(), source })?;
            listening.otlp = Some(listener.local_addr()?);
            let stop = stopped();
            tasks.push(tokio::spawn(async move { axum::serve(listener, router(rx)).with_graceful_shutdown(stop).await }));
        }
        if let Some(mut d) = delivery {
            let addr = d.env.cfg.listen.clone();
            let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|source| ServeError::Bind { addr: addr.clone(), source })?;
            let local = listener.local_addr()?;
            listening.proxy = Some(local);
            d.env.cfg.listen = local.to_string();
            let placeholder = SocketAddr::from(([127, 0, 0, 1], 9));
            let upstreams = crate::deliver::proxy::Upstreams { baseline: placeholder, canary: None };
            let proxy =
                crate::deliver::proxy::Proxy::new(upstreams, d.env.cfg.sticky_header.as_deref(), d.env.now).map_err(ServeError::Setup)?;
            let metrics = crate::canary::controller::metrics_source(&d.env.cfg, Arc::clone(&proxy)).map_err(ServeError::Setup)?;
            let controller = crate::canary::controller::Controller::new(d.store, d.env, Arc::clone(&proxy), metrics);
            let stop = stopped();
            tasks.push(tokio::spawn(async move { crate::deliver::proxy::serve(listener, proxy, stop).await }));
            // The controller owns a store connection (not Sync) and the
            // canary's processes, which die with the thread that started
            // them: it gets a thread and a runtime of its own.
            let stop = stopped();
            let thread = std::thread::Builder::new().name("suture-controller".into()).spawn(move || {
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt.block_on(controller.run(stop)),
                    Err(e) => tracing::error!("the rollout controller cannot start: {e}"),
                }
            })?;
            controller_thread = Some(thread);
        }
        on_listening(listening);
        for t in tasks {
            let _ = t.await;
        }
        Ok::<(), ServeError>(())
    });
    let totals = receiver.as_ref().map(|r| r.totals()).unwrap_or_default();
    // The last handle to the writer goes; the thread finishes what it has and ends.
    drop(receiver);
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    if let Some(t) = writer_thread {
        let _ = t.join();
    }
    if let Some(t) = controller_thread {
        let _ = t.join();
    }
    result.map(|()| totals)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Checks an `--otlp` value's form, `HOST:PORT` (IPv6 hosts in brackets).
pub fn parse_listen_addr(s: &str) -> Result<String, String> {
    let bad = || format!("`{s}` is not HOST:PORT (for example 127.0.0.1:4318)");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner.strip_suffix(']').is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty() && !host.contains(':') && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    };
    if host_ok { Ok(s.to_string()) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;
    use std::io::Write;
    use tower::ServiceExt;

    struct Rig {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        app: Router,
    }

    fn rig() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        let (writer, _thread) =
            Writer::spawn(store, "test".into(), || 1_795_200_000_000, Grouper::default(), Vec::new(), (Vec::new(), Redactor::new([0; 32])))
                .unwrap();
        let app = router(Receiver::new(Redactor::new([7; 32]), writer));
        Rig { _dir: dir, path, app }
    }

    fn record(id: &str, kind: &str) -> String {
        format!(
            r#"{{"timeUnixNano":"1795133046716521284","severityNumber":17,"body":{{"stringValue":"boom"}},"attributes":[{{"key":"event.id","value":{{"stringValue":"{id}"}}}},{{"key":"exception.type","value":{{"stringValue":"{kind}"}}}},{{"key":"exception.message","value":{{"stringValue":"boom"}}}}]}}"#
        )
    }

    fn request(records: &[String]) -> String {
        format!(
            r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"shop"}}}}]}},"scopeLogs":[{{"logRecords":[{}]}}]}}]}}"#,
            records.join(",")
        )
    }

    async fn send(app: &Router, method: Method, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (StatusCode, HeaderMap, String) {
        let mut b = axum::http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = app.clone().oneshot(b.body(Body::from(body)).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn post_json(app: &Router, body: impl Into<Vec<u8>>) -> (StatusCode, HeaderMap, String) {
        send(app, Method::POST, LOGS_PATH, &[("content-type", "application/json")], body.into()).await
    }

    fn events_in(path: &std::path::Path) -> u64 {
        Store::open(path).unwrap().event_count().unwrap()
    }

    #[tokio::test]
    async fn serve_stores_a_json_request_before_answering_and_counts_duplicates_once() {
        let rig = rig();
        let body = request(&[record("a", "ValueError"), record("b", "ValueError"), record("c", "KeyError")]);
        let (status, headers, text) = post_json(&rig.app, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(text, "{}");
        assert_eq!(events_in(&rig.path), 3, "committed before the response");
        let (status, _, _) = post_json(&rig.app, body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(events_in(&rig.path), 3, "the same records again are duplicates");
        let incidents = Store::open(&rig.path).unwrap().incidents().unwrap();
        assert_eq!(incidents.iter().map(|i| i.count).sum::<u64>(), 3);
        assert_eq!(incidents.len(), 2);
    }

    #[tokio::test]
    async fn serve_accepts_charset_and_gzip() {
        let rig = rig();
        let body = request(&[record("g1", "ValueError")]);
        let (status, _, text) =
            send(&rig.app, Method::POST, LOGS_PATH, &[("content-type", "application/json; charset=UTF-8")], body.into()).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "{}"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(request(&[record("g2", "ValueError")]).as_bytes()).unwrap();
        let (status, _, text) = send(
            &rig.app,
            Method::POST,
            LOGS_PATH,
            &[("content-type", "application/json"), ("content-encoding", "gzip")],
            gz.finish().unwrap(),
        )
        .await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "{}"));
        assert_eq!(events_in(&rig.path), 2);
        let (status, _, text) = send(
            &rig.app,
            Method::POST,
            LOGS_PATH,
            &[("content-type", "application/json"), ("content-encoding", "gzip")],
            b"not gzip".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("does not inflate"), "{text}");
        let (status, _, text) =
            send(&rig.app, Method::POST, LOGS_PATH, &[("content-type", "application/json"), ("content-encoding", "br")], b"{}".to_vec())
                .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(text.contains("Content-Encoding `br`"), "{text}");
        let (status, _, text) =
            send(&rig.app, Method::POST, LOGS_PATH, &[("content-type", "application/json; charset=latin1")], b"{}".to_vec()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(text.contains("latin1"), "{text}");
    }

    #[tokio::test]
    async fn serve_refuses_protobuf_and_other_media_types_with_the_exporter_setting() {
        let rig = rig();
        for ct in ["application/x-protobuf", "application/protobuf"] {
            let (status, headers, text) =
                send(&rig.app, Method::POST, LOGS_PATH, &[("content-type", ct)], vec![0x0a, 0x02, 0x08, 0x01]).await;
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
            assert!(text.contains("OTLP/protobuf is not supported") && text.contains("OTEL_EXPORTER_OTLP_PROTOCOL=http/json"), "{text}");
        }
        let (status, _, text) = send(&rig.app, Method::POST, LOGS_PATH, &[("content-type", "text/plain")], b"{}".to_vec()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(text.contains("Content-Type `text/plain`"), "{text}");
        let (status, _, text) = send(&rig.app, Method::POST, LOGS_PATH, &[], b"{}".to_vec()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(text.contains("no Content-Type"), "{text}");
        assert_eq!(events_in(&rig.path), 0);
    }

    #[tokio::test]
    async fn serve_answers_400_for_a_body_that_is_not_an_otlp_request() {
        let rig = rig();
        for body in [&b"{\"resourceLogs\": [ {"[..], b"garbage", b"", b"[1,2]", b"{\"resourceLogs\":[]} trailing", b"\xff\xfe{}"] {
            let (status, headers, text) = post_json(&rig.app, body.to_vec()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(body));
            assert_eq!(headers[header::CONTENT_TYPE], "application/json");
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["code"], 3);
            assert!(!v["message"].as_str().unwrap().is_empty());
        }
        let (_, _, text) = post_json(&rig.app, "garbage").await;
        assert!(text.contains("not an OTLP/JSON logs request"), "{text}");
        let (status, _, text) = post_json(&rig.app, "{}").await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "{}"), "an empty request is fine");
    }

    #[tokio::test]
    async fn serve_reports_rejected_records_as_partial_success() {
        let rig = rig();
        let bad = r#"{"timeUnixNano":"yesterday","severityNumber":17,"attributes":[{"key":"exception.type","value":{"stringValue":"E"}}]}"#;
        let info = r#"{"timeUnixNano":"1795133046716521284","severityNumber":9,"body":{"stringValue":"fine"}}"#;
        let body = request(&[record("ok", "ValueError"), bad.to_string(), info.to_string(), bad.to_string()]);
        let (status, _, text) = post_json(&rig.app, body).await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["partialSuccess"]["rejectedLogRecords"], "2");
        let msg = v["partialSuccess"]["errorMessage"].as_str().unwrap();
        assert!(msg.starts_with("2 log records rejected: resourceLogs[0].scopeLogs[0].logRecords[1]: "), "{msg}");
        assert!(msg.contains("logRecords[3]"), "{msg}");
        assert_eq!(events_in(&rig.path), 1, "the good record is stored, the INFO one skipped");
    }

    #[tokio::test]
    async fn serve_limits_the_body_and_routes() {
        let rig = rig();
        let big = format!("{}", MAX_BODY + 1);
        let (status, _, text) =
            send(&rig.app, Method::POST, LOGS_PATH, &[("content-type", "application/json"), ("content-length", &big)], vec![b' '; 8]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(text.contains("16 MiB"), "{text}");
        let (status, _, _) = post_json(&rig.app, vec![b' '; MAX_BODY + 1]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "without a Content-Length too");
        // A gzip bomb is stopped when it inflates past the limit.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; MAX_BODY + 10]).unwrap();
        let (status, _, _) = send(
            &rig.app,
            Method::POST,
            LOGS_PATH,
            &[("content-type", "application/json"), ("content-encoding", "gzip")],
            gz.finish().unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

        let (status, headers, text) = send(&rig.app, Method::GET, LOGS_PATH, &[], vec![]).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers[header::ALLOW], "POST");
        assert!(text.contains("takes POST"), "{text}");
        let (status, _, text) = send(&rig.app, Method::POST, "/v1/traces", &[("content-type", "application/json")], b"{}".to_vec()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(text.contains("only logs"), "{text}");
        let (status, _, _) = send(&rig.app, Method::GET, "/", &[], vec![]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn serve_listen_addresses_are_checked() {
        for ok in ["127.0.0.1:4318", "0.0.0.0:0", "localhost:4318", "[::1]:4318"] {
            assert_eq!(parse_listen_addr(ok).as_deref(), Ok(ok));
        }
        for bad in ["4318", "127.0.0.1", "127.0.0.1:99999", ":4318", "::1:4318", "host name:1", "[zz]:1"] {
            assert!(parse_listen_addr(bad).is_err(), "{bad}");
        }
    }
}
