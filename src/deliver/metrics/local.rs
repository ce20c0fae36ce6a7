//! The local proxy's own measurements as a metrics source.
//!
//! Every metric is a time series with one point per second, as Kayenta
//! judges them and as Prometheus's `query_range` gives them: mean latency,
//! error rate and request rate per second. Per-request latencies would give
//! the test more samples, but a change that slows a quarter of the requests
//! moves their median too little to be caught reliably at a 25% step, while
//! it moves every second's mean a lot.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Kind, MetricsError, MetricsSource, Series};
use crate::config::MetricCfg;
use crate::deliver::BoxFut;
use crate::deliver::proxy::{Cohort, Proxy, Sample};
use crate::model::Millis;

pub struct ProxySource {
    pub proxy: Arc<Proxy>,
}

impl MetricsSource for ProxySource {
    fn name(&self) -> String {
        "the local proxy".into()
    }

    fn fetch<'a>(&'a self, metric: &'a MetricCfg, cohort: Cohort, from: Millis, to: Millis) -> BoxFut<'a, Result<Series, MetricsError>> {
        Box::pin(async move {
            let kind = Kind::parse(&metric.kind).map_err(|e| MetricsError::Config(format!("metric {}: {e}", metric.name)))?;
            let samples = self.proxy.recorder.samples(cohort, from, to);
            Ok(series(kind, &samples))
        })
    }
}

/// Samples of one kind from a cohort's requests.
pub fn series(kind: Kind, samples: &[Sample]) -> Series {
    match kind {
        Kind::Latency => {
            Series::from_points(per_second(samples).values().map(|(n, _, lat)| lat.iter().sum::<f64>() / *n as f64).collect::<Vec<_>>())
        }
        Kind::ErrorRate => {
            Series::from_points(per_second(samples).values().map(|(n, errors, _)| *errors as f64 / *n as f64).collect::<Vec<_>>())
        }
        Kind::RequestRate => Series::from_points(per_second(samples).values().map(|(n, _, _)| *n as f64).collect::<Vec<_>>()),
    }
}

/// Requests, errors and latencies per whole second.
pub fn per_second(samples: &[Sample]) -> BTreeMap<Millis, (u64, u64, Vec<f64>)> {
    let mut out: BTreeMap<Millis, (u64, u64, Vec<f64>)> = BTreeMap::new();
    for s in samples {
        let e = out.entry(s.at.div_euclid(1000) * 1000).or_default();
        e.0 += 1;
        e.1 += s.is_error() as u64;
        e.2.push(s.latency_ms);
    }
    out
}

/// The `q`-quantile (0..1) of `values` by linear interpolation; None when empty.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(values[lo] + (values[hi] - values[lo]) * (pos - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_second_and_latency_per_request() {
        let s = |at, latency_ms, status| Sample { at, latency_ms, status };
        let samples = [s(1000, 2.0, 200), s(1500, 4.0, 500), s(2100, 3.0, 200), s(2200, 5.0, 200)];
        assert_eq!(series(Kind::Latency, &samples).values, vec![3.0, 4.0]);
        assert_eq!(series(Kind::ErrorRate, &samples).values, vec![0.5, 0.0]);
        assert_eq!(series(Kind::RequestRate, &samples).values, vec![2.0, 2.0]);
        assert_eq!(quantile(&mut [4.0, 1.0, 3.0, 2.0], 0.5), Some(2.5));
        assert_eq!(quantile(&mut [], 0.5), None);
        let nan = Series::from_points([1.0, f64::NAN, f64::INFINITY]);
        assert_eq!((nan.values, nan.dropped), (vec![1.0], 2));
    }
}
