//! Time-sampler semantics, hand-computed: buckets, rates, weights, sets, distributions,
//! counter zero-fill and expiry, and the no-aggregation path.

use lastbucket::pipeline::clock::NANOS_PER_SEC;
use lastbucket::pipeline::flushed::{FlushedItem, SeriesType};
use lastbucket::pipeline::no_aggregation::NoAggregation;
use lastbucket::pipeline::sample::{Context, Sample, SampleId, SampleValue};
use lastbucket::pipeline::sampler::TimeSampler;
use lastbucket::pipeline::PipelineConfig;
use lastbucket::protocol::MetricType;
use std::sync::Arc;

const T0: i64 = 1_700_000_000; // a bucket start

fn ctx(name: &str) -> Arc<Context> {
    Arc::new(Context::new(name, ["env:test"].into_iter(), "host"))
}

fn sample(name: &str, t: MetricType, v: f64, rate: f64, at_ms: i64) -> Sample {
    let context = ctx(name);
    Sample {
        key: context.key,
        context,
        metric_type: t,
        value: SampleValue::Number(v),
        sample_rate: rate,
        arrival_ns: (T0 * 1000 + at_ms) as u64 * 1_000_000,
        timestamp: None,
        id: SampleId {
            datagram: 0,
            line: 0,
            value: 0,
        },
    }
}

fn set_sample(name: &str, v: &str, at_ms: i64) -> Sample {
    Sample {
        value: SampleValue::Set(v.into()),
        ..sample(name, MetricType::Set, 0.0, 1.0, at_ms)
    }
}

/// (metric, type, ts, value) of every series point.
fn points(items: &[FlushedItem]) -> Vec<(String, SeriesType, i64, f64)> {
    let mut out: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            FlushedItem::Series(s) => Some(
                s.points
                    .iter()
                    .map(|p| (s.metric.clone(), s.series_type, p.0, p.1))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    out.sort_by(|a, b| (a.0.as_str(), a.2).cmp(&(b.0.as_str(), b.2)));
    out
}

fn sampler() -> TimeSampler {
    TimeSampler::new(0, &PipelineConfig::default())
}

#[test]
fn bucket_edges_and_closed_versus_open_buckets() {
    let mut s = sampler();
    s.add(sample("c", MetricType::Count, 1.0, 1.0, 9_999)); // last ms of bucket T0
    s.add(sample("c", MetricType::Count, 5.0, 1.0, 10_000)); // first ms of bucket T0+10
                                                             // Flush at T0+19.999: cutoff is T0+10, only the bucket T0 is closed.
    let p = points(&s.flush(T0 + 19, false));
    assert_eq!(p, vec![("c".to_string(), SeriesType::Rate, T0, 0.1)]);
    // The open bucket is still held, with one sample.
    let held = s.held_buckets();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].start, held[0].samples), (T0 + 10, 1));
    // A forced flush (flag on) flushes it although it is still open.
    let p = points(&s.flush(T0 + 19, true));
    assert_eq!(p, vec![("c".to_string(), SeriesType::Rate, T0 + 10, 0.5)]);
    assert!(s.held_buckets().is_empty());
}

#[test]
fn counter_is_a_rate_with_sample_rate_scaling() {
    let mut s = sampler();
    s.add(sample("c", MetricType::Count, 3.0, 1.0, 0));
    s.add(sample("c", MetricType::Count, 2.0, 0.5, 100)); // counts as 4
    s.add(sample("c", MetricType::Count, 1.0, 0.3, 200)); // counts as 3.33…
    let p = points(&s.flush(T0 + 10, false));
    assert_eq!(p.len(), 1);
    assert!((p[0].3 - (3.0 + 4.0 + 1.0 / 0.3) / 10.0).abs() < 1e-12);
}

#[test]
fn gauge_last_value_and_set_cardinality() {
    let mut s = sampler();
    s.add(sample("g", MetricType::Gauge, 1.0, 1.0, 0));
    s.add(sample("g", MetricType::Gauge, 7.0, 0.5, 10)); // rate ignored
    for v in ["alice", "bob", "alice", "carol"] {
        s.add(set_sample("s", v, 20));
    }
    let p = points(&s.flush(T0 + 10, false));
    assert_eq!(
        p,
        vec![
            ("g".into(), SeriesType::Gauge, T0, 7.0),
            ("s".into(), SeriesType::Gauge, T0, 3.0)
        ]
    );
}

#[test]
fn histogram_weights_truncate_and_default_aggregates() {
    let mut s = sampler();
    s.add(sample("h", MetricType::Histogram, 10.0, 0.3, 0)); // weight int64(3.33) = 3, sum 33.33…
    s.add(sample("h", MetricType::Timing, 20.0, 1.0, 1)); // same context, weight 1
    let p = points(&s.flush(T0 + 10, false));
    let get = |m: &str| p.iter().find(|x| x.0 == m).map(|x| (x.1, x.3)).unwrap();
    assert_eq!(get("h.count"), (SeriesType::Rate, 0.4)); // count 4 / 10
    assert_eq!(get("h.max"), (SeriesType::Gauge, 20.0));
    // target (4 - 1) / 2 = 1: cumulative weights 3, 4 → 10.
    assert_eq!(get("h.median").1, 10.0);
    assert!((get("h.avg").1 - (10.0 / 0.3 + 20.0) / 4.0).abs() < 1e-12);
    // target (95 * 4 - 1) / 100 = 3 → 20.
    assert_eq!(get("h.95percentile").1, 20.0);
    assert_eq!(p.len(), 5);
}

#[test]
fn distribution_summary() {
    let mut s = sampler();
    for (v, r) in [(1.0, 1.0), (5.0, 0.5), (-2.0, 1.0)] {
        s.add(sample("d", MetricType::Distribution, v, r, 0));
    }
    let items = s.flush(T0 + 10, false);
    let sk = items
        .iter()
        .find_map(|i| match i {
            FlushedItem::Sketch(k) => Some(k.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (sk.ts, sk.count, sk.sum, sk.min, sk.max),
        (T0, 4, 1.0 + 10.0 - 2.0, -2.0, 5.0)
    );
}

#[test]
fn counters_are_zero_filled_for_expiry_seconds_then_expire() {
    let mut s = sampler();
    s.add(sample("c", MetricType::Count, 1.0, 1.0, 0));
    s.add(sample("g", MetricType::Gauge, 1.0, 1.0, 0));
    // Flush every 10 s for 400 s, with a gauge keeping buckets alive.
    let mut zero_buckets = Vec::new();
    for k in 1..=40 {
        let now = T0 + 10 * k;
        s.add(sample(
            "g",
            MetricType::Gauge,
            1.0,
            1.0,
            (now - T0) * 1000 - 5_000,
        ));
        for (m, _, ts, v) in points(&s.flush(now, false)) {
            if m == "c" && v == 0.0 {
                zero_buckets.push(ts);
            }
        }
    }
    // Last sample at T0: zero-filled in buckets with T0 + 300 > start, i.e. T0+10 … T0+290.
    assert_eq!(zero_buckets.first(), Some(&(T0 + 10)));
    assert_eq!(zero_buckets.last(), Some(&(T0 + 290)));
    assert_eq!(zero_buckets.len(), 29);
}

#[test]
fn timestamped_samples_pass_through_untouched() {
    let mut n = NoAggregation::new(10);
    let mut g = sample("g", MetricType::Gauge, 4.5, 1.0, 0);
    g.timestamp = Some(T0 - 3_600);
    let mut c = sample("c", MetricType::Count, 20.0, 1.0, 0);
    c.timestamp = Some(T0 - 7);
    let mut h = sample("h", MetricType::Histogram, 1.0, 1.0, 0);
    h.timestamp = Some(T0);
    let items: Vec<FlushedItem> = [g, c, h].into_iter().filter_map(|s| n.process(s)).collect();
    assert_eq!(
        points(&items),
        vec![
            ("c".into(), SeriesType::Rate, T0 - 7, 2.0),
            ("g".into(), SeriesType::Gauge, T0 - 3_600, 4.5)
        ]
    );
    assert_eq!(n.counters.unsupported_type, 1);
    let _ = NANOS_PER_SEC;
}
