//! Compares one flush with what the ledger expects of it, then forgets both: the buckets that
//! flush closes (all of them in a forced final flush), the points of the no-aggregation path and
//! the events and service checks parsed since the last flush. Outcomes go to the tally: value
//! disagreements the losses do not explain, points flushed although reported lost, surplus
//! points (never sent), duplicates, and counter zero-fill (expected: a live counter flushes 0
//! for `dogstatsd_expiry_seconds` after its last sample, and nothing needs to be stored to
//! check it, only whether the context was ever sent as a counter).

use super::context::{Contexts, CtxId};
use super::group::{close, Agg, Folded, PointKey, SketchSummary};
use super::ledger::{ItemKey, Ledger};
use crate::pipeline::clock::secs;
use crate::pipeline::flushed::{FlushedItem, SeriesType};
use crate::pipeline::{Flush, FlushKind};
use foldhash::fast::FixedState;
use std::collections::{HashMap, HashSet};

/// Relative accuracy of the flushed sketches' quantiles (DDSketch, 1 %), with a margin.
const SKETCH_ACCURACY: f64 = 0.011;

/// The oracle's configuration of the samplers' output.
#[derive(Debug, Clone)]
pub struct OutputRules {
    pub interval: i64,
    pub aggregates: Vec<String>,
    pub percentiles: Vec<u32>,
}

#[derive(Default)]
struct Expected {
    points: HashMap<PointKey, Folded, FixedState>,
    sketches: HashMap<(CtxId, i64), SketchSummary, FixedState>,
    items: HashMap<ItemKey, u64, FixedState>,
    /// (context, bucket) of groups whose every sample was reported lost before the samplers.
    lost: HashSet<(CtxId, i64), FixedState>,
}

#[derive(Default)]
struct Actual {
    points: HashMap<PointKey, Folded, FixedState>,
    sketches: HashMap<(CtxId, i64), (SketchSummary, u32), FixedState>,
    items: HashMap<ItemKey, u64, FixedState>,
}

/// Compares `flush` with the ledger's expectations for it, and forgets what it compared.
pub fn compare_flush(ledger: &mut Ledger, flush: &Flush, rules: &OutputRules) {
    let cutoff = {
        let now = secs(flush.at_ns);
        now - now.rem_euclid(rules.interval)
    };
    let closing = match flush.kind {
        FlushKind::NoAggregation => Vec::new(),
        FlushKind::Tick | FlushKind::Final { force_all: false } => ledger.take_closed(Some(cutoff)),
        FlushKind::Final { force_all: true } => ledger.take_closed(None),
    };
    let mut want = Expected {
        points: std::mem::take(&mut ledger.passthrough),
        ..Expected::default()
    };
    if flush.kind != FlushKind::NoAggregation {
        want.items = std::mem::take(&mut ledger.items);
    }
    for (bucket, groups) in closing {
        for ((ctx, _), mut g) in groups {
            if g.kept_total() == 0 {
                if g.lost > 0 {
                    want.lost.insert((ctx, bucket));
                }
                continue;
            }
            if let Some(s) = g.sketch() {
                want.sketches.insert((ctx, bucket), s);
                continue;
            }
            g.points(
                &rules.aggregates,
                &rules.percentiles,
                rules.interval,
                |agg, t, v| {
                    let key = PointKey {
                        ctx,
                        agg,
                        series_type: t,
                        ts: bucket,
                    };
                    // Added to the timestamped points of the same context and second, if any.
                    want.points.entry(key).or_default().add(v);
                },
            );
        }
    }
    let got = actual(&flush.items, &want, ledger);
    judge(ledger, &want, &got);
}

/// The flush folded into the expectation's shape; what names no context ever sent is surplus.
fn actual(items: &[FlushedItem], want: &Expected, ledger: &mut Ledger) -> Actual {
    let mut a = Actual::default();
    for item in items {
        match item {
            FlushedItem::Series(s) => {
                for (ts, v) in &s.points {
                    match series_key(
                        &ledger.contexts,
                        &s.metric,
                        &s.tags,
                        &s.host,
                        s.series_type,
                        *ts,
                        want,
                    ) {
                        Some(key) => a.points.entry(key).or_default().add(*v),
                        None => ledger.tally.surplus += 1,
                    }
                }
            }
            FlushedItem::Sketch(k) => {
                // The sketch's avg is a running mean of the inserted values (with sample rates
                // it is not sum ÷ count, as counts are truncated); its quantiles are read from
                // the sketch (1 % relative accuracy). All lie in [min, max].
                let in_range = |v: f64, rel: f64| {
                    let nearest = v.clamp(k.min, k.max);
                    (v - nearest).abs() <= rel * nearest.abs().max(1.0)
                };
                let avg_ok = k.count > 0 && in_range(k.avg, super::group::REL_TOLERANCE);
                let quantiles_ok = k
                    .quantiles
                    .iter()
                    .all(|(_, v)| in_range(*v, SKETCH_ACCURACY));
                if !(avg_ok && quantiles_ok) {
                    ledger.tally.mismatch(|| {
                        format!(
                            "sketch {} {:?} ts={}: count {} sum {} avg {} min {} max {} quantiles {:?} do not agree",
                            k.metric, k.tags, k.ts, k.count, k.sum, k.avg, k.min, k.max, k.quantiles
                        )
                    });
                }
                let Some(ctx) = ledger.contexts.find(&k.metric, &k.tags, &k.host) else {
                    ledger.tally.surplus += 1;
                    continue;
                };
                let e = a.sketches.entry((ctx, k.ts)).or_insert((
                    SketchSummary {
                        count: 0,
                        sum: 0.0,
                        min: k.min,
                        max: k.max,
                    },
                    0,
                ));
                e.0.count += k.count;
                e.0.sum += k.sum;
                e.0.min = e.0.min.min(k.min);
                e.0.max = e.0.max.max(k.max);
                e.1 += 1;
            }
            FlushedItem::Event(ev) => *a.items.entry(ItemKey::of_event(ev)).or_default() += 1,
            FlushedItem::ServiceCheck(c) => *a.items.entry(ItemKey::of_check(c)).or_default() += 1,
        }
    }
    a
}

/// The key of a flushed series point: the metric itself (`m`) or a histogram aggregate of
/// its context (`m.max`, `m.95percentile`). When both readings name a context, the one this
/// flush expects wins.
fn series_key(
    contexts: &Contexts,
    metric: &str,
    tags: &[String],
    host: &str,
    series_type: SeriesType,
    ts: i64,
    want: &Expected,
) -> Option<PointKey> {
    let key = |ctx, agg| PointKey {
        ctx,
        agg,
        series_type,
        ts,
    };
    let plain = contexts
        .find(metric, tags, host)
        .map(|c| key(c, Agg::Plain));
    let aggregate = metric.rsplit_once('.').and_then(|(base, suffix)| {
        let agg = Agg::of_suffix(suffix)?;
        contexts.find(base, tags, host).map(|c| key(c, agg))
    });
    match (plain, aggregate) {
        (Some(p), Some(a)) if !want.points.contains_key(&p) && want.points.contains_key(&a) => {
            Some(a)
        }
        (Some(p), _) => Some(p),
        (None, a) => a,
    }
}

fn judge(ledger: &mut Ledger, want: &Expected, got: &Actual) {
    let contexts = &ledger.contexts;
    let name = |k: &PointKey| {
        let c = contexts.get(k.ctx);
        format!(
            "{}{} {:?} {:?} ts={}",
            c.name,
            k.agg.suffix(),
            k.series_type,
            c.tags,
            k.ts
        )
    };
    let counter = |k: &PointKey| k.agg == Agg::Plain && contexts.get(k.ctx).ever_counter;
    // A context sent both as a counter and as a gauge, set or histogram (the context key has
    // no type): the reference's zero-fill of the live counter is added into whatever metric
    // holds the context in that bucket, so a gauge reads 0, a set gains the member "0.0", a
    // histogram a 0 sample. Not a loss; counted with the zero-fills.
    let shares_counter = |k: &PointKey| {
        contexts.get(k.ctx).ever_counter
            && (k.agg != Agg::Plain || k.series_type == SeriesType::Gauge)
    };
    let t = &mut ledger.tally;
    for (key, w) in &want.points {
        match got.points.get(key) {
            None => t.mismatch(|| format!("missing point {}: expected {}", name(key), w)),
            Some(g) => {
                let extra = g.n.saturating_sub(w.n);
                if extra > 0
                    && key.series_type == SeriesType::Rate
                    && counter(key)
                    && close(g.sum, w.sum)
                    && g.min.min(0.0) == 0.0
                {
                    // A live counter's zero point beside a timestamped point of the same second.
                    t.zero_fill += u64::from(extra);
                } else if g.n > w.n {
                    t.duplicates += u64::from(g.n - w.n);
                } else if shares_counter(key) && !g.same_values(w) {
                    t.zero_fill += u64::from(g.n);
                } else if !g.same_values(w) {
                    t.mismatch(|| format!("point {}: flushed {} expected {}", name(key), g, w));
                }
            }
        }
    }
    for (key, g) in &got.points {
        if want.points.contains_key(key) {
            continue;
        }
        if g.sum == 0.0
            && g.max == 0.0
            && g.min == 0.0
            && key.series_type == SeriesType::Rate
            && counter(key)
        {
            t.zero_fill += u64::from(g.n);
        } else if want.lost.contains(&(key.ctx, key.ts)) {
            t.mismatch(|| {
                format!(
                    "point {} flushed although its samples were reported lost",
                    name(key)
                )
            });
        } else {
            t.surplus += u64::from(g.n);
        }
    }
    let sketch_name = |(ctx, ts): &(CtxId, i64)| {
        let c = contexts.get(*ctx);
        format!("{} {:?} ts={}", c.name, c.tags, ts)
    };
    for (key, w) in &want.sketches {
        match got.sketches.get(key) {
            None => t.mismatch(|| format!("missing sketch {}", sketch_name(key))),
            Some((g, n)) => {
                if *n > 1 {
                    t.duplicates += u64::from(n - 1);
                } else if g.count != w.count
                    || !close(g.sum, w.sum)
                    || !close(g.min, w.min)
                    || !close(g.max, w.max)
                {
                    t.mismatch(|| {
                        format!(
                            "sketch {}: flushed {:?} expected {:?}",
                            sketch_name(key),
                            g,
                            w
                        )
                    });
                }
            }
        }
    }
    for (key, (_, n)) in &got.sketches {
        if !want.sketches.contains_key(key) {
            if want.lost.contains(key) {
                t.mismatch(|| {
                    format!(
                        "sketch {} flushed although its samples were reported lost",
                        sketch_name(key)
                    )
                });
            } else {
                t.surplus += u64::from(*n);
            }
        }
    }
    for (key, w) in &want.items {
        let g = got.items.get(key).copied().unwrap_or(0);
        if g < *w {
            t.mismatch(|| {
                format!(
                    "{} {} ts={}: flushed {} of {}",
                    key.kind, key.name, key.ts, g, w
                )
            });
        } else if g > *w {
            t.duplicates += g - w;
        }
    }
    for (key, n) in &got.items {
        if !want.items.contains_key(key) {
            t.surplus += n;
        }
    }
}
