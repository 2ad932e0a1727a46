//! The embedded DogStatsD server pipeline, stage by stage as the reference
//! (`../shared/design/pipeline.md`): listeners (each with its packets buffer, UDP ones with a
//! packet assembler too; [`listener`]) → the one shared queue → workers (parse) → per-worker
//! batchers → time-sampler shards / no-aggregation path → flush.
//!
//! Every stage is a plain state machine with time passed in and no I/O. [`Pipeline`] composes
//! them and owns their timers; a driver feeds it datagrams and moves its clock: the virtual
//! driver of `check` ([`driver`]) with the arrival times of the source, the server with the
//! system clock. Both stop it through [`stop::stop_sequence`].

pub mod agent_sketch;
pub mod assembler;
pub mod batcher;
pub mod clock;
pub mod config;
pub mod counters;
pub mod flushed;
pub mod listener;
pub mod no_aggregation;
pub mod packet;
pub mod packets_buffer;
pub mod queue;
pub mod sample;
pub mod sampler;
pub mod stop;
pub mod worker;
pub mod worker_stage;
pub mod worker_threads;

use batcher::{BatchSink, Batcher};
use clock::{secs, Ticker, NANOS_PER_MS, NANOS_PER_SEC};
pub use config::{BatcherDrain, PipelineConfig, StopSettings};
use counters::{Losses, StageCounters};
use flushed::{EventItem, FlushedItem, ServiceCheckItem};
pub use listener::ListenerKind;
use listener::ListenerStage;
use no_aggregation::NoAggregation;
use packet::{DatagramId, PacketBatch};
use queue::Queue;
use sample::{Sample, SampleId};
use sampler::TimeSampler;
use worker::Worker;
pub use worker_stage::{InlineWorkers, WorkerStage};
pub use worker_threads::WorkerThreads;

/// A datagram handed to a listener index the pipeline does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pipeline has no listener {index} (it has {count})")]
pub struct UnknownListener {
    pub index: usize,
    pub count: usize,
}

/// The aggregation side: sampler shards, the no-aggregation path, and the events and service
/// checks waiting for the next flush.
#[derive(Debug, Clone)]
struct Aggregator {
    samplers: Vec<TimeSampler>,
    no_agg: NoAggregation,
    events: Vec<EventItem>,
    checks: Vec<ServiceCheckItem>,
    out: Vec<FlushedItem>,
}

impl BatchSink for Aggregator {
    fn samples(&mut self, shard: usize, batch: Vec<Sample>) {
        for s in batch {
            self.samplers[shard].add(s);
        }
    }
    fn late_samples(&mut self, batch: Vec<Sample>) {
        for s in batch {
            if let Some(item) = self.no_agg.process(s) {
                self.out.push(item);
            }
        }
    }
    fn events(&mut self, events: Vec<EventItem>) {
        self.events.extend(events);
    }
    fn service_checks(&mut self, checks: Vec<ServiceCheckItem>) {
        self.checks.extend(checks);
    }
}

impl Aggregator {
    /// One flush of every shard at `now`, plus pending events and service checks; items are
    /// put in canonical order so the output does not depend on the shard count.
    fn flush(&mut self, now_ns: u64, force_all: bool) -> Vec<FlushedItem> {
        let mut items = std::mem::take(&mut self.out);
        for s in &mut self.samplers {
            items.extend(s.flush(secs(now_ns), force_all));
        }
        items.extend(self.events.drain(..).map(FlushedItem::Event));
        items.extend(self.checks.drain(..).map(FlushedItem::ServiceCheck));
        flushed::sort_items(&mut items);
        items
    }
}

/// What the pipeline did that a verifier follows, in the order it happened (recorded only when
/// [`Pipeline::trace`] is on; a flush is always recorded).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A worker took this datagram's bytes and parsed them: its samples have reached the
    /// samplers (or were refused there, see [`Event::ContextLimit`]). Recorded after the
    /// [`Event::ContextLimit`] drops of its batch, so a follower knows them when it sees this.
    Parsed(DatagramId),
    /// A sampler refused this sample: its context would pass the context limit.
    ContextLimit(SampleId),
    Flush(Flush),
}

/// Why items were flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushKind {
    /// The flush ticker: buckets closed at the tick's cutoff.
    Tick,
    /// The stop sequence handing the no-aggregation path's points to the output.
    NoAggregation,
    /// The stop sequence's final flush; `force_all` with `flush_incomplete_buckets`.
    Final { force_all: bool },
}

/// One flush: when (the samplers' `now`), why, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Flush {
    pub at_ns: u64,
    pub kind: FlushKind,
    pub items: Vec<FlushedItem>,
}

/// The whole pipeline, with its workers inline (`check`, on the virtual clock) or on threads
/// (`serve`; see [`WorkerStage`]). Only an inline pipeline can be cloned and traced.
#[derive(Debug, Clone)]
pub struct Pipeline<W = InlineWorkers> {
    config: PipelineConfig,
    settings: StopSettings,
    /// Every listener's assembler and packets buffer, in the order given; all feed `queue`.
    listeners: Vec<ListenerStage>,
    now_ns: u64,
    flush_ticker: Ticker,
    queue: Queue,
    workers: W,
    aggregator: Aggregator,
    /// Flushes (and, when tracing, parse events) not yet taken by the driver.
    events: Vec<Event>,
    /// Whether [`Event::Parsed`] and [`Event::ContextLimit`] are recorded.
    trace: bool,
    /// Timers fired or jumped over: the cost of moving the virtual clock, which idle time
    /// does not add to.
    clock_steps: u64,
    counters: StageCounters,
    losses: Losses,
    stopped: bool,
}

/// The index of the one listener of a pipeline made by [`Pipeline::new`].
pub const SOLE_LISTENER: usize = 0;

/// A timer of the pipeline. The order of the variants is the order in which timers due at the
/// same instant fire: a packet's way through the stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Assembler(usize),
    PacketsBuffer(usize),
    Queue,
    Flush,
}

impl Pipeline {
    /// A pipeline with one listener of `kind`, started at `start_ns` (its timers tick from
    /// there): what `check` and the transport check run. Its listener index is [`SOLE_LISTENER`].
    pub fn new(
        config: PipelineConfig,
        settings: StopSettings,
        kind: ListenerKind,
        start_ns: u64,
    ) -> Pipeline {
        Pipeline::with_listeners(config, settings, &[kind], start_ns)
    }

    /// A pipeline with one listener per entry of `kinds` (indices in that order), every one
    /// feeding the same queue, as the reference's server does with all its listeners.
    pub fn with_listeners(
        config: PipelineConfig,
        settings: StopSettings,
        kinds: &[ListenerKind],
        start_ns: u64,
    ) -> Pipeline {
        let workers = InlineWorkers::new(new_workers(&config));
        Pipeline::build(config, settings, kinds, start_ns, workers)
    }

    /// Records parse events for a verifier that follows the run ([`Pipeline::take_events`]).
    pub fn trace(mut self, on: bool) -> Pipeline {
        self.trace = on;
        self
    }
}

impl Pipeline<WorkerThreads> {
    /// [`Pipeline::with_listeners`] with its workers on threads (`config.worker_count()` of
    /// them), for a server on the system clock; the error is the system's refusal of a thread.
    pub fn with_worker_threads(
        config: PipelineConfig,
        settings: StopSettings,
        kinds: &[ListenerKind],
        start_ns: u64,
    ) -> std::io::Result<Pipeline<WorkerThreads>> {
        let workers = WorkerThreads::start(new_workers(&config), config.queue_size)?;
        Ok(Pipeline::build(config, settings, kinds, start_ns, workers))
    }
}

/// The workers of `config`, each with its own batcher.
fn new_workers(config: &PipelineConfig) -> Vec<Worker> {
    (0..config.worker_count())
        .map(|_| {
            Worker::new(
                Batcher::new(
                    config.pipeline_count,
                    config.batch_size,
                    config.no_aggregation_pipeline,
                ),
                &config.hostname,
            )
        })
        .collect()
}

impl<W: WorkerStage> Pipeline<W> {
    fn build(
        config: PipelineConfig,
        settings: StopSettings,
        kinds: &[ListenerKind],
        start_ns: u64,
        workers: W,
    ) -> Pipeline<W> {
        let shards = config.pipeline_count;
        Pipeline {
            listeners: kinds
                .iter()
                .map(|k| ListenerStage::new(*k, &config, start_ns))
                .collect(),
            flush_ticker: Ticker::new(start_ns, config.flush_interval_s * NANOS_PER_SEC),
            queue: Queue::new(config.queue_size, config.queue_latency_ms * NANOS_PER_MS),
            workers,
            aggregator: Aggregator {
                samplers: (0..shards).map(|i| TimeSampler::new(i, &config)).collect(),
                no_agg: NoAggregation::new(config.bucket_seconds),
                events: Vec::new(),
                checks: Vec::new(),
                out: Vec::new(),
            },
            events: Vec::new(),
            trace: false,
            clock_steps: 0,
            counters: StageCounters::default(),
            losses: Losses::default(),
            stopped: false,
            now_ns: start_ns,
            config,
            settings,
        }
    }

    /// Keeps the agent's sketch bins of distributions (in [`flushed::SketchPoint::bins`]),
    /// for a server that posts its flushes to an intake; without it the bins are empty.
    pub fn keep_agent_bins(mut self, on: bool) -> Pipeline<W> {
        for s in &mut self.aggregator.samplers {
            s.keep_agent_bins(on);
        }
        self
    }

    /// The stop settings, changed: a copy of a running pipeline stopped with each setting.
    pub fn set_settings(&mut self, settings: StopSettings) {
        self.settings = settings;
    }

    /// Timers fired or jumped over so far.
    pub fn clock_steps(&self) -> u64 {
        self.clock_steps
    }

    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// The kind of each listener, by index.
    pub fn listener_kinds(&self) -> Vec<ListenerKind> {
        self.listeners.iter().map(ListenerStage::kind).collect()
    }

    /// The timer due first, and when (ties broken by [`Timer`]'s order, then listener index),
    /// leaving out those `skip` names.
    fn next_timer(&self, skip: impl Fn(Timer) -> bool) -> Option<(u64, Timer)> {
        // Called for every datagram: a running minimum, no allocation.
        let mut next: Option<(u64, Timer)> = None;
        let mut offer = |t: u64, timer: Timer| {
            if !skip(timer) && next.is_none_or(|n| (t, timer) < n) {
                next = Some((t, timer));
            }
        };
        offer(self.flush_ticker.next_ns(), Timer::Flush);
        if let Some(t) = self.queue.next_ready_ns() {
            offer(t, Timer::Queue);
        }
        for (i, l) in self.listeners.iter().enumerate() {
            if let Some(t) = l.assembler_due_ns() {
                offer(t, Timer::Assembler(i));
            }
            offer(l.buffer_due_ns(), Timer::PacketsBuffer(i));
        }
        next
    }

    /// Whether `timer` firing now would change nothing but its own phase (and counters that
    /// are kept exact when it is jumped over).
    fn idle(&self, timer: Timer) -> bool {
        match timer {
            Timer::Assembler(i) => self.listeners[i].assembler_idle(),
            Timer::PacketsBuffer(i) => self.listeners[i].buffer_idle(),
            Timer::Queue => false,
            Timer::Flush => {
                let a = &self.aggregator;
                !self.workers.busy()
                    && a.out.is_empty()
                    && a.events.is_empty()
                    && a.checks.is_empty()
                    && a.samplers.iter().all(TimeSampler::idle)
            }
        }
    }

    /// Jumps an idle timer over all its ticks before `until`, in O(1): the event-driven
    /// clock. Nothing else can happen before `until` (the next other timer, or past the
    /// instant the clock moves to), so those ticks would each have done nothing.
    fn skip_idle(&mut self, timer: Timer, until_ns: u64) {
        match timer {
            Timer::Assembler(i) => self.listeners[i].skip_assembler(until_ns),
            Timer::PacketsBuffer(i) => self.listeners[i].skip_buffer(until_ns),
            Timer::Queue => {}
            Timer::Flush => {
                let first = self.flush_ticker.next_ns();
                let period = self.flush_ticker.period_ns();
                let k = self.flush_ticker.skip_before(until_ns);
                self.counters.flush.flushes += k;
                for s in &mut self.aggregator.samplers {
                    s.skip_idle_flushes(first, period, k);
                }
            }
        }
    }

    /// Moves the clock to `now`, firing every timer due on the way, each at its own time, in
    /// time order (at equal times: assemblers, packets buffers, queue, flush — a packet's way
    /// through the stages — and listeners in index order).
    pub fn advance(&mut self, now_ns: u64) {
        self.workers.collect(&mut self.aggregator);
        while let Some((at, timer)) = self.next_timer(|_| false).filter(|(at, _)| *at <= now_ns) {
            self.clock_steps += 1;
            if self.idle(timer) {
                // Up to the next timer that does something (idle ones change nothing, so
                // nothing can wake this one before it; at the same instant: past this tick,
                // which would fire first and do nothing), and never past `now`.
                let other = self
                    .next_timer(|t| t == timer || self.idle(t))
                    .map_or(u64::MAX, |(t, _)| t);
                let until = other.max(at + 1).min(now_ns.saturating_add(1));
                self.skip_idle(timer, until);
                continue;
            }
            self.now_ns = self.now_ns.max(at);
            match timer {
                Timer::Assembler(i) => {
                    if let Some(b) = self.listeners[i].tick_assembler(at) {
                        self.hand_to_queue(b);
                    }
                }
                Timer::PacketsBuffer(i) => {
                    if let Some(b) = self.listeners[i].tick_buffer(at) {
                        self.hand_to_queue(b);
                    }
                }
                Timer::Queue => self.run_workers(),
                Timer::Flush => {
                    self.workers.settle(&mut self.aggregator);
                    self.flush_ticker.poll(at);
                    let items = self.aggregator.flush(at, false);
                    self.record_flush(at, FlushKind::Tick, items);
                }
            }
        }
        self.now_ns = self.now_ns.max(now_ns);
    }

    /// A datagram read by listener `listener` at `ts`. Call [`Pipeline::advance`] first for the
    /// timers due before it (or use [`Pipeline::deliver`]). An unknown listener index is
    /// refused and nothing is counted.
    pub fn receive(
        &mut self,
        listener: usize,
        id: DatagramId,
        ts_ns: u64,
        payload: &[u8],
    ) -> Result<(), UnknownListener> {
        debug_assert!(!self.stopped, "datagram after stop");
        self.known_listener(listener)?;
        if let Some(batch) = self.listeners[listener].receive(id, ts_ns, payload) {
            self.hand_to_queue(batch);
        }
        Ok(())
    }

    fn known_listener(&self, index: usize) -> Result<(), UnknownListener> {
        if index < self.listeners.len() {
            Ok(())
        } else {
            Err(UnknownListener {
                index,
                count: self.listeners.len(),
            })
        }
    }

    /// Advances to `ts` and receives the datagram on listener `listener`.
    pub fn deliver(
        &mut self,
        listener: usize,
        id: DatagramId,
        ts_ns: u64,
        payload: &[u8],
    ) -> Result<(), UnknownListener> {
        // Refused before the clock moves: an unknown listener changes nothing.
        self.known_listener(listener)?;
        self.advance(ts_ns);
        self.receive(listener, id, ts_ns, payload)
    }

    fn hand_to_queue(&mut self, batch: PacketBatch) {
        if self.queue.is_full() {
            // The reference's packets buffer blocks on a full queue until a worker takes a
            // batch: here the oldest batch is taken now.
            if let Some(oldest) = self.queue.pop_any() {
                self.counters.queue.batches_out += 1;
                self.process(oldest);
            }
        }
        self.counters.queue.batches_in += 1;
        self.queue.push(self.now_ns, batch);
        self.run_workers();
    }

    /// Workers take every batch available now.
    fn run_workers(&mut self) {
        while let Some(batch) = self.queue.pop_ready(self.now_ns) {
            self.counters.queue.batches_out += 1;
            self.process(batch);
        }
    }

    /// A worker parses a batch.
    fn process(&mut self, batch: PacketBatch) {
        if !self.trace {
            self.workers.process(batch, &mut self.aggregator);
            return;
        }
        let at = self.events.len();
        self.events.extend(
            batch
                .iter()
                .flat_map(|p| p.segments.iter().map(|s| Event::Parsed(s.datagram))),
        );
        self.workers.process(batch, &mut self.aggregator);
        // The batch's samples have all reached the samplers: what they refused goes before the
        // batch's parse events, so that a follower knows it when it folds those datagrams.
        for s in &mut self.aggregator.samplers {
            if !s.context_limit_drops.is_empty() {
                let drops = s.context_limit_drops.drain(..).map(Event::ContextLimit);
                self.events.splice(at..at, drops);
            }
        }
    }

    fn record_flush(&mut self, at_ns: u64, kind: FlushKind, items: Vec<FlushedItem>) {
        let f = &mut self.counters.flush;
        f.flushes += 1;
        for item in &items {
            match item {
                FlushedItem::Series(s) => f.series_points += s.points.len() as u64,
                FlushedItem::Sketch(_) => f.sketch_points += 1,
                FlushedItem::Event(_) => f.events += 1,
                FlushedItem::ServiceCheck(_) => f.service_checks += 1,
            }
        }
        self.events.push(Event::Flush(Flush { at_ns, kind, items }));
    }

    /// Takes the items flushed since the last call (the parse events are dropped).
    pub fn take_flushed(&mut self) -> Vec<FlushedItem> {
        let mut items = Vec::new();
        for e in self.events.drain(..) {
            if let Event::Flush(f) = e {
                items.extend(f.items);
            }
        }
        items
    }

    /// Takes what happened since the last call, in order.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Moves what happened since the last call into `out` (cleared first), keeping both
    /// buffers' capacity: the driver's hot loop takes events without allocating.
    pub fn take_events_into(&mut self, out: &mut Vec<Event>) {
        out.clear();
        std::mem::swap(&mut self.events, out);
    }

    /// Stops the pipeline at `now` with its stop settings (the reference stop sequence).
    pub fn stop(&mut self, now_ns: u64) {
        self.advance(now_ns);
        let settings = self.settings;
        stop::stop_sequence(self, settings);
        self.stopped = true;
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Counters of every stage, summed over workers and shards.
    pub fn counters(&self) -> StageCounters {
        let mut c = self.counters.clone();
        for l in &self.listeners {
            c.listener.add(&l.listener_counters);
            c.assembler.add(&l.assembler_counters);
            c.packets_buffer.add(&l.buffer_counters);
        }
        let (workers, batcher) = self.workers.counters();
        c.workers.add(&workers);
        c.batcher.add(&batcher);
        for s in &self.aggregator.samplers {
            let sc = &s.counters;
            c.samplers.samples_in += sc.samples_in;
            c.samplers.aggregated += sc.aggregated;
            c.samplers.dropped_context_limit += sc.dropped_context_limit;
            c.samplers.dropped_non_finite += sc.dropped_non_finite;
            c.samplers.flushed_buckets += sc.flushed_buckets;
            c.samplers.zero_fill_points += sc.zero_fill_points;
        }
        c.no_aggregation = self.aggregator.no_agg.counters.clone();
        c
    }

    /// What each stage dropped, by identity.
    pub fn losses(&self) -> Losses {
        let mut l = self.losses.clone();
        for s in &self.aggregator.samplers {
            l.context_limit.extend_from_slice(&s.context_limit_drops);
            l.non_finite.extend_from_slice(&s.non_finite_drops);
        }
        l.context_limit.sort_unstable();
        l.non_finite.sort_unstable();
        l.unsupported_timestamped = self.aggregator.no_agg.unsupported.clone();
        l.unsupported_timestamped.sort_unstable();
        l
    }

    /// What is held in the stages before the queue (for reports of a stop moment): datagrams
    /// in the assemblers and packets in the packets buffers, summed over listeners, and
    /// batches queued.
    pub fn held_before_queue(&self) -> (usize, usize, usize) {
        let (mut assembled, mut buffered) = (0, 0);
        for l in &self.listeners {
            let (a, b) = l.held();
            assembled += a;
            buffered += b;
        }
        (assembled, buffered, self.queue.len())
    }
}

impl<W: WorkerStage> stop::StopSteps for Pipeline<W> {
    /// Every listener stops, in index order; each hands its assembler's packet to its packets
    /// buffer, then the buffer's contents to the queue (see [`ListenerStage::close`]).
    fn stop_listeners(&mut self) {
        for i in 0..self.listeners.len() {
            for batch in self.listeners[i].close() {
                self.enqueue_on_close(batch);
            }
        }
    }

    fn stop_workers(&mut self, drain: bool) {
        if !drain {
            // Worker threads: what no worker has started is still in the queue, and lost
            // with it (inline workers have started every batch taken from the queue).
            for batch in self.workers.take_unstarted() {
                self.counters.queue.batches_out -= 1;
                self.drop_queued(&batch);
            }
        }
        while let Some(batch) = self.queue.pop_any() {
            if drain {
                self.counters.queue.batches_drained += 1;
                self.process(batch);
            } else {
                self.drop_queued(&batch);
            }
        }
        self.losses.queue.sort_unstable();
    }

    fn wait_workers(&mut self) {
        // Inline workers ran to completion inside `stop_workers`; threads finish here.
        self.workers.finish(&mut self.aggregator);
    }

    fn stop_no_aggregation(&mut self) {
        // Timestamped samples became points when their batch was handed over; the stop hands
        // them to the output.
        // Not counted as a flush (no flusher ran): the points join the output as they are.
        let items = std::mem::take(&mut self.aggregator.out);
        if !items.is_empty() {
            self.events.push(Event::Flush(Flush {
                at_ns: self.now_ns,
                kind: FlushKind::NoAggregation,
                items,
            }));
        }
    }

    fn drain_samplers(&mut self) {
        // Samplers aggregate each batch as it is handed over on the virtual clock: their input
        // is empty here. This models a sampler that keeps up with its input channel, so the
        // reference's "sampler input channel" loss (flag off: samples still in the channel at
        // the stop may never be aggregated) is always 0 here: it depends on goroutine
        // scheduling, and a deterministic verdict cannot. What the batchers handed over before
        // the stop is therefore in a bucket, flushed or dropped with it.
    }

    fn final_flush(&mut self, force_all: bool) {
        let items = self.aggregator.flush(self.now_ns, force_all);
        self.record_flush(self.now_ns, FlushKind::Final { force_all }, items);
        for s in &self.aggregator.samplers {
            self.losses.open_buckets.extend(s.held_buckets());
        }
        self.counters.open_bucket_samples_dropped =
            self.losses.open_buckets.iter().map(|b| b.samples).sum();
    }
}

impl<W: WorkerStage> Pipeline<W> {
    /// A batch still queued at a stop without a drain: the queue's loss.
    fn drop_queued(&mut self, batch: &PacketBatch) {
        self.counters.queue.count_dropped(batch);
        for p in batch {
            self.losses
                .queue
                .extend(p.segments.iter().map(|s| s.datagram));
        }
    }

    /// A batch handed over by a closing listener: queued, not processed: whether a worker takes
    /// it is for the stop sequence's worker step to decide.
    fn enqueue_on_close(&mut self, batch: PacketBatch) {
        self.counters.queue.batches_in += 1;
        self.queue.push(self.now_ns, batch);
    }
}
