//! The stop sequence on the virtual clock, on a stream that ends mid-bucket with datagrams still
//! in the assembler / packets buffer and batches still queued at the stop moment. Expected
//! numbers are computed by hand from the stream's layout, not read from the pipeline.

use lastbucket::check::driver::{run, RunResult, StopPoint};
use lastbucket::pipeline::clock::NANOS_PER_MS;
use lastbucket::pipeline::flushed::{FlushedItem, SeriesType};
use lastbucket::pipeline::{BatcherDrain, ListenerKind, PipelineConfig, StopSettings};
use lastbucket::source::Datagram;
use lastbucket::verify::{self, SentLog as Ledger};
use std::collections::{BTreeMap, HashSet};

const T0_MS: u64 = 1_700_000_000_000; // bucket-aligned
const START_MS: u64 = T0_MS + 50;
const STEP_MS: u64 = 30;
const COUNT: u64 = 846; // last datagram at START + 25.35 s: mid-bucket
const SAMPLES_PER_DATAGRAM: u64 = 6;

fn payload(i: u64) -> Vec<u8> {
    format!(
        "c1:1|c|#a:1\nc2:2|c|@0.5\ng1:{i}|g\nh1:{i}|h|@0.5\nd1:{i}|d\ns1:u{}|s",
        i % 7
    )
    .into_bytes()
}

fn ts_ms(i: u64) -> u64 {
    START_MS + i * STEP_MS
}

fn stream() -> Vec<Datagram> {
    (0..COUNT)
        .map(|i| Datagram {
            ts_ns: ts_ms(i) * NANOS_PER_MS,
            payload: payload(i),
        })
        .collect()
}

fn settings(flag: bool, drain: BatcherDrain) -> StopSettings {
    StopSettings {
        flush_incomplete_buckets: flag,
        batcher_drain: drain,
    }
}

fn go(config: &PipelineConfig, s: StopSettings) -> (RunResult, Ledger) {
    go_on(config, s, ListenerKind::Udp, stream())
}

fn go_on(
    config: &PipelineConfig,
    s: StopSettings,
    listener: ListenerKind,
    datagrams: Vec<Datagram>,
) -> (RunResult, Ledger) {
    let mut ledger = Ledger::default();
    let r = run::<_, std::convert::Infallible>(
        config,
        s,
        listener,
        datagrams.into_iter().map(Ok),
        StopPoint {
            max_datagrams: u64::MAX,
            at_ns: None,
        },
        &mut |id, d| ledger.record_datagram(id, d, config),
    )
    .unwrap();
    (r, ledger)
}

/// The verifier's view of a run with no socket in front of it.
fn checked(r: &RunResult, ledger: &Ledger, config: &PipelineConfig) -> verify::Verification {
    verify::verify(
        ledger,
        &r.flushed,
        &r.counters,
        &r.losses,
        &HashSet::new(),
        config,
    )
}

fn config() -> PipelineConfig {
    PipelineConfig {
        workers: 2,
        ..PipelineConfig::default()
    }
}

/// Datagrams still in the assembler (UDP) or the packets buffer (Unix) at stop: the assembler
/// and packets-buffer tickers fire every 100 ms from the first datagram; everything received at
/// or after the last tick before the stop (the last datagram's time) is still held.
fn held_datagrams() -> u64 {
    let last = ts_ms(COUNT - 1);
    let last_tick = START_MS + (last - START_MS) / 100 * 100;
    (0..COUNT).filter(|i| ts_ms(*i) >= last_tick).count() as u64
}

/// Datagrams arriving in the bucket of the stop.
fn in_last_bucket() -> u64 {
    let last = ts_ms(COUNT - 1);
    let bucket = last - last % 10_000;
    (0..COUNT).filter(|i| ts_ms(*i) >= bucket).count() as u64
}

#[test]
fn flag_on_with_drain_flushes_every_sample() {
    let (r, ledger) = go(&config(), settings(true, BatcherDrain::Auto));
    assert!(
        held_datagrams() > 0,
        "the stream must leave datagrams held at stop"
    );
    assert_eq!(r.held_at_stop.0 as u64, held_datagrams());
    let v = checked(&r, &ledger, &config());
    assert!(v.accounting_errors.is_empty(), "{:?}", v.accounting_errors);
    assert_eq!(v.counts.sent, COUNT * SAMPLES_PER_DATAGRAM);
    assert_eq!(v.counts.lost, 0);
    assert_eq!(v.counts.flushed, COUNT * SAMPLES_PER_DATAGRAM);
    // Independently of the verifier: the counter c1 (1 per datagram) sums to COUNT over all
    // buckets (each rate point is sum / 10); c2 sends 2 at rate 0.5, so 4 per datagram.
    let sum = |m: &str| -> f64 { rate_points(&r.flushed, m).values().sum::<f64>() * 10.0 };
    assert!((sum("c1") - COUNT as f64).abs() < 1e-6);
    assert!((sum("c2") - 4.0 * COUNT as f64).abs() < 1e-6);
    let dist_count: i64 = r
        .flushed
        .iter()
        .filter_map(|i| match i {
            FlushedItem::Sketch(s) => Some(s.count),
            _ => None,
        })
        .sum();
    assert_eq!(dist_count, COUNT as i64);
}

#[test]
fn flag_off_drops_the_open_bucket_and_the_undrained_queue() {
    let (r, ledger) = go(&config(), settings(false, BatcherDrain::Auto));
    let v = checked(&r, &ledger, &config());
    assert!(v.accounting_errors.is_empty(), "{:?}", v.accounting_errors);
    let held = held_datagrams();
    assert_eq!(r.counters.queue.datagrams_dropped, held);
    assert_eq!(v.counts.lost_by_stage["queue"], held * SAMPLES_PER_DATAGRAM);
    // One line per sample in this stream; every line parses.
    assert_eq!(r.counters.queue.lines_dropped, held * SAMPLES_PER_DATAGRAM);
    assert_eq!(
        r.counters.queue.samples_dropped,
        held * SAMPLES_PER_DATAGRAM
    );
    assert_eq!(r.counters.queue.rejected_lines_dropped, 0);
    // The open bucket holds every sample of the last bucket that was not lost in the queue.
    assert_eq!(
        v.counts.lost_by_stage["open_bucket"],
        (in_last_bucket() - held) * SAMPLES_PER_DATAGRAM
    );
    assert_eq!(
        r.counters.open_bucket_samples_dropped,
        (in_last_bucket() - held) * SAMPLES_PER_DATAGRAM
    );
    assert_eq!(v.counts.lost, in_last_bucket() * SAMPLES_PER_DATAGRAM);
    // And the flushed output has no point in the last bucket.
    let last_bucket = ((ts_ms(COUNT - 1) / 1000) as i64 / 10) * 10;
    assert!(rate_points(&r.flushed, "c1")
        .keys()
        .all(|ts| *ts < last_bucket));
}

#[test]
fn flag_on_without_drain_loses_the_queue_but_flushes_the_open_bucket() {
    let (r, ledger) = go(&config(), settings(true, BatcherDrain::Never));
    let v = checked(&r, &ledger, &config());
    assert!(v.accounting_errors.is_empty(), "{:?}", v.accounting_errors);
    assert_eq!(
        v.counts.lost_by_stage["queue"],
        held_datagrams() * SAMPLES_PER_DATAGRAM
    );
    assert_eq!(
        r.counters.queue.samples_dropped,
        held_datagrams() * SAMPLES_PER_DATAGRAM
    );
    assert_eq!(v.counts.lost_by_stage["open_bucket"], 0);
    assert_eq!(v.counts.lost, held_datagrams() * SAMPLES_PER_DATAGRAM);
}

/// The stream of [`stream`] with an unparseable line added to every datagram, for a Unix
/// listener: no assembler, so each datagram is a packet of its own that waits in the packets
/// buffer until its ticker fires.
fn unix_stream() -> Vec<Datagram> {
    let mut datagrams = stream();
    for d in &mut datagrams {
        d.payload.extend_from_slice(b"\nnot a metric");
    }
    datagrams
}

/// Lines per datagram of [`unix_stream`]: one per sample, plus the unparseable one.
const LINES_PER_UNIX_DATAGRAM: u64 = SAMPLES_PER_DATAGRAM + 1;

#[test]
fn packets_held_in_the_packets_buffer_at_stop() {
    let held = held_datagrams();
    assert!(held > 0, "the stream must leave packets buffered at stop");
    let unix = |flag, drain| {
        let (r, ledger) = go_on(
            &config(),
            settings(flag, drain),
            ListenerKind::Unix,
            unix_stream(),
        );
        assert_eq!(
            r.held_at_stop,
            (0, held as usize, 0),
            "held in the packets buffer only"
        );
        let v = checked(&r, &ledger, &config());
        assert!(v.accounting_errors.is_empty(), "{:?}", v.accounting_errors);
        assert_eq!(v.counts.sent, COUNT * LINES_PER_UNIX_DATAGRAM);
        // The listener's stop hands the buffered packets to the queue in one batch.
        assert_eq!(r.counters.packets_buffer.batches_on_close, 1);
        let c1 = rate_points(&r.flushed, "c1").values().sum::<f64>() * 10.0;
        (r, v, c1)
    };

    // Flag on, auto drain: the workers parse the batch the buffer handed on; nothing is lost.
    let (r, v, c1) = unix(true, BatcherDrain::Auto);
    assert_eq!(v.counts.lost, 0);
    assert_eq!(v.counts.flushed, COUNT * SAMPLES_PER_DATAGRAM);
    assert_eq!(v.counts.rejected, COUNT);
    assert_eq!(r.counters.queue.batches_drained, 1);
    assert_eq!(r.counters.queue.samples_dropped, 0);
    assert!((c1 - COUNT as f64).abs() < 1e-6, "c1 sums to {c1}");

    // Flag off: that batch is dropped in the queue, and the open bucket with the rest of the
    // last bucket.
    let (r, v, c1) = unix(false, BatcherDrain::Auto);
    let q = &r.counters.queue;
    assert_eq!(
        (q.batches_dropped, q.packets_dropped, q.datagrams_dropped),
        (1, held, held)
    );
    assert_eq!(q.lines_dropped, held * LINES_PER_UNIX_DATAGRAM);
    assert_eq!(q.samples_dropped, held * SAMPLES_PER_DATAGRAM);
    assert_eq!(q.rejected_lines_dropped, held);
    // The verifier counts the unparseable lines of dropped datagrams as lost there too.
    assert_eq!(
        v.counts.lost_by_stage["queue"],
        held * LINES_PER_UNIX_DATAGRAM
    );
    let open = (in_last_bucket() - held) * SAMPLES_PER_DATAGRAM;
    assert_eq!(v.counts.lost_by_stage["open_bucket"], open);
    assert_eq!(r.counters.open_bucket_samples_dropped, open);
    assert_eq!(v.counts.lost, held * LINES_PER_UNIX_DATAGRAM + open);
    assert!(
        ((c1 + in_last_bucket() as f64) - COUNT as f64).abs() < 1e-6,
        "c1 sums to {c1}"
    );

    // Flag on, never drain: the queue's contents are lost, the open bucket is flushed.
    let (r, v, c1) = unix(true, BatcherDrain::Never);
    assert_eq!(
        r.counters.queue.samples_dropped,
        held * SAMPLES_PER_DATAGRAM
    );
    assert_eq!(
        v.counts.lost_by_stage["queue"],
        held * LINES_PER_UNIX_DATAGRAM
    );
    assert_eq!(v.counts.lost_by_stage["open_bucket"], 0);
    assert_eq!(v.counts.lost, held * LINES_PER_UNIX_DATAGRAM);
    assert!(
        ((c1 + held as f64) - COUNT as f64).abs() < 1e-6,
        "c1 sums to {c1}"
    );
}

#[test]
fn queued_batches_are_drained_or_dropped() {
    // Batches wait 250 ms in the queue: at stop the last ~2-3 ticks' batches are still queued.
    let cfg = PipelineConfig {
        queue_latency_ms: 250,
        ..config()
    };
    let (r, ledger) = go(&cfg, settings(true, BatcherDrain::Never));
    assert!(r.held_at_stop.2 > 0, "batches must be queued at stop");
    let v = checked(&r, &ledger, &cfg);
    assert!(v.accounting_errors.is_empty(), "{:?}", v.accounting_errors);
    assert!(v.counts.lost_by_stage["queue"] > held_datagrams() * SAMPLES_PER_DATAGRAM);
    let (r, ledger) = go(&cfg, settings(true, BatcherDrain::Auto));
    let v = checked(&r, &ledger, &cfg);
    assert_eq!(v.counts.lost, 0);
    assert_eq!(
        r.counters.queue.batches_drained as usize,
        r.held_at_stop.2 + 1
    );
}

#[test]
fn same_output_with_any_worker_and_shard_count() {
    let mut outputs = Vec::new();
    for workers in [1, 2, 4] {
        for shards in [1, 2] {
            let cfg = PipelineConfig {
                workers,
                pipeline_count: shards,
                ..PipelineConfig::default()
            };
            for flag in [true, false] {
                let (r, _) = go(&cfg, settings(flag, BatcherDrain::Auto));
                outputs.push(((flag), totals(&r.flushed)));
            }
        }
    }
    let first_on = &outputs[0].1;
    let first_off = &outputs[1].1;
    for (flag, t) in &outputs {
        assert_eq!(t, if *flag { first_on } else { first_off });
    }
    assert!(!first_on.is_empty());
}

/// Rate points of a metric, by timestamp.
fn rate_points(items: &[FlushedItem], metric: &str) -> BTreeMap<i64, f64> {
    let mut m = BTreeMap::new();
    for i in items {
        if let FlushedItem::Series(s) = i {
            if s.metric == metric && s.series_type == SeriesType::Rate {
                for (ts, v) in &s.points {
                    *m.entry(*ts).or_default() += v;
                }
            }
        }
    }
    m
}

/// Every flushed value per (metric, tags, bucket), as text for exact comparison.
fn totals(items: &[FlushedItem]) -> BTreeMap<(String, Vec<String>, i64), String> {
    let mut m = BTreeMap::new();
    for i in items {
        match i {
            FlushedItem::Series(s) => {
                for (ts, v) in &s.points {
                    m.insert((s.metric.clone(), s.tags.clone(), *ts), format!("{v:.9}"));
                }
            }
            FlushedItem::Sketch(k) => {
                m.insert(
                    (k.metric.clone(), k.tags.clone(), k.ts),
                    format!("{} {:.9} {} {}", k.count, k.sum, k.min, k.max),
                );
            }
            _ => {}
        }
    }
    m
}
