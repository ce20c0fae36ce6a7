//! The local canary's weighted reverse proxy.
//!
//! Every request is routed to the stable (baseline) or the canary process by
//! the canary weight: sticky on a header's value when one is configured (the
//! same tenant always lands on the same side), otherwise by a fast random
//! draw. Per cohort it measures what the judge and the charts need: status
//! codes, a latency histogram (Prometheus buckets), and the recent requests
//! themselves (time, latency, status) for the Mann-Whitney test.
//!
//! `GET /metrics` is the proxy's own: its measurements in Prometheus text
//! format (the demo service has no such path, and a real service behind the
//! proxy would have its own metrics on its own port). Every other path goes
//! upstream. An upstream that does not answer gives 502, counted against its
//! cohort: a crashed canary shows up as errors, which is what trips the
//! guardrails.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::model::Millis;

/// Upper bounds of the latency histogram, in seconds (Prometheus's defaults
/// with finer steps at the low end, where a loopback service lives).
pub const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Requests kept per cohort for the judge (the oldest go first).
const KEEP_SAMPLES: usize = 200_000;
/// The largest request body the proxy forwards.
const MAX_BODY: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cohort {
    Baseline,
    Canary,
}

impl Cohort {
    pub const ALL: [Cohort; 2] = [Cohort::Baseline, Cohort::Canary];

    pub fn label(self) -> &'static str {
        match self {
            Cohort::Baseline => "baseline",
            Cohort::Canary => "canary",
        }
    }

    fn index(self) -> usize {
        match self {
            Cohort::Baseline => 0,
            Cohort::Canary => 1,
        }
    }
}

/// One proxied request, as measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: Millis,
    pub latency_ms: f64,
    pub status: u16,
}

impl Sample {
    /// Server errors and unanswered requests; 4xx are the client's doing.
    pub fn is_error(&self) -> bool {
        self.status >= 500
    }
}

#[derive(Debug, Default)]
struct CohortStats {
    codes: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_secs: f64,
    samples: VecDeque<Sample>,
}

/// Per-cohort measurements, shared by the proxy and whoever reads them.
#[derive(Debug, Default)]
pub struct Recorder {
    cohorts: [Mutex<CohortStats>; 2],
}

impl Recorder {
    pub fn record(&self, cohort: Cohort, sample: Sample) {
        let mut s = lock(&self.cohorts[cohort.index()]);
        *s.codes.entry(sample.status).or_default() += 1;
        let secs = sample.latency_ms / 1000.0;
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                s.buckets[i] += 1;
            }
        }
        s.count += 1;
        s.sum_secs += secs;
        if s.samples.len() == KEEP_SAMPLES {
            s.samples.pop_front();
        }
        s.samples.push_back(sample);
    }

    /// The cohort's requests with `from <= at < to`, oldest first.
    pub fn samples(&self, cohort: Cohort, from: Millis, to: Millis) -> Vec<Sample> {
        let s = lock(&self.cohorts[cohort.index()]);
        let start = s.samples.partition_point(|x| x.at < from);
        s.samples.iter().skip(start).take_while(|x| x.at < to).copied().collect()
    }

    /// Requests counted so far per cohort.
    pub fn totals(&self) -> [u64; 2] {
        [lock(&self.cohorts[0]).count, lock(&self.cohorts[1]).count]
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn prometheus_text(&self, weight: u8) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        out.push_str("# HELP suture_proxy_requests_total Requests the canary proxy answered, by cohort and status code.\n");
        out.push_str("# TYPE suture_proxy_requests_total counter\n");
        for c in Cohort::ALL {
            let s = lock(&self.cohorts[c.index()]);
            for (code, n) in &s.codes {
                let _ = writeln!(out, "suture_proxy_requests_total{{cohort=\"{}\",code=\"{code}\"}} {n}", c.label());
            }
        }
        out.push_str("# HELP suture_proxy_request_duration_seconds Time from the request's arrival to the end of the upstream's answer.\n");
        out.push_str("# TYPE suture_proxy_request_duration_seconds histogram\n");
        for c in Cohort::ALL {
            let s = lock(&self.cohorts[c.index()]);
            for (le, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(out, "suture_proxy_request_duration_seconds_bucket{{cohort=\"{}\",le=\"{le}\"}} {n}", c.label());
            }
            let _ = writeln!(out, "suture_proxy_request_duration_seconds_bucket{{cohort=\"{}\",le=\"+Inf\"}} {}", c.label(), s.count);
            let _ = writeln!(out, "suture_proxy_request_duration_seconds_sum{{cohort=\"{}\"}} {}", c.label(), s.sum_secs);
            let _ = writeln!(out, "suture_proxy_request_duration_seconds_count{{cohort=\"{}\"}} {}", c.label(), s.count);
        }
        out.push_str("# HELP suture_proxy_canary_weight The share of requests routed to the canary, in percent.\n");
        out.push_str("# TYPE suture_proxy_canary_weight gauge\n");
        let _ = writeln!(out, "suture_proxy_canary_weight {weight}");
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where the two cohorts live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upstreams {
    pub baseline: SocketAddr,
    pub canary: Option<SocketAddr>,
}

/// The proxy's shared state: weight, upstreams and measurements.
pub struct Proxy {
    weight: AtomicU8,
    upstreams: RwLock<Upstreams>,
    sticky: Option<HeaderName>,
    client: reqwest::Client,
    pub recorder: Recorder,
    seed: AtomicU64,
    now: fn() -> Millis,
}

impl Proxy {
    pub fn new(upstreams: Upstreams, sticky: Option<&str>, now: fn() -> Millis) -> Result<Arc<Proxy>, String> {
        let sticky = match sticky {
            Some(h) => Some(HeaderName::try_from(h).map_err(|_| format!("sticky header {h:?} is not a header name"))?),
            None => None,
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| format!("making the proxy's HTTP client: {e}"))?;
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1;
        Ok(Arc::new(Proxy {
            weight: AtomicU8::new(0),
            upstreams: RwLock::new(upstreams),
            sticky,
            client,
            recorder: Recorder::default(),
            seed: AtomicU64::new(seed),
            now,
        }))
    }

    pub fn weight(&self) -> u8 {
        self.weight.load(Ordering::Relaxed)
    }

    pub fn set_weight(&self, weight: u8) {
        self.weight.store(weight.min(100), Ordering::Relaxed);
    }

    pub fn upstreams(&self) -> Upstreams {
        *self.upstreams.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_upstreams(&self, u: Upstreams) {
        *self.upstreams.write().unwrap_or_else(|p| p.into_inner()) = u;
    }

    /// Which cohort a request goes to.
    fn route(&self, headers: &HeaderMap) -> Cohort {
        let weight = self.weight() as u64;
        let up = self.upstreams();
        if up.canary.is_none() || weight == 0 {
            return Cohort::Baseline;
        }
        if weight >= 100 {
            return Cohort::Canary;
        }
        let draw = match self.sticky.as_ref().and_then(|h| headers.get(h)) {
            // FNV-1a of the header's value: stable across restarts.
            Some(v) => v.as_bytes().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)),
            None => {
                // xorshift64*, one atomic step per request.
                let mut x = self.seed.load(Ordering::Relaxed);
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                self.seed.store(x, Ordering::Relaxed);
                x.wrapping_mul(0x2545_f491_4f6c_dd1d)
            }
        };
        if draw % 100 < weight { Cohort::Canary } else { Cohort::Baseline }
    }

    /// The share of the last `window_ms` of requests that went to the canary, in percent.
    pub fn actual_weight(&self, window_ms: Millis) -> Option<u8> {
        let now = (self.now)();
        let b = self.recorder.samples(Cohort::Baseline, now - window_ms, now + 1).len();
        let c = self.recorder.samples(Cohort::Canary, now - window_ms, now + 1).len();
        let total = b + c;
        (total > 0).then(|| ((c * 100 + total / 2) / total) as u8)
    }
}

/// The proxy's HTTP routes.
pub fn router(proxy: Arc<Proxy>) -> Router {
    Router::new().route("/metrics", axum::routing::get(metrics)).fallback(forward).with_state(proxy)
}

async fn metrics(State(proxy): State<Arc<Proxy>>) -> Response {
    let text = proxy.recorder.prometheus_text(proxy.weight());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];

async fn forward(State(proxy): State<Arc<Proxy>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let cohort = proxy.route(&parts.headers);
    let up = proxy.upstreams();
    let addr = match cohort {
        Cohort::Canary => up.canary.unwrap_or(up.baseline),
        Cohort::Baseline => up.baseline,
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body over 1 MiB\n").into_response(),
    };
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("http://{addr}{path}");
    let mut out = proxy.client.request(parts.method.clone(), &url).body(body);
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST && !HOP_BY_HOP.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    let answer = async {
        let resp = out.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        Ok::<_, reqwest::Error>((status, headers, bytes))
    }
    .await;
    let (status, headers, bytes) = match answer {
        Ok(a) => a,
        Err(e) => {
            let why = if e.is_timeout() { "timed out" } else { "did not answer" };
            let text = format!("{{\"error\":\"the {} upstream {why}\"}}", cohort.label());
            (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::from(text))
        }
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Stamped when the answer is complete, so samples stay in time order.
    proxy.recorder.record(cohort, Sample { at: (proxy.now)(), latency_ms, status: status.as_u16() });
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != axum::http::header::CONTENT_LENGTH {
            response.headers_mut().append(name, value.clone());
        }
    }
    response.headers_mut().insert("x-suture-cohort", HeaderValue::from_static(cohort.label()));
    response
}

/// Serves the proxy on `listener` until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    proxy: Arc<Proxy>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(proxy)).with_graceful_shutdown(stop).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Millis {
        jiff::Timestamp::now().as_millisecond()
    }

    /// An upstream that answers with its name and the status asked for in `?status=`.
    async fn upstream(name: &'static str) -> SocketAddr {
        let app = Router::new().fallback(move |req: Request| async move {
            let status = req.uri().query().and_then(|q| q.strip_prefix("status=")).and_then(|s| s.parse::<u16>().ok()).unwrap_or(200);
            (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), name)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    async fn start(proxy: Arc<Proxy>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, proxy, std::future::pending()));
        addr
    }

    #[tokio::test]
    async fn routes_by_weight_and_measures_each_cohort() {
        let up = Upstreams { baseline: upstream("stable").await, canary: Some(upstream("canary").await) };
        let proxy = Proxy::new(up, None, now).unwrap();
        proxy.set_weight(30);
        let addr = start(Arc::clone(&proxy)).await;
        let client = reqwest::Client::new();
        let mut canary = 0;
        for i in 0..400 {
            let q = if i % 50 == 0 { "?status=503" } else { "" };
            let r = client.get(format!("http://{addr}/x{q}")).send().await.unwrap();
            let cohort = r.headers()["x-suture-cohort"].to_str().unwrap().to_string();
            let body = r.text().await.unwrap();
            assert_eq!(body, if cohort == "canary" { "canary" } else { "stable" });
            canary += (cohort == "canary") as usize;
        }
        // 30% of 400 = 120; the draw is random, so allow a wide band.
        assert!((70..=170).contains(&canary), "{canary} of 400 went to the canary at weight 30");
        assert_eq!(proxy.recorder.totals(), [400 - canary as u64, canary as u64]);
        let text = client.get(format!("http://{addr}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(text.contains("suture_proxy_canary_weight 30"), "{text}");
        assert!(text.contains("code=\"503\""), "{text}");
        let line = text.lines().find(|l| l.starts_with("suture_proxy_request_duration_seconds_count{cohort=\"canary\"}")).unwrap();
        assert_eq!(line.rsplit(' ').next().unwrap(), canary.to_string());
        assert!(proxy.actual_weight(60_000).is_some());
    }

    #[tokio::test]
    async fn sticky_header_keeps_a_tenant_on_one_side_and_weights_0_and_100_are_absolute() {
        let up = Upstreams { baseline: upstream("stable").await, canary: Some(upstream("canary").await) };
        let proxy = Proxy::new(up, Some("x-tenant"), now).unwrap();
        let addr = start(Arc::clone(&proxy)).await;
        let client = reqwest::Client::new();
        let side = |t: &'static str| {
            let client = client.clone();
            async move {
                let r = client.get(format!("http://{addr}/")).header("x-tenant", t).send().await.unwrap();
                r.headers()["x-suture-cohort"].to_str().unwrap().to_string()
            }
        };
        proxy.set_weight(50);
        for t in ["acme", "globex", "initech", "umbrella"] {
            let first = side(t).await;
            for _ in 0..5 {
                assert_eq!(side(t).await, first, "tenant {t} moved");
            }
        }
        proxy.set_weight(0);
        assert_eq!(side("acme").await, "baseline");
        proxy.set_weight(100);
        assert_eq!(side("acme").await, "canary");
    }

    #[tokio::test]
    async fn a_dead_upstream_is_a_502_counted_against_its_cohort() {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let up = Upstreams { baseline: upstream("stable").await, canary: Some(dead) };
        let proxy = Proxy::new(up, None, now).unwrap();
        proxy.set_weight(100);
        let addr = start(Arc::clone(&proxy)).await;
        let r = reqwest::get(format!("http://{addr}/")).await.unwrap();
        assert_eq!(r.status(), 502);
        assert!(r.text().await.unwrap().contains("the canary upstream did not answer"));
        let s = proxy.recorder.samples(Cohort::Canary, 0, i64::MAX);
        assert_eq!(s.len(), 1);
        assert!(s[0].is_error());
    }
}
