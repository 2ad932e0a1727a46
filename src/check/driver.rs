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
    /// Which stop point (an index into the points given to [`pass`]).
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
}

/// Where flushed items go while the pass runs: the items of a flush of the pass are shared by
/// every scenario whose stop is still ahead (`forked[i]` is false for those).
pub trait FlushedSink {
    fn shared(&mut self, forked: &[bool], items: &[FlushedItem]);
}

/// No flushed output kept.
impl FlushedSink for () {
    fn shared(&mut self, _: &[bool], _: &[FlushedItem]) {}
}

/// The stop points, in the order the pass meets them: by datagram count and by time.
struct Stops<'a> {
    points: &'a [StopPoint],
    by_count: Vec<usize>,
    by_time: Vec<usize>,
    next_count: usize,
    next_time: usize,
    forked: Vec<bool>,
    remaining: usize,
}

impl<'a> Stops<'a> {
    fn new(points: &'a [StopPoint]) -> Stops<'a> {
        let mut by_count: Vec<usize> = (0..points.len()).collect();
        by_count.sort_by_key(|i| points[*i].max_datagrams);
        let mut by_time: Vec<usize> = (0..points.len())
            .filter(|i| points[*i].at_ns.is_some())
            .collect();
        by_time.sort_by_key(|i| points[*i].at_ns);
        Stops {
            points,
            by_count,
            by_time,
            next_count: 0,
            next_time: 0,
            forked: vec![false; points.len()],
            remaining: points.len(),
        }
    }

    /// The next stop not yet forked that comes before the next datagram: after `delivered`
    /// datagrams, or before one arriving at `next_ts` (`None`: before the datagram is read).
    fn next_due(&mut self, delivered: u64, next_ts: Option<u64>) -> Option<usize> {
        loop {
            let i = if let Some(&i) = self.by_count.get(self.next_count) {
                (self.points[i].max_datagrams <= delivered).then(|| {
                    self.next_count += 1;
                    i
                })
            } else {
                None
            };
            let i = i.or_else(|| {
                let ts = next_ts?;
                let &i = self.by_time.get(self.next_time)?;
                self.points[i].at_ns.is_some_and(|at| ts > at).then(|| {
                    self.next_time += 1;
                    i
                })
            })?;
            if self.take(i) {
                return Some(i);
            }
        }
    }

    /// Marks stop `i` forked; false if it already was.
    fn take(&mut self, i: usize) -> bool {
        let fresh = !self.forked[i];
        if fresh {
            self.forked[i] = true;
            self.remaining -= 1;
        }
        fresh
    }
}

/// The live state of the pass.
struct Live {
    /// `None` until the first datagram (the pipeline starts at its arrival time).
    pipeline: Option<Pipeline>,
    verifier: Verifier,
    delivered: u64,
}

impl Live {
    fn fork(&self, stop: usize, point: StopPoint) -> Fork {
        Fork {
            stop,
            point,
            pipeline: self.pipeline.clone(),
            verifier: self.verifier.clone(),
            delivered: self.delivered,
        }
    }
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
    let mut stops = Stops::new(points);
    let mut live = Live {
        pipeline: None,
        verifier: Verifier::new(config),
        delivered: 0,
    };
    let mut summary = StreamSummary::default();
    // Lines and samples of the datagrams after the last stop, which are only counted.
    let mut rest = (0u64, 0u64);
    let mut events = Vec::new();
    for d in datagrams {
        while let Some(i) = stops.next_due(live.delivered, None) {
            on_fork(live.fork(i, points[i]));
        }
        let d = d?;
        while let Some(i) = stops.next_due(live.delivered, Some(d.ts_ns)) {
            on_fork(live.fork(i, points[i]));
        }
        if summary.datagrams == 0 {
            summary.first_ns = d.ts_ns;
        }
        summary.datagrams += 1;
        summary.last_ns = summary.last_ns.max(d.ts_ns);
        if summary.datagrams.is_multiple_of(4096) {
            on_progress(summary.datagrams);
        }
        if stops.remaining == 0 {
            let (lines, samples) =
                crate::verify::ledger::datagram_size(&d.payload, config.buffer_size);
            rest.0 += lines;
            rest.1 += samples;
            continue;
        }
        let p = live.pipeline.get_or_insert_with(|| {
            Pipeline::new(config.clone(), StopSettings::default(), listener, d.ts_ns).trace(true)
        });
        // `Pipeline::new` makes listener 0, so this is never refused; were it refused, the
        // datagram would be left out of both the pipeline and the ledger, as after a stop.
        if p.deliver(SOLE_LISTENER, live.delivered, d.ts_ns, &d.payload)
            .is_err()
        {
            break;
        }
        live.verifier.sent(live.delivered, d.ts_ns, &d.payload);
        p.take_events_into(&mut events);
        for e in &events {
            if let Event::Flush(f) = e {
                sink.shared(&stops.forked, &f.items);
            }
            live.verifier.follow(e);
        }
        live.delivered += 1;
    }
    on_progress(summary.datagrams);
    let (lines, samples) = live.verifier.stream_size();
    summary.lines = lines + rest.0;
    summary.samples = samples + rest.1;
    for (i, point) in points.iter().enumerate() {
        if stops.take(i) {
            on_fork(live.fork(i, *point));
        }
    }
    Ok(summary)
}

/// Moves a pipeline to `stop_ns` and runs its stop sequence there; `events` sees what it did
/// on the way and at the stop. Returns what was held before the queue just before the stop.
fn stop_at(
    p: &mut Pipeline,
    stop_ns: u64,
    events: &mut dyn FnMut(Vec<Event>),
) -> (usize, usize, usize) {
    p.advance(stop_ns);
    events(p.take_events());
    let held_at_stop = p.held_before_queue();
    p.stop(stop_ns);
    events(p.take_events());
    held_at_stop
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
        let held_at_stop = stop_at(&mut p, stop_ns, &mut |events| {
            for e in &events {
                if let Event::Flush(f) = e {
                    flushed(&f.items);
                }
                v.follow(e);
            }
        });
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
    let held_at_stop = stop_at(&mut p, stop_ns, &mut |events| {
        for e in events {
            if let Event::Flush(f) = e {
                flushed.extend(f.items);
            }
        }
    });
    Ok(RunResult {
        flushed,
        counters: p.counters(),
        losses: p.losses(),
        delivered,
        stop_ns,
        held_at_stop,
    })
}
