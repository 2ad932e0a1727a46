//! The deterministic driver of `check`: feeds a datagram stream into a [`Pipeline`] on the
//! virtual clock and stops it at a resolved stop point. The same input, settings and stop point
//! give the same flushed output on every run: nothing here depends on threads or wall time.

use crate::pipeline::counters::{Losses, StageCounters};
use crate::pipeline::flushed::FlushedItem;
use crate::pipeline::{ListenerKind, Pipeline, PipelineConfig, StopSettings, SOLE_LISTENER};
use crate::source::Datagram;

/// Where to stop: after at most `max_datagrams` datagrams, at `at_ns` (datagrams arriving
/// later are never sent), or, when `at_ns` is `None`, right after the last datagram delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPoint {
    pub max_datagrams: u64,
    pub at_ns: Option<u64>,
}

/// What one run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub flushed: Vec<FlushedItem>,
    pub counters: StageCounters,
    pub losses: Losses,
    /// Datagrams handed to the pipeline.
    pub delivered: u64,
    /// Virtual time of the stop.
    pub stop_ns: u64,
    /// (datagrams in the assembler, packets in the packets buffer, batches queued) just before
    /// the stop sequence ran.
    pub held_at_stop: (usize, usize, usize),
}

/// Runs `datagrams` through a fresh pipeline and stops at `stop`; `on_deliver` sees each
/// datagram handed to the pipeline (the ledger records it). The pipeline starts at the first
/// datagram's arrival time.
pub fn run<I, E>(
    config: &PipelineConfig,
    settings: StopSettings,
    listener: ListenerKind,
    datagrams: I,
    stop: StopPoint,
    on_deliver: &mut dyn FnMut(u64, &Datagram),
) -> Result<RunResult, E>
where
    I: IntoIterator<Item = Result<Datagram, E>>,
{
    let mut pipeline: Option<Pipeline> = None;
    let mut delivered = 0u64;
    let mut flushed = Vec::new();
    for d in datagrams {
        if delivered >= stop.max_datagrams {
            break;
        }
        let d = d?;
        if stop.at_ns.is_some_and(|at| d.ts_ns > at) {
            break;
        }
        let p = pipeline
            .get_or_insert_with(|| Pipeline::new(config.clone(), settings, listener, d.ts_ns));
        // `Pipeline::new` makes listener 0, so this is never refused; were it refused, the
        // datagram would be left out of both the pipeline and the ledger, as after a stop.
        if p.deliver(SOLE_LISTENER, delivered, d.ts_ns, &d.payload)
            .is_err()
        {
            break;
        }
        on_deliver(delivered, &d);
        flushed.extend(p.take_flushed());
        delivered += 1;
    }
    let start = stop.at_ns.unwrap_or(0);
    let mut p =
        pipeline.unwrap_or_else(|| Pipeline::new(config.clone(), settings, listener, start));
    let stop_ns = stop.at_ns.unwrap_or(0).max(p.now_ns());
    p.advance(stop_ns);
    flushed.extend(p.take_flushed());
    let held_at_stop = p.held_before_queue();
    p.stop(stop_ns);
    flushed.extend(p.take_flushed());
    Ok(RunResult {
        flushed,
        counters: p.counters(),
        losses: p.losses(),
        delivered,
        stop_ns,
        held_at_stop,
    })
}
