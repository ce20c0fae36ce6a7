//! Metrics sources: where the judge's samples come from, per metric and
//! cohort over an interval. The local proxy's own measurements are the
//! embedded default; Prometheus's HTTP API (`query_range`) is the real system.
//!
//! A source never invents a value: a series it cannot read is an error (the
//! controller counts lost intervals and rolls back past a limit), and NaN or
//! infinite points are dropped and counted, so the judge sees NoData rather
//! than a number that was never measured.

pub mod local;
pub mod prometheus;

use crate::config::MetricCfg;
use crate::deliver::BoxFut;
use crate::deliver::proxy::Cohort;
use crate::model::Millis;

/// What a metric measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Milliseconds per request, averaged per second.
    Latency,
    /// Share of requests answered with a server error, per second.
    ErrorRate,
    /// Requests per second.
    RequestRate,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Kind, String> {
        match s {
            "latency" => Ok(Kind::Latency),
            "error_rate" => Ok(Kind::ErrorRate),
            "request_rate" => Ok(Kind::RequestRate),
            other => Err(format!("unknown metric kind {other:?}: expected latency, error_rate or request_rate")),
        }
    }
}

/// A metric's samples over an interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub values: Vec<f64>,
    /// Points dropped because they were NaN or infinite.
    pub dropped: usize,
}

impl Series {
    /// Keeps the finite values, counting the rest.
    pub fn from_points(points: impl IntoIterator<Item = f64>) -> Series {
        let mut s = Series::default();
        for v in points {
            if v.is_finite() {
                s.values.push(v);
            } else {
                s.dropped += 1;
            }
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("{source_name} is unavailable: {why}")]
    Unavailable { source_name: String, why: String },
    #[error("{source_name} answered something that is not metrics: {why}")]
    Garbage { source_name: String, why: String },
    #[error("{0}")]
    Config(String),
}

pub trait MetricsSource: Send + Sync {
    fn name(&self) -> String;
    /// The samples of `metric` for `cohort` with `from <= t < to`.
    fn fetch<'a>(&'a self, metric: &'a MetricCfg, cohort: Cohort, from: Millis, to: Millis) -> BoxFut<'a, Result<Series, MetricsError>>;
}
