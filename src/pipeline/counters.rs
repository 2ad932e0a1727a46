//! Stage counters: for each stage what it received, passed on and dropped. The verifier uses
//! them to attribute loss to a stage; [`StageCounters::check`] says whether they add up.

use crate::pipeline::batcher::BatcherCounters;
use crate::pipeline::no_aggregation::NoAggCounters;
use crate::pipeline::packet::{DatagramId, Packet};
use crate::pipeline::sample::SampleId;
use crate::pipeline::sampler::{DroppedBucket, SamplerCounters};
use crate::pipeline::worker::WorkerCounters;
use crate::protocol::{self, Line};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListenerCounters {
    pub datagrams: u64,
    pub bytes: u64,
    /// Datagrams longer than the read buffer, cut to `buffer_size` as the reference's read is.
    pub truncated_datagrams: u64,
    /// Datagrams the kernel dropped before they were read (real sockets only).
    pub kernel_dropped: u64,
}

impl ListenerCounters {
    pub fn add(&mut self, o: &ListenerCounters) {
        self.datagrams += o.datagrams;
        self.bytes += o.bytes;
        self.truncated_datagrams += o.truncated_datagrams;
        self.kernel_dropped += o.kernel_dropped;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AssemblerCounters {
    pub datagrams_in: u64,
    pub packets_out: u64,
}

impl AssemblerCounters {
    pub fn add(&mut self, o: &AssemblerCounters) {
        self.datagrams_in += o.datagrams_in;
        self.packets_out += o.packets_out;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PacketsBufferCounters {
    pub packets_in: u64,
    pub batches_out: u64,
    /// Batches handed over when the listener stopped.
    pub batches_on_close: u64,
}

impl PacketsBufferCounters {
    pub fn add(&mut self, o: &PacketsBufferCounters) {
        self.packets_in += o.packets_in;
        self.batches_out += o.batches_out;
        self.batches_on_close += o.batches_on_close;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounters {
    pub batches_in: u64,
    pub batches_out: u64,
    /// Batches taken by workers draining on stop.
    pub batches_drained: u64,
    pub batches_dropped: u64,
    pub packets_dropped: u64,
    pub datagrams_dropped: u64,
    /// Non-empty lines of the dropped datagrams, as the workers would have split them.
    pub lines_dropped: u64,
    /// Samples of the dropped lines: each metric value, each event, each service check.
    pub samples_dropped: u64,
    /// Dropped lines that do not parse (counted in `lines_dropped`, not in `samples_dropped`).
    pub rejected_lines_dropped: u64,
}

impl QueueCounters {
    /// Counts a batch dropped at stop in every unit the report uses, splitting and parsing its
    /// lines as a worker would have; nothing of it reaches a sampler.
    pub fn count_dropped(&mut self, batch: &[Packet]) {
        self.batches_dropped += 1;
        for packet in batch {
            self.packets_dropped += 1;
            for (_, bytes) in packet.datagrams() {
                self.datagrams_dropped += 1;
                for line in protocol::split_lines(bytes) {
                    self.lines_dropped += 1;
                    match protocol::parse_line(line) {
                        Ok(Line::Metric(m)) => self.samples_dropped += m.values().count() as u64,
                        Ok(Line::Event(_) | Line::ServiceCheck(_)) => self.samples_dropped += 1,
                        Err(_) => self.rejected_lines_dropped += 1,
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlushCounters {
    pub flushes: u64,
    pub series_points: u64,
    pub sketch_points: u64,
    pub events: u64,
    pub service_checks: u64,
}

/// Every stage's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StageCounters {
    pub listener: ListenerCounters,
    pub assembler: AssemblerCounters,
    pub packets_buffer: PacketsBufferCounters,
    pub queue: QueueCounters,
    pub workers: WorkerCounters,
    pub batcher: BatcherCounters,
    pub no_aggregation: NoAggCounters,
    pub samplers: SamplerCounters,
    /// Samples in buckets still open at the final flush and dropped with them.
    pub open_bucket_samples_dropped: u64,
    pub flush: FlushCounters,
}

/// Which items each stage dropped, by identity, so the verifier can predict the flushed output
/// given exactly those losses.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Losses {
    /// Datagrams whose packets were still queued when the workers exited.
    pub queue: Vec<DatagramId>,
    /// Buckets not flushed at stop.
    pub open_buckets: Vec<DroppedBucket>,
    pub context_limit: Vec<SampleId>,
    /// Samples the samplers refused for a NaN or infinite value.
    pub non_finite: Vec<SampleId>,
    /// Timestamped samples of a type the no-aggregation path does not support.
    pub unsupported_timestamped: Vec<SampleId>,
}

impl StageCounters {
    /// The conservation laws between stages; each broken law is described.
    pub fn check(&self) -> Vec<String> {
        let mut broken = Vec::new();
        let mut law = |ok: bool, what: String| {
            if !ok {
                broken.push(what);
            }
        };
        let q = &self.queue;
        law(
            q.batches_in == q.batches_out + q.batches_drained + q.batches_dropped,
            format!(
                "queue: {} batches in != {} out + {} drained + {} dropped",
                q.batches_in, q.batches_out, q.batches_drained, q.batches_dropped
            ),
        );
        law(
            self.workers.datagrams + q.datagrams_dropped == self.listener.datagrams,
            format!(
                "workers parsed {} datagrams + {} dropped in queue != {} read",
                self.workers.datagrams, q.datagrams_dropped, self.listener.datagrams
            ),
        );
        law(
            self.batcher.samples_in == self.workers.samples,
            format!(
                "batcher got {} samples, workers made {}",
                self.batcher.samples_in, self.workers.samples
            ),
        );
        law(
            self.batcher.samples_in == self.batcher.samples_out,
            format!(
                "batcher: {} in, {} out",
                self.batcher.samples_in, self.batcher.samples_out
            ),
        );
        law(
            self.batcher.samples_out == self.samplers.samples_in + self.no_aggregation.samples_in,
            format!(
                "batcher handed {} samples, samplers got {} and no-aggregation {}",
                self.batcher.samples_out, self.samplers.samples_in, self.no_aggregation.samples_in
            ),
        );
        law(
            self.samplers.samples_in
                == self.samplers.aggregated
                    + self.samplers.dropped_context_limit
                    + self.samplers.dropped_non_finite,
            format!(
                "samplers: {} in != {} aggregated + {} over the context limit + {} non-finite",
                self.samplers.samples_in,
                self.samplers.aggregated,
                self.samplers.dropped_context_limit,
                self.samplers.dropped_non_finite
            ),
        );
        broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_batch_counts_lines_and_samples_as_workers_split_them() {
        let mut packed = Packet::single(0, 1, b"a:1:2:3|h\r\n\nb:1|c\n");
        packed.push(1, 1, b"_e{1,1}:t|x\n_sc|check|0");
        let batch = vec![
            packed,
            Packet::single(2, 1, b"not a metric\ns:u1|s\n\n"),
            Packet::single(3, 1, b""),
        ];
        let mut q = QueueCounters::default();
        q.count_dropped(&batch);
        assert_eq!(
            (q.batches_dropped, q.packets_dropped, q.datagrams_dropped),
            (1, 3, 4)
        );
        // Lines: a, b, the event, the service check, the bad line, s (empty ones skipped).
        assert_eq!(q.lines_dropped, 6);
        // Samples: 3 values of a, b, the event, the service check, one set value.
        assert_eq!(q.samples_dropped, 7);
        assert_eq!(q.rejected_lines_dropped, 1);
    }
}
