//! The pipeline with its workers on threads (what `serve` runs) against the same pipeline with
//! its workers inline (what `check` runs, the reference model on the virtual clock), fed the
//! same datagrams at the same times: with the flag on, every flush and every stage counter is
//! the same; with it off, the batches the threads had not started are the queue's loss, and
//! the stage counters still balance.

use lastbucket::pipeline::clock::NANOS_PER_MS;
use lastbucket::pipeline::flushed::{sort_items, FlushedItem};
use lastbucket::pipeline::{
    BatcherDrain, ListenerKind, Pipeline, PipelineConfig, StopSettings, WorkerStage,
};

const T0_MS: u64 = 1_700_000_000_000;
/// 20k datagrams, 1 ms apart: 20 s of traffic, ending mid-bucket.
const COUNT: u64 = 20_000;

fn payload(i: u64) -> Vec<u8> {
    format!(
        "c{}:1|c|#a:{}\ng1:{i}|g\nh1:{i}|h|@0.5\nd1:{i}|d\ns1:u{}|s\n_e{{1,1}}:t|x\n_sc|chk|0\nbad",
        i % 50,
        i % 3,
        i % 7
    )
    .into_bytes()
}

fn settings(flag: bool) -> StopSettings {
    StopSettings {
        flush_incomplete_buckets: flag,
        batcher_drain: BatcherDrain::Auto,
    }
}

fn config() -> PipelineConfig {
    PipelineConfig {
        workers: 3,
        ..PipelineConfig::default()
    }
}

/// Feeds the stream, moving the clock past each flush as it goes, and stops at the end.
fn run<W: WorkerStage>(mut p: Pipeline<W>) -> (Vec<FlushedItem>, Pipeline<W>) {
    let mut items = Vec::new();
    for i in 0..COUNT {
        let ts = (T0_MS + 3 + i) * NANOS_PER_MS;
        p.deliver(0, i, ts, &payload(i)).unwrap();
        items.extend(p.take_flushed());
    }
    let end = (T0_MS + 3 + COUNT) * NANOS_PER_MS;
    p.stop(end);
    items.extend(p.take_flushed());
    sort_items(&mut items);
    (items, p)
}

fn inline(flag: bool) -> (Vec<FlushedItem>, Pipeline) {
    run(Pipeline::new(
        config(),
        settings(flag),
        ListenerKind::Udp,
        T0_MS * NANOS_PER_MS,
    ))
}

fn threaded(
    flag: bool,
) -> (
    Vec<FlushedItem>,
    Pipeline<lastbucket::pipeline::WorkerThreads>,
) {
    run(Pipeline::with_worker_threads(
        config(),
        settings(flag),
        &[ListenerKind::Udp],
        T0_MS * NANOS_PER_MS,
    )
    .unwrap())
}

#[test]
fn with_the_flag_on_threads_flush_what_inline_workers_flush() {
    let (want, wp) = inline(true);
    let (got, gp) = threaded(true);
    assert!(!want.is_empty());
    assert_eq!(got.len(), want.len());
    if let Some((g, w)) = got.iter().zip(&want).find(|(g, w)| g != w) {
        panic!("the flushed items differ:\n  threads: {g:?}\n  inline:  {w:?}");
    }
    assert_eq!(gp.counters(), wp.counters());
    assert!(
        gp.counters().check().is_empty(),
        "{:?}",
        gp.counters().check()
    );
    // Every metric sample parsed reached a sampler and was flushed: nothing is left open.
    let c = gp.counters();
    assert_eq!(c.workers.datagrams, COUNT);
    assert_eq!(c.workers.samples, COUNT * 5);
    assert_eq!(c.workers.events, COUNT);
    assert_eq!(c.workers.service_checks, COUNT);
    assert_eq!(c.workers.rejected_lines, COUNT);
    assert_eq!(c.open_bucket_samples_dropped, 0);
}

#[test]
fn with_the_flag_off_what_no_thread_started_is_the_queues_loss() {
    let (_, wp) = inline(false);
    let (_, gp) = threaded(false);
    let (w, g) = (wp.counters(), gp.counters());
    assert!(g.check().is_empty(), "{:?}", g.check());
    // Each datagram was parsed by a worker or dropped in the queue, never both.
    assert_eq!(g.workers.datagrams + g.queue.datagrams_dropped, COUNT);
    assert_eq!(
        g.queue.batches_in,
        g.queue.batches_out + g.queue.batches_drained + g.queue.batches_dropped
    );
    assert_eq!(w.queue.batches_in, g.queue.batches_in);
    // The open bucket is dropped in both; the threads can only lose more (the unstarted
    // batches), never flush more.
    assert!(g.open_bucket_samples_dropped <= w.open_bucket_samples_dropped);
    assert!(g.flush.series_points <= w.flush.series_points);
}
