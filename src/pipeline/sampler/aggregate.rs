//! Per-context, per-bucket aggregation of the non-distribution types, as the reference's
//! `pkg/metrics/{counter,gauge,set,histogram}.go` do it.
//!
//! Like the reference, the kind of aggregate is chosen by the first sample of a context in a
//! bucket; later samples of another type are added to it with that aggregate's rules (the
//! reference's `ContextMetrics.AddSample` does not check the type).

use crate::pipeline::sample::{Sample, SampleValue};
use crate::protocol::MetricType;
/// The distinct values of a set, with a fast seeded hasher (as the samplers' maps).
pub type ValueSet = std::collections::HashSet<Box<str>, foldhash::fast::RandomState>;

/// One aggregate.
#[derive(Debug, Clone)]
pub enum Aggregate {
    /// Sum of value × 1/rate; flushed as a rate (sum ÷ interval).
    Counter { sum: f64 },
    /// Last value wins.
    Gauge { value: f64 },
    /// Distinct values, as strings; flushed as a gauge of the count.
    Set { values: ValueSet },
    /// Histogram and timing.
    Histogram(Histogram),
}

/// Weighted samples of a histogram or timing context.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// (value, weight = int64(1 / rate)).
    pub samples: Vec<(f64, i64)>,
    pub sum: f64,
    pub count: i64,
}

/// `int64(1 / rate)`: the reference truncates the weight of sampled histogram values.
pub fn histogram_weight(rate: f64) -> i64 {
    let rate = if rate == 0.0 { 1.0 } else { rate };
    (1.0 / rate) as i64
}

impl Aggregate {
    pub fn new(metric_type: MetricType) -> Aggregate {
        match metric_type {
            MetricType::Count => Aggregate::Counter { sum: 0.0 },
            MetricType::Gauge => Aggregate::Gauge { value: 0.0 },
            MetricType::Set => Aggregate::Set {
                values: ValueSet::default(),
            },
            MetricType::Histogram | MetricType::Timing | MetricType::Distribution => {
                Aggregate::Histogram(Histogram::default())
            }
        }
    }

    pub fn add(&mut self, sample: &Sample) {
        let rate = if sample.sample_rate == 0.0 {
            1.0
        } else {
            sample.sample_rate
        };
        match self {
            // The reference's counter does not guard the rate: `@0` makes it infinite.
            Aggregate::Counter { sum } => *sum += sample.number() * (1.0 / sample.sample_rate),
            Aggregate::Gauge { value } => *value = sample.number(),
            Aggregate::Set { values } => {
                let raw: Box<str> = match &sample.value {
                    SampleValue::Set(s) => s.clone(),
                    SampleValue::Number(v) => v.to_string().into(),
                };
                values.insert(raw);
            }
            Aggregate::Histogram(h) => {
                let w = histogram_weight(rate);
                h.samples.push((sample.number(), w));
                h.sum += sample.number() * (1.0 / rate);
                h.count += w;
            }
        }
    }

    /// Adds the zero sample the reference gives every live counter in a flushed bucket.
    pub fn add_zero(&mut self) {
        match self {
            Aggregate::Counter { .. } => {}
            Aggregate::Gauge { value } => *value = 0.0,
            Aggregate::Set { values } => {
                values.insert("0.0".into());
            }
            Aggregate::Histogram(h) => {
                h.samples.push((0.0, 1));
                h.count += 1;
            }
        }
    }
}

/// One flushed value of an aggregate: the name suffix, whether it is a rate, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateValue {
    pub suffix: String,
    pub is_rate: bool,
    pub value: f64,
}

impl Histogram {
    /// The configured aggregates then percentiles, computed as the reference does (weighted
    /// ranks over the samples sorted by value).
    pub fn flush(
        &mut self,
        aggregates: &[String],
        percentiles: &[u32],
        interval: i64,
    ) -> Vec<AggregateValue> {
        let mut out = Vec::new();
        if self.samples.is_empty() {
            return out;
        }
        self.samples.sort_by(|a, b| a.0.total_cmp(&b.0));
        for agg in aggregates {
            let (value, is_rate) = match agg.as_str() {
                "max" => (self.samples[self.samples.len() - 1].0, false),
                "min" => (self.samples[0].0, false),
                // No weight past the target (every weight 0: rates above 1 make `int64(1 / rate)`
                // 0) leaves the reference's value at 0.
                "median" => (self.rank((self.count - 1) / 2).unwrap_or(0.0), false),
                "avg" => (self.sum / self.count as f64, false),
                "sum" => (self.sum, false),
                "count" => (self.count as f64 / interval as f64, true),
                _ => continue,
            };
            out.push(AggregateValue {
                suffix: format!(".{agg}"),
                is_rate,
                value,
            });
        }
        for p in percentiles {
            let target = (i64::from(*p) * self.count - 1) / 100;
            // The reference emits a percentile only once some cumulative weight passes it.
            if let Some(value) = self.rank(target) {
                out.push(AggregateValue {
                    suffix: format!(".{p}percentile"),
                    is_rate: false,
                    value,
                });
            }
        }
        out
    }

    /// The first sample whose cumulative weight exceeds `target`, if any does.
    fn rank(&self, target: i64) -> Option<f64> {
        let mut weight = 0;
        for (v, w) in &self.samples {
            weight += w;
            if weight > target {
                return Some(*v);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[(f64, i64)]) -> Histogram {
        let mut h = Histogram::default();
        for (v, w) in values {
            h.samples.push((*v, *w));
            h.sum += v * *w as f64;
            h.count += w;
        }
        h
    }

    fn aggs() -> Vec<String> {
        ["max", "median", "avg", "count", "min", "sum"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn histogram_aggregates_and_95th_percentile_on_1_to_100() {
        let values: Vec<(f64, i64)> = (1..=100).rev().map(|v| (v as f64, 1)).collect();
        let out = hist(&values).flush(&aggs(), &[95], 10);
        let get = |s: &str| out.iter().find(|a| a.suffix == s).unwrap().value;
        assert_eq!(get(".max"), 100.0);
        assert_eq!(get(".min"), 1.0);
        // target (100 - 1) / 2 = 49: the 50th value.
        assert_eq!(get(".median"), 50.0);
        assert_eq!(get(".avg"), 50.5);
        assert_eq!(get(".sum"), 5050.0);
        assert_eq!(get(".count"), 10.0);
        // target (95 * 100 - 1) / 100 = 94: the 95th value.
        assert_eq!(get(".95percentile"), 95.0);
        assert!(out.iter().find(|a| a.suffix == ".count").unwrap().is_rate);
    }

    #[test]
    fn weights_are_truncated_like_the_reference() {
        assert_eq!(histogram_weight(0.3), 3); // 1 / 0.3 = 3.33…
        assert_eq!(histogram_weight(0.5), 2);
        assert_eq!(histogram_weight(1.0), 1);
        // 1 / 0.1 is 10.000000000000002 in floating point: still 10.
        assert_eq!(histogram_weight(0.1), 10);
    }

    #[test]
    fn weighted_median_uses_weights() {
        // 1 (weight 1), 5 (weight 3): count 4, target 1 → cumulative 1, 4 → value 5.
        let out = hist(&[(1.0, 1), (5.0, 3)]).flush(&["median".into()], &[], 10);
        assert_eq!(out[0].value, 5.0);
    }
}
