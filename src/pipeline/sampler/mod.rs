//! A time-sampler shard: aggregates samples into 10 s buckets per context and flushes closed
//! buckets (or, on a forced final flush, every bucket), as `pkg/aggregator/time_sampler.go`.
//!
//! Counters it keeps: samples received, aggregated, dropped at the context limit, and, for each
//! bucket, how many samples it holds, so that a bucket dropped at stop is counted exactly.

pub mod aggregate;
pub mod distribution;

use crate::pipeline::config::PipelineConfig;
use crate::pipeline::flushed::{FlushedItem, Series, SeriesType, SketchPoint};
use crate::pipeline::sample::{Context, KeyMap, Sample, SampleId, SampleValue};
use crate::protocol::MetricType;
use aggregate::Aggregate;
use distribution::Distribution;
use std::collections::hash_map::Entry;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How long a non-counter context stays tracked after its last sample (the reference's
/// `dogstatsd_context_expiry_seconds`, 20 s); it matters only for the context limit.
const CONTEXT_EXPIRY_SECONDS: i64 = 20;

#[derive(Debug, Clone)]
struct Tracked {
    context: Arc<Context>,
    /// Type of the first sample of the context.
    metric_type: MetricType,
    /// Arrival second of the last sample.
    last_seen: i64,
}

#[derive(Debug, Clone, Default)]
struct Bucket {
    contexts: KeyMap<(Arc<Context>, Aggregate)>,
    samples: u64,
}

#[derive(Debug, Clone, Default)]
struct SketchBucket {
    contexts: KeyMap<(Arc<Context>, Distribution)>,
    samples: u64,
}

/// Counters of one shard.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SamplerCounters {
    pub samples_in: u64,
    pub aggregated: u64,
    pub dropped_context_limit: u64,
    /// Samples whose value is NaN or infinite: the reference's `AddSample` refuses them.
    pub dropped_non_finite: u64,
    pub flushed_buckets: u64,
    pub zero_fill_points: u64,
}

/// A bucket dropped at stop: its start and how many samples it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DroppedBucket {
    pub shard: usize,
    pub start: i64,
    pub samples: u64,
}

#[derive(Debug, Clone)]
pub struct TimeSampler {
    shard: usize,
    interval: i64,
    expiry_seconds: i64,
    context_limit: usize,
    aggregates: Vec<String>,
    percentiles: Vec<u32>,
    contexts: KeyMap<Tracked>,
    buckets: BTreeMap<i64, Bucket>,
    sketches: BTreeMap<i64, SketchBucket>,
    last_cutoff: i64,
    /// Whether distributions keep the agent's bins (only a server that posts them needs them).
    agent_bins: bool,
    pub counters: SamplerCounters,
    /// Samples dropped at the context limit, by identity.
    pub context_limit_drops: Vec<SampleId>,
    /// Samples refused for a non-finite value.
    pub non_finite_drops: Vec<SampleId>,
}

impl TimeSampler {
    pub fn new(shard: usize, config: &PipelineConfig) -> TimeSampler {
        TimeSampler {
            shard,
            interval: config.bucket_seconds,
            expiry_seconds: config.expiry_seconds,
            context_limit: config.context_limit,
            aggregates: config.histogram_aggregates.clone(),
            percentiles: config.percentiles(),
            contexts: KeyMap::default(),
            buckets: BTreeMap::new(),
            sketches: BTreeMap::new(),
            last_cutoff: 0,
            agent_bins: false,
            counters: SamplerCounters::default(),
            context_limit_drops: Vec::new(),
            non_finite_drops: Vec::new(),
        }
    }

    /// The reference's `calculateBucketStart`.
    pub fn bucket_start(&self, ts: i64) -> i64 {
        ts - ts.rem_euclid(self.interval)
    }

    /// Keeps the agent's bins of distributions from now on (`serve --forward-to`).
    pub fn keep_agent_bins(&mut self, on: bool) {
        self.agent_bins = on;
    }

    /// Adds a sample into the bucket of its arrival second.
    pub fn add(&mut self, sample: Sample) {
        self.counters.samples_in += 1;
        let ts = crate::pipeline::clock::secs(sample.arrival_ns);
        let key = sample.key;
        let at_limit = self.context_limit > 0 && self.contexts.len() >= self.context_limit;
        match self.contexts.entry(key) {
            Entry::Occupied(mut t) => {
                let t = t.get_mut();
                t.last_seen = t.last_seen.max(ts);
            }
            Entry::Vacant(_) if at_limit => {
                self.counters.dropped_context_limit += 1;
                self.context_limit_drops.push(sample.id);
                return;
            }
            Entry::Vacant(v) => {
                v.insert(Tracked {
                    context: sample.context.clone(),
                    metric_type: sample.metric_type,
                    last_seen: ts,
                });
            }
        }
        let start = self.bucket_start(ts);
        if matches!(sample.value, SampleValue::Number(v) if !v.is_finite()) {
            // The reference tracks the context and creates the bucket, then its `AddSample`
            // refuses the value: the sample is dropped, the bucket still flushes (zero-fills).
            self.counters.dropped_non_finite += 1;
            self.non_finite_drops.push(sample.id);
            if sample.metric_type != MetricType::Distribution {
                self.buckets.entry(start).or_default();
            }
            return;
        }
        self.counters.aggregated += 1;
        if sample.metric_type == MetricType::Distribution {
            let bucket = self.sketches.entry(start).or_default();
            bucket.samples += 1;
            let entry = bucket.contexts.entry(key).or_insert_with(|| {
                let d = if self.agent_bins {
                    Distribution::with_agent_bins()
                } else {
                    Distribution::default()
                };
                (sample.context.clone(), d)
            });
            entry.1.insert(sample.number(), sample.sample_rate);
            return;
        }
        let bucket = self.buckets.entry(start).or_default();
        bucket.samples += 1;
        let entry = bucket
            .contexts
            .entry(key)
            .or_insert_with(|| (sample.context.clone(), Aggregate::new(sample.metric_type)));
        entry.1.add(&sample);
    }

    /// Flushes at `now` (seconds): closed buckets, or every bucket when `force_all` (the final
    /// flush with `flush_incomplete_buckets`).
    pub fn flush(&mut self, now_s: i64, force_all: bool) -> Vec<FlushedItem> {
        let cutoff = self.bucket_start(now_s);
        let mut series: BTreeMap<(u64, String, SeriesType), Series> = BTreeMap::new();
        if !self.buckets.is_empty() {
            let starts: Vec<i64> = self
                .buckets
                .keys()
                .copied()
                .filter(|s| force_all || s + self.interval <= cutoff)
                .collect();
            for start in starts {
                let mut bucket = self.buckets.remove(&start).unwrap_or_default();
                self.zero_fill(start, &mut bucket);
                self.emit(start, bucket, &mut series);
            }
        } else if self.last_cutoff + self.interval <= cutoff {
            let start = cutoff - self.interval;
            let mut bucket = Bucket::default();
            self.zero_fill(start, &mut bucket);
            self.emit(start, bucket, &mut series);
        }
        let mut items: Vec<FlushedItem> = series.into_values().map(FlushedItem::Series).collect();
        let starts: Vec<i64> = self
            .sketches
            .keys()
            .copied()
            .filter(|s| force_all || *s < cutoff)
            .collect();
        for start in starts {
            let bucket = self.sketches.remove(&start).unwrap_or_default();
            self.counters.flushed_buckets += 1;
            for (context, d) in bucket.contexts.into_values() {
                items.push(FlushedItem::Sketch(SketchPoint {
                    metric: context.name.clone(),
                    interval: self.interval,
                    ts: start,
                    count: d.count,
                    sum: d.sum,
                    min: d.min,
                    max: d.max,
                    avg: d.avg,
                    quantiles: d.quantiles(),
                    bins: d.bins.map(|b| b.to_bins()).unwrap_or_default(),
                    tags: context.tags.clone(),
                    host: context.host.clone(),
                }));
            }
        }
        self.expire(now_s);
        self.last_cutoff = cutoff;
        items
    }

    /// Whether a flush would emit nothing and change nothing but counters: no bucket, no
    /// sketch, no tracked context (so no zero-fill and nothing to expire).
    pub fn idle(&self) -> bool {
        self.buckets.is_empty() && self.sketches.is_empty() && self.contexts.is_empty()
    }

    /// The effect of `k` flushes of an idle sampler at `first_ns`, `first_ns + period`, …,
    /// computed instead of run: each flush whose cutoff moved emits an empty bucket (counted
    /// in `flushed_buckets`) and moves `last_cutoff`.
    pub fn skip_idle_flushes(&mut self, first_ns: u64, period_ns: u64, k: u64) {
        debug_assert!(self.idle());
        if k == 0 {
            return;
        }
        let cutoff = |ns: u64| self.bucket_start(crate::pipeline::clock::secs(ns));
        let first = cutoff(first_ns);
        let last = cutoff(first_ns + (k - 1) * period_ns);
        let interval_ns = self.interval as u64 * crate::pipeline::clock::NANOS_PER_SEC;
        // After the first tick, a tick moves the cutoff iff it lands in another bucket than
        // the tick before: every tick when the period spans a bucket, else once per bucket.
        let moves_after_first = if period_ns >= interval_ns {
            k - 1
        } else {
            ((last - first) / self.interval) as u64
        };
        let first_moves = u64::from(self.last_cutoff + self.interval <= first);
        self.counters.flushed_buckets += first_moves + moves_after_first;
        self.last_cutoff = last;
    }

    /// Gives every live counter a zero sample in a flushed bucket, as the reference does, so
    /// that a sparse counter reads 0 rather than a gap until `expiry_seconds` after its last
    /// sample.
    fn zero_fill(&mut self, start: i64, bucket: &mut Bucket) {
        for (key, t) in &self.contexts {
            if t.metric_type == MetricType::Count && t.last_seen + self.expiry_seconds > start {
                match bucket.contexts.get_mut(key) {
                    Some((_, agg)) => agg.add_zero(),
                    None => {
                        self.counters.zero_fill_points += 1;
                        bucket
                            .contexts
                            .insert(*key, (t.context.clone(), Aggregate::Counter { sum: 0.0 }));
                    }
                }
            }
        }
    }

    fn emit(
        &mut self,
        start: i64,
        bucket: Bucket,
        out: &mut BTreeMap<(u64, String, SeriesType), Series>,
    ) {
        self.counters.flushed_buckets += 1;
        let mut push = |ctx: &Context, suffix: &str, t: SeriesType, value: f64| {
            out.entry((ctx.key, suffix.to_string(), t))
                .or_insert_with(|| Series {
                    metric: format!("{}{}", ctx.name, suffix),
                    series_type: t,
                    interval: self.interval,
                    points: Vec::new(),
                    tags: ctx.tags.clone(),
                    host: ctx.host.clone(),
                })
                .points
                .push((start, value));
        };
        for (ctx, agg) in bucket.contexts.into_values() {
            match agg {
                Aggregate::Counter { sum } => {
                    push(&ctx, "", SeriesType::Rate, sum / self.interval as f64)
                }
                Aggregate::Gauge { value } => push(&ctx, "", SeriesType::Gauge, value),
                Aggregate::Set { values } => push(&ctx, "", SeriesType::Gauge, values.len() as f64),
                Aggregate::Histogram(mut h) => {
                    for v in h.flush(&self.aggregates, &self.percentiles, self.interval) {
                        let t = if v.is_rate {
                            SeriesType::Rate
                        } else {
                            SeriesType::Gauge
                        };
                        push(&ctx, &v.suffix, t, v.value);
                    }
                }
            }
        }
    }

    /// Forgets counters past their expiry and other contexts idle for the context expiry.
    fn expire(&mut self, now_s: i64) {
        let expiry = self.expiry_seconds;
        self.contexts.retain(|_, t| {
            if t.metric_type == MetricType::Count {
                t.last_seen + expiry > now_s
            } else {
                t.last_seen + CONTEXT_EXPIRY_SECONDS > now_s
            }
        });
    }

    /// The buckets still held (at stop, without a forced flush: the ones dropped).
    pub fn held_buckets(&self) -> Vec<DroppedBucket> {
        let mut out: BTreeMap<i64, u64> = BTreeMap::new();
        for (s, b) in &self.buckets {
            *out.entry(*s).or_default() += b.samples;
        }
        for (s, b) in &self.sketches {
            *out.entry(*s).or_default() += b.samples;
        }
        out.into_iter()
            .map(|(start, samples)| DroppedBucket {
                shard: self.shard,
                start,
                samples,
            })
            .collect()
    }
}
