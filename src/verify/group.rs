//! What the oracle expects of one context in one bucket: the samples sent, folded as they come
//! (counter sum, gauge last value, set members, histogram values and weights, distribution
//! summary), and the points they must flush as. The rules are pipeline.md's, written here
//! independently of the pipeline's samplers: buckets, rates, truncated weights, ranks.

use super::context::CtxId;
use crate::pipeline::flushed::SeriesType;
use crate::protocol::MetricType;
use std::collections::HashSet;

/// Which point of a context a series is: the metric itself, or a histogram aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Agg {
    Plain,
    Max,
    Min,
    Median,
    Avg,
    Sum,
    Count,
    Percentile(u32),
}

impl Agg {
    /// The aggregate named by a configured `histogram_aggregates` entry.
    pub fn named(name: &str) -> Option<Agg> {
        Some(match name {
            "max" => Agg::Max,
            "min" => Agg::Min,
            "median" => Agg::Median,
            "avg" => Agg::Avg,
            "sum" => Agg::Sum,
            "count" => Agg::Count,
            _ => return None,
        })
    }

    /// The aggregate a metric-name suffix (after the last `.`) names.
    pub fn of_suffix(suffix: &str) -> Option<Agg> {
        match suffix.strip_suffix("percentile") {
            Some(p) => p.parse().ok().map(Agg::Percentile),
            None => Agg::named(suffix),
        }
    }

    /// The suffix added to the metric name (`.max`, `.95percentile`).
    pub fn suffix(self) -> String {
        match self {
            Agg::Plain => String::new(),
            Agg::Max => ".max".into(),
            Agg::Min => ".min".into(),
            Agg::Median => ".median".into(),
            Agg::Avg => ".avg".into(),
            Agg::Sum => ".sum".into(),
            Agg::Count => ".count".into(),
            Agg::Percentile(p) => format!(".{p}percentile"),
        }
    }
}

/// Identity of one flushed series point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PointKey {
    pub ctx: CtxId,
    pub agg: Agg,
    pub series_type: SeriesType,
    pub ts: i64,
}

/// The points flushed under one key, folded so that the order they come out in does not
/// matter: how many, their sum, the smallest and the largest. A key carries several points
/// only when a timestamped sample (no-aggregation path) meets another one, or its context's
/// own bucket, at the same second: the reference flushes each of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Folded {
    pub n: u32,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for Folded {
    fn default() -> Self {
        Folded {
            n: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

/// Floats agree within this relative error.
pub const REL_TOLERANCE: f64 = 1e-9;

/// Whether a flushed value agrees with the expected one. A non-finite value (a sum that
/// overflowed, or `0 × 1/@0`) agrees only with the same one, NaN with NaN: both sides computed
/// it the same way. (The relative tolerance of an infinity is infinite, and NaN equals
/// nothing: without this rule an infinity agreed with any number, and NaN with nothing.)
pub fn close(a: f64, b: f64) -> bool {
    if !(a.is_finite() && b.is_finite()) {
        return a == b || (a.is_nan() && b.is_nan());
    }
    a == b || (a - b).abs() <= REL_TOLERANCE * a.abs().max(b.abs())
}

impl Folded {
    pub fn add(&mut self, v: f64) {
        self.n += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Whether two folds hold the same values (floats within the comparison's tolerance).
    pub fn same_values(&self, other: &Folded) -> bool {
        close(self.sum, other.sum) && close(self.min, other.min) && close(self.max, other.max)
    }
}

impl std::fmt::Display for Folded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.n == 1 {
            write!(f, "{}", self.sum)
        } else {
            write!(
                f,
                "{} points (sum {}, min {}, max {})",
                self.n, self.sum, self.min, self.max
            )
        }
    }
}

/// A distribution bucket's summary: what a flushed sketch must agree with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SketchSummary {
    pub count: i64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

/// The fold of one group, by the type of its first sample (the context key has no type: later
/// samples of another type are folded by the first one's rule, as the reference's bucket does).
#[derive(Debug, Clone)]
pub enum Fold {
    Counter(f64),
    Gauge(f64),
    Set(HashSet<Box<str>>),
    /// Histograms and timings: (value, truncated weight), sum, total weight.
    Hist {
        values: Vec<(f64, i64)>,
        sum: f64,
        count: i64,
    },
    Dist(SketchSummary),
}

/// One value as sent.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Number(f64),
    Set(&'a str),
}

impl<'a> From<crate::protocol::MetricValue<'a>> for Value<'a> {
    fn from(v: crate::protocol::MetricValue<'a>) -> Value<'a> {
        match v {
            crate::protocol::MetricValue::Number(n) => Value::Number(n),
            crate::protocol::MetricValue::Set(s) => Value::Set(s),
        }
    }
}

impl Value<'_> {
    pub fn number(&self) -> f64 {
        match self {
            Value::Number(n) => *n,
            Value::Set(_) => 0.0,
        }
    }
}

/// Samples folded into one (context, bucket), and what else is known of them.
#[derive(Debug, Clone)]
pub struct Group {
    pub fold: Option<Fold>,
    /// Samples folded, by their own type ([`MetricType::ALL`] order).
    pub kept: [u32; 6],
    /// Samples of this group the pipeline reported lost before its bucket (context limit).
    pub lost: u32,
    /// Creation order, for examples in sending order.
    pub seq: u64,
    /// The first sample folded: (type, value as JSON), shown if the group is lost.
    pub first: Option<(MetricType, serde_json::Value)>,
}

/// A metric type's place in [`MetricType::ALL`] (the order of its declaration).
pub fn type_index(t: MetricType) -> usize {
    t as usize
}

const _: () = {
    let all = MetricType::ALL;
    let mut i = 0;
    while i < all.len() {
        assert!(all[i] as usize == i);
        i += 1;
    }
};

impl Group {
    pub fn new(seq: u64) -> Group {
        Group {
            fold: None,
            kept: [0; 6],
            lost: 0,
            seq,
            first: None,
        }
    }

    pub fn kept_total(&self) -> u64 {
        self.kept.iter().map(|n| u64::from(*n)).sum()
    }

    /// Folds one sample sent with `rate` (as the line had it).
    pub fn add(&mut self, t: MetricType, v: Value<'_>, rate: f64) {
        self.kept[type_index(t)] += 1;
        if self.first.is_none() {
            let json = match v {
                Value::Number(n) => serde_json::json!(n),
                Value::Set(s) => serde_json::json!(s),
            };
            self.first = Some((t, json));
        }
        let n = v.number();
        let fold = self.fold.get_or_insert_with(|| match t {
            MetricType::Count => Fold::Counter(0.0),
            MetricType::Gauge => Fold::Gauge(0.0),
            MetricType::Set => Fold::Set(HashSet::new()),
            MetricType::Distribution => Fold::Dist(SketchSummary {
                count: 0,
                sum: 0.0,
                min: n,
                max: n,
            }),
            MetricType::Histogram | MetricType::Timing => Fold::Hist {
                values: Vec::new(),
                sum: 0.0,
                count: 0,
            },
        });
        match fold {
            Fold::Counter(sum) => *sum += n * (1.0 / rate),
            Fold::Gauge(last) => *last = n,
            Fold::Set(members) => {
                let present = match v {
                    Value::Set(s) => members.contains(s),
                    Value::Number(_) => false,
                };
                if !present {
                    members.insert(match v {
                        Value::Set(s) => s.into(),
                        Value::Number(x) => x.to_string().into(),
                    });
                }
            }
            Fold::Hist { values, sum, count } => {
                // A rate of 0 is taken as 1, as the reference's aggregates do; the weight is
                // truncated (`int64(1 / rate)`).
                let rate = if rate == 0.0 { 1.0 } else { rate };
                let w = (1.0 / rate) as i64;
                values.push((n, w));
                *sum += n / rate;
                *count += w;
            }
            Fold::Dist(d) => {
                // Sketches take a rate outside (0, 1] as 1.
                let w = if rate > 0.0 && rate <= 1.0 {
                    1.0 / rate
                } else {
                    1.0
                };
                d.count += w as i64;
                d.sum += n * w;
                d.min = d.min.min(n);
                d.max = d.max.max(n);
            }
        }
    }

    /// The series points this group must flush as, for a bucket of `interval` seconds with the
    /// configured aggregates and percentiles (a histogram's values are sorted in place).
    pub fn points(
        &mut self,
        aggregates: &[String],
        percentiles: &[u32],
        interval: i64,
        mut put: impl FnMut(Agg, SeriesType, f64),
    ) {
        match &mut self.fold {
            None | Some(Fold::Dist(_)) => {}
            Some(Fold::Counter(sum)) => put(Agg::Plain, SeriesType::Rate, *sum / interval as f64),
            Some(Fold::Gauge(v)) => put(Agg::Plain, SeriesType::Gauge, *v),
            Some(Fold::Set(m)) => put(Agg::Plain, SeriesType::Gauge, m.len() as f64),
            Some(Fold::Hist { values, sum, count }) => {
                values.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (sorted, sum, count) = (&*values, *sum, *count);
                for name in aggregates {
                    let Some(agg) = Agg::named(name) else {
                        continue;
                    };
                    let (v, t) = match agg {
                        Agg::Max => (sorted.last().map_or(0.0, |s| s.0), SeriesType::Gauge),
                        Agg::Min => (sorted.first().map_or(0.0, |s| s.0), SeriesType::Gauge),
                        Agg::Median => (
                            weighted_rank(sorted, (count - 1) / 2).unwrap_or(0.0),
                            SeriesType::Gauge,
                        ),
                        Agg::Avg => (sum / count as f64, SeriesType::Gauge),
                        Agg::Sum => (sum, SeriesType::Gauge),
                        Agg::Count => (count as f64 / interval as f64, SeriesType::Rate),
                        Agg::Plain | Agg::Percentile(_) => continue,
                    };
                    put(agg, t, v);
                }
                for p in percentiles {
                    let target = (i64::from(*p) * count - 1) / 100;
                    if let Some(v) = weighted_rank(sorted, target) {
                        put(Agg::Percentile(*p), SeriesType::Gauge, v);
                    }
                }
            }
        }
    }

    /// The sketch this group must flush as (distributions only).
    pub fn sketch(&self) -> Option<SketchSummary> {
        match &self.fold {
            Some(Fold::Dist(d)) => Some(*d),
            _ => None,
        }
    }
}

/// The value at weighted rank `target` (0-based) of values sorted ascending: the first value
/// whose cumulative weight passes `target`; none when the weights never do (all 0).
fn weighted_rank(sorted: &[(f64, i64)], target: i64) -> Option<f64> {
    let mut seen = 0i64;
    for (v, w) in sorted {
        seen += w;
        if seen > target {
            return Some(*v);
        }
    }
    None
}
