//! The traffic replayer: sends recorded requests to the proxy at a chosen
//! rate, round and round, so the demo's canary is judged on real requests
//! answered by the real service.
//!
//! The recording is JSON lines, one request each:
//! `{"method","path","query":{…},"headers":{…},"body":…}` (the demo's
//! `fixtures/demo/traffic/recorded.jsonl`). A line that is not such a request
//! is an error naming its line number; nothing is sent from a bad file.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;

use crate::encode::percent_encode;

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub query: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// Reads a recording; errors name the file and line.
pub fn load(path: &std::path::Path) -> Result<Vec<Recorded>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: Recorded = serde_json::from_str(line).map_err(|e| format!("{}:{}: not a recorded request: {e}", path.display(), i + 1))?;
        if !r.path.starts_with('/') {
            return Err(format!("{}:{}: the path {:?} does not start with /", path.display(), i + 1, r.path));
        }
        out.push(r);
    }
    if out.is_empty() {
        return Err(format!("{}: no requests in it", path.display()));
    }
    Ok(out)
}

/// What the replayer has done so far.
#[derive(Debug, Default)]
pub struct Counts {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
}

/// Replays `requests` against `target` at `rate` per second with at most
/// `concurrency` in flight, until the task is dropped or aborted.
pub async fn run(target: SocketAddr, requests: Arc<Vec<Recorded>>, rate: f64, concurrency: usize, counts: Arc<Counts>) {
    let Ok(client) = reqwest::Client::builder().timeout(Duration::from_secs(10)).pool_max_idle_per_host(concurrency.max(1)).build() else {
        return;
    };
    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let period = Duration::from_secs_f64(1.0 / rate.clamp(0.1, 10_000.0));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut i = 0usize;
    loop {
        tick.tick().await;
        let Ok(permit) = Arc::clone(&gate).acquire_owned().await else { return };
        let r = &requests[i % requests.len()];
        i += 1;
        let mut url = format!("http://{target}{}", r.path);
        if !r.query.is_empty() {
            let q: Vec<String> = r.query.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
            url = format!("{url}?{}", q.join("&"));
        }
        let Ok(method) = reqwest::Method::from_bytes(r.method.as_bytes()) else { continue };
        let mut req = client.request(method, url);
        for (k, v) in &r.headers {
            req = req.header(k, v);
        }
        if let Some(body) = &r.body
            && !body.is_null()
        {
            req = req.json(body);
        }
        let counts = Arc::clone(&counts);
        tokio::spawn(async move {
            let ok = match req.send().await {
                Ok(resp) => resp.bytes().await.is_ok(),
                Err(_) => false,
            };
            counts.sent.fetch_add(1, Ordering::Relaxed);
            if !ok {
                counts.failed.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_recording_loads_and_a_bad_line_is_named() {
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/traffic/recorded.jsonl");
        let reqs = load(&demo).unwrap();
        assert_eq!(reqs.len(), 2000);
        assert!(reqs.iter().any(|r| r.method == "POST" && r.body.is_some()));
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, "{\"method\":\"GET\",\"path\":\"/\"}\n{\"method\":\"GET\"}\n").unwrap();
        let e = load(&bad).unwrap_err();
        assert!(e.contains("bad.jsonl:2: not a recorded request"), "{e}");
    }
}
