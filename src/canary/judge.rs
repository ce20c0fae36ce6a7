//! The canary judge: Kayenta's NetflixACAJudge method, as Suture reads it.
//!
//! A judgement compares, metric by metric, the samples of the baseline
//! (control) with those of the canary (experiment), classifies each metric as
//! `Pass`, `High`, `Low` or `NoData`, and turns the classifications into a
//! 0-100 score and a pass / marginal / fail outcome.
//!
//! # Per metric
//!
//! 1. Cleaning. Non-finite values (NaN, ±inf) are dropped from both sides and
//!    counted. When the metric has `remove_outliers`, each side then loses the
//!    values outside `[Q1 - f * IQR, Q3 + f * IQR]` (`f` is
//!    [`JudgeConfig::outlier_factor`], 3 by default; quartiles by linear
//!    interpolation, NumPy's default). A side whose IQR is 0 is left alone:
//!    with a degenerate spread every value off the quartile would count as an
//!    outlier, and for data such as mostly-zero error counts that would delete
//!    exactly the values that matter.
//! 2. No data. If either side is then empty the metric is `NoData`.
//! 3. Identical data. If the cleaned samples are equal as multisets the metric
//!    is `Pass` (Kayenta's shortcut; the statistics below would agree).
//! 4. The test. With the canary as `x` and the baseline as `y`: the two-sided
//!    Mann-Whitney U test (its p-value is reported), the Hodges-Lehmann estimate
//!    `hl` of the shift canary - baseline, and the confidence interval
//!    `(lo, hi)` for that shift at [`JudgeConfig::confidence`] (0.98), all
//!    from [`super::stats`]. A confidence outside `(0, 1)` gives no interval,
//!    and the metric is `NoData` with a reason that says why.
//! 5. Effect size: the ratio of the means, canary / baseline. When the baseline
//!    mean is 0 it is `+inf` if the canary mean is positive, `-inf` if
//!    negative, and 1 if both are 0 (Kayenta uses 1 whenever the baseline mean
//!    is 0, which would let an error rate going from 0 to anything pass an
//!    allowed increase above 1). Ratios assume non-negative metrics (latency,
//!    rates, counts).
//! 6. Classification, exactly Kayenta's `MannWhitneyClassifier`: with
//!    `bound = tolerance * |hl|` ([`JudgeConfig::tolerance`], 0.25),
//!    - `High` when the direction watches increases ([`Direction::Increase`] or
//!      [`Direction::Either`]), `lo > bound`, and effect `>= allowed_increase`;
//!    - `Low` when the direction watches decreases ([`Direction::Decrease`] or
//!      [`Direction::Either`]), `hi < -bound`, and effect `<= allowed_decrease`;
//!    - `Pass` otherwise.
//!
//!    Since `lo <= hl <= hi`, `lo > bound` means the whole interval is above 0
//!    *and* its near end is more than a quarter of the estimate away from 0: a
//!    difference has to be both significant and not dwarfed by its own
//!    uncertainty. With `tolerance = 0` this is plain significance (`lo > 0`).
//!    A negative or non-finite tolerance counts as 0.
//!
//! Feed rates per interval (errors per minute, say), not per-request 0/1
//! indicators: with mostly-zero indicator data the median of the pairwise
//! differences and both ends of its interval are 0, so no shift is ever seen.
//!
//! # Scoring (Kayenta's `WeightedSumScorer`, with Suture's choices noted)
//!
//! - Muted metrics are classified and reported but take no part in scoring.
//! - Any critical metric that is not `Pass` (including `NoData`) makes the
//!   score 0.
//! - If half or more of the scored metrics are `NoData` (must-have ones
//!   included; Kayenta counts only the others), the score is 0.
//! - Per group: `100 * Pass / (Pass + High + Low + NoDataFail)`, where
//!   `NoDataFail` is a `NoData` metric with `must_have_data`; other `NoData`
//!   metrics count for nothing. A group with nothing counted has no score and
//!   its weight is shared out among the others.
//! - Summary: `sum(w_g * score_g) / sum(w_g)` over the groups with a score,
//!   rounded to two decimals like Kayenta. `w_g` comes from
//!   [`JudgeConfig::group_weights`], 1 for a group not listed (Kayenta instead
//!   splits what is left of 100 among unlisted groups and counts empty groups as
//!   100); negative or non-finite weights count as 0, and if every weight is 0
//!   the plain mean is used.
//! - No metric to score at all gives 0: nothing was shown to be safe.
//! - Outcome: `Pass` at or above [`JudgeConfig::pass_threshold`] (95),
//!   `Marginal` at or above [`JudgeConfig::marginal_threshold`] (75), else `Fail`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::stats::{self, Alternative, Method, Samples};
use crate::model::{MetricOutcome, MetricVerdict};

/// Which change of a metric is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Only an increase is bad (latency, errors); a decrease passes.
    Increase,
    /// Only a decrease is bad (throughput, success rate); an increase passes.
    Decrease,
    /// A change either way is bad.
    #[default]
    Either,
}

impl Direction {
    fn watches_increase(self) -> bool {
        matches!(self, Direction::Increase | Direction::Either)
    }

    fn watches_decrease(self) -> bool {
        matches!(self, Direction::Decrease | Direction::Either)
    }
}

/// How one metric is judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricSpec {
    pub name: String,
    /// The scoring group (Kayenta's metric group).
    pub group: String,
    pub direction: Direction,
    /// Smallest canary/baseline ratio of means that can be `High` (1.0: any
    /// significant increase; 1.1: only increases of at least 10%).
    pub allowed_increase: f64,
    /// Largest canary/baseline ratio of means that can be `Low`.
    pub allowed_decrease: f64,
    /// Any verdict but `Pass` fails the whole canary (score 0).
    pub critical: bool,
    /// `NoData` counts as a failed metric in its group instead of being left out.
    pub must_have_data: bool,
    /// Drop IQR outliers from each side before testing.
    pub remove_outliers: bool,
    /// Reported but not scored.
    pub muted: bool,
}

impl Default for MetricSpec {
    fn default() -> Self {
        MetricSpec {
            name: String::new(),
            group: String::new(),
            direction: Direction::Either,
            allowed_increase: 1.0,
            allowed_decrease: 1.0,
            critical: false,
            must_have_data: false,
            remove_outliers: false,
            muted: false,
        }
    }
}

/// Judge-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JudgeConfig {
    /// Confidence level of the shift interval, strictly between 0 and 1.
    pub confidence: f64,
    /// Fraction of `|HL|` by which the interval's near end must clear 0 for a
    /// `High` or `Low` (Kayenta's tolerance).
    pub tolerance: f64,
    /// IQR multiple for outlier fences, for metrics with `remove_outliers`.
    pub outlier_factor: f64,
    /// Weight per group; groups not listed weigh 1.
    pub group_weights: BTreeMap<String, f64>,
    /// Lowest score that passes.
    pub pass_threshold: f64,
    /// Lowest score that is marginal rather than a failure.
    pub marginal_threshold: f64,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            confidence: 0.98,
            tolerance: 0.25,
            outlier_factor: 3.0,
            group_weights: BTreeMap::new(),
            pass_threshold: 95.0,
            marginal_threshold: 75.0,
        }
    }
}

/// The verdict on the canary as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Marginal,
    Fail,
}

impl Outcome {
    /// `pass`, `marginal` or `fail` (the form `CanaryVerdict::outcome` stores).
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Marginal => "marginal",
            Outcome::Fail => "fail",
        }
    }

    /// The outcome of `score` against the configured thresholds.
    pub fn for_score(score: f64, config: &JudgeConfig) -> Outcome {
        if score >= config.pass_threshold {
            Outcome::Pass
        } else if score >= config.marginal_threshold {
            Outcome::Marginal
        } else {
            Outcome::Fail
        }
    }
}

/// Size, mean and median of one side after cleaning (all 0 when empty).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub median: f64,
}

/// One metric's classification and the numbers behind it. Pairs are
/// `(control, experiment)`, i.e. (baseline, canary); shifts are canary - baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    pub name: String,
    pub group: String,
    pub verdict: MetricVerdict,
    pub critical: bool,
    #[serde(default)]
    pub muted: bool,
    /// `NoData` that counts as a failure (the metric must have data).
    pub no_data_fails: bool,
    /// One sentence, e.g. "canary higher: +12.3 (98% CI 8.1..15.0), 2.10x the baseline mean".
    pub reason: String,
    pub control: Summary,
    pub experiment: Summary,
    /// Hodges-Lehmann estimate of the shift.
    pub hl: Option<f64>,
    /// Confidence interval of the shift.
    pub interval: Option<(f64, f64)>,
    /// Two-sided Mann-Whitney p-value.
    pub p: Option<f64>,
    /// Canary mean / baseline mean (see the module docs for a zero baseline;
    /// an infinite ratio serialises as `null` in JSON).
    #[serde(default)]
    pub effect: Option<f64>,
    pub dropped_outliers: (usize, usize),
    pub dropped_non_finite: (usize, usize),
}

impl MetricResult {
    /// The summary kept with a rollout's verdicts.
    pub fn to_outcome(&self) -> MetricOutcome {
        MetricOutcome {
            name: self.name.clone(),
            verdict: self.verdict,
            reason: self.reason.clone(),
            baseline_n: self.control.n,
            canary_n: self.experiment.n,
            critical: self.critical,
        }
    }
}

/// A whole judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// 0-100.
    pub score: f64,
    pub outcome: Outcome,
    /// Every metric, muted ones included, in input order.
    pub metrics: Vec<MetricResult>,
    /// Score per group that had something to count, by group name.
    pub groups: Vec<(String, f64)>,
    /// Why the score is what it is, e.g. "critical metric error_rate is high: …".
    pub reason: String,
}

/// Judges the canary: `samples` holds, per metric, its spec, the baseline
/// (control) values and the canary (experiment) values.
pub fn judge(config: &JudgeConfig, samples: &[(MetricSpec, Vec<f64>, Vec<f64>)]) -> Judgement {
    let metrics: Vec<MetricResult> =
        samples.iter().map(|(spec, control, experiment)| classify(config, spec, control, experiment)).collect();
    let groups = group_scores(&metrics);
    let (score, reason) = summary_score(config, &metrics, &groups);
    Judgement { score, outcome: Outcome::for_score(score, config), metrics, groups, reason }
}

/// Classifies one metric (steps 1-6 of the module docs).
fn classify(config: &JudgeConfig, spec: &MetricSpec, control: &[f64], experiment: &[f64]) -> MetricResult {
    let (control, control_non_finite) = stats::sorted_finite(control);
    let (experiment, experiment_non_finite) = stats::sorted_finite(experiment);
    let (control, control_outliers) = if spec.remove_outliers { remove_outliers(control, config.outlier_factor) } else { (control, 0) };
    let (experiment, experiment_outliers) =
        if spec.remove_outliers { remove_outliers(experiment, config.outlier_factor) } else { (experiment, 0) };

    let mut result = MetricResult {
        name: spec.name.clone(),
        group: spec.group.clone(),
        verdict: MetricVerdict::NoData,
        critical: spec.critical,
        muted: spec.muted,
        no_data_fails: false,
        reason: String::new(),
        control: summarize(&control),
        experiment: summarize(&experiment),
        hl: None,
        interval: None,
        p: None,
        effect: None,
        dropped_outliers: (control_outliers, experiment_outliers),
        dropped_non_finite: (control_non_finite, experiment_non_finite),
    };

    if control.is_empty() || experiment.is_empty() {
        result.no_data_fails = spec.must_have_data;
        result.reason = no_data_reason(&result);
        return result;
    }

    let samples = Samples::new(&experiment, &control);
    result.p = samples.mann_whitney(Alternative::TwoSided, Method::Auto).map(|test| test.p);
    result.hl = samples.hodges_lehmann();
    result.interval = samples.shift_interval(config.confidence);
    let effect = effect_size(result.experiment.mean, result.control.mean);
    result.effect = Some(effect);

    let (Some(hl), Some((lo, hi))) = (result.hl, result.interval) else {
        result.no_data_fails = spec.must_have_data;
        let valid_confidence = config.confidence > 0.0 && config.confidence < 1.0;
        result.reason = if valid_confidence {
            "no estimate: the pairwise differences overflow".to_string()
        } else {
            format!("no confidence interval: confidence {} is not between 0 and 1", config.confidence)
        };
        return result;
    };

    let tolerance = if config.tolerance.is_finite() && config.tolerance > 0.0 { config.tolerance } else { 0.0 };
    let bound = tolerance * hl.abs();
    let above = lo > bound;
    let below = hi < -bound;
    let shift = Shift { hl, lo, hi, confidence: config.confidence };
    let ratio = ratio_text(effect);

    let (verdict, reason) = if experiment == control {
        (MetricVerdict::Pass, "baseline and canary data are identical".to_string())
    } else if above && spec.direction.watches_increase() && effect >= spec.allowed_increase {
        (MetricVerdict::High, format!("canary higher: {shift}, {ratio}"))
    } else if below && spec.direction.watches_decrease() && effect <= spec.allowed_decrease {
        (MetricVerdict::Low, format!("canary lower: {shift}, {ratio}"))
    } else if above && !spec.direction.watches_increase() {
        (MetricVerdict::Pass, format!("canary higher: {shift}, but only a decrease fails this metric"))
    } else if above {
        let allowed = spec.allowed_increase;
        (MetricVerdict::Pass, format!("canary higher: {shift}, {ratio}, within the allowed {allowed:.2}x"))
    } else if below && !spec.direction.watches_decrease() {
        (MetricVerdict::Pass, format!("canary lower: {shift}, but only an increase fails this metric"))
    } else if below {
        let allowed = spec.allowed_decrease;
        (MetricVerdict::Pass, format!("canary lower: {shift}, {ratio}, within the allowed {allowed:.2}x"))
    } else if lo > 0.0 || hi < 0.0 {
        let percent = tolerance * 100.0;
        (MetricVerdict::Pass, format!("difference too uncertain: {shift}, its near end is within {percent:.0}% of the estimate"))
    } else {
        (MetricVerdict::Pass, format!("no significant difference: {shift}"))
    };
    result.verdict = verdict;
    result.reason = reason;
    result
}

/// Drops values outside the IQR fences of an ascending sample; keeps the
/// sample whole when its IQR is 0 or the factor is negative or not finite.
fn remove_outliers(sorted: Vec<f64>, factor: f64) -> (Vec<f64>, usize) {
    let (Some(q1), Some(q3)) = (stats::quantile_sorted(&sorted, 0.25), stats::quantile_sorted(&sorted, 0.75)) else {
        return (sorted, 0);
    };
    let spread = q3 - q1;
    let usable = spread > 0.0 && factor.is_finite() && factor >= 0.0;
    if !usable {
        return (sorted, 0);
    }
    let fences = (q1 - factor * spread)..=(q3 + factor * spread);
    let before = sorted.len();
    let kept: Vec<f64> = sorted.into_iter().filter(|v| fences.contains(v)).collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

/// Size, mean and median of an ascending sample of finite values.
fn summarize(sorted: &[f64]) -> Summary {
    if sorted.is_empty() {
        return Summary::default();
    }
    let count = sorted.len() as f64;
    let sum: f64 = sorted.iter().sum();
    // Huge values can overflow the plain sum; the scaled sum cannot.
    let mean = if sum.is_finite() { sum / count } else { sorted.iter().map(|v| v / count).sum::<f64>() };
    Summary { n: sorted.len(), mean, median: stats::median_sorted(sorted).unwrap_or(0.0) }
}

/// Canary mean / baseline mean, with the zero-baseline rules of the module docs.
fn effect_size(experiment_mean: f64, control_mean: f64) -> f64 {
    if control_mean != 0.0 {
        return experiment_mean / control_mean;
    }
    match experiment_mean.partial_cmp(&0.0) {
        Some(Ordering::Greater) => f64::INFINITY,
        Some(Ordering::Less) => f64::NEG_INFINITY,
        _ => 1.0,
    }
}

/// Scores per group with anything counted, by name.
fn group_scores(metrics: &[MetricResult]) -> Vec<(String, f64)> {
    let mut tallies: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for metric in metrics.iter().filter(|m| !m.muted) {
        let (passed, counted) = match metric.verdict {
            MetricVerdict::Pass => (1, 1),
            MetricVerdict::High | MetricVerdict::Low => (0, 1),
            MetricVerdict::NoData => (0, usize::from(metric.no_data_fails)),
        };
        let tally = tallies.entry(metric.group.as_str()).or_default();
        tally.0 += passed;
        tally.1 += counted;
    }
    let mut groups = Vec::with_capacity(tallies.len());
    for (name, (passed, counted)) in tallies {
        if counted > 0 {
            groups.push((name.to_string(), 100.0 * passed as f64 / counted as f64));
        }
    }
    groups
}

/// The summary score and the sentence explaining it.
fn summary_score(config: &JudgeConfig, metrics: &[MetricResult], groups: &[(String, f64)]) -> (f64, String) {
    let scored: Vec<&MetricResult> = metrics.iter().filter(|m| !m.muted).collect();
    if scored.is_empty() {
        return (0.0, "no metrics to score (none given, or all muted)".to_string());
    }
    if let Some(failed) = scored.iter().find(|m| m.critical && m.verdict != MetricVerdict::Pass) {
        let (name, verdict, why) = (&failed.name, failed.verdict.label(), &failed.reason);
        return (0.0, format!("critical metric {name} is {verdict}: {why}"));
    }
    let no_data = scored.iter().filter(|m| m.verdict == MetricVerdict::NoData).count();
    let total = scored.len();
    if no_data * 2 >= total {
        return (0.0, format!("{no_data} of {total} metrics have no data (half or more)"));
    }

    let weight_of = |group: &str| match config.group_weights.get(group) {
        Some(&w) if w.is_finite() && w >= 0.0 => w,
        Some(_) => 0.0,
        None => 1.0,
    };
    let total_weight: f64 = groups.iter().map(|(name, _)| weight_of(name.as_str())).sum();
    let score = if groups.is_empty() {
        0.0
    } else if total_weight > 0.0 {
        groups.iter().map(|(name, score)| weight_of(name.as_str()) * score).sum::<f64>() / total_weight
    } else {
        groups.iter().map(|(_, score)| score).sum::<f64>() / groups.len() as f64
    };
    let score = (score * 100.0).round() / 100.0;

    let failing: Vec<String> = scored
        .iter()
        .filter(|m| m.verdict == MetricVerdict::High || m.verdict == MetricVerdict::Low || m.no_data_fails)
        .map(|m| format!("{} {}", m.name, m.verdict.label()))
        .collect();
    let reason = if failing.is_empty() {
        let counted = total - no_data;
        format!("all {counted} scored metrics pass")
    } else {
        let list = failing.join(", ");
        format!("score {score:.2}: {list}")
    };
    (score, reason)
}

/// "no data: canary has no usable values (3 non-finite dropped)".
fn no_data_reason(result: &MetricResult) -> String {
    let who = match (result.control.n == 0, result.experiment.n == 0) {
        (true, true) => "neither baseline nor canary has",
        (true, false) => "baseline has",
        _ => "canary has",
    };
    let (nf_control, nf_experiment) = result.dropped_non_finite;
    let (out_control, out_experiment) = result.dropped_outliers;
    let mut notes = Vec::new();
    if nf_control + nf_experiment > 0 {
        notes.push(format!("{} non-finite dropped", nf_control + nf_experiment));
    }
    if out_control + out_experiment > 0 {
        notes.push(format!("{} outliers dropped", out_control + out_experiment));
    }
    let mut reason = format!("no data: {who} no usable values");
    if !notes.is_empty() {
        reason.push_str(&format!(" ({})", notes.join(", ")));
    }
    if result.no_data_fails {
        reason.push_str("; this metric must have data");
    }
    reason
}

/// A shift estimate with its interval, displayed as "+12.3 (98% CI 8.1..15.0)".
struct Shift {
    hl: f64,
    lo: f64,
    hi: f64,
    confidence: f64,
}

impl std::fmt::Display for Shift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.hl > 0.0 { "+" } else { "" };
        let percent = self.confidence * 100.0;
        let percent = if (percent - percent.round()).abs() < 1e-9 { format!("{percent:.0}%") } else { format!("{percent:.1}%") };
        write!(f, "{sign}{} ({percent} CI {}..{})", number(self.hl), number(self.lo), number(self.hi))
    }
}

/// "2.10x the baseline mean", or why there is no ratio.
fn ratio_text(effect: f64) -> String {
    if effect.is_finite() {
        format!("{effect:.2}x the baseline mean")
    } else if effect > 0.0 {
        "baseline mean is 0".to_string()
    } else {
        "baseline mean is 0 (canary mean below 0)".to_string()
    }
}

/// A compact number for sentences: one decimal from 10 up, two from 1 up,
/// three significant digits below 1.
fn number(value: f64) -> String {
    let magnitude = value.abs();
    if !value.is_finite() || magnitude == 0.0 {
        return format!("{value}");
    }
    if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        let decimals = (2.0 - magnitude.log10().floor()).clamp(3.0, 15.0) as usize;
        format!("{value:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Knuth's MMIX LCG; deterministic data without a rand dependency.
    struct Lcg(u64);

    impl Lcg {
        fn unit(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        /// Roughly standard normal: the sum of 12 uniforms minus 6.
        fn normal(&mut self) -> f64 {
            let mut sum = 0.0;
            for _ in 0..12 {
                sum += self.unit();
            }
            sum - 6.0
        }
    }

    /// Latency-like values (ms): log-normal-ish around `median` with log-spread `sigma`.
    fn latencies(seed: u64, n: usize, median: f64, sigma: f64) -> Vec<f64> {
        let mut rng = Lcg(seed);
        (0..n).map(|_| median * (sigma * rng.normal()).exp()).collect()
    }

    /// Per-interval error rates around `rate`.
    fn rates(seed: u64, n: usize, rate: f64) -> Vec<f64> {
        let mut rng = Lcg(seed);
        (0..n).map(|_| (rate * (1.0 + 0.2 * rng.normal())).max(0.0)).collect()
    }

    fn spec(name: &str, group: &str) -> MetricSpec {
        MetricSpec { name: name.to_string(), group: group.to_string(), ..MetricSpec::default() }
    }

    fn plus(values: &[f64], delta: f64) -> Vec<f64> {
        values.iter().map(|v| v + delta).collect()
    }

    fn times(values: &[f64], factor: f64) -> Vec<f64> {
        values.iter().map(|v| v * factor).collect()
    }

    #[test]
    fn latency_regression_is_high_and_fails() {
        let control = latencies(1, 200, 100.0, 0.3);
        let experiment = plus(&latencies(2, 200, 100.0, 0.3), 50.0);
        let judgement = judge(&JudgeConfig::default(), &[(spec("latency_p99", "latency"), control, experiment)]);
        let metric = &judgement.metrics[0];
        assert_eq!(metric.verdict, MetricVerdict::High, "{}", metric.reason);
        assert!(metric.reason.starts_with("canary higher: +"), "{}", metric.reason);
        assert!(metric.reason.contains(" (98% CI "), "{}", metric.reason);
        let hl = metric.hl.expect("estimate");
        let (lo, hi) = metric.interval.expect("interval");
        assert!(lo > 0.25 * hl && lo <= hl && hl <= hi, "{lo} {hl} {hi}");
        assert!((hl - 50.0).abs() < 10.0, "{hl}");
        assert!(metric.p.expect("p") < 1e-6);
        assert!(metric.effect.expect("effect") > 1.2);
        assert_eq!(judgement.score, 0.0);
        assert_eq!(judgement.outcome, Outcome::Fail);
        assert_eq!(judgement.groups, vec![("latency".to_string(), 0.0)]);
        assert!(judgement.reason.contains("latency_p99 high"), "{}", judgement.reason);
    }

    #[test]
    fn critical_metric_high_zeroes_the_score() {
        let latency = latencies(3, 120, 80.0, 0.2);
        let error_rate = MetricSpec { critical: true, direction: Direction::Increase, ..spec("error_rate", "errors") };
        let samples = [(spec("latency", "latency"), latency.clone(), latency), (error_rate, rates(4, 60, 0.01), rates(5, 60, 0.05))];
        let judgement = judge(&JudgeConfig::default(), &samples);
        assert_eq!(judgement.metrics[0].verdict, MetricVerdict::Pass);
        assert_eq!(judgement.metrics[1].verdict, MetricVerdict::High, "{}", judgement.metrics[1].reason);
        assert_eq!(judgement.score, 0.0);
        assert_eq!(judgement.outcome, Outcome::Fail);
        assert!(judgement.reason.starts_with("critical metric error_rate is high: canary higher"), "{}", judgement.reason);
        assert_eq!(judgement.groups, vec![("errors".to_string(), 0.0), ("latency".to_string(), 100.0)]);
    }

    #[test]
    fn identical_data_passes_with_full_score() {
        let latency = latencies(20, 100, 100.0, 0.3);
        let errors = rates(21, 100, 0.02);
        let samples = [(spec("latency", "latency"), latency.clone(), latency), (spec("errors", "errors"), errors.clone(), errors)];
        let judgement = judge(&JudgeConfig::default(), &samples);
        assert!(judgement.metrics.iter().all(|m| m.verdict == MetricVerdict::Pass));
        assert_eq!(judgement.metrics[0].reason, "baseline and canary data are identical");
        assert_eq!(judgement.metrics[0].hl, Some(0.0));
        assert_eq!(judgement.score, 100.0);
        assert_eq!(judgement.outcome, Outcome::Pass);
        assert_eq!(judgement.reason, "all 2 scored metrics pass");
    }

    #[test]
    fn no_data_is_left_out_unless_the_metric_must_have_data() {
        let ok = latencies(6, 50, 100.0, 0.2);
        let same = |name: &str| (spec(name, "service"), ok.clone(), ok.clone());
        let missing = |must_have_data: bool| (MetricSpec { must_have_data, ..spec("d", "service") }, ok.clone(), vec![f64::NAN; 5]);

        let optional = judge(&JudgeConfig::default(), &[same("a"), same("b"), same("c"), missing(false)]);
        let metric = &optional.metrics[3];
        assert_eq!(metric.verdict, MetricVerdict::NoData);
        assert!(!metric.no_data_fails);
        assert_eq!(metric.dropped_non_finite, (0, 5));
        assert_eq!(metric.experiment, Summary { n: 0, mean: 0.0, median: 0.0 });
        assert_eq!(metric.reason, "no data: canary has no usable values (5 non-finite dropped)");
        assert_eq!(optional.score, 100.0);
        assert_eq!(optional.outcome, Outcome::Pass);

        let required = judge(&JudgeConfig::default(), &[same("a"), same("b"), same("c"), missing(true)]);
        assert!(required.metrics[3].no_data_fails);
        assert_eq!(required.score, 75.0);
        assert_eq!(required.outcome, Outcome::Marginal);
        assert!(required.reason.contains("d no data"), "{}", required.reason);

        let mostly_missing = judge(&JudgeConfig::default(), &[same("a"), same("b"), missing(false), missing(false)]);
        assert_eq!(mostly_missing.score, 0.0);
        assert_eq!(mostly_missing.outcome, Outcome::Fail);
        assert!(mostly_missing.reason.contains("2 of 4 metrics have no data"), "{}", mostly_missing.reason);

        let critical_missing = MetricSpec { critical: true, ..spec("e", "service") };
        let judgement = judge(&JudgeConfig::default(), &[same("a"), same("b"), same("c"), (critical_missing, Vec::new(), ok.clone())]);
        assert_eq!(judgement.score, 0.0);
        assert!(judgement.reason.starts_with("critical metric e is no data"), "{}", judgement.reason);
    }

    #[test]
    fn muted_metrics_are_reported_but_not_scored() {
        let control = latencies(1, 200, 100.0, 0.3);
        let experiment = plus(&latencies(2, 200, 100.0, 0.3), 50.0);
        let muted = MetricSpec { muted: true, critical: true, ..spec("noisy", "latency") };
        let judgement =
            judge(&JudgeConfig::default(), &[(muted, control.clone(), experiment), (spec("steady", "latency"), control.clone(), control)]);
        assert_eq!(judgement.metrics[0].verdict, MetricVerdict::High);
        assert!(judgement.metrics[0].muted);
        assert_eq!(judgement.score, 100.0);
        assert_eq!(judgement.outcome, Outcome::Pass);

        let all_muted = MetricSpec { muted: true, ..spec("only", "latency") };
        let nothing = judge(&JudgeConfig::default(), &[(all_muted, vec![1.0], vec![1.0])]);
        assert_eq!(nothing.score, 0.0);
        assert_eq!(nothing.outcome, Outcome::Fail);
    }

    #[test]
    fn removing_outliers_changes_the_verdict() {
        let control = latencies(7, 600, 100.0, 0.05);
        // A fifth of the canary's points are wild (a broken exporter, say).
        let experiment: Vec<f64> =
            latencies(8, 600, 100.0, 0.05).iter().enumerate().map(|(i, &v)| if i.is_multiple_of(5) { 10_000.0 } else { v }).collect();

        let raw = judge(&JudgeConfig::default(), &[(spec("latency", "latency"), control.clone(), experiment.clone())]);
        assert_eq!(raw.metrics[0].verdict, MetricVerdict::High, "{}", raw.metrics[0].reason);
        assert_eq!(raw.metrics[0].dropped_outliers, (0, 0));

        let cleaned_spec = MetricSpec { remove_outliers: true, ..spec("latency", "latency") };
        let cleaned = judge(&JudgeConfig::default(), &[(cleaned_spec, control, experiment)]);
        let metric = &cleaned.metrics[0];
        assert_eq!(metric.verdict, MetricVerdict::Pass, "{}", metric.reason);
        assert_eq!(metric.dropped_outliers, (0, 120));
        assert_eq!(metric.experiment.n, 480);
        assert_eq!(cleaned.score, 100.0);
    }

    #[test]
    fn zero_iqr_keeps_every_value() {
        let mut counts = vec![0.0; 40];
        counts[3] = 7.0;
        let (kept, dropped) = remove_outliers(counts, 3.0);
        assert_eq!((kept.len(), dropped), (40, 0));
    }

    #[test]
    fn group_weights_are_applied_and_empty_groups_left_out() {
        let control = latencies(9, 150, 100.0, 0.3);
        let regressed = plus(&latencies(10, 150, 100.0, 0.3), 50.0);
        let samples = [
            (spec("p50", "latency"), control.clone(), regressed),
            (spec("p99", "latency"), control.clone(), control.clone()),
            (spec("errors", "errors"), control.clone(), control.clone()),
            (spec("cpu", "saturation"), control.clone(), control.clone()),
            (spec("qps", "traffic"), control, Vec::new()),
        ];
        let weights = [("latency", 3.0), ("errors", 1.0), ("traffic", 10.0)];
        let config = JudgeConfig { group_weights: weights.iter().map(|&(g, w)| (g.to_string(), w)).collect(), ..JudgeConfig::default() };
        let judgement = judge(&config, &samples);
        assert_eq!(judgement.metrics[0].verdict, MetricVerdict::High);
        assert_eq!(judgement.metrics[4].verdict, MetricVerdict::NoData);
        assert_eq!(judgement.groups, vec![("errors".to_string(), 100.0), ("latency".to_string(), 50.0), ("saturation".to_string(), 100.0)]);
        // (3 * 50 + 1 * 100 + 1 * 100) / (3 + 1 + 1); traffic's weight is shared out.
        assert_eq!(judgement.score, 70.0);
        assert_eq!(judgement.outcome, Outcome::Fail);
        assert_eq!(judgement.reason, "score 70.00: p50 high");
    }

    #[test]
    fn allowed_increase_lets_a_small_significant_increase_pass() {
        let control = latencies(11, 300, 100.0, 0.1);
        let experiment = times(&latencies(12, 300, 100.0, 0.1), 1.05);

        let strict = judge(&JudgeConfig::default(), &[(spec("latency", "latency"), control.clone(), experiment.clone())]);
        let metric = &strict.metrics[0];
        assert_eq!(metric.verdict, MetricVerdict::High, "{}", metric.reason);
        let effect = metric.effect.expect("effect");
        assert!(effect > 1.0 && effect < 1.1, "{effect}");

        let lenient_spec = MetricSpec { allowed_increase: 1.1, ..spec("latency", "latency") };
        let lenient = judge(&JudgeConfig::default(), &[(lenient_spec, control, experiment)]);
        let metric = &lenient.metrics[0];
        assert_eq!(metric.verdict, MetricVerdict::Pass);
        assert!(metric.reason.contains("within the allowed 1.10x"), "{}", metric.reason);
        assert_eq!(lenient.score, 100.0);
    }

    #[test]
    fn direction_limits_what_fails() {
        let control = latencies(1, 200, 100.0, 0.3);
        let higher = plus(&latencies(2, 200, 100.0, 0.3), 50.0);
        let decrease_only = MetricSpec { direction: Direction::Decrease, ..spec("throughput", "traffic") };
        let judgement = judge(&JudgeConfig::default(), &[(decrease_only, control, higher)]);
        let metric = &judgement.metrics[0];
        assert_eq!(metric.verdict, MetricVerdict::Pass);
        assert!(metric.reason.contains("only a decrease fails this metric"), "{}", metric.reason);

        let control = latencies(13, 200, 100.0, 0.3);
        let lower = times(&latencies(14, 200, 100.0, 0.3), 0.7);
        let either = judge(&JudgeConfig::default(), &[(spec("latency", "latency"), control.clone(), lower.clone())]);
        assert_eq!(either.metrics[0].verdict, MetricVerdict::Low, "{}", either.metrics[0].reason);
        assert!(either.metrics[0].reason.starts_with("canary lower: -"), "{}", either.metrics[0].reason);
        let increase_only = MetricSpec { direction: Direction::Increase, ..spec("latency", "latency") };
        let judgement = judge(&JudgeConfig::default(), &[(increase_only, control, lower)]);
        assert_eq!(judgement.metrics[0].verdict, MetricVerdict::Pass);
    }

    #[test]
    fn effect_size_handles_a_zero_baseline() {
        assert_eq!(effect_size(2.0, 1.0), 2.0);
        assert_eq!(effect_size(0.5, 0.0), f64::INFINITY);
        assert_eq!(effect_size(-0.5, 0.0), f64::NEG_INFINITY);
        assert_eq!(effect_size(0.0, 0.0), 1.0);
        // A zero-error baseline against a canary with errors is High.
        let samples = [(MetricSpec { direction: Direction::Increase, ..spec("errors", "errors") }, vec![0.0; 30], vec![2.0; 30])];
        let judgement = judge(&JudgeConfig::default(), &samples);
        assert_eq!(judgement.metrics[0].verdict, MetricVerdict::High, "{}", judgement.metrics[0].reason);
        assert!(judgement.metrics[0].reason.ends_with("baseline mean is 0"), "{}", judgement.metrics[0].reason);
    }

    #[test]
    fn config_defaults_and_labels() {
        let config: JudgeConfig = serde_json::from_str("{}").expect("empty config parses");
        assert_eq!(config, JudgeConfig::default());
        assert_eq!((config.confidence, config.tolerance, config.outlier_factor), (0.98, 0.25, 3.0));
        assert_eq!((config.pass_threshold, config.marginal_threshold), (95.0, 75.0));
        let spec: MetricSpec = serde_json::from_str(r#"{"name": "latency", "direction": "increase"}"#).expect("spec parses");
        assert_eq!(spec.direction, Direction::Increase);
        assert_eq!((spec.allowed_increase, spec.allowed_decrease), (1.0, 1.0));
        assert_eq!(MetricSpec::default().direction, Direction::Either);
        assert_eq!(Outcome::Marginal.label(), "marginal");
        assert_eq!(serde_json::to_string(&Outcome::Fail).expect("serialises"), "\"fail\"");
        assert_eq!(Outcome::for_score(95.0, &config), Outcome::Pass);
        assert_eq!(Outcome::for_score(94.99, &config), Outcome::Marginal);
        assert_eq!(Outcome::for_score(10.0, &config), Outcome::Fail);
    }

    #[test]
    fn invalid_confidence_gives_no_data() {
        let control = latencies(1, 50, 100.0, 0.3);
        let config = JudgeConfig { confidence: 1.5, ..JudgeConfig::default() };
        let judgement = judge(&config, &[(spec("latency", "latency"), control.clone(), control)]);
        assert_eq!(judgement.metrics[0].verdict, MetricVerdict::NoData);
        assert!(judgement.metrics[0].reason.contains("confidence 1.5"), "{}", judgement.metrics[0].reason);
    }

    #[test]
    fn results_convert_and_round_trip() {
        let control = latencies(1, 40, 100.0, 0.3);
        let experiment = plus(&latencies(2, 40, 100.0, 0.3), 50.0);
        let judgement = judge(&JudgeConfig::default(), &[(spec("latency", "latency"), control, experiment)]);
        let outcome = judgement.metrics[0].to_outcome();
        assert_eq!((outcome.baseline_n, outcome.canary_n), (40, 40));
        assert_eq!(outcome.verdict, judgement.metrics[0].verdict);
        let json = serde_json::to_string(&judgement).expect("serialises");
        let back: Judgement = serde_json::from_str(&json).expect("parses");
        assert_eq!((back.outcome, back.metrics.len(), back.metrics[0].verdict), (judgement.outcome, 1, MetricVerdict::High));
        assert_eq!((&back.metrics[0].name, &back.reason), (&judgement.metrics[0].name, &judgement.reason));
        assert!((back.score - judgement.score).abs() < 1e-9);
    }
}
