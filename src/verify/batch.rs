//! Verifying a run recorded whole: what was sent, kept in memory, and everything the pipeline
//! flushed, compared at once. For small runs and for tests that tamper with the output; `check`
//! itself streams ([`super::Verifier`]).
//!
//! Without the pipeline's events, the losses it reports decide what reached the samplers:
//! every datagram not reported lost at the queue or the socket was parsed, the samples the
//! context limit refused are those it names, and the buckets it dropped are lost whole. Every
//! other bucket must be in the output.

use super::{compare, Verification, Verifier};
use crate::pipeline::counters::{Losses, StageCounters};
use crate::pipeline::flushed::FlushedItem;
use crate::pipeline::packet::DatagramId;
use crate::pipeline::{Flush, FlushKind, PipelineConfig};
use crate::source::Datagram;
use std::collections::HashSet;

/// Every datagram handed to the pipeline, kept whole.
#[derive(Debug, Clone, Default)]
pub struct SentLog {
    pub datagrams: u64,
    sent: Vec<(DatagramId, Datagram)>,
}

impl SentLog {
    pub fn record_datagram(&mut self, id: DatagramId, d: &Datagram, _config: &PipelineConfig) {
        self.datagrams += 1;
        self.sent.push((id, d.clone()));
    }

    /// Samples (each value of a metric line; one per other line) of the datagrams `which`
    /// holds, lines the read buffer cuts off included.
    pub fn samples_of(&self, which: &HashSet<DatagramId>, config: &PipelineConfig) -> u64 {
        self.sent
            .iter()
            .filter(|(id, _)| which.contains(id))
            .map(|(_, d)| super::ledger::datagram_size(&d.payload, config.buffer_size).1)
            .sum()
    }
}

/// Verifies `flushed`, the whole output of a run, against what `sent` holds and the losses the
/// pipeline reports.
pub fn verify(
    sent: &SentLog,
    flushed: &[FlushedItem],
    counters: &StageCounters,
    losses: &Losses,
    socket_lost: &HashSet<DatagramId>,
    config: &PipelineConfig,
) -> Verification {
    let mut v = Verifier::new(config);
    let queue: HashSet<DatagramId> = losses.queue.iter().copied().collect();
    for s in &losses.context_limit {
        v.ledger.context_limit(*s);
    }
    for (id, d) in &sent.sent {
        v.sent(*id, d.ts_ns, &d.payload);
        if !queue.contains(id) && !socket_lost.contains(id) {
            if let Err(e) = v.ledger.parsed(*id) {
                v.error(e);
            }
        }
    }
    v.lose_buckets(losses, false);
    let all = Flush {
        at_ns: u64::MAX,
        kind: FlushKind::Final { force_all: true },
        items: flushed.to_vec(),
    };
    compare::compare_flush(&mut v.ledger, &all, &v.rules);
    v.finish(counters, losses, socket_lost)
}
