//! The oracle's prediction: from the ledger and a set of losses, the flushed output the
//! pipeline must produce, computed independently of the pipeline's own aggregation code
//! (formats and rules from pipeline.md: buckets, rates, weights, ranks).

use super::ledger::{EntryBody, Ledger, MetricEntry};
use crate::pipeline::flushed::SeriesType;
use crate::pipeline::sample::SampleValue;
use crate::pipeline::PipelineConfig;
use crate::protocol::MetricType;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Identity of one flushed series point.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PointKey {
    pub metric: String,
    pub series_type: SeriesType,
    pub tags: Vec<String>,
    pub host: String,
    pub ts: i64,
}

/// Identity of one flushed sketch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SketchKey {
    pub metric: String,
    pub tags: Vec<String>,
    pub host: String,
    pub ts: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SketchSummary {
    pub count: i64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

/// Identity of an event or service check in the output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemKey {
    pub kind: &'static str,
    pub name: String,
    pub ts: i64,
    pub host: String,
    pub tags: Vec<String>,
    pub status: u8,
    /// An event's text (unescaped) or a service check's message.
    pub text: String,
}

/// A predicted flushed output.
#[derive(Debug, Default)]
pub struct Prediction {
    /// The points expected under each key.
    pub points: HashMap<PointKey, Folded>,
    pub sketches: HashMap<SketchKey, SketchSummary>,
    pub items: HashMap<ItemKey, u64>,
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

impl Folded {
    pub fn add(&mut self, v: f64) {
        self.n += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Whether two folds hold the same values (floats within the comparison's tolerance).
    pub fn same_values(&self, other: &Folded) -> bool {
        use super::compare::close;
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

#[derive(Default)]
struct Group {
    first: Option<MetricType>,
    counter: f64,
    gauge: f64,
    set: HashSet<String>,
    /// (value, truncated weight).
    hist: Vec<(f64, i64)>,
    hist_sum: f64,
    hist_count: i64,
}

/// Predicts the output of the entries for which `keep(index)` is true.
pub fn predict(
    ledger: &Ledger,
    config: &PipelineConfig,
    keep: &dyn Fn(usize) -> bool,
) -> Prediction {
    let mut groups: BTreeMap<(u64, i64), (usize, Group)> = BTreeMap::new();
    let mut dists: BTreeMap<(u64, i64), (usize, SketchSummary)> = BTreeMap::new();
    let mut out = Prediction::default();
    let interval = config.bucket_seconds;
    for (i, e) in ledger.entries.iter().enumerate() {
        if !keep(i) {
            continue;
        }
        match &e.body {
            EntryBody::Metric(m) => {
                if m.timestamp.is_some() && config.no_aggregation_pipeline {
                    passthrough(m, interval, &mut out);
                    continue;
                }
                let bucket = m.arrival_s - m.arrival_s.rem_euclid(interval);
                let n = number(&m.value);
                // A rate of 0 is treated as 1, as the reference's aggregates do.
                let rate = if m.sample_rate == 0.0 {
                    1.0
                } else {
                    m.sample_rate
                };
                if m.metric_type == MetricType::Distribution {
                    let d = &mut dists
                        .entry((m.context.key, bucket))
                        .or_insert((
                            i,
                            SketchSummary {
                                count: 0,
                                sum: 0.0,
                                min: n,
                                max: n,
                            },
                        ))
                        .1;
                    // Sketches take a rate outside (0, 1] as 1.
                    let w = if m.sample_rate > 0.0 && m.sample_rate <= 1.0 {
                        1.0 / m.sample_rate
                    } else {
                        1.0
                    };
                    d.count += w as i64;
                    d.sum += n * w;
                    d.min = d.min.min(n);
                    d.max = d.max.max(n);
                    continue;
                }
                let g = &mut groups
                    .entry((m.context.key, bucket))
                    .or_insert_with(|| (i, Group::default()))
                    .1;
                let kind = *g.first.get_or_insert(m.metric_type);
                match kind {
                    MetricType::Count => g.counter += n * (1.0 / m.sample_rate),
                    MetricType::Gauge => g.gauge = n,
                    MetricType::Set => {
                        let s = match &m.value {
                            SampleValue::Set(s) => s.to_string(),
                            SampleValue::Number(v) => v.to_string(),
                        };
                        g.set.insert(s);
                    }
                    _ => {
                        let w = (1.0 / rate) as i64;
                        g.hist.push((n, w));
                        g.hist_sum += n / rate;
                        g.hist_count += w;
                    }
                }
            }
            EntryBody::Event {
                title,
                text,
                ts,
                host,
                tags,
            } => {
                *out.items
                    .entry(ItemKey {
                        kind: "event",
                        name: title.clone(),
                        ts: *ts,
                        host: host.clone(),
                        tags: tags.clone(),
                        status: 0,
                        text: text.clone(),
                    })
                    .or_default() += 1;
            }
            EntryBody::ServiceCheck {
                name,
                status,
                message,
                ts,
                host,
                tags,
            } => {
                *out.items
                    .entry(ItemKey {
                        kind: "service_check",
                        name: name.clone(),
                        ts: *ts,
                        host: host.clone(),
                        tags: tags.clone(),
                        status: *status,
                        text: message.clone(),
                    })
                    .or_default() += 1;
            }
            EntryBody::Rejected { .. } => {}
        }
    }
    let percentiles = config.percentiles();
    for ((_, bucket), (first_idx, g)) in groups {
        let EntryBody::Metric(m) = &ledger.entries[first_idx].body else {
            continue;
        };
        let ctx = &m.context;
        let mut put = |suffix: &str, t: SeriesType, v: f64| {
            let key = PointKey {
                metric: format!("{}{}", ctx.name, suffix),
                series_type: t,
                tags: ctx.tags.clone(),
                host: ctx.host.clone(),
                ts: bucket,
            };
            // Added to the timestamped points of the same context and second, if any.
            out.points.entry(key).or_default().add(v);
        };
        match g.first {
            Some(MetricType::Count) => put("", SeriesType::Rate, g.counter / interval as f64),
            Some(MetricType::Gauge) => put("", SeriesType::Gauge, g.gauge),
            Some(MetricType::Set) => put("", SeriesType::Gauge, g.set.len() as f64),
            Some(_) => {
                let mut sorted = g.hist.clone();
                sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
                for agg in &config.histogram_aggregates {
                    let (v, t) = match agg.as_str() {
                        "max" => (sorted.last().map_or(0.0, |s| s.0), SeriesType::Gauge),
                        "min" => (sorted.first().map_or(0.0, |s| s.0), SeriesType::Gauge),
                        "median" => (
                            weighted_rank(&sorted, (g.hist_count - 1) / 2).unwrap_or(0.0),
                            SeriesType::Gauge,
                        ),
                        "avg" => (g.hist_sum / g.hist_count as f64, SeriesType::Gauge),
                        "sum" => (g.hist_sum, SeriesType::Gauge),
                        "count" => (g.hist_count as f64 / interval as f64, SeriesType::Rate),
                        _ => continue,
                    };
                    put(&format!(".{agg}"), t, v);
                }
                for p in &percentiles {
                    let target = (i64::from(*p) * g.hist_count - 1) / 100;
                    if let Some(v) = weighted_rank(&sorted, target) {
                        put(&format!(".{p}percentile"), SeriesType::Gauge, v);
                    }
                }
            }
            None => {}
        }
    }
    for ((_, bucket), (first_idx, s)) in dists {
        let EntryBody::Metric(m) = &ledger.entries[first_idx].body else {
            continue;
        };
        let ctx = &m.context;
        out.sketches.insert(
            SketchKey {
                metric: ctx.name.clone(),
                tags: ctx.tags.clone(),
                host: ctx.host.clone(),
                ts: bucket,
            },
            s,
        );
    }
    out
}

/// A timestamped sample on the no-aggregation path: one point (gauge as is, count as a rate).
fn passthrough(m: &MetricEntry, interval: i64, out: &mut Prediction) {
    let (t, v) = match m.metric_type {
        MetricType::Gauge => (SeriesType::Gauge, number(&m.value)),
        MetricType::Count => (SeriesType::Rate, number(&m.value) / interval as f64),
        _ => return,
    };
    let key = PointKey {
        metric: m.context.name.clone(),
        series_type: t,
        tags: m.context.tags.clone(),
        host: m.context.host.clone(),
        ts: m.timestamp.unwrap_or(0),
    };
    // Several points with the same timestamp are each flushed.
    out.points.entry(key).or_default().add(v);
}

fn number(v: &SampleValue) -> f64 {
    match v {
        SampleValue::Number(n) => *n,
        SampleValue::Set(_) => 0.0,
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
