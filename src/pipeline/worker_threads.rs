//! Workers on threads of their own, for a server on real sockets: the pipeline thread hands
//! each batch to a bounded queue shared by the workers (the reference's `packetsIn` channel
//! and its worker goroutines), so that reading and the listeners' stages never wait on
//! parsing. Each worker parses with its own batcher and context cache, and sends what its
//! batcher hands over back to the pipeline thread, where the samplers are. The samplers stay on
//! one thread so that a flush, and the stop sequence's final flush, see one consistent state.
//!
//! Results reach the samplers in the order the batches were handed over, whichever worker
//! finishes first: a gauge's last value, and so every flush, is the one inline workers give
//! for the same datagrams, and the same on every run.
//!
//! Every batch handed over is accounted for: it reaches the samplers (with the worker's
//! counters as they were after it, so the stage counters always agree with what was
//! aggregated), or, at a stop without a drain, it is taken back unstarted and counted as the
//! queue's loss.

use super::batcher::{BatchSink, BatcherCounters};
use super::flushed::{EventItem, ServiceCheckItem};
use super::packet::PacketBatch;
use super::sample::Sample;
use super::worker::{Worker, WorkerCounters};
use super::worker_stage::WorkerStage;
use std::collections::{BTreeMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// One call a worker's batcher made on its sink, replayed on the pipeline thread.
enum SinkCall {
    Samples(usize, Vec<Sample>),
    Late(Vec<Sample>),
    Events(Vec<EventItem>),
    Checks(Vec<ServiceCheckItem>),
}

/// The sink of a worker thread: records its batcher's calls.
#[derive(Default)]
struct Recorder(Vec<SinkCall>);

impl BatchSink for Recorder {
    fn samples(&mut self, shard: usize, batch: Vec<Sample>) {
        self.0.push(SinkCall::Samples(shard, batch));
    }
    fn late_samples(&mut self, batch: Vec<Sample>) {
        self.0.push(SinkCall::Late(batch));
    }
    fn events(&mut self, events: Vec<EventItem>) {
        self.0.push(SinkCall::Events(events));
    }
    fn service_checks(&mut self, checks: Vec<ServiceCheckItem>) {
        self.0.push(SinkCall::Checks(checks));
    }
}

/// What one worker did with one batch.
struct Parsed {
    /// The batch's place in the order of hand-over.
    seq: u64,
    worker: usize,
    calls: Vec<SinkCall>,
    /// The worker's counters after this batch.
    counters: WorkerCounters,
    batcher: BatcherCounters,
}

/// The queue the workers take batches from.
struct Shared {
    state: Mutex<Queued>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

struct Queued {
    /// Batches with their place in the order of hand-over.
    batches: VecDeque<(u64, PacketBatch)>,
    /// Set by [`WorkerThreads::finish`]: workers leave once the queue is empty.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queued> {
        // A worker that panicked while holding the lock left the queue itself intact.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The worker threads of a pipeline.
pub struct WorkerThreads {
    shared: Arc<Shared>,
    results: mpsc::Receiver<Parsed>,
    threads: Vec<JoinHandle<()>>,
    /// Batches handed over, and those whose result has reached the sink: the next result
    /// applied is that of batch `collected`.
    handed: u64,
    collected: u64,
    /// Results that came before those of batches handed over earlier, by place.
    early: BTreeMap<u64, Parsed>,
    /// Each worker's counters, as of its last result collected.
    counters: Vec<(WorkerCounters, BatcherCounters)>,
}

impl std::fmt::Debug for WorkerThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerThreads")
            .field("threads", &self.threads.len())
            .field("handed", &self.handed)
            .field("collected", &self.collected)
            .finish()
    }
}

impl WorkerThreads {
    /// Starts one thread per worker; the queue holds at most `capacity` batches.
    pub fn start(workers: Vec<Worker>, capacity: usize) -> std::io::Result<WorkerThreads> {
        assert!(!workers.is_empty(), "a pipeline has at least one worker");
        let shared = Arc::new(Shared {
            state: Mutex::new(Queued {
                batches: VecDeque::new(),
                closed: false,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity: capacity.max(1),
        });
        let (tx, results) = mpsc::channel();
        let counters = vec![Default::default(); workers.len()];
        let mut pool = WorkerThreads {
            shared,
            results,
            threads: Vec::new(),
            handed: 0,
            collected: 0,
            early: BTreeMap::new(),
            counters,
        };
        for (i, worker) in workers.into_iter().enumerate() {
            let (shared, tx) = (pool.shared.clone(), tx.clone());
            // On an error the threads started so far leave when `pool` is dropped.
            pool.threads.push(
                std::thread::Builder::new()
                    .name(format!("lb-worker-{i}"))
                    .spawn(move || run(i, worker, &shared, &tx))?,
            );
        }
        Ok(pool)
    }

    /// Takes a result in: applies it, and those it was holding back, when its turn has come.
    fn take_in(&mut self, parsed: Parsed, sink: &mut dyn BatchSink) {
        if parsed.seq != self.collected {
            self.early.insert(parsed.seq, parsed);
            return;
        }
        self.apply(parsed, sink);
        while let Some(next) = self.early.remove(&self.collected) {
            self.apply(next, sink);
        }
    }

    fn apply(&mut self, parsed: Parsed, sink: &mut dyn BatchSink) {
        for call in parsed.calls {
            match call {
                SinkCall::Samples(shard, batch) => sink.samples(shard, batch),
                SinkCall::Late(batch) => sink.late_samples(batch),
                SinkCall::Events(events) => sink.events(events),
                SinkCall::Checks(checks) => sink.service_checks(checks),
            }
        }
        self.counters[parsed.worker] = (parsed.counters, parsed.batcher);
        self.collected += 1;
    }

    /// Waits for one result. Every batch handed over gets one (see [`run`]), so this cannot
    /// wait forever while a worker lives; with none left, nothing more can come.
    fn wait_one(&mut self, sink: &mut dyn BatchSink) {
        match self.results.recv() {
            Ok(parsed) => self.take_in(parsed, sink),
            Err(mpsc::RecvError) => {
                self.early.clear();
                self.collected = self.handed;
            }
        }
    }
}

/// A worker's run loop: takes a batch, parses it, sends the result; leaves when the queue is
/// closed and empty (or the pipeline is gone). A panic while parsing (a bug) is printed by
/// the panic hook and still answered with the worker's counters as they were before the
/// batch: the pipeline never waits for a result that cannot come, and the samples the batch
/// held are missing from the stage counters' balance, where the accounting shows them.
fn run(index: usize, mut worker: Worker, shared: &Shared, tx: &mpsc::Sender<Parsed>) {
    let mut recorder = Recorder::default();
    loop {
        let (seq, batch) = {
            let mut q = shared.lock();
            loop {
                if let Some(queued) = q.batches.pop_front() {
                    break queued;
                }
                if q.closed {
                    return;
                }
                q = shared.not_empty.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        shared.not_full.notify_one();
        let before = (worker.counters.clone(), worker.batcher.counters.clone());
        let parsed = catch_unwind(AssertUnwindSafe(|| {
            worker.process_batch(batch, &mut recorder)
        }));
        if parsed.is_err() {
            (worker.counters, worker.batcher.counters) = before;
            recorder.0.clear();
        }
        let parsed = Parsed {
            seq,
            worker: index,
            calls: std::mem::take(&mut recorder.0),
            counters: worker.counters.clone(),
            batcher: worker.batcher.counters.clone(),
        };
        if tx.send(parsed).is_err() {
            return;
        }
    }
}

impl WorkerStage for WorkerThreads {
    fn process(&mut self, batch: PacketBatch, sink: &mut dyn BatchSink) {
        {
            let mut q = self.shared.lock();
            while q.batches.len() >= self.shared.capacity {
                q = self
                    .shared
                    .not_full
                    .wait(q)
                    .unwrap_or_else(|e| e.into_inner());
            }
            q.batches.push_back((self.handed, batch));
        }
        self.shared.not_empty.notify_one();
        self.handed += 1;
        self.collect(sink);
    }

    fn collect(&mut self, sink: &mut dyn BatchSink) {
        while let Ok(parsed) = self.results.try_recv() {
            self.take_in(parsed, sink);
        }
    }

    fn busy(&self) -> bool {
        self.collected < self.handed
    }

    fn settle(&mut self, sink: &mut dyn BatchSink) {
        self.collect(sink);
        while self.busy() {
            self.wait_one(sink);
        }
    }

    /// The queue holds the last batches handed over (workers take them in order), so what
    /// is left to collect keeps consecutive places.
    fn take_unstarted(&mut self) -> Vec<PacketBatch> {
        let taken: Vec<PacketBatch> = self
            .shared
            .lock()
            .batches
            .drain(..)
            .map(|(_, b)| b)
            .collect();
        self.shared.not_full.notify_all();
        self.handed -= taken.len() as u64;
        taken
    }

    fn finish(&mut self, sink: &mut dyn BatchSink) {
        self.settle(sink);
        self.shared.lock().closed = true;
        self.shared.not_empty.notify_all();
        for t in self.threads.drain(..) {
            // A worker's panics were caught in its run loop.
            let _ = t.join();
        }
    }

    fn counters(&self) -> (WorkerCounters, BatcherCounters) {
        let mut workers = WorkerCounters::default();
        let mut batcher = BatcherCounters::default();
        for (w, b) in &self.counters {
            workers.add(w);
            batcher.add(b);
        }
        (workers, batcher)
    }
}

impl Drop for WorkerThreads {
    /// A pipeline dropped without its stop sequence (an error path): the workers leave.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.not_empty.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::batcher::Batcher;
    use crate::pipeline::packet::Packet;

    /// Counts what reaches the samplers.
    #[derive(Default)]
    struct Count(u64);
    impl BatchSink for Count {
        fn samples(&mut self, _shard: usize, batch: Vec<Sample>) {
            self.0 += batch.len() as u64;
        }
        fn late_samples(&mut self, batch: Vec<Sample>) {
            self.0 += batch.len() as u64;
        }
        fn events(&mut self, _events: Vec<EventItem>) {}
        fn service_checks(&mut self, _checks: Vec<ServiceCheckItem>) {}
    }

    fn workers(n: usize) -> Vec<Worker> {
        (0..n)
            .map(|_| Worker::new(Batcher::new(2, 32, false), "host"))
            .collect()
    }

    fn batch(id: u64) -> PacketBatch {
        vec![Packet::single(id, 1_000, b"a:1|c\nb:2|c\nbad")]
    }

    #[test]
    fn every_batch_handed_over_reaches_the_sink_with_its_counters() {
        let mut t = WorkerThreads::start(workers(3), 4).unwrap();
        let mut sink = Count::default();
        for id in 0..1000 {
            t.process(batch(id), &mut sink);
        }
        t.finish(&mut sink);
        assert_eq!(sink.0, 2000);
        let (w, b) = t.counters();
        assert_eq!((w.batches, w.datagrams, w.samples), (1000, 1000, 2000));
        assert_eq!(w.rejected_lines, 1000);
        assert_eq!(b.samples_out, 2000);
        assert!(!t.busy());
    }

    #[test]
    fn settle_waits_for_everything_handed_over() {
        let mut t = WorkerThreads::start(workers(2), 8).unwrap();
        let mut sink = Count::default();
        for id in 0..50 {
            t.process(batch(id), &mut sink);
        }
        t.settle(&mut sink);
        assert_eq!(sink.0, 100);
        assert_eq!(t.counters().0.batches, 50);
    }

    #[test]
    fn unstarted_batches_are_taken_back_and_not_counted() {
        // One worker held up by a batch of many datagrams, so the queue behind it is full.
        let mut t = WorkerThreads::start(workers(1), 16).unwrap();
        let mut sink = Count::default();
        let big: PacketBatch = (0..20_000)
            .map(|i| Packet::single(i, 1_000, b"x:1|c"))
            .collect();
        t.process(big, &mut sink);
        for id in 0..16 {
            t.process(batch(100_000 + id), &mut sink);
        }
        let back = t.take_unstarted();
        t.finish(&mut sink);
        let (w, _) = t.counters();
        // Whatever the timing: each batch was parsed or taken back, never both.
        assert_eq!(w.batches + back.len() as u64, 17);
        assert_eq!(sink.0, w.samples);
    }
}
