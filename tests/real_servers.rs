//! Delivery backends against the real systems, started on loopback for the
//! test by the scripts in `tests/servers/` (which `.ci/run` provides for):
//!
//! - a real Prometheus (Debian's `prometheus`) scraping Suture's canary proxy,
//!   read back through the `query_range` metrics source with the built-in
//!   PromQL templates;
//! - a real `unleash-server` from the npm registry, on its own PostgreSQL
//!   cluster, driven through the Unleash admin API backend.
//!
//! Neither is skipped when its server is missing: the test fails and says
//! what to install.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use suture::config::{MetricCfg, PrometheusCfg};
use suture::deliver::flags::{FlagBackend, FlagError, Setting};
use suture::deliver::metrics::MetricsSource;
use suture::deliver::metrics::prometheus::Prometheus;
use suture::deliver::proxy::{Cohort, Proxy, Upstreams};

fn now() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Runs `tests/servers/<script> start DIR …` and returns its KEY=VALUE lines.
fn start_server(script: &str, dir: &Path, extra: &[&str]) -> std::collections::BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers").join(script);
    let out = Command::new("bash").arg(&path).arg("start").arg(dir).args(extra).output().unwrap();
    assert!(
        out.status.success(),
        "{script} start failed (see tests/servers/README.md for what it needs):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))).collect()
}

/// Stops a server when the test ends, whatever happened.
struct Stop<'a>(&'static str, &'a Path);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers").join(self.0);
        let _ = Command::new("bash").arg(path).arg("stop").arg(self.1).output();
    }
}

/// A stand-in service: the canary answers 500 to every fifth request and
/// takes 20 ms longer.
async fn service(canary: bool) -> SocketAddr {
    let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let app = Router::new().fallback(move |_req: Request| {
        let n = Arc::clone(&n);
        async move {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if canary {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if i.is_multiple_of(5) {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "boom");
                }
            }
            (StatusCode::OK, "ok")
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_canary_proxy_and_query_range_reads_each_cohort() {
    let up = Upstreams { baseline: service(false).await, canary: Some(service(true).await) };
    let proxy = Proxy::new(up, None, now).unwrap();
    proxy.set_weight(50);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(suture::deliver::proxy::serve(listener, Arc::clone(&proxy), std::future::pending()));

    let dir = tempfile::tempdir().unwrap();
    let vars = start_server("prometheus.sh", dir.path(), &[&addr.to_string()]);
    let _stop = Stop("prometheus.sh", dir.path());
    let url = vars["PROMETHEUS_URL"].clone();

    // Traffic through the proxy while Prometheus scrapes it every second.
    let started = now();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(12);
    while Instant::now() < deadline {
        let mut batch = Vec::new();
        for _ in 0..10 {
            batch.push(client.get(format!("http://{addr}/x")).send());
        }
        for r in futures::future::join_all(batch).await {
            r.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let end = now();

    let source = Prometheus::new(&PrometheusCfg { url, step_secs: 1, timeout_secs: 5 }).unwrap();
    let metric = |kind: &str| MetricCfg { name: kind.into(), kind: kind.into(), ..MetricCfg::default() };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut seen = std::collections::BTreeMap::new();
    for kind in ["latency", "error_rate", "request_rate"] {
        for cohort in Cohort::ALL {
            let s = source.fetch(&metric(kind), cohort, started, end).await.unwrap();
            assert!(s.values.len() >= 4, "{kind} {cohort:?}: {s:?}");
            seen.insert((kind, cohort.label()), mean(&s.values));
        }
    }
    assert!(seen[&("latency", "canary")] > seen[&("latency", "baseline")] + 10.0, "{seen:?}");
    assert!(seen[&("error_rate", "canary")] > 0.1 && seen[&("error_rate", "baseline")] == 0.0, "{seen:?}");
    assert!(seen[&("request_rate", "canary")] > 1.0 && seen[&("request_rate", "baseline")] > 1.0, "{seen:?}");

    // NaN from Prometheus is dropped and counted, never judged.
    let nan = MetricCfg { query: "0/0".into(), ..metric("latency") };
    let s = source.fetch(&nan, Cohort::Canary, started, end).await.unwrap();
    assert!(s.values.is_empty() && s.dropped > 0, "{s:?}");
    // An empty series is empty, and a broken query is an error that says so.
    let none = MetricCfg { query: "no_such_metric{cohort=\"$cohort\"}".into(), ..metric("latency") };
    assert!(source.fetch(&none, Cohort::Canary, started, end).await.unwrap().values.is_empty());
    let broken = MetricCfg { query: "sum(".into(), ..metric("latency") };
    let e = source.fetch(&broken, Cohort::Canary, started, end).await.unwrap_err().to_string();
    assert!(e.contains("bad_data"), "{e}");
}

#[tokio::test]
async fn unleash_admin_api_toggles_a_flag_per_environment_on_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let vars = tokio::task::spawn_blocking({
        let d = dir.path().to_path_buf();
        move || start_server("unleash.sh", &d, &[])
    })
    .await
    .unwrap();
    let _stop = Stop("unleash.sh", dir.path());
    let (url, token) = (vars["UNLEASH_URL"].clone(), vars["UNLEASH_TOKEN"].clone());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let admin = suture::deliver::flags::unleash::UnleashAdmin::new(&url, token.clone(), "default", "development", client.clone()).unwrap();
    admin.health().await.unwrap();
    admin.create_feature("suture.kill.demo", "kill-switch").await.unwrap();
    // Created twice is still there once.
    admin.create_feature("suture.kill.demo", "kill-switch").await.unwrap();
    assert!(!admin.read("suture.kill.demo").await.unwrap().enabled);

    let change = admin.set("suture.kill.demo", &Setting::Enabled(true), None).await.unwrap();
    assert!(change.after.enabled, "{change:?}");
    assert!(admin.read("suture.kill.demo").await.unwrap().enabled);
    // Only in its environment: production is untouched.
    let envs = admin.environments("suture.kill.demo").await.unwrap();
    assert!(envs.contains(&("development".to_string(), true)) && envs.contains(&("production".to_string(), false)), "{envs:?}");
    admin.set("suture.kill.demo", &Setting::Enabled(false), None).await.unwrap();
    assert!(!admin.read("suture.kill.demo").await.unwrap().enabled);

    // Variants are not Unleash's model; a wrong token is refused without being shown.
    assert!(matches!(admin.set("suture.kill.demo", &Setting::Variant("on".into()), None).await, Err(FlagError::Unsupported { .. })));
    let wrong = suture::deliver::flags::unleash::UnleashAdmin::new(&url, "*:*.wrong".into(), "default", "development", client).unwrap();
    let e = wrong.read("suture.kill.demo").await.unwrap_err();
    assert!(matches!(e, FlagError::Unauthorized { .. }), "{e}");
    assert!(!e.to_string().contains("wrong"), "{e}");
    assert!(matches!(admin.read("no-such-flag").await, Err(FlagError::NotFound { .. })));
}
