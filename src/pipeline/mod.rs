//! The embedded DogStatsD server pipeline, stage by stage as the reference
//! (`../shared/design/pipeline.md`): listeners (each with its packets buffer, UDP ones with a
//! packet assembler too; [`listener`]) → the one shared queue → workers (parse) → per-worker
//! batchers → time-sampler shards / no-aggregation path → flush.
//!
//! Every stage is a plain state machine with time passed in and no I/O. [`Pipeline`] composes
//! them and owns their timers; a driver feeds it datagrams and moves its clock: the virtual
//! driver of `check` ([`driver`]) with the arrival times of the source, the server with the
//! system clock. Both stop it through [`stop::stop_sequence`].

pub mod assembler;
pub mod batcher;
pub mod clock;
pub mod config;
pub mod counters;
pub mod driver;
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
use sample::Sample;
use sampler::TimeSampler;
use worker::Worker;

/// A datagram handed to a listener index the pipeline does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pipeline has no listener {index} (it has {count})")]
pub struct UnknownListener {
    pub index: usize,
    pub count: usize,
}

/// The aggregation side: sampler shards, the no-aggregation path, and the events and service
/// checks waiting for the next flush.
#[derive(Debug)]
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

/// The whole pipeline.
#[derive(Debug)]
pub struct Pipeline {
    config: PipelineConfig,
    settings: StopSettings,
    /// Every listener's assembler and packets buffer, in the order given; all feed `queue`.
    listeners: Vec<ListenerStage>,
    now_ns: u64,
    flush_ticker: Ticker,
    queue: Queue,
    workers: Vec<Worker>,
    next_worker: usize,
    aggregator: Aggregator,
    /// Flushed items not yet taken by the driver.
    flushed: Vec<FlushedItem>,
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
        let shards = config.pipeline_count;
        let workers = (0..config.worker_count())
            .map(|_| {
                Worker::new(
                    Batcher::new(shards, config.batch_size, config.no_aggregation_pipeline),
                    &config.hostname,
                )
            })
            .collect();
        Pipeline {
            listeners: kinds
                .iter()
                .map(|k| ListenerStage::new(*k, &config, start_ns))
                .collect(),
            flush_ticker: Ticker::new(start_ns, config.flush_interval_s * NANOS_PER_SEC),
            queue: Queue::new(config.queue_size, config.queue_latency_ms * NANOS_PER_MS),
            workers,
            next_worker: 0,
            aggregator: Aggregator {
                samplers: (0..shards).map(|i| TimeSampler::new(i, &config)).collect(),
                no_agg: NoAggregation::new(config.bucket_seconds),
                events: Vec::new(),
                checks: Vec::new(),
                out: Vec::new(),
            },
            flushed: Vec::new(),
            counters: StageCounters::default(),
            losses: Losses::default(),
            stopped: false,
            now_ns: start_ns,
            config,
            settings,
        }
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

    /// The timer due first, and when (ties broken by [`Timer`]'s order, then listener index).
    fn next_timer(&self) -> (u64, Timer) {
        // Called for every datagram: a running minimum, no allocation.
        let mut next = (self.flush_ticker.next_ns(), Timer::Flush);
        if let Some(t) = self.queue.next_ready_ns() {
            next = next.min((t, Timer::Queue));
        }
        for (i, l) in self.listeners.iter().enumerate() {
            if let Some(t) = l.assembler_due_ns() {
                next = next.min((t, Timer::Assembler(i)));
            }
            next = next.min((l.buffer_due_ns(), Timer::PacketsBuffer(i)));
        }
        next
    }

    /// Moves the clock to `now`, firing every timer due on the way, each at its own time, in
    /// time order (at equal times: assemblers, packets buffers, queue, flush — a packet's way
    /// through the stages — and listeners in index order).
    pub fn advance(&mut self, now_ns: u64) {
        loop {
            let (at, timer) = self.next_timer();
            if at > now_ns {
                break;
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
                    self.flush_ticker.poll(at);
                    let items = self.aggregator.flush(at, false);
                    self.record_flush(items);
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

    /// A worker (round robin: the result does not depend on which) parses a batch.
    fn process(&mut self, batch: PacketBatch) {
        let w = self.next_worker % self.workers.len();
        self.next_worker = self.next_worker.wrapping_add(1);
        self.workers[w].process_batch(batch, &mut self.aggregator);
    }

    fn record_flush(&mut self, items: Vec<FlushedItem>) {
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
        self.flushed.extend(items);
    }

    /// Takes the items flushed since the last call.
    pub fn take_flushed(&mut self) -> Vec<FlushedItem> {
        std::mem::take(&mut self.flushed)
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
        for w in &self.workers {
            c.workers.add(&w.counters);
            let b = &w.batcher.counters;
            c.batcher.samples_in += b.samples_in;
            c.batcher.samples_out += b.samples_out;
            c.batcher.events_out += b.events_out;
            c.batcher.service_checks_out += b.service_checks_out;
        }
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

impl stop::StopSteps for Pipeline {
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
        while let Some(batch) = self.queue.pop_any() {
            if drain {
                self.counters.queue.batches_drained += 1;
                self.process(batch);
            } else {
                self.counters.queue.count_dropped(&batch);
                for p in &batch {
                    self.losses
                        .queue
                        .extend(p.segments.iter().map(|s| s.datagram));
                }
            }
        }
        self.losses.queue.sort_unstable();
    }

    fn wait_workers(&mut self) {
        // Workers run to completion inside `stop_workers` on the virtual clock.
        debug_assert!(self.workers.iter().all(|w| w.batcher.held() == 0));
    }

    fn stop_no_aggregation(&mut self) {
        // Timestamped samples became points when their batch was handed over; the stop hands
        // them to the output.
        let out = std::mem::take(&mut self.aggregator.out);
        self.flushed.extend(out);
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
        self.record_flush(items);
        for s in &self.aggregator.samplers {
            self.losses.open_buckets.extend(s.held_buckets());
        }
        self.counters.open_bucket_samples_dropped =
            self.losses.open_buckets.iter().map(|b| b.samples).sum();
    }
}

impl Pipeline {
    /// A batch handed over by a closing listener: queued, not processed: whether a worker takes
    /// it is for the stop sequence's worker step to decide.
    fn enqueue_on_close(&mut self, batch: PacketBatch) {
        self.counters.queue.batches_in += 1;
        self.queue.push(self.now_ns, batch);
    }
}
