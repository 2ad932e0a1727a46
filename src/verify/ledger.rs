//! The ledger: what was sent, read from the same bytes the listener read, independently of the
//! pipeline, and folded as it goes. Nothing is kept per sample.
//!
//! A datagram is copied when it is handed to the pipeline and waits, as bytes, until the
//! pipeline says a worker parsed it ([`Ledger::parsed`]). Its lines are then parsed here too
//! and each sample's fate is decided: rejected (with the reason), lost at the context limit
//! (the samplers said so), a point of the no-aggregation path, or folded into the expectation
//! of its (context, bucket). Folding when the worker parses, not when the datagram arrives, is
//! what lets every stage before the samplers lose datagrams without anything being taken back:
//! at the stop, a datagram still waiting is lost at the queue (or the socket), whole.
//!
//! The expectations of a bucket are compared with the flush that closes it and then forgotten
//! ([`super::compare`]), so memory holds the open buckets, the datagrams in flight and the
//! contexts, not the stream.

use super::context::{canonical_tags, Contexts, CtxId};
use super::group::{Agg, Folded, Group, PointKey, Value};
use super::tally::{EntryKind, Tally};
use crate::pipeline::clock::secs;
use crate::pipeline::flushed::{EventItem, SeriesType, ServiceCheckItem};
use crate::pipeline::packet::DatagramId;
use crate::pipeline::sample::SampleId;
use crate::pipeline::PipelineConfig;
use crate::protocol::{self, Line, MetricType};
use crate::report::{LostExample, Stage};
use foldhash::fast::FixedState;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Reason given to timestamped samples the no-aggregation path discards.
pub const UNSUPPORTED_TIMESTAMPED: &str = "timestamp_on_unsupported_type";
/// Reason given to NaN or infinite values, which the samplers refuse.
pub const NON_FINITE_VALUE: &str = "non_finite_value";

/// Longest rejected line kept for examples.
const LINE_EXAMPLE_MAX: usize = 200;

/// Identity of an event or service check in the output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemKey {
    pub kind: &'static str,
    pub name: String,
    pub ts: i64,
    pub host: String,
    pub tags: Vec<String>,
    pub status: u8,
    /// An event's text (unescaped) or a service check's message.
    pub text: String,
}

/// The host of an event or a service check: its own `h:` field, when not empty, wins over the
/// host of its tags (the reference's `enrichEvent` / `enrichServiceCheck`).
fn own_host(own: Option<&str>, from_tags: String) -> String {
    own.filter(|h| !h.is_empty())
        .map_or(from_tags, str::to_string)
}

impl ItemKey {
    /// An event line as the server flushes it.
    pub fn of_event_line(e: &protocol::EventLine<'_>, arrival_s: i64, hostname: &str) -> ItemKey {
        let (tags, host) = canonical_tags(e.raw_tags, hostname);
        ItemKey {
            kind: "event",
            name: protocol::unescape_event_text(e.title).into_owned(),
            ts: e.timestamp.unwrap_or(arrival_s),
            host: own_host(e.hostname, host),
            tags,
            status: 0,
            text: protocol::unescape_event_text(e.text).into_owned(),
        }
    }

    /// A service-check line as the server flushes it.
    pub fn of_check_line(
        s: &protocol::ServiceCheckLine<'_>,
        arrival_s: i64,
        hostname: &str,
    ) -> ItemKey {
        let (tags, host) = canonical_tags(s.raw_tags, hostname);
        ItemKey {
            kind: "service_check",
            name: s.name.to_string(),
            ts: s.timestamp.unwrap_or(arrival_s),
            host: own_host(s.hostname, host),
            tags,
            status: s.status,
            text: s.message.unwrap_or_default().to_string(),
        }
    }

    /// A flushed event.
    pub fn of_event(ev: &EventItem) -> ItemKey {
        ItemKey {
            kind: "event",
            name: ev.title.clone(),
            ts: ev.ts,
            host: ev.host.clone(),
            tags: ev.tags.clone(),
            status: 0,
            text: ev.text.clone(),
        }
    }

    /// A flushed service check.
    pub fn of_check(c: &ServiceCheckItem) -> ItemKey {
        ItemKey {
            kind: "service_check",
            name: c.check.clone(),
            ts: c.ts,
            host: c.host.clone(),
            tags: c.tags.clone(),
            status: c.status,
            text: c.message.clone().unwrap_or_default(),
        }
    }
}

/// A group's key within its bucket: the context, and whether it is a distribution (sketches
/// are kept apart from the other types of the same context).
pub type GroupKey = (CtxId, bool);

/// A datagram handed to the pipeline and not yet parsed by a worker (`done` once it was: it
/// leaves the queue of pending datagrams when every older one has).
#[derive(Debug, Clone)]
struct Pending {
    id: DatagramId,
    ts_ns: u64,
    done: bool,
    /// What the listener reads of it (cut to the read buffer).
    bytes: Vec<u8>,
}

/// What the oracle knows of one scenario so far.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub contexts: Contexts,
    pending: VecDeque<Pending>,
    /// Byte buffers of parsed datagrams, reused: no allocation per datagram once warm.
    spare: Vec<Vec<u8>>,
    /// Open expectations by bucket start.
    pub groups: BTreeMap<i64, HashMap<GroupKey, Group, FixedState>>,
    /// Points of the no-aggregation path, flushed at the next flush.
    pub passthrough: HashMap<PointKey, Folded, FixedState>,
    /// Events and service checks, flushed at the next flush.
    pub items: HashMap<ItemKey, u64, FixedState>,
    /// Samples the samplers refused at the context limit, until their datagram is folded.
    context_limit: HashSet<SampleId, FixedState>,
    pub tally: Tally,
    next_seq: u64,
    buffer_size: usize,
    hostname: String,
    interval: i64,
    no_aggregation: bool,
}

impl Ledger {
    pub fn new(config: &PipelineConfig) -> Ledger {
        Ledger {
            contexts: Contexts::default(),
            pending: VecDeque::new(),
            spare: Vec::new(),
            groups: BTreeMap::new(),
            passthrough: HashMap::default(),
            items: HashMap::default(),
            context_limit: HashSet::default(),
            tally: Tally::default(),
            next_seq: 0,
            buffer_size: config.buffer_size,
            hostname: config.hostname.clone(),
            interval: config.bucket_seconds,
            no_aggregation: config.no_aggregation_pipeline,
        }
    }

    /// A datagram handed to the pipeline: lines its read buffer cuts off are sent but never
    /// read (lost at the socket, now); the rest waits for a worker.
    pub fn record(&mut self, id: DatagramId, ts_ns: u64, payload: &[u8]) {
        let arrival_s = secs(ts_ns);
        for line in protocol::cut_lines(payload, self.buffer_size) {
            self.tally.lines += 1;
            self.lose_line(line, arrival_s, Stage::Socket);
        }
        let read = &payload[..payload.len().min(self.buffer_size)];
        let mut bytes = self.spare.pop().unwrap_or_default();
        bytes.clear();
        bytes.extend_from_slice(read);
        self.pending.push_back(Pending {
            id,
            ts_ns,
            done: false,
            bytes,
        });
    }

    /// The samplers refused this sample at the context limit (before its datagram is parsed).
    pub fn context_limit(&mut self, sample: SampleId) {
        self.context_limit.insert(sample);
    }

    /// Where datagram `id` waits. Ids are handed out in sending order, so the queue is sorted
    /// by id: a binary search, even when datagrams lost at the socket stay at its front.
    fn find_pending(&self, id: DatagramId) -> Option<usize> {
        let at = self.pending.binary_search_by_key(&id, |p| p.id).ok()?;
        (!self.pending[at].done).then_some(at)
    }

    /// A worker parsed datagram `id`: its samples meet their fates.
    pub fn parsed(&mut self, id: DatagramId) -> Result<(), String> {
        let at = self
            .find_pending(id)
            .ok_or_else(|| format!("the pipeline parsed datagram {id}, which was not sent"))?;
        let p = &mut self.pending[at];
        p.done = true;
        let (ts_ns, bytes) = (p.ts_ns, std::mem::take(&mut p.bytes));
        let arrival_s = secs(ts_ns);
        for (i, line) in protocol::split_lines(&bytes).enumerate() {
            self.tally.lines += 1;
            self.fold_line(id, i as u32, line, arrival_s);
        }
        self.spare.push(bytes);
        while self.pending.front().is_some_and(|p| p.done) {
            self.pending.pop_front();
        }
        Ok(())
    }

    /// The datagrams still waiting for a worker, oldest first.
    pub fn pending_ids(&self) -> impl Iterator<Item = DatagramId> + '_ {
        self.waiting().map(|p| p.id)
    }

    fn waiting(&self) -> impl Iterator<Item = &Pending> + '_ {
        self.pending.iter().filter(|p| !p.done)
    }

    /// Every datagram still waiting is lost, whole, at the stage `stage_of` names (the queue at
    /// a stop without drain, or the socket).
    pub fn lose_pending(&mut self, stage_of: impl Fn(DatagramId) -> Stage) {
        for p in std::mem::take(&mut self.pending) {
            if p.done {
                continue;
            }
            let (arrival_s, stage) = (secs(p.ts_ns), stage_of(p.id));
            for line in protocol::split_lines(&p.bytes) {
                self.tally.lines += 1;
                self.lose_line(line, arrival_s, stage);
            }
        }
    }

    /// Lines and samples of what is still waiting (for the source summary of the whole stream).
    pub fn pending_size(&self) -> (u64, u64) {
        let (mut lines, mut samples) = (0, 0);
        for p in self.waiting() {
            for line in protocol::split_lines(&p.bytes) {
                lines += 1;
                samples += sample_count(line);
            }
        }
        (lines, samples)
    }

    /// Every sample of a line that never reached a worker, lost at `stage`.
    fn lose_line(&mut self, line: &[u8], arrival_s: i64, stage: Stage) {
        let hostname = &self.hostname;
        match protocol::parse_line(line) {
            Err(_) => {
                let kind = rejected_kind(line);
                let example = || rejected_example(line, kind, stage);
                self.tally.lost(kind, stage, 1, example);
                self.tally.compared_if(false);
            }
            Ok(Line::Metric(m)) => {
                let id = self.contexts.resolve(m.name, m.raw_tags, &self.hostname);
                if m.metric_type == MetricType::Count {
                    self.contexts.mark_counter(id);
                }
                let bucket = m
                    .timestamp
                    .unwrap_or(arrival_s - arrival_s.rem_euclid(self.interval));
                for v in m.values() {
                    let contexts = &self.contexts;
                    let example =
                        || metric_example(contexts, id, m.metric_type, v.into(), bucket, stage);
                    self.tally
                        .lost(EntryKind::Metric(m.metric_type), stage, 1, example);
                    self.tally.compared_if(stage != Stage::Socket);
                }
            }
            Ok(Line::Event(e)) => {
                let example = || {
                    let key = ItemKey::of_event_line(&e, arrival_s, hostname);
                    item_example(&key, stage, serde_json::Value::Null)
                };
                self.tally.lost(EntryKind::Event, stage, 1, example);
                self.tally.compared_if(stage != Stage::Socket);
            }
            Ok(Line::ServiceCheck(s)) => {
                let example = || {
                    let key = ItemKey::of_check_line(&s, arrival_s, hostname);
                    let status = serde_json::json!(key.status);
                    item_example(&key, stage, status)
                };
                self.tally.lost(EntryKind::ServiceCheck, stage, 1, example);
                self.tally.compared_if(stage != Stage::Socket);
            }
        }
    }

    /// One line a worker parsed: each sample's fate.
    fn fold_line(&mut self, datagram: DatagramId, line_idx: u32, line: &[u8], arrival_s: i64) {
        match protocol::parse_line(line) {
            Err(reason) => {
                self.tally.rejected(rejected_kind(line), reason.as_str());
                self.tally.parsed_rejections += 1;
            }
            Ok(Line::Metric(m)) => {
                let ctx = self.contexts.resolve(m.name, m.raw_tags, &self.hostname);
                let t = m.metric_type;
                if t == MetricType::Count {
                    self.contexts.mark_counter(ctx);
                }
                let bucket = arrival_s - arrival_s.rem_euclid(self.interval);
                for (i, v) in m.values().enumerate() {
                    self.tally.compared_if(true);
                    let sample = SampleId {
                        datagram,
                        line: line_idx,
                        value: i as u32,
                    };
                    self.fold_sample(ctx, t, v.into(), m.sample_rate, m.timestamp, bucket, sample);
                }
            }
            Ok(Line::Event(e)) => {
                self.tally.compared_if(true);
                self.tally.flushed(EntryKind::Event);
                *self
                    .items
                    .entry(ItemKey::of_event_line(&e, arrival_s, &self.hostname))
                    .or_default() += 1;
            }
            Ok(Line::ServiceCheck(s)) => {
                self.tally.compared_if(true);
                self.tally.flushed(EntryKind::ServiceCheck);
                *self
                    .items
                    .entry(ItemKey::of_check_line(&s, arrival_s, &self.hostname))
                    .or_default() += 1;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fold_sample(
        &mut self,
        ctx: CtxId,
        t: MetricType,
        v: Value<'_>,
        rate: f64,
        timestamp: Option<i64>,
        bucket: i64,
        sample: SampleId,
    ) {
        let kind = EntryKind::Metric(t);
        if let (Some(ts), true) = (timestamp, self.no_aggregation) {
            // The no-aggregation path: a point of its own at its timestamp, for gauges and
            // counts (as a rate); other types are discarded.
            let (series_type, value) = match t {
                MetricType::Gauge => (SeriesType::Gauge, v.number()),
                MetricType::Count => (SeriesType::Rate, v.number() / self.interval as f64),
                _ => {
                    self.tally.rejected(kind, UNSUPPORTED_TIMESTAMPED);
                    self.tally.unsupported += 1;
                    return;
                }
            };
            let key = PointKey {
                ctx,
                agg: Agg::Plain,
                series_type,
                ts,
            };
            self.passthrough.entry(key).or_default().add(value);
            self.tally.flushed(kind);
            return;
        }
        if !self.context_limit.is_empty() && self.context_limit.remove(&sample) {
            let contexts = &self.contexts;
            let example = || metric_example(contexts, ctx, t, v, bucket, Stage::ContextLimit);
            self.tally.lost(kind, Stage::ContextLimit, 1, example);
            self.group(bucket, ctx, t).lost += 1;
            return;
        }
        if matches!(v, Value::Number(n) if !n.is_finite()) {
            self.tally.rejected(kind, NON_FINITE_VALUE);
            self.tally.non_finite += 1;
            return;
        }
        self.tally.flushed(kind);
        self.group(bucket, ctx, t).add(t, v, rate);
    }

    fn group(&mut self, bucket: i64, ctx: CtxId, t: MetricType) -> &mut Group {
        let seq = &mut self.next_seq;
        self.groups
            .entry(bucket)
            .or_default()
            .entry((ctx, t == MetricType::Distribution))
            .or_insert_with(|| {
                *seq += 1;
                Group::new(*seq)
            })
    }

    /// The groups of buckets that end at or before `cutoff` (all of them: `None`), taken out.
    pub fn take_closed(
        &mut self,
        cutoff: Option<i64>,
    ) -> Vec<(i64, HashMap<GroupKey, Group, FixedState>)> {
        let taken = match cutoff {
            None => std::mem::take(&mut self.groups),
            Some(c) => {
                // Buckets starting at or after `cutoff - interval + 1` stay open.
                let open = self.groups.split_off(&(c - self.interval + 1));
                std::mem::replace(&mut self.groups, open)
            }
        };
        taken.into_iter().collect()
    }

    /// A group taken out and not compared, back in its bucket.
    pub fn put_back(&mut self, bucket: i64, key: GroupKey, g: Group) {
        self.groups.entry(bucket).or_default().insert(key, g);
    }

    /// A group lost whole at `stage` (its bucket was dropped): its kept samples move from
    /// flushed to lost.
    pub fn lose_group(&mut self, bucket: i64, key: GroupKey, g: &Group, stage: Stage) {
        for (i, n) in g.kept.iter().enumerate() {
            if *n > 0 {
                let kind = EntryKind::Metric(MetricType::ALL[i]);
                self.tally.unflush(kind, u64::from(*n));
                let example = || group_example(&self.contexts, key.0, g, bucket, stage);
                self.tally.lost(kind, stage, u64::from(*n), example);
            }
        }
    }
}

/// The lines of a datagram (those its read buffer cuts off too) and the samples they hold.
pub fn datagram_size(payload: &[u8], buffer_size: usize) -> (u64, u64) {
    let read = &payload[..payload.len().min(buffer_size)];
    let cut = protocol::cut_lines(payload, buffer_size);
    let (mut lines, mut samples) = (0, 0);
    for line in protocol::split_lines(read).chain(cut) {
        lines += 1;
        samples += sample_count(line);
    }
    (lines, samples)
}

/// The samples a line counts for: each value of a metric line, one for anything else.
pub fn sample_count(line: &[u8]) -> u64 {
    match protocol::parse_line(line) {
        Ok(Line::Metric(m)) => m.value_count as u64,
        _ => 1,
    }
}

fn rejected_kind(line: &[u8]) -> EntryKind {
    protocol::rejected_line_type(line).map_or(EntryKind::Invalid, EntryKind::Metric)
}

fn rejected_example(line: &[u8], kind: EntryKind, stage: Stage) -> LostExample {
    LostExample {
        metric: String::from_utf8_lossy(&line[..line.len().min(LINE_EXAMPLE_MAX)]).into_owned(),
        metric_type: kind.name().into(),
        tags: Vec::new(),
        bucket: 0,
        stage: stage.name().into(),
        value: serde_json::Value::Null,
    }
}

fn metric_example(
    contexts: &Contexts,
    ctx: CtxId,
    t: MetricType,
    v: Value<'_>,
    bucket: i64,
    stage: Stage,
) -> LostExample {
    let c = contexts.get(ctx);
    LostExample {
        metric: c.name.to_string(),
        metric_type: t.name().into(),
        tags: c.tags.clone(),
        bucket,
        stage: stage.name().into(),
        value: match v {
            Value::Number(n) => serde_json::json!(n),
            Value::Set(s) => serde_json::json!(s),
        },
    }
}

fn group_example(
    contexts: &Contexts,
    ctx: CtxId,
    g: &Group,
    bucket: i64,
    stage: Stage,
) -> LostExample {
    let c = contexts.get(ctx);
    let (t, value) = g
        .first
        .clone()
        .unwrap_or((MetricType::Gauge, serde_json::Value::Null));
    LostExample {
        metric: c.name.to_string(),
        metric_type: t.name().into(),
        tags: c.tags.clone(),
        bucket,
        stage: stage.name().into(),
        value,
    }
}

fn item_example(key: &ItemKey, stage: Stage, value: serde_json::Value) -> LostExample {
    LostExample {
        metric: key.name.clone(),
        metric_type: key.kind.into(),
        tags: key.tags.clone(),
        bucket: key.ts,
        stage: stage.name().into(),
        value,
    }
}
