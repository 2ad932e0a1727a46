//! The verifier: the ledger of what was sent, the oracle's prediction of what must be flushed,
//! and the comparison with what the pipeline actually flushed.
//!
//! For every scenario the oracle predicts (a) the output with no loss and (b) the output given
//! exactly the losses the pipeline reports, stage by stage. The actual output must equal (b);
//! what separates (a) from (b) is the loss, counted in samples. The pipeline's counters only
//! attribute: the verdict comes from comparing values.

pub mod compare;
pub mod ledger;
pub mod predict;

use crate::pipeline::counters::{Losses, StageCounters};
use crate::pipeline::flushed::FlushedItem;
use crate::pipeline::packet::DatagramId;
use crate::pipeline::sample::{shard_of, SampleValue};
use crate::pipeline::PipelineConfig;
use crate::protocol::MetricType;
use crate::report::{Counts, Expectation, LostExample, Stage, Verdict};
use compare::{compare, Actual};
use ledger::{EntryBody, EntryType, Ledger};
use std::collections::{BTreeMap, HashSet};

/// Reason given to timestamped samples the no-aggregation path discards.
pub const UNSUPPORTED_TIMESTAMPED: &str = "timestamp_on_unsupported_type";
/// Reason given to NaN or infinite values, which the samplers refuse.
pub const NON_FINITE_VALUE: &str = "non_finite_value";

/// What happened to one ledger entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Flushed,
    Rejected(&'static str),
    Lost(Stage),
}

/// The outcome of verifying one run.
#[derive(Debug, Clone)]
pub struct Verification {
    pub counts: Counts,
    pub examples: Vec<LostExample>,
    pub accounting_errors: Vec<String>,
}

/// Most lost samples shown as examples.
pub const MAX_EXAMPLES: usize = 10;

/// At most [`MAX_EXAMPLES`] examples taken in turn from each stage, in pipeline order.
fn spread_examples(by_stage: BTreeMap<Stage, Vec<LostExample>>) -> Vec<LostExample> {
    let mut lists: Vec<std::vec::IntoIter<LostExample>> =
        by_stage.into_values().map(Vec::into_iter).collect();
    let mut out = Vec::new();
    while out.len() < MAX_EXAMPLES {
        let before = out.len();
        for l in &mut lists {
            if out.len() < MAX_EXAMPLES {
                out.extend(l.next());
            }
        }
        if out.len() == before {
            break;
        }
    }
    out.sort_by_key(|e| Stage::ALL.iter().position(|s| s.name() == e.stage));
    out
}

/// Decides the fate of each entry from the losses the pipeline reports.
pub fn fates(
    ledger: &Ledger,
    losses: &Losses,
    socket_lost: &HashSet<DatagramId>,
    config: &PipelineConfig,
) -> Vec<Fate> {
    let queue: HashSet<DatagramId> = losses.queue.iter().copied().collect();
    let context_limit: HashSet<_> = losses.context_limit.iter().copied().collect();
    let open: HashSet<(usize, i64)> = losses
        .open_buckets
        .iter()
        .map(|b| (b.shard, b.start))
        .collect();
    let interval = config.bucket_seconds;
    ledger
        .entries
        .iter()
        .map(|e| {
            if e.cut || socket_lost.contains(&e.id.datagram) {
                return Fate::Lost(Stage::Socket);
            }
            if queue.contains(&e.id.datagram) {
                return Fate::Lost(Stage::Queue);
            }
            match &e.body {
                EntryBody::Rejected { reason, .. } => Fate::Rejected(reason),
                EntryBody::Metric(m) => {
                    if m.timestamp.is_some() && config.no_aggregation_pipeline {
                        return match m.metric_type {
                            MetricType::Gauge | MetricType::Count => Fate::Flushed,
                            _ => Fate::Rejected(UNSUPPORTED_TIMESTAMPED),
                        };
                    }
                    if context_limit.contains(&e.id) {
                        return Fate::Lost(Stage::ContextLimit);
                    }
                    if matches!(m.value, SampleValue::Number(v) if !v.is_finite()) {
                        return Fate::Rejected(NON_FINITE_VALUE);
                    }
                    let bucket = m.arrival_s - m.arrival_s.rem_euclid(interval);
                    let shard = shard_of(m.context.key, config.pipeline_count);
                    if open.contains(&(shard, bucket)) {
                        Fate::Lost(Stage::OpenBucket)
                    } else {
                        Fate::Flushed
                    }
                }
                EntryBody::Event { .. } | EntryBody::ServiceCheck { .. } => Fate::Flushed,
            }
        })
        .collect()
}

/// Verifies one run: fates, counts, comparison of values, and the cross-checks of the pipeline's
/// own counters.
pub fn verify(
    ledger: &Ledger,
    flushed: &[FlushedItem],
    counters: &StageCounters,
    losses: &Losses,
    socket_lost: &HashSet<DatagramId>,
    config: &PipelineConfig,
) -> Verification {
    let fates = fates(ledger, losses, socket_lost, config);
    let mut counts = Counts::default();
    for stage in Stage::ALL {
        counts.lost_by_stage.insert(stage.name(), 0);
    }
    for t in EntryType::all() {
        counts.by_type.insert(t.name(), Default::default());
    }
    // Up to MAX_EXAMPLES per stage, so every stage that lost something gets shown.
    let mut by_stage: BTreeMap<Stage, Vec<LostExample>> = BTreeMap::new();
    let mut open_bucket_samples = 0u64;
    let mut unsupported = Vec::new();
    let mut non_finite = Vec::new();
    for (e, fate) in ledger.entries.iter().zip(&fates) {
        let t = counts.by_type.entry(e.entry_type.name()).or_default();
        t.sent += 1;
        counts.sent += 1;
        let well_formed = !matches!(e.body, EntryBody::Rejected { .. });
        if well_formed && *fate != Fate::Lost(Stage::Socket) {
            counts.compared += 1;
        }
        match fate {
            Fate::Flushed => {
                t.flushed += 1;
                counts.flushed += 1;
            }
            Fate::Rejected(reason) => {
                t.rejected += 1;
                counts.rejected += 1;
                *counts.rejected_by_reason.entry(reason).or_default() += 1;
                if *reason == UNSUPPORTED_TIMESTAMPED {
                    unsupported.push(e.id);
                }
                if *reason == NON_FINITE_VALUE {
                    non_finite.push(e.id);
                }
            }
            Fate::Lost(stage) => {
                t.lost += 1;
                *t.lost_by_stage.entry(stage.name()).or_default() += 1;
                counts.lost += 1;
                *counts.lost_by_stage.entry(stage.name()).or_default() += 1;
                if *stage == Stage::OpenBucket {
                    open_bucket_samples += 1;
                }
                let v = by_stage.entry(*stage).or_default();
                if v.len() < MAX_EXAMPLES {
                    v.push(example(e, *stage, config));
                }
            }
        }
    }

    let mut errors: Vec<String> = counters.check();
    let reported_open: u64 = losses.open_buckets.iter().map(|b| b.samples).sum();
    if reported_open != open_bucket_samples {
        errors.push(format!(
            "the pipeline dropped {reported_open} samples in open buckets, the ledger counts {open_bucket_samples} in those buckets"
        ));
    }
    non_finite.sort_unstable();
    if non_finite != losses.non_finite {
        errors.push(format!(
            "the samplers refused {} non-finite values, the ledger expects {}",
            losses.non_finite.len(),
            non_finite.len()
        ));
    }
    if unsupported != losses.unsupported_timestamped {
        errors.push(format!(
            "the pipeline discarded {} timestamped samples of unsupported types, the ledger expects {}",
            losses.unsupported_timestamped.len(),
            unsupported.len()
        ));
    }
    let lost_in_queue = fates
        .iter()
        .filter(|f| **f == Fate::Lost(Stage::Queue))
        .count() as u64;
    let q = &counters.queue;
    if q.samples_dropped + q.rejected_lines_dropped != lost_in_queue {
        errors.push(format!(
            "the queue dropped {} samples and {} unparseable lines, the ledger counts {lost_in_queue} entries lost there",
            q.samples_dropped, q.rejected_lines_dropped
        ));
    }
    let parsed_rejections = fates
        .iter()
        .zip(&ledger.entries)
        .filter(|(f, e)| {
            matches!(f, Fate::Rejected(_)) && matches!(e.body, EntryBody::Rejected { .. })
        })
        .count() as u64;
    if parsed_rejections != counters.workers.rejected_lines {
        errors.push(format!(
            "the workers rejected {} lines, the ledger rejects {}",
            counters.workers.rejected_lines, parsed_rejections
        ));
    }

    let expected = predict::predict(ledger, config, &|i| fates[i] == Fate::Flushed);
    let lossless = predict::predict(ledger, config, &|i| !matches!(fates[i], Fate::Rejected(_)));
    let counter_names: HashSet<(&str, &[String], &str)> = ledger
        .entries
        .iter()
        .filter_map(|e| match &e.body {
            EntryBody::Metric(m) if m.metric_type == MetricType::Count => Some((
                m.context.name.as_str(),
                m.context.tags.as_slice(),
                m.context.host.as_str(),
            )),
            _ => None,
        })
        .collect();
    let actual = Actual::from_items(flushed);
    let cmp = compare(&actual, &expected, &lossless, &|k| {
        counter_names.contains(&(k.metric.as_str(), k.tags.as_slice(), k.host.as_str()))
    });
    counts.surplus = cmp.surplus;
    counts.duplicates = cmp.duplicates;
    counts.zero_fill_points = cmp.zero_fill;
    errors.extend(cmp.mismatches);
    if cmp.mismatch_count > MAX_ERRORS_SHOWN as u64 {
        errors.push(format!("… {} disagreements in all", cmp.mismatch_count));
    }
    if !counts.identity_holds() {
        errors
            .push("the accounting identity sent = rejected + flushed + lost does not hold".into());
    }
    Verification {
        counts,
        examples: spread_examples(by_stage),
        accounting_errors: errors,
    }
}

const MAX_ERRORS_SHOWN: usize = 20;

fn example(e: &ledger::Entry, stage: Stage, config: &PipelineConfig) -> LostExample {
    let interval = config.bucket_seconds;
    match &e.body {
        EntryBody::Metric(m) => LostExample {
            metric: m.context.name.clone(),
            metric_type: m.metric_type.name(),
            tags: m.context.tags.clone(),
            bucket: m
                .timestamp
                .unwrap_or(m.arrival_s - m.arrival_s.rem_euclid(interval)),
            stage: stage.name(),
            value: match &m.value {
                crate::pipeline::sample::SampleValue::Number(n) => serde_json::json!(n),
                crate::pipeline::sample::SampleValue::Set(s) => serde_json::json!(s.as_ref()),
            },
        },
        EntryBody::Event {
            title, ts, tags, ..
        } => LostExample {
            metric: title.clone(),
            metric_type: "event",
            tags: tags.clone(),
            bucket: *ts,
            stage: stage.name(),
            value: serde_json::Value::Null,
        },
        EntryBody::ServiceCheck {
            name,
            ts,
            tags,
            status,
            ..
        } => LostExample {
            metric: name.clone(),
            metric_type: "service_check",
            tags: tags.clone(),
            bucket: *ts,
            stage: stage.name(),
            value: serde_json::json!(status),
        },
        EntryBody::Rejected { line, .. } => LostExample {
            metric: line.clone(),
            metric_type: e.entry_type.name(),
            tags: Vec::new(),
            bucket: 0,
            stage: stage.name(),
            value: serde_json::Value::Null,
        },
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

/// Per-type sent counts of a ledger (for the source summary).
pub fn ledger_samples(ledger: &Ledger) -> BTreeMap<&'static str, u64> {
    let mut m = BTreeMap::new();
    for e in &ledger.entries {
        *m.entry(e.entry_type.name()).or_default() += 1;
    }
    m
}
