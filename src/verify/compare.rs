//! Compares an actual flushed output with a prediction: matching points, value mismatches,
//! points flushed although reported lost, surplus points (never sent) and duplicate points.

use super::predict::{Folded, ItemKey, PointKey, Prediction, SketchKey, SketchSummary};
use crate::pipeline::flushed::{FlushedItem, SeriesType};
use std::collections::HashMap;

/// Floats agree within this relative error.
pub const REL_TOLERANCE: f64 = 1e-9;

/// Relative accuracy of the flushed sketches' quantiles (DDSketch, 1 %), with a margin.
const SKETCH_ACCURACY: f64 = 0.011;

pub fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= REL_TOLERANCE * a.abs().max(b.abs())
}

/// The actual output folded into the prediction's shape.
#[derive(Debug, Default)]
pub struct Actual {
    pub points: HashMap<PointKey, Folded>,
    pub sketches: HashMap<SketchKey, (SketchSummary, u32)>,
    pub items: HashMap<ItemKey, u64>,
    /// Sketches that contradict themselves (avg or a quantile outside [min, max]): the
    /// summary compared with the ledger would not catch them.
    pub inconsistent: Vec<String>,
}

impl Actual {
    pub fn from_items(items: &[FlushedItem]) -> Actual {
        let mut a = Actual::default();
        for item in items {
            match item {
                FlushedItem::Series(s) => {
                    for (ts, v) in &s.points {
                        let key = PointKey {
                            metric: s.metric.clone(),
                            series_type: s.series_type,
                            tags: s.tags.clone(),
                            host: s.host.clone(),
                            ts: *ts,
                        };
                        a.points.entry(key).or_default().add(*v);
                    }
                }
                FlushedItem::Sketch(k) => {
                    // The sketch's avg is a running mean of the inserted values (with sample
                    // rates it is not sum ÷ count, as counts are truncated); its quantiles are
                    // read from the sketch (1 % relative accuracy). All lie in [min, max].
                    let in_range = |v: f64, rel: f64| {
                        let nearest = v.clamp(k.min, k.max);
                        (v - nearest).abs() <= rel * nearest.abs().max(1.0)
                    };
                    let avg_ok = k.count > 0 && in_range(k.avg, REL_TOLERANCE);
                    let quantiles_ok = k
                        .quantiles
                        .iter()
                        .all(|(_, v)| in_range(*v, SKETCH_ACCURACY));
                    if !(avg_ok && quantiles_ok) {
                        a.inconsistent.push(format!(
                            "sketch {} {:?} ts={}: count {} sum {} avg {} min {} max {} quantiles {:?} do not agree",
                            k.metric, k.tags, k.ts, k.count, k.sum, k.avg, k.min, k.max, k.quantiles
                        ));
                    }
                    let key = SketchKey {
                        metric: k.metric.clone(),
                        tags: k.tags.clone(),
                        host: k.host.clone(),
                        ts: k.ts,
                    };
                    let s = SketchSummary {
                        count: k.count,
                        sum: k.sum,
                        min: k.min,
                        max: k.max,
                    };
                    let e = a.sketches.entry(key).or_insert((
                        SketchSummary {
                            count: 0,
                            sum: 0.0,
                            min: s.min,
                            max: s.max,
                        },
                        0,
                    ));
                    e.0.count += s.count;
                    e.0.sum += s.sum;
                    e.0.min = e.0.min.min(s.min);
                    e.0.max = e.0.max.max(s.max);
                    e.1 += 1;
                }
                FlushedItem::Event(ev) => {
                    let key = ItemKey {
                        kind: "event",
                        name: ev.title.clone(),
                        ts: ev.ts,
                        host: ev.host.clone(),
                        tags: ev.tags.clone(),
                        status: 0,
                        text: ev.text.clone(),
                    };
                    *a.items.entry(key).or_default() += 1;
                }
                FlushedItem::ServiceCheck(c) => {
                    let key = ItemKey {
                        kind: "service_check",
                        name: c.check.clone(),
                        ts: c.ts,
                        host: c.host.clone(),
                        tags: c.tags.clone(),
                        status: c.status,
                        text: c.message.clone().unwrap_or_default(),
                    };
                    *a.items.entry(key).or_default() += 1;
                }
            }
        }
        a
    }
}

/// The result of a comparison.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Descriptions of disagreements the losses do not explain (accounting errors).
    pub mismatches: Vec<String>,
    pub mismatch_count: u64,
    /// Points or items flushed that were never sent.
    pub surplus: u64,
    /// Points flushed more often than predicted (the same context and timestamp twice).
    pub duplicates: u64,
    /// Zero points of live counters (expected: the reference zero-fills counters).
    pub zero_fill: u64,
}

/// Most mismatch descriptions kept.
const MAX_DESCRIBED: usize = 20;

impl Comparison {
    fn mismatch(&mut self, what: String) {
        self.mismatch_count += 1;
        if self.mismatches.len() < MAX_DESCRIBED {
            self.mismatches.push(what);
        }
    }
}

/// Whether a non-counter point belongs to a context that was also sent as a counter: the gauge
/// or set itself (`m`), or a histogram aggregate of it (`m.max`, `m.95percentile`, …).
fn shares_a_counters_context(key: &PointKey, counter_metrics: &dyn Fn(&PointKey) -> bool) -> bool {
    if key.series_type == SeriesType::Gauge && counter_metrics(key) {
        return true;
    }
    let Some((base, suffix)) = key.metric.rsplit_once('.') else {
        return false;
    };
    let aggregate = matches!(suffix, "max" | "min" | "median" | "avg" | "sum" | "count")
        || suffix.ends_with("percentile");
    aggregate
        && counter_metrics(&PointKey {
            metric: base.to_string(),
            ..key.clone()
        })
}

/// Compares `actual` with `expected` (the prediction given the reported losses); `lossless` is
/// the prediction with no loss at all, which tells a surplus from a point reported lost.
pub fn compare(
    actual: &Actual,
    expected: &Prediction,
    lossless: &Prediction,
    counter_metrics: &dyn Fn(&PointKey) -> bool,
) -> Comparison {
    let mut c = Comparison::default();
    for what in &actual.inconsistent {
        c.mismatch(what.clone());
    }
    for (key, want) in &expected.points {
        match actual.points.get(key) {
            None => c.mismatch(format!(
                "missing point {} {:?} {:?} ts={}: expected {}",
                key.metric, key.series_type, key.tags, key.ts, want
            )),
            Some(got) => {
                let extra = got.n.saturating_sub(want.n);
                if extra > 0
                    && key.series_type == SeriesType::Rate
                    && counter_metrics(key)
                    && close(got.sum, want.sum)
                    && got.min.min(0.0) == 0.0
                {
                    // A live counter's zero point beside a timestamped point of the same second.
                    c.zero_fill += u64::from(extra);
                } else if got.n > want.n {
                    c.duplicates += u64::from(got.n - want.n);
                } else if shares_a_counters_context(key, counter_metrics) && !got.same_values(want)
                {
                    // A context sent both as a counter and as a gauge, set or histogram (the
                    // context key has no type): the reference's zero-fill of the live counter
                    // is added into whatever metric holds the context in that bucket, so a
                    // gauge reads 0, a set gains the member "0.0", a histogram a 0 sample. Not
                    // a loss; counted with the zero-fills.
                    c.zero_fill += u64::from(got.n);
                } else if !got.same_values(want) {
                    c.mismatch(format!(
                        "point {} {:?} {:?} ts={}: flushed {} expected {}",
                        key.metric, key.series_type, key.tags, key.ts, got, want
                    ));
                }
            }
        }
    }
    for (key, got) in &actual.points {
        if expected.points.contains_key(key) {
            continue;
        }
        if got.sum == 0.0
            && got.max == 0.0
            && got.min == 0.0
            && key.series_type == SeriesType::Rate
            && counter_metrics(key)
        {
            c.zero_fill += u64::from(got.n);
        } else if lossless.points.contains_key(key) {
            c.mismatch(format!(
                "point {} {:?} ts={} flushed although its samples were reported lost",
                key.metric, key.tags, key.ts
            ));
        } else {
            c.surplus += u64::from(got.n);
        }
    }
    for (key, want) in &expected.sketches {
        match actual.sketches.get(key) {
            None => c.mismatch(format!(
                "missing sketch {} {:?} ts={}",
                key.metric, key.tags, key.ts
            )),
            Some((got, n)) => {
                if *n > 1 {
                    c.duplicates += u64::from(n - 1);
                } else if got.count != want.count
                    || !close(got.sum, want.sum)
                    || !close(got.min, want.min)
                    || !close(got.max, want.max)
                {
                    c.mismatch(format!(
                        "sketch {} {:?} ts={}: flushed {:?} expected {:?}",
                        key.metric, key.tags, key.ts, got, want
                    ));
                }
            }
        }
    }
    for (key, (_, n)) in &actual.sketches {
        if !expected.sketches.contains_key(key) {
            if lossless.sketches.contains_key(key) {
                c.mismatch(format!(
                    "sketch {} {:?} ts={} flushed although its samples were reported lost",
                    key.metric, key.tags, key.ts
                ));
            } else {
                c.surplus += u64::from(*n);
            }
        }
    }
    for (key, want) in &expected.items {
        let got = actual.items.get(key).copied().unwrap_or(0);
        if got < *want {
            c.mismatch(format!(
                "{} {} ts={}: flushed {} of {}",
                key.kind, key.name, key.ts, got, want
            ));
        } else if got > *want {
            c.duplicates += got - want;
        }
    }
    for (key, n) in &actual.items {
        if !expected.items.contains_key(key) {
            if lossless.items.contains_key(key) {
                c.mismatch(format!(
                    "{} {} ts={} flushed although reported lost",
                    key.kind, key.name, key.ts
                ));
            } else {
                c.surplus += n;
            }
        }
    }
    c
}
