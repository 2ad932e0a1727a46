//! The deterministic driver of `check`: one pass over the stream, on the virtual clock, for
//! every scenario at once.
//!
//! The pipeline and the verifier run once through the stream. A scenario's stop point is a
//! position in that pass: when the pass reaches it, the live state (pipeline and verifier) is
//! copied into a [`Fork`], and the pass goes on. Each fork then runs the stop sequence once per
//! setting (the flag and the drain are read only by the stop sequence, so every setting shares
//! the one run up to there) and is verified. So the source is read once, and a scenario costs
//! the size of the live state, not a replay of its prefix. Nothing depends on threads or wall
//! time: the same input, settings and stop point give the same result on every run.

use crate::pipeline::counters::StageCounters;
use crate::pipeline::flushed::FlushedItem;
use crate::pipeline::{Event, ListenerKind, Pipeline, PipelineConfig, StopSettings, SOLE_LISTENER};
use crate::source::Datagram;
use crate::verify::{Verification, Verifier};
use std::collections::HashSet;

/// Where to stop: after at most `max_datagrams` datagrams, at `at_ns` (datagrams arriving
/// later are never sent), or, when `at_ns` is `None`, right after the last datagram delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPoint {
    pub max_datagrams: u64,
    pub at_ns: Option<u64>,
}

/// The run copied at a stop point, before its stop sequence.
#[derive(Debug, Clone)]
pub struct Fork {
    /// Which stop point (an index into the points given to [`run`]).
    pub stop: usize,
    point: StopPoint,
    /// `None` when no datagram was delivered before the stop.
    pipeline: Option<Pipeline>,
    verifier: Verifier,
    delivered: u64,
}

/// What one scenario produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verification: Verification,
    pub counters: StageCounters,
    /// Datagrams handed to the pipeline.
    pub delivered: u64,
    /// Virtual time of the stop.
    pub stop_ns: u64,
    /// (datagrams in the assembler, packets in the packets buffer, batches queued) just before
    /// the stop sequence ran.
    pub held_at_stop: (usize, usize, usize),
    /// Timers fired or jumped over by the whole run (the pass up to the stop, and the stop).
    pub clock_steps: u64,
}

/// What the pass saw of the whole stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamSummary {
    pub datagrams: u64,
    pub lines: u64,
    pub samples: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    pub contexts: usize,
    /// Timers fired or jumped over by the pass.
    pub clock_steps: u64,
}

/// Where flushed items go while the pass runs: `items(scenario stop, items)` for the items
/// every scenario whose stop is still ahead shares.
pub trait FlushedSink {
    fn shared(&mut self, forked: &[bool], items: &[FlushedItem]);
}

/// No flushed output kept.
impl FlushedSink for () {
    fn shared(&mut self, _: &[bool], _: &[FlushedItem]) {}
}

/// Runs one pass over `datagrams`; `on_fork` receives each stop point's fork as the pass
/// reaches it (in stream order, not in the order of `points`).
pub fn pass<I, E>(
    config: &PipelineConfig,
    listener: ListenerKind,
    datagrams: I,
    points: &[StopPoint],
    sink: &mut dyn FlushedSink,
    on_fork: &mut dyn FnMut(Fork),
    on_progress: &mut dyn FnMut(u64),
) -> Result<StreamSummary, E>
where
    I: IntoIterator<Item = Result<Datagram, E>>,
{
    let mut pipeline: Option<Pipeline> = None;
    let mut verifier = Verifier::new(config);
    let mut forked = vec![false; points.len()];
    let mut summary = StreamSummary::default();
    // Stops by datagram count and by time, each in the order the pass meets them.
    let mut by_count: Vec<usize> = (0..points.len()).collect();
    by_count.sort_by_key(|i| points[*i].max_datagrams);
    let mut by_time: Vec<usize> = (0..points.len())
        .filter(|i| points[*i].at_ns.is_some())
        .collect();
    by_time.sort_by_key(|i| points[*i].at_ns);
    let (mut next_count, mut next_time) = (0, 0);
    let mut delivered = 0u64;
    // Lines and samples of the datagrams after the last stop.
    let mut rest = (0u64, 0u64);
    let mut fork = |i: usize,
                    pipeline: &Option<Pipeline>,
                    verifier: &Verifier,
                    delivered,
                    forked: &mut Vec<bool>| {
        if !forked[i] {
            forked[i] = true;
            on_fork(Fork {
                stop: i,
                point: points[i],
                pipeline: pipeline.clone(),
                verifier: verifier.clone(),
                delivered,
            });
        }
    };
    for d in datagrams {
        while next_count < by_count.len() && points[by_count[next_count]].max_datagrams <= delivered
        {
            fork(
                by_count[next_count],
                &pipeline,
                &verifier,
                delivered,
                &mut forked,
            );
            next_count += 1;
        }
        let d = d?;
        while next_time < by_time.len()
            && points[by_time[next_time]]
                .at_ns
                .is_some_and(|at| d.ts_ns > at)
        {
            fork(
                by_time[next_time],
                &pipeline,
                &verifier,
                delivered,
                &mut forked,
            );
            next_time += 1;
        }
        if summary.datagrams == 0 {
            summary.first_ns = d.ts_ns;
        }
        summary.datagrams += 1;
        summary.last_ns = summary.last_ns.max(d.ts_ns);
        if forked.iter().all(|f| *f) {
            // Every scenario has its copy: the rest of the stream is only counted.
            let (lines, samples) =
                crate::verify::ledger::datagram_size(&d.payload, config.buffer_size);
            rest.0 += lines;
            rest.1 += samples;
            continue;
        }
        let p = pipeline.get_or_insert_with(|| {
            Pipeline::new(config.clone(), StopSettings::default(), listener, d.ts_ns).trace(true)
        });
        // `Pipeline::new` makes listener 0, so this is never refused; were it refused, the
        // datagram would be left out of both the pipeline and the ledger, as after a stop.
        if p.deliver(SOLE_LISTENER, delivered, d.ts_ns, &d.payload)
            .is_err()
        {
            break;
        }
        verifier.sent(delivered, d.ts_ns, &d.payload);
        let events = p.take_events();
        share_flushed(&events, &forked, sink);
        verifier.follow_all(&events);
        delivered += 1;
        if delivered.is_multiple_of(4096) {
            on_progress(delivered);
        }
    }
    on_progress(delivered);
    let (_, lines, samples) = verifier.stream_size();
    summary.lines = lines + rest.0;
    summary.samples = samples + rest.1;
    summary.contexts = verifier.contexts();
    summary.clock_steps = pipeline.as_ref().map_or(0, Pipeline::clock_steps);
    for i in 0..points.len() {
        fork(i, &pipeline, &verifier, delivered, &mut forked);
    }
    Ok(summary)
}

fn share_flushed(events: &[Event], forked: &[bool], sink: &mut dyn FlushedSink) {
    for e in events {
        if let Event::Flush(f) = e {
            sink.shared(forked, &f.items);
        }
    }
}

impl Fork {
    /// Runs the stop sequence with `settings` on a copy of the fork (the fork stays as it was,
    /// for the next setting) and verifies the run; `flushed` sees the items this stop flushed.
    pub fn stop(
        &self,
        config: &PipelineConfig,
        listener: ListenerKind,
        settings: StopSettings,
        flushed: &mut dyn FnMut(&[FlushedItem]),
    ) -> Outcome {
        let start = self.point.at_ns.unwrap_or(0);
        let mut p = match &self.pipeline {
            Some(p) => p.clone(),
            None => Pipeline::new(config.clone(), settings, listener, start).trace(true),
        };
        p.set_settings(settings);
        let mut v = self.verifier.clone();
        let stop_ns = start.max(p.now_ns());
        p.advance(stop_ns);
        let mut follow = |p: &mut Pipeline, v: &mut Verifier| {
            for e in p.take_events() {
                if let Event::Flush(f) = &e {
                    flushed(&f.items);
                }
                v.follow(&e);
            }
        };
        follow(&mut p, &mut v);
        let held_at_stop = p.held_before_queue();
        p.stop(stop_ns);
        follow(&mut p, &mut v);
        let counters = p.counters();
        let verification = v.finish(&counters, &p.losses(), &HashSet::new());
        Outcome {
            verification,
            counters,
            delivered: self.delivered,
            stop_ns,
            held_at_stop,
            clock_steps: p.clock_steps(),
        }
    }
}

/// What one scenario run whole produced: every flushed item kept (small runs and tests; see
/// [`crate::verify::verify`]).
#[derive(Debug, Clone)]
pub struct RunResult {
    pub flushed: Vec<FlushedItem>,
    pub counters: StageCounters,
    pub losses: crate::pipeline::counters::Losses,
    /// Datagrams handed to the pipeline.
    pub delivered: u64,
    /// Virtual time of the stop.
    pub stop_ns: u64,
    /// (datagrams in the assembler, packets in the packets buffer, batches queued) just before
    /// the stop sequence ran.
    pub held_at_stop: (usize, usize, usize),
}

/// Runs `datagrams` through a fresh pipeline and stops it at `stop`, keeping every flushed
/// item; `on_deliver` sees each datagram handed to the pipeline.
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
    let stop_ns = start.max(p.now_ns());
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
