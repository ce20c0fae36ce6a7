//! Prometheus's HTTP API as a metrics source: `GET /api/v1/query_range` with
//! a PromQL template per metric, `$cohort` replaced by `baseline` or `canary`.
//!
//! The built-in templates read the local proxy's own `/metrics` (scraped by
//! Prometheus); a service with its own metrics sets `query` per metric.
//! Answers are checked, never trusted: a non-JSON body, `"status":"error"`,
//! a result that is not a matrix, or a value that is not a number is an error
//! naming what was wrong; NaN and infinite points are dropped and counted.

use std::time::Duration;

use serde::Deserialize;

use super::{Kind, MetricsError, MetricsSource, Series};
use crate::config::{MetricCfg, PrometheusCfg};
use crate::deliver::BoxFut;
use crate::deliver::proxy::Cohort;
use crate::model::Millis;

/// The largest answer read.
const MAX_BODY: usize = 16 << 20;

pub struct Prometheus {
    base: String,
    step_secs: u64,
    client: reqwest::Client,
}

/// The built-in PromQL for a kind over the proxy's metrics.
pub fn default_query(kind: Kind) -> &'static str {
    match kind {
        Kind::Latency => {
            "1000 * sum(rate(suture_proxy_request_duration_seconds_sum{cohort=\"$cohort\"}[5s])) \
             / sum(rate(suture_proxy_request_duration_seconds_count{cohort=\"$cohort\"}[5s]))"
        }
        Kind::ErrorRate => {
            "(sum(rate(suture_proxy_requests_total{cohort=\"$cohort\",code=~\"5..\"}[5s])) or on() vector(0)) \
             / sum(rate(suture_proxy_requests_total{cohort=\"$cohort\"}[5s]))"
        }
        Kind::RequestRate => "sum(rate(suture_proxy_requests_total{cohort=\"$cohort\"}[5s]))",
    }
}

impl Prometheus {
    pub fn new(cfg: &PrometheusCfg) -> Result<Prometheus, MetricsError> {
        let base = cfg.url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(MetricsError::Config(format!("rollout.prometheus.url {:?} is not an http(s) URL", cfg.url)));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| MetricsError::Config(format!("making the Prometheus client: {e}")))?;
        Ok(Prometheus { base, step_secs: cfg.step_secs.max(1), client })
    }

    /// The query for `metric` and `cohort`.
    pub fn query(metric: &MetricCfg, cohort: Cohort) -> Result<String, MetricsError> {
        let template = if metric.query.trim().is_empty() {
            default_query(Kind::parse(&metric.kind).map_err(|e| MetricsError::Config(format!("metric {}: {e}", metric.name)))?).to_string()
        } else {
            metric.query.clone()
        };
        Ok(template.replace("$cohort", cohort.label()))
    }

    /// Runs a range query and returns its points (one series expected; more
    /// are concatenated).
    pub async fn query_range(&self, query: &str, from: Millis, to: Millis) -> Result<Series, MetricsError> {
        let name = self.name();
        let unavailable = |why: String| MetricsError::Unavailable { source_name: name.clone(), why };
        let garbage = |why: String| MetricsError::Garbage { source_name: name.clone(), why };
        let url = format!("{}/api/v1/query_range", self.base);
        let start = format!("{:.3}", from as f64 / 1000.0);
        let end = format!("{:.3}", (to.max(from + 1)) as f64 / 1000.0);
        let step = self.step_secs.to_string();
        let full = reqwest::Url::parse_with_params(&url, [("query", query), ("start", &start), ("end", &end), ("step", &step)])
            .map_err(|e| MetricsError::Config(format!("{url}: {e}")))?;
        let resp = self
            .client
            .get(full)
            .send()
            .await
            .map_err(|e| unavailable(if e.is_timeout() { "it did not answer in time".into() } else { format!("{url}: {e}") }))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| unavailable(format!("reading the answer: {e}")))?;
        if body.len() > MAX_BODY {
            return Err(garbage(format!("the answer is {} bytes, over the limit", body.len())));
        }
        let parsed: Answer = serde_json::from_slice(&body).map_err(|e| {
            let head: String = String::from_utf8_lossy(&body[..body.len().min(80)]).chars().filter(|c| !c.is_control()).collect();
            garbage(format!("HTTP {status}, not the API's JSON ({e}): {head:?}"))
        })?;
        if parsed.status != "success" {
            let why = format!("{}: {}", parsed.error_type.unwrap_or_default(), parsed.error.unwrap_or_default());
            let why: String = why.chars().filter(|c| !c.is_control()).collect();
            return Err(unavailable(format!("HTTP {status}, the query failed: {why}")));
        }
        let data = parsed.data.ok_or_else(|| garbage("no data in a successful answer".into()))?;
        if data.result_type != "matrix" {
            return Err(garbage(format!("a {} where a range query gives a matrix", data.result_type)));
        }
        let mut points = Vec::new();
        for series in data.result {
            for (i, (_, v)) in series.values.iter().enumerate() {
                let value: f64 = v.parse().map_err(|_| garbage(format!("point {i}'s value {v:?} is not a number")))?;
                points.push(value);
            }
        }
        Ok(Series::from_points(points))
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: Vec<RangeSeries>,
}

#[derive(Deserialize)]
struct RangeSeries {
    #[serde(default)]
    values: Vec<(f64, String)>,
}

impl MetricsSource for Prometheus {
    fn name(&self) -> String {
        format!("Prometheus at {}", self.base)
    }

    fn fetch<'a>(&'a self, metric: &'a MetricCfg, cohort: Cohort, from: Millis, to: Millis) -> BoxFut<'a, Result<Series, MetricsError>> {
        Box::pin(async move {
            let q = Prometheus::query(metric, cohort)?;
            self.query_range(&q, from, to).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;

    async fn fake(answer: &'static str, status: u16) -> String {
        let app = Router::new().route(
            "/api/v1/query_range",
            axum::routing::get(move || async move { (axum::http::StatusCode::from_u16(status).unwrap(), answer) }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        format!("http://{addr}")
    }

    fn metric(kind: &str) -> MetricCfg {
        MetricCfg { name: kind.into(), kind: kind.into(), ..MetricCfg::default() }
    }

    async fn fetch(url: String) -> Result<Series, MetricsError> {
        let p = Prometheus::new(&PrometheusCfg { url, step_secs: 1, timeout_secs: 2 }).unwrap();
        p.fetch(&metric("latency"), Cohort::Canary, 1_000, 5_000).await
    }

    #[tokio::test]
    async fn nan_is_dropped_empty_is_empty_and_garbage_or_errors_are_named() {
        let ok = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2.5"],[2,"NaN"],[3,"+Inf"],[4,"3"]]}]}}"#;
        let s = fetch(fake(ok, 200).await).await.unwrap();
        assert_eq!((s.values, s.dropped), (vec![2.5, 3.0], 2));
        let empty = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(fetch(fake(empty, 200).await).await.unwrap(), Series::default());
        let e = fetch(fake("<html>bad gateway</html>", 502).await).await.unwrap_err();
        assert!(matches!(e, MetricsError::Garbage { .. }) && e.to_string().contains("HTTP 502"), "{e}");
        let failed = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#;
        let e = fetch(fake(failed, 400).await).await.unwrap_err();
        assert!(e.to_string().contains("bad_data: parse error at char 3"), "{e}");
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(fetch(fake(vector, 200).await).await.unwrap_err().to_string().contains("a vector where"));
        let word = r#"{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,"lots"]]}]}}"#;
        assert!(fetch(fake(word, 200).await).await.unwrap_err().to_string().contains("\"lots\" is not a number"));
        // Nothing listening: unavailable.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let e = fetch(format!("http://{dead}")).await.unwrap_err();
        assert!(matches!(e, MetricsError::Unavailable { .. }), "{e}");
    }

    #[test]
    fn templates_get_the_cohort() {
        let q = Prometheus::query(&metric("error_rate"), Cohort::Baseline).unwrap();
        assert!(q.contains("cohort=\"baseline\"") && !q.contains("$cohort"), "{q}");
        let own = MetricCfg { query: "my_metric{group=\"$cohort\"}".into(), ..metric("latency") };
        assert_eq!(Prometheus::query(&own, Cohort::Canary).unwrap(), "my_metric{group=\"canary\"}");
        assert!(Prometheus::query(&metric("cpu"), Cohort::Canary).is_err());
    }
}
