//! The batcher of one worker (not shared): one fixed-size batch of samples per sampler shard,
//! handed to that shard when full and at every `flush()`; timestamped samples in their own
//! batch for the no-aggregation path; events and service checks on their own channels.

use crate::pipeline::flushed::{EventItem, ServiceCheckItem};
use crate::pipeline::sample::{shard_of, Sample};

/// Where a batcher hands its batches: the samplers (virtual driver) or their channels (server).
pub trait BatchSink {
    fn samples(&mut self, shard: usize, batch: Vec<Sample>);
    fn late_samples(&mut self, batch: Vec<Sample>);
    fn events(&mut self, events: Vec<EventItem>);
    fn service_checks(&mut self, checks: Vec<ServiceCheckItem>);
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BatcherCounters {
    pub samples_in: u64,
    pub samples_out: u64,
    pub events_out: u64,
    pub service_checks_out: u64,
}

impl BatcherCounters {
    pub fn add(&mut self, o: &BatcherCounters) {
        self.samples_in += o.samples_in;
        self.samples_out += o.samples_out;
        self.events_out += o.events_out;
        self.service_checks_out += o.service_checks_out;
    }
}

#[derive(Debug, Clone)]
pub struct Batcher {
    batch_size: usize,
    shards: Vec<Vec<Sample>>,
    late: Vec<Sample>,
    no_aggregation: bool,
    events: Vec<EventItem>,
    checks: Vec<ServiceCheckItem>,
    pub counters: BatcherCounters,
}

impl Batcher {
    pub fn new(shards: usize, batch_size: usize, no_aggregation: bool) -> Batcher {
        Batcher {
            batch_size,
            shards: (0..shards)
                .map(|_| Vec::with_capacity(batch_size))
                .collect(),
            late: Vec::new(),
            no_aggregation,
            events: Vec::new(),
            checks: Vec::new(),
            counters: BatcherCounters::default(),
        }
    }

    pub fn append_sample(&mut self, sample: Sample, sink: &mut dyn BatchSink) {
        self.counters.samples_in += 1;
        if sample.timestamp.is_some() && self.no_aggregation {
            if self.late.len() >= self.batch_size {
                self.flush_late(sink);
            }
            self.late.push(sample);
            return;
        }
        let shard = shard_of(sample.key, self.shards.len());
        if self.shards[shard].len() >= self.batch_size {
            self.flush_shard(shard, sink);
        }
        self.shards[shard].push(sample);
    }

    pub fn append_event(&mut self, event: EventItem) {
        self.events.push(event);
    }

    pub fn append_service_check(&mut self, check: ServiceCheckItem) {
        self.checks.push(check);
    }

    fn flush_shard(&mut self, shard: usize, sink: &mut dyn BatchSink) {
        if self.shards[shard].is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.shards[shard], Vec::with_capacity(self.batch_size));
        self.counters.samples_out += batch.len() as u64;
        sink.samples(shard, batch);
    }

    fn flush_late(&mut self, sink: &mut dyn BatchSink) {
        if self.late.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.late);
        self.counters.samples_out += batch.len() as u64;
        sink.late_samples(batch);
    }

    /// Hands everything held to the sink.
    pub fn flush(&mut self, sink: &mut dyn BatchSink) {
        for shard in 0..self.shards.len() {
            self.flush_shard(shard, sink);
        }
        self.flush_late(sink);
        if !self.events.is_empty() {
            self.counters.events_out += self.events.len() as u64;
            sink.events(std::mem::take(&mut self.events));
        }
        if !self.checks.is_empty() {
            self.counters.service_checks_out += self.checks.len() as u64;
            sink.service_checks(std::mem::take(&mut self.checks));
        }
    }

    /// Samples held and not yet handed over.
    pub fn held(&self) -> usize {
        self.shards.iter().map(Vec::len).sum::<usize>() + self.late.len()
    }
}
