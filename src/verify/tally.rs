//! The running counts of a scenario: every sample's fate by type and stage, the rejections by
//! reason, a few examples per stage, and the comparison's outcomes. Kept in fixed arrays on the
//! hot path; turned into the report's [`Counts`] at the end.

use crate::protocol::MetricType;
use crate::report::{Counts, LostExample, Name, Stage, TypeCounts};
use std::collections::BTreeMap;

/// Most lost samples shown as examples, per stage and in all.
pub const MAX_EXAMPLES: usize = 10;
/// Most disagreements described.
pub const MAX_ERRORS_SHOWN: usize = 20;

/// What a ledger entry is, for per-type accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Metric(MetricType),
    Event,
    ServiceCheck,
    /// A rejected line whose type could not be read.
    Invalid,
}

const KINDS: usize = 9;

impl EntryKind {
    /// The key of `by_type` in reports.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Metric(t) => t.name(),
            EntryKind::Event => "event",
            EntryKind::ServiceCheck => "service_check",
            EntryKind::Invalid => "invalid",
        }
    }

    fn index(self) -> usize {
        match self {
            EntryKind::Metric(t) => super::group::type_index(t),
            EntryKind::Event => 6,
            EntryKind::ServiceCheck => 7,
            EntryKind::Invalid => 8,
        }
    }

    fn all() -> [EntryKind; KINDS] {
        let m = MetricType::ALL;
        [
            EntryKind::Metric(m[0]),
            EntryKind::Metric(m[1]),
            EntryKind::Metric(m[2]),
            EntryKind::Metric(m[3]),
            EntryKind::Metric(m[4]),
            EntryKind::Metric(m[5]),
            EntryKind::Event,
            EntryKind::ServiceCheck,
            EntryKind::Invalid,
        ]
    }
}

fn stage_index(s: Stage) -> usize {
    Stage::EVERY.iter().position(|x| *x == s).unwrap_or(0)
}

#[derive(Debug, Clone, Copy, Default)]
struct KindCounts {
    sent: u64,
    rejected: u64,
    flushed: u64,
    lost: [u64; 6],
}

/// The running counts of one scenario.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    kinds: [KindCounts; KINDS],
    rejected_by_reason: BTreeMap<&'static str, u64>,
    examples: [Vec<LostExample>; 6],
    /// Samples of well-formed lines that reached the pipeline (not lost at the socket).
    pub compared: u64,
    pub lines: u64,
    /// Rejections of the oracle the pipeline must agree with.
    pub non_finite: u64,
    pub unsupported: u64,
    pub parsed_rejections: u64,
    /// The comparison of values.
    pub surplus: u64,
    pub duplicates: u64,
    pub zero_fill: u64,
    pub mismatch_count: u64,
    pub mismatches: Vec<String>,
}

impl Tally {
    pub fn compared_if(&mut self, yes: bool) {
        self.compared += u64::from(yes);
    }

    pub fn flushed(&mut self, kind: EntryKind) {
        self.flushed_n(kind, 1);
    }

    /// `n` samples of `kind` flushed.
    pub fn flushed_n(&mut self, kind: EntryKind, n: u64) {
        let k = &mut self.kinds[kind.index()];
        k.sent += n;
        k.flushed += n;
    }

    /// Samples counted flushed that turn out lost (their bucket was dropped).
    pub fn unflush(&mut self, kind: EntryKind, n: u64) {
        let k = &mut self.kinds[kind.index()];
        k.sent -= n.min(k.sent);
        k.flushed -= n.min(k.flushed);
    }

    pub fn rejected(&mut self, kind: EntryKind, reason: &'static str) {
        let k = &mut self.kinds[kind.index()];
        k.sent += 1;
        k.rejected += 1;
        *self.rejected_by_reason.entry(reason).or_default() += 1;
    }

    /// `n` samples of `kind` lost at `stage`; `example` is called only while examples are
    /// still wanted.
    pub fn lost(
        &mut self,
        kind: EntryKind,
        stage: Stage,
        n: u64,
        example: impl FnOnce() -> LostExample,
    ) {
        let k = &mut self.kinds[kind.index()];
        let s = stage_index(stage);
        k.sent += n;
        k.lost[s] += n;
        if self.examples[s].len() < MAX_EXAMPLES {
            self.examples[s].push(example());
        }
    }

    pub fn lost_at(&self, stage: Stage) -> u64 {
        let s = stage_index(stage);
        self.kinds.iter().map(|k| k.lost[s]).sum()
    }

    pub fn sent(&self) -> u64 {
        self.kinds.iter().map(|k| k.sent).sum()
    }

    /// A disagreement the reported losses do not explain (an accounting error).
    pub fn mismatch(&mut self, what: impl FnOnce() -> String) {
        self.mismatch_count += 1;
        if self.mismatches.len() < MAX_ERRORS_SHOWN {
            self.mismatches.push(what());
        }
    }

    /// The report's counts.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for stage in Stage::ALL {
            c.lost_by_stage.insert(stage.name().into(), 0);
        }
        for kind in EntryKind::all() {
            let k = &self.kinds[kind.index()];
            let mut t = TypeCounts {
                sent: k.sent,
                rejected: k.rejected,
                flushed: k.flushed,
                lost: k.lost.iter().sum(),
                lost_by_stage: BTreeMap::new(),
            };
            for (i, stage) in Stage::EVERY.iter().enumerate() {
                if k.lost[i] > 0 {
                    t.lost_by_stage.insert(stage.name().into(), k.lost[i]);
                    *c.lost_by_stage.entry(stage.name().into()).or_default() += k.lost[i];
                }
            }
            c.sent += t.sent;
            c.rejected += t.rejected;
            c.flushed += t.flushed;
            c.lost += t.lost;
            c.by_type.insert(kind.name().into(), t);
        }
        c.rejected_by_reason = self
            .rejected_by_reason
            .iter()
            .map(|(k, v)| (Name::from(*k), *v))
            .collect();
        c.surplus = self.surplus;
        c.duplicates = self.duplicates;
        c.zero_fill_points = self.zero_fill;
        c.compared = self.compared;
        c
    }

    /// At most [`MAX_EXAMPLES`] examples taken in turn from each stage, in pipeline order.
    pub fn examples(&self) -> Vec<LostExample> {
        let mut lists: Vec<std::slice::Iter<LostExample>> =
            self.examples.iter().map(|v| v.iter()).collect();
        let mut out = Vec::new();
        while out.len() < MAX_EXAMPLES {
            let before = out.len();
            for l in &mut lists {
                if out.len() < MAX_EXAMPLES {
                    out.extend(l.next().cloned());
                }
            }
            if out.len() == before {
                break;
            }
        }
        out.sort_by_key(|e| Stage::EVERY.iter().position(|s| s.name() == e.stage));
        out
    }
}
