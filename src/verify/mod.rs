//! The verifier: a ledger of what was sent, folded as the pipeline parses it, and each flush
//! compared with it as soon as it comes, then forgotten (`../shared/design/scale.md`).
//!
//! A [`Verifier`] follows one run: [`Verifier::sent`] for each datagram handed to the pipeline,
//! [`Verifier::follow`] for what the pipeline did (parsed a datagram, refused a sample at the
//! context limit, flushed), and [`Verifier::finish`] with the losses the pipeline reports at the
//! stop. What the pipeline says only decides *when* the ledger looks at a datagram and *where*
//! a loss is attributed; the verdict comes from comparing values: every sample is flushed,
//! rejected (with the reason) or lost at a named stage, and a difference the reported losses do
//! not explain is an accounting error. A verifier is cloned where a run forks: scenarios that
//! share a stream share everything up to their stop.

pub mod batch;
pub mod compare;
pub mod context;
pub mod group;
pub mod ledger;
pub mod tally;

use crate::pipeline::counters::{Losses, StageCounters};
use crate::pipeline::packet::DatagramId;
use crate::pipeline::sample::{context_key, shard_of};
use crate::pipeline::{Event, PipelineConfig};
use crate::report::{Counts, Expectation, LostExample, Stage, Verdict};
use compare::OutputRules;
use ledger::Ledger;
use std::collections::HashSet;

pub use batch::{verify, SentLog};
pub use ledger::{NON_FINITE_VALUE, UNSUPPORTED_TIMESTAMPED};
pub use tally::MAX_EXAMPLES;

/// The outcome of verifying one run.
#[derive(Debug, Clone)]
pub struct Verification {
    pub counts: Counts,
    pub examples: Vec<LostExample>,
    pub accounting_errors: Vec<String>,
}

/// The oracle of one run.
#[derive(Debug, Clone)]
pub struct Verifier {
    ledger: Ledger,
    rules: OutputRules,
    shards: usize,
    errors: Vec<String>,
}

impl Verifier {
    pub fn new(config: &PipelineConfig) -> Verifier {
        Verifier {
            ledger: Ledger::new(config),
            rules: OutputRules {
                interval: config.bucket_seconds,
                aggregates: config.histogram_aggregates.clone(),
                percentiles: config.percentiles(),
            },
            shards: config.pipeline_count,
            errors: Vec::new(),
        }
    }

    /// A datagram handed to the pipeline (its id as the pipeline knows it).
    pub fn sent(&mut self, id: DatagramId, ts_ns: u64, payload: &[u8]) {
        self.ledger.record(id, ts_ns, payload);
    }

    /// What the pipeline did, in order.
    pub fn follow(&mut self, event: &Event) {
        match event {
            Event::Parsed(id) => {
                if let Err(e) = self.ledger.parsed(*id) {
                    self.error(e);
                }
            }
            Event::ContextLimit(sample) => self.ledger.context_limit(*sample),
            Event::Flush(f) => compare::compare_flush(&mut self.ledger, f, &self.rules),
        }
    }

    pub fn follow_all(&mut self, events: &[Event]) {
        for e in events {
            self.follow(e);
        }
    }

    pub(crate) fn error(&mut self, e: String) {
        if self.errors.len() < tally::MAX_ERRORS_SHOWN {
            self.errors.push(e);
        }
    }

    /// The lines and samples of the datagrams handed over (for the source summary): what was
    /// read so far plus what still waits for a worker.
    pub fn stream_size(&self) -> (u64, u64) {
        let (lines, samples) = self.ledger.pending_size();
        let t = &self.ledger.tally;
        (t.lines + lines, t.sent() + samples)
    }

    /// The run stopped: what never reached a worker is lost at the stage the pipeline names
    /// (the queue; the socket for what `socket_lost` holds), the buckets it dropped are lost
    /// at `open_bucket`, and its counters must agree with the ledger.
    pub fn finish(
        mut self,
        counters: &StageCounters,
        losses: &Losses,
        socket_lost: &HashSet<DatagramId>,
    ) -> Verification {
        let queue: HashSet<DatagramId> = losses.queue.iter().copied().collect();
        let unreported: Vec<DatagramId> = self
            .ledger
            .pending_ids()
            .filter(|id| !socket_lost.contains(id) && !queue.contains(id))
            .collect();
        for id in unreported.iter().take(tally::MAX_ERRORS_SHOWN) {
            self.error(format!(
                "datagram {id} was handed to the pipeline, never parsed, and not reported lost"
            ));
        }
        // Counted at the queue, so the identity still holds beside the accounting error.
        self.ledger.lose_pending(|id| {
            if socket_lost.contains(&id) {
                Stage::Socket
            } else {
                Stage::Queue
            }
        });
        self.lose_buckets(losses, true);
        let leftover_points = self.ledger.passthrough.len() + self.ledger.items.len();
        if leftover_points > 0 {
            self.error(format!(
                "{leftover_points} timestamped points, events or service checks were never flushed"
            ));
        }
        self.cross_check(counters, losses);
        let t = &self.ledger.tally;
        let mut errors = std::mem::take(&mut self.errors);
        errors.extend(t.mismatches.iter().cloned());
        if t.mismatch_count > tally::MAX_ERRORS_SHOWN as u64 {
            errors.push(format!("… {} disagreements in all", t.mismatch_count));
        }
        let counts = t.counts();
        if !counts.identity_holds() {
            errors.push(
                "the accounting identity sent = rejected + flushed + lost does not hold".into(),
            );
        }
        Verification {
            counts,
            examples: t.examples(),
            accounting_errors: errors,
        }
    }

    /// Groups of the buckets the pipeline reports dropped are lost whole; with `all` (after the
    /// final flush), the rest are missing, else they stay for a flush still to come.
    pub(crate) fn lose_buckets(&mut self, losses: &Losses, all: bool) {
        let dropped: HashSet<(usize, i64)> = losses
            .open_buckets
            .iter()
            .map(|b| (b.shard, b.start))
            .collect();
        let mut open = Vec::new();
        for (bucket, groups) in self.ledger.take_closed(None) {
            for (key, g) in groups {
                open.push((g.seq, bucket, key, g));
            }
        }
        // In sending order, so the examples are the first samples lost.
        open.sort_by_key(|(seq, ..)| *seq);
        let mut missing = 0u64;
        for (_, bucket, key, g) in open {
            if g.kept_total() == 0 {
                if !all {
                    self.ledger.put_back(bucket, key, g);
                }
                continue;
            }
            let c = self.ledger.contexts.get(key.0);
            let shard = shard_of(context_key(&c.name, &c.tags, &c.host), self.shards);
            if dropped.contains(&(shard, bucket)) {
                self.ledger.lose_group(bucket, key, &g, Stage::OpenBucket);
            } else if !all {
                self.ledger.put_back(bucket, key, g);
            } else {
                missing += 1;
                if missing <= tally::MAX_ERRORS_SHOWN as u64 {
                    self.error(format!(
                        "missing points of {} {:?} ts={}: {} samples neither flushed nor reported lost",
                        c.name,
                        c.tags,
                        bucket,
                        g.kept_total()
                    ));
                }
            }
        }
    }

    /// The pipeline's own counters against the ledger's fates.
    fn cross_check(&mut self, counters: &StageCounters, losses: &Losses) {
        let t = &self.ledger.tally;
        let mut errors: Vec<String> = counters.check();
        let reported_open: u64 = losses.open_buckets.iter().map(|b| b.samples).sum();
        let open = t.lost_at(Stage::OpenBucket);
        if reported_open != open {
            errors.push(format!(
                "the pipeline dropped {reported_open} samples in open buckets, the ledger counts {open} in those buckets"
            ));
        }
        if counters.samplers.dropped_non_finite != t.non_finite {
            errors.push(format!(
                "the samplers refused {} non-finite values, the ledger expects {}",
                counters.samplers.dropped_non_finite, t.non_finite
            ));
        }
        if losses.unsupported_timestamped.len() as u64 != t.unsupported {
            errors.push(format!(
                "the pipeline discarded {} timestamped samples of unsupported types, the ledger expects {}",
                losses.unsupported_timestamped.len(),
                t.unsupported
            ));
        }
        let q = &counters.queue;
        let lost_in_queue = t.lost_at(Stage::Queue);
        if q.samples_dropped + q.rejected_lines_dropped != lost_in_queue {
            errors.push(format!(
                "the queue dropped {} samples and {} unparseable lines, the ledger counts {lost_in_queue} entries lost there",
                q.samples_dropped, q.rejected_lines_dropped
            ));
        }
        if t.parsed_rejections != counters.workers.rejected_lines {
            errors.push(format!(
                "the workers rejected {} lines, the ledger rejects {}",
                counters.workers.rejected_lines, t.parsed_rejections
            ));
        }
        self.errors.extend(errors);
    }
}

/// The verdict under an expectation.
pub fn verdict(
    counts: &Counts,
    accounting_errors: &[String],
    expectation: Expectation,
) -> (Verdict, Vec<String>) {
    let mut reasons = Vec::new();
    if !accounting_errors.is_empty() {
        reasons.push(format!(
            "{} accounting error(s): the flushed output disagrees with the reported losses",
            accounting_errors.len()
        ));
        return (Verdict::AccountingError, reasons);
    }
    let socket = counts
        .lost_by_stage
        .get(Stage::Socket.name())
        .copied()
        .unwrap_or(0);
    if counts.compared == 0 {
        reasons.push(
            "nothing was compared: no well-formed sample entered the pipeline (empty source, \
             every line malformed, or everything lost at the socket)"
                .into(),
        );
        return (Verdict::Vacuous, reasons);
    }
    // Zero loss is about the samples that entered the pipeline (cli.md): what the kernel
    // dropped or left unread never did, and is reported, not held against the flag.
    let pipeline_lost = counts.lost - socket;
    if socket > 0 {
        reasons.push(format!(
            "{socket} samples never read from the socket (kernel drops, unread at stop, or cut \
             off by the read buffer)"
        ));
    }
    let ok = match expectation {
        Expectation::ZeroLoss | Expectation::Strict => {
            let strict = expectation == Expectation::Strict;
            let held = if strict { counts.lost } else { pipeline_lost };
            if held > 0 {
                let stages: Vec<String> = counts
                    .lost_by_stage
                    .iter()
                    .filter(|(s, n)| **n > 0 && (strict || **s != Stage::Socket.name()))
                    .map(|(s, n)| format!("{n} at {s}"))
                    .collect();
                reasons.push(format!(
                    "{held} samples lost ({}) where zero loss is expected",
                    stages.join(", ")
                ));
            }
            if counts.surplus > 0 {
                reasons.push(format!(
                    "{} points flushed that were never sent",
                    counts.surplus
                ));
            }
            if counts.duplicates > 0 {
                reasons.push(format!("{} points flushed twice", counts.duplicates));
            }
            held == 0 && counts.surplus == 0 && counts.duplicates == 0
        }
        Expectation::Loss => {
            if counts.lost == 0 {
                reasons.push("no sample was lost where loss is expected".into());
            }
            counts.lost > 0
        }
        Expectation::Any => true,
    };
    (if ok { Verdict::Pass } else { Verdict::Fail }, reasons)
}
