//! The workers stage, two ways. [`InlineWorkers`] parse a batch on the caller's thread the
//! moment it is taken from the queue: `check`'s virtual clock needs that, so that what a stop
//! moment finds in each stage is exact. [`super::worker_threads::WorkerThreads`] parse on
//! threads of their own, as the reference's worker goroutines do, so that a server's reading
//! never waits on parsing. The pipeline drives both through [`WorkerStage`], and its stop
//! sequence and stage counters are the same for both.

use super::batcher::{BatchSink, BatcherCounters};
use super::packet::PacketBatch;
use super::worker::{Worker, WorkerCounters};

/// What the pipeline asks of its workers.
pub trait WorkerStage {
    /// A worker takes `batch`: its samples reach `sink` now (inline) or by a later
    /// [`WorkerStage::collect`] (threads). Threads block here while their queue is full: the
    /// reference's listener blocks on a full `packetsIn` channel the same way.
    fn process(&mut self, batch: PacketBatch, sink: &mut dyn BatchSink);
    /// Hands `sink` what the workers have finished, without waiting.
    fn collect(&mut self, sink: &mut dyn BatchSink);
    /// Whether batches handed over have not all reached the sink yet.
    fn busy(&self) -> bool;
    /// Waits until every batch handed over has reached `sink` (before a flush, so that a flush
    /// sees every batch read before it, as on the virtual clock).
    fn settle(&mut self, sink: &mut dyn BatchSink);
    /// The stop without a drain: the batches handed over that no worker has started, taken
    /// back (they are the queue's loss).
    fn take_unstarted(&mut self) -> Vec<PacketBatch>;
    /// The workers leave their run loop: waits for them; everything they parsed is in `sink`.
    fn finish(&mut self, sink: &mut dyn BatchSink);
    /// Counters summed over the workers and their batchers, as far as their output has
    /// reached the sink.
    fn counters(&self) -> (WorkerCounters, BatcherCounters);
}

/// Workers that run on the caller's thread, round robin (the result does not depend on which
/// worker takes a batch: each flushes its batcher after every batch).
#[derive(Debug, Clone)]
pub struct InlineWorkers {
    workers: Vec<Worker>,
    next: usize,
}

impl InlineWorkers {
    pub fn new(workers: Vec<Worker>) -> InlineWorkers {
        assert!(!workers.is_empty(), "a pipeline has at least one worker");
        InlineWorkers { workers, next: 0 }
    }
}

impl WorkerStage for InlineWorkers {
    fn process(&mut self, batch: PacketBatch, sink: &mut dyn BatchSink) {
        let w = self.next % self.workers.len();
        self.next = self.next.wrapping_add(1);
        self.workers[w].process_batch(batch, sink);
    }
    fn collect(&mut self, _sink: &mut dyn BatchSink) {}
    fn busy(&self) -> bool {
        false
    }
    fn settle(&mut self, _sink: &mut dyn BatchSink) {}
    fn take_unstarted(&mut self) -> Vec<PacketBatch> {
        Vec::new()
    }
    fn finish(&mut self, _sink: &mut dyn BatchSink) {
        debug_assert!(self.workers.iter().all(|w| w.batcher.held() == 0));
    }
    fn counters(&self) -> (WorkerCounters, BatcherCounters) {
        let mut workers = WorkerCounters::default();
        let mut batcher = BatcherCounters::default();
        for w in &self.workers {
            workers.add(&w.counters);
            batcher.add(&w.batcher.counters);
        }
        (workers, batcher)
    }
}
