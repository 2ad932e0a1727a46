//! The oracle of a server lastbucket cannot see inside (blackbox.md, "How the oracle judges").
//!
//! What was sent is folded per (context, bucket), the bucket taken from the wall-clock second
//! each datagram was sent at: the server's clock is this host's clock, and it can only read a
//! datagram after it was sent. A sample sent within [`SPILL_MARGIN_NS`] of its bucket's end may
//! land in the next bucket, so such neighbouring buckets of a context are judged together (a
//! window); when the window as a whole disagrees, each of its buckets is judged alone.
//!
//! A window whose context the server posted nothing for is lost whole; one whose posted values
//! disagree with what was sent is lost too (its samples are counted lost and the disagreement
//! is named in the reasons: a server's wrong value is a failure of the server, not an
//! accounting error of lastbucket's). Loss goes to the `server` stage, except what the UDP
//! socket's kernel drop counter shows, which goes to `socket` (an estimate in samples: the
//! counter counts datagrams, not which ones).
//!
//! Per context: counter totals (RATE × interval, or COUNT), gauge last values, set distinct
//! counts, histogram `.count` (truncated weights) and `.max`/`.avg` where posted, distribution
//! cnt/sum/min/max; events and service checks by identity. Counter zero points are never
//! surplus. Timestamped gauges and counters are points at their own second (the agent's
//! no-aggregation path); other timestamped types are rejected as the agent rejects them.

use crate::pipeline::flushed::{FlushedItem, SeriesType};
use crate::protocol::{self, Line, MetricType, MetricValue};
use crate::report::{LostExample, Stage};
use crate::verify::context::{Contexts, CtxId};
use crate::verify::group::close;
use crate::verify::ledger::ItemKey;
use crate::verify::tally::{EntryKind, Tally, MAX_ERRORS_SHOWN};
use crate::verify::{NON_FINITE_VALUE, UNSUPPORTED_TIMESTAMPED};
use std::collections::{BTreeMap, HashMap, HashSet};

/// How late a server may read a datagram and still be judged by the bucket it was sent in:
/// a sample sent this close to a bucket's end may be in the next one.
pub const SPILL_MARGIN_NS: u64 = 2_000_000_000;

/// Relative tolerance of posted sums (a RATE is divided by the interval and multiplied back).
const REL: f64 = 1e-6;

fn near(a: f64, b: f64) -> bool {
    close(a, b) || (a - b).abs() <= REL * a.abs().max(b.abs()).max(1e-12)
}

/// What one (context, bucket) was sent.
#[derive(Debug, Clone, Default)]
struct Sent {
    /// The first sample's type: the bucket folds by it (the context key has no type).
    kind: Option<MetricType>,
    /// Samples by type ([`MetricType::ALL`] order).
    n: [u64; 6],
    counter: f64,
    gauge_last: f64,
    set: HashSet<String>,
    weight: i64,
    sum: f64,
    min: f64,
    max: f64,
    /// Some sample was sent within the margin of the bucket's end.
    spills: bool,
    /// Timestamped points (one per sample), for the no-aggregation path.
    points: Vec<f64>,
    example: Option<LostExample>,
}

impl Sent {
    fn total(&self) -> u64 {
        self.n.iter().sum()
    }

    fn merge(&mut self, later: &Sent) {
        if self.kind.is_none() {
            self.kind = later.kind;
        }
        for i in 0..6 {
            self.n[i] += later.n[i];
        }
        self.counter += later.counter;
        if later.total() > 0 {
            self.gauge_last = later.gauge_last;
        }
        self.set.extend(later.set.iter().cloned());
        self.weight += later.weight;
        self.sum += later.sum;
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.points.extend_from_slice(&later.points);
        if self.example.is_none() {
            self.example = later.example.clone();
        }
    }
}

/// What the server posted for one context at one second.
#[derive(Debug, Clone, Default)]
struct Posted {
    /// Plain series points (RATE × interval), by type.
    plain: Vec<f64>,
    plain_gauge: bool,
    count: Option<f64>,
    max: Option<f64>,
    avg: Option<f64>,
    other_aggregates: u32,
    sketch: Option<(i64, f64, f64, f64)>,
    sketches: u32,
}

impl Posted {
    fn is_empty(&self) -> bool {
        self.plain.is_empty()
            && self.count.is_none()
            && self.max.is_none()
            && self.avg.is_none()
            && self.other_aggregates == 0
            && self.sketches == 0
    }

    fn merge(&mut self, later: &Posted) {
        self.plain.extend_from_slice(&later.plain);
        self.plain_gauge |= later.plain_gauge;
        self.count = add_opt(self.count, later.count, |a, b| a + b);
        self.max = add_opt(self.max, later.max, f64::max);
        self.avg = later.avg.or(self.avg);
        self.other_aggregates += later.other_aggregates;
        self.sketches += later.sketches;
        self.sketch = match (self.sketch, later.sketch) {
            (Some(a), Some(b)) => Some((a.0 + b.0, a.1 + b.1, a.2.min(b.2), a.3.max(b.3))),
            (a, b) => a.or(b),
        };
    }
}

fn add_opt(a: Option<f64>, b: Option<f64>, f: impl Fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

/// A context's neighbouring buckets judged together: (context, timestamped, its buckets).
type Window = (CtxId, bool, Vec<(i64, Sent)>);

/// An event or service check sent: its identity, and whether its second is its own.
#[derive(Debug, Clone)]
struct SentItem {
    key: ItemKey,
    own_ts: bool,
    sent_s: i64,
}

/// The black-box oracle of one scenario.
#[derive(Debug, Clone)]
pub struct BlackboxOracle {
    contexts: Contexts,
    /// (context, bucket start or own second, timestamped) → what was sent.
    sent: BTreeMap<(CtxId, i64, bool), Sent>,
    items: Vec<SentItem>,
    tally: Tally,
    interval: i64,
    /// `DD_HOSTNAME` as the server was given it: a posted host equal to it is the default.
    hostname: String,
    notes: Vec<String>,
    note_count: u64,
    /// Points and items posted for names never sent: the server's own telemetry (the agent
    /// posts `datadog.agent.*`, `datadog.dogstatsd.*` and its service checks). Reported, not
    /// surplus.
    foreign: u64,
}

/// The oracle's outcome: what a [`crate::verify::Verification`] holds, plus why samples were
/// counted lost where the server posted something else.
pub struct Judged {
    pub tally: Tally,
    /// Points and items of names never sent (the server's own telemetry).
    pub foreign: u64,
    pub disagreements: Vec<String>,
    pub disagreement_count: u64,
}

impl BlackboxOracle {
    pub fn new(interval: i64, hostname: &str) -> BlackboxOracle {
        BlackboxOracle {
            contexts: Contexts::default(),
            sent: BTreeMap::new(),
            items: Vec::new(),
            tally: Tally::default(),
            interval: interval.max(1),
            hostname: hostname.to_string(),
            notes: Vec::new(),
            note_count: 0,
            foreign: 0,
        }
    }

    /// A datagram sent at wall-clock `wall_ns` (nanoseconds since the Unix epoch).
    pub fn sent(&mut self, wall_ns: u64, payload: &[u8]) {
        let sent_s = (wall_ns / 1_000_000_000) as i64;
        let bucket = sent_s - sent_s.rem_euclid(self.interval);
        let bucket_end_ns = (bucket + self.interval) as u64 * 1_000_000_000;
        let spills = bucket_end_ns.saturating_sub(wall_ns) <= SPILL_MARGIN_NS;
        for line in protocol::split_lines(payload) {
            self.tally.lines += 1;
            match protocol::parse_line(line) {
                Err(reason) => {
                    let kind = protocol::rejected_line_type(line)
                        .map_or(EntryKind::Invalid, EntryKind::Metric);
                    self.tally.rejected(kind, reason.as_str());
                }
                Ok(Line::Metric(m)) => self.metric(&m, bucket, spills),
                Ok(Line::Event(e)) => {
                    self.tally.compared_if(true);
                    self.items.push(SentItem {
                        key: ItemKey::of_event_line(&e, sent_s, ""),
                        own_ts: e.timestamp.is_some(),
                        sent_s,
                    });
                }
                Ok(Line::ServiceCheck(c)) => {
                    self.tally.compared_if(true);
                    self.items.push(SentItem {
                        key: ItemKey::of_check_line(&c, sent_s, ""),
                        own_ts: c.timestamp.is_some(),
                        sent_s,
                    });
                }
            }
        }
    }

    fn metric(&mut self, m: &protocol::MetricLine<'_>, bucket: i64, spills: bool) {
        let t = m.metric_type;
        let kind = EntryKind::Metric(t);
        let ctx = self.contexts.resolve(m.name, m.raw_tags, "");
        if t == MetricType::Count {
            self.contexts.mark_counter(ctx);
        }
        let timestamped = m.timestamp.is_some();
        for v in m.values() {
            if timestamped && !matches!(t, MetricType::Gauge | MetricType::Count) {
                self.tally.rejected(kind, UNSUPPORTED_TIMESTAMPED);
                continue;
            }
            if matches!(v, MetricValue::Number(n) if !n.is_finite()) {
                self.tally.rejected(kind, NON_FINITE_VALUE);
                continue;
            }
            self.tally.compared_if(true);
            let key = (ctx, m.timestamp.unwrap_or(bucket), timestamped);
            let c = self.contexts.get(ctx);
            let g = self.sent.entry(key).or_insert_with(|| Sent {
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                ..Sent::default()
            });
            if g.example.is_none() {
                g.example = Some(LostExample {
                    metric: c.name.to_string(),
                    metric_type: t.name().into(),
                    tags: c.tags.clone(),
                    bucket: key.1,
                    stage: Stage::Server.name().into(),
                    value: match v {
                        MetricValue::Number(n) => serde_json::json!(n),
                        MetricValue::Set(s) => serde_json::json!(s),
                    },
                });
            }
            g.spills |= spills && !timestamped;
            g.n[t as usize] += 1;
            let first = *g.kind.get_or_insert(t);
            let rate = m.sample_rate;
            match (v, first) {
                (MetricValue::Set(s), _) => {
                    g.set.insert(s.to_string());
                }
                (MetricValue::Number(n), _) if timestamped => g.points.push(n),
                (MetricValue::Number(n), MetricType::Count) => {
                    g.counter += n / if rate > 0.0 { rate } else { 1.0 }
                }
                (MetricValue::Number(n), MetricType::Gauge) => g.gauge_last = n,
                (MetricValue::Number(n), MetricType::Set) => {
                    g.set.insert(n.to_string());
                }
                (MetricValue::Number(n), _) => {
                    let r = if rate > 0.0 && rate <= 1.0 { rate } else { 1.0 };
                    let w = (1.0 / r) as i64;
                    g.weight += w;
                    g.sum += n * w as f64;
                    g.min = g.min.min(n);
                    g.max = g.max.max(n);
                }
            }
        }
    }

    fn note(&mut self, what: impl FnOnce() -> String) {
        self.note_count += 1;
        if self.notes.len() < MAX_ERRORS_SHOWN {
            self.notes.push(what());
        }
    }

    /// A posted host: the server's default host (`DD_HOSTNAME`, or none) reads as the oracle's
    /// default, empty.
    fn host<'a>(&self, host: &'a str) -> &'a str {
        if host == self.hostname {
            ""
        } else {
            host
        }
    }

    /// A posted item's identity: its host read as [`Self::host`] does, its tags as a set (no
    /// server is held to an order).
    fn canonical(&self, mut key: ItemKey) -> ItemKey {
        key.host = self.host(&key.host).to_string();
        key.tags.sort();
        key.tags.dedup();
        key
    }

    /// Everything the server posted, folded by (context, second); surplus counted.
    fn fold_posted(
        &mut self,
        items: &[FlushedItem],
    ) -> (HashMap<(CtxId, i64), Posted>, Vec<ItemKey>) {
        let mut posted: HashMap<(CtxId, i64), Posted> = HashMap::new();
        let mut posted_items = Vec::new();
        for item in items {
            let mut tags = match item {
                FlushedItem::Series(s) => s.tags.clone(),
                FlushedItem::Sketch(k) => k.tags.clone(),
                _ => Vec::new(),
            };
            tags.sort();
            tags.dedup();
            match item {
                FlushedItem::Series(s) => {
                    let host = self.host(&s.host).to_string();
                    let plain = self.contexts.find(&s.metric, &tags, &host);
                    let aggregate = s.metric.rsplit_once('.').and_then(|(base, suffix)| {
                        let ctx = self.contexts.find(base, &tags, &host)?;
                        Some((ctx, suffix.to_string()))
                    });
                    let interval = if s.interval > 0 {
                        s.interval
                    } else {
                        self.interval
                    };
                    let scale = if s.series_type == SeriesType::Rate {
                        interval as f64
                    } else {
                        1.0
                    };
                    for (ts, v) in &s.points {
                        let value = v * scale;
                        match (plain, &aggregate) {
                            (Some(ctx), _) => {
                                let p = posted.entry((ctx, *ts)).or_default();
                                p.plain.push(value);
                                p.plain_gauge |= s.series_type == SeriesType::Gauge;
                            }
                            (None, Some((ctx, suffix))) => {
                                let p = posted.entry((*ctx, *ts)).or_default();
                                match suffix.as_str() {
                                    "count" => p.count = Some(p.count.unwrap_or(0.0) + value),
                                    "max" => p.max = Some(p.max.map_or(*v, |m| m.max(*v))),
                                    "avg" => p.avg = Some(*v),
                                    _ => p.other_aggregates += 1,
                                }
                            }
                            (None, None) => self.foreign += 1,
                        }
                    }
                }
                FlushedItem::Sketch(k) => {
                    let host = self.host(&k.host).to_string();
                    let Some(ctx) = self.contexts.find(&k.metric, &tags, &host) else {
                        self.foreign += 1;
                        continue;
                    };
                    let p = posted.entry((ctx, k.ts)).or_default();
                    p.sketches += 1;
                    let this = (k.count, k.sum, k.min, k.max);
                    p.sketch = Some(match p.sketch {
                        Some(a) => (a.0 + this.0, a.1 + this.1, a.2.min(this.2), a.3.max(this.3)),
                        None => this,
                    });
                }
                FlushedItem::Event(e) => posted_items.push(self.canonical(ItemKey::of_event(e))),
                FlushedItem::ServiceCheck(c) => {
                    posted_items.push(self.canonical(ItemKey::of_check(c)))
                }
            }
        }
        (posted, posted_items)
    }

    /// Judges what the server posted. `socket_drops`: datagrams the kernel dropped on the
    /// server's UDP socket, `samples_per_datagram` to turn them into samples.
    pub fn judge(
        mut self,
        items: &[FlushedItem],
        socket_drops: u64,
        samples_per_datagram: f64,
    ) -> Judged {
        let (mut posted, posted_items) = self.fold_posted(items);
        let mut lost: Vec<(EntryKind, u64, Option<LostExample>)> = Vec::new();
        let sent = std::mem::take(&mut self.sent);
        // Windows: per context, buckets linked to the next one when a sample may spill.
        let mut windows: Vec<Window> = Vec::new();
        for ((ctx, ts, stamped), g) in sent {
            if let Some((c, s, w)) = windows.last_mut() {
                #[allow(clippy::expect_used)] // proven: a window is never empty
                let (last_ts, last) = w.last().expect("a window is never empty");
                if *c == ctx && !*s && !stamped && last.spills && *last_ts + self.interval == ts {
                    w.push((ts, g));
                    continue;
                }
            }
            windows.push((ctx, stamped, vec![(ts, g)]));
        }
        for (ctx, stamped, w) in windows {
            let first_ts = w[0].0;
            let mut last_ts = w[w.len() - 1].0;
            if !stamped && w[w.len() - 1].1.spills {
                // The next bucket may hold what spilled from the last one.
                last_ts += self.interval;
            }
            let mut whole_sent = w[0].1.clone();
            for (_, g) in &w[1..] {
                whole_sent.merge(g);
            }
            let mut whole_posted = Posted::default();
            let mut ts = first_ts;
            while ts <= last_ts {
                if let Some(p) = posted.get(&(ctx, ts)) {
                    whole_posted.merge(p);
                }
                ts += self.interval;
            }
            let verdicts: Vec<(Sent, Result<(), String>)> =
                match self.agrees(ctx, stamped, &whole_sent, &whole_posted) {
                    Ok(()) => vec![(whole_sent, Ok(()))],
                    Err(_) if w.len() > 1 => w
                        .iter()
                        .map(|(ts, g)| {
                            let p = posted.get(&(ctx, *ts)).cloned().unwrap_or_default();
                            let r = self.agrees(ctx, stamped, g, &p);
                            (g.clone(), r)
                        })
                        .collect(),
                    Err(e) => vec![(whole_sent, Err(e))],
                };
            for (g, r) in verdicts {
                match r {
                    Ok(()) => {
                        for (i, n) in g.n.iter().enumerate() {
                            if *n > 0 {
                                self.tally
                                    .flushed_n(EntryKind::Metric(MetricType::ALL[i]), *n);
                            }
                        }
                    }
                    Err(why) => {
                        if !why.is_empty() {
                            self.note(|| why);
                        }
                        for (i, n) in g.n.iter().enumerate() {
                            if *n > 0 {
                                let kind = EntryKind::Metric(MetricType::ALL[i]);
                                lost.push((kind, *n, g.example.clone()));
                            }
                        }
                    }
                }
            }
            let mut ts = first_ts;
            while ts <= last_ts {
                posted.remove(&(ctx, ts));
                ts += self.interval;
            }
        }
        // What is left names contexts that were sent, at seconds nothing was sent in.
        for ((ctx, _), p) in posted {
            let counter_zero = self.contexts.get(ctx).ever_counter
                && p.plain.iter().all(|v| *v == 0.0)
                && p.sketches == 0;
            if !counter_zero {
                self.tally.surplus += (p.plain.len() as u64 + u64::from(p.sketches)).max(1);
            }
        }
        self.judge_items(posted_items, &mut lost);
        // The kernel's drops, in samples, go to the socket; the rest to the server.
        let mut to_socket = (socket_drops as f64 * samples_per_datagram).round() as u64;
        for (kind, n, example) in lost {
            let s = n.min(to_socket);
            to_socket -= s;
            for (stage, k) in [(Stage::Socket, s), (Stage::Server, n - s)] {
                if k > 0 {
                    let mut e = example.clone().unwrap_or_else(|| LostExample {
                        metric: String::new(),
                        metric_type: kind.name().into(),
                        tags: Vec::new(),
                        bucket: 0,
                        stage: stage.name().into(),
                        value: serde_json::Value::Null,
                    });
                    e.stage = stage.name().into();
                    self.tally.lost(kind, stage, k, || e);
                }
            }
        }
        Judged {
            foreign: self.foreign,
            tally: self.tally,
            disagreements: self.notes,
            disagreement_count: self.note_count,
        }
    }

    /// Events and service checks by identity; a second of the server's own may be late.
    fn judge_items(
        &mut self,
        mut posted: Vec<ItemKey>,
        lost: &mut Vec<(EntryKind, u64, Option<LostExample>)>,
    ) {
        let margin = (SPILL_MARGIN_NS / 1_000_000_000) as i64 + 1;
        for it in self.items.clone() {
            let kind = if it.key.kind == "event" {
                EntryKind::Event
            } else {
                EntryKind::ServiceCheck
            };
            // The same item sent twice a few seconds apart has two candidates: take the one
            // posted nearest to when this one was sent, so the first does not take the second's.
            let found = posted
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    let ts_ok = if it.own_ts {
                        p.ts == it.key.ts
                    } else {
                        p.ts >= it.sent_s - 1 && p.ts <= it.sent_s + margin
                    };
                    ts_ok
                        && p.name == it.key.name
                        && p.tags == it.key.tags
                        && p.host == it.key.host
                        && p.status == it.key.status
                        && p.text == it.key.text
                })
                .min_by_key(|(_, p)| (p.ts - it.sent_s).abs())
                .map(|(i, _)| i);
            match found {
                Some(i) => {
                    posted.swap_remove(i);
                    self.tally.flushed(kind);
                }
                None => lost.push((
                    kind,
                    1,
                    Some(LostExample {
                        metric: it.key.name.clone(),
                        metric_type: it.key.kind.into(),
                        tags: it.key.tags.clone(),
                        bucket: it.key.ts,
                        stage: Stage::Server.name().into(),
                        value: serde_json::Value::Null,
                    }),
                )),
            }
        }
        // An item of a name that was sent is surplus; any other is the server's own.
        let names: HashSet<(&str, &str)> = self
            .items
            .iter()
            .map(|i| (i.key.kind, i.key.name.as_str()))
            .collect();
        for p in &posted {
            if names.contains(&(p.kind, p.name.as_str())) {
                self.tally.surplus += 1;
            } else {
                self.foreign += 1;
            }
        }
    }

    /// Whether what was posted for a window is what was sent (an empty reason: nothing was
    /// posted, a plain loss).
    fn agrees(&self, ctx: CtxId, stamped: bool, s: &Sent, p: &Posted) -> Result<(), String> {
        if p.is_empty() {
            return Err(String::new());
        }
        let c = self.contexts.get(ctx);
        let what = |detail: String| format!("{} {:?}: {detail}", c.name, c.tags);
        if stamped {
            let mut want = s.points.clone();
            let mut got = p.plain.clone();
            want.sort_by(f64::total_cmp);
            got.sort_by(f64::total_cmp);
            let same = want.len() == got.len() && want.iter().zip(&got).all(|(a, b)| near(*a, *b));
            return if same {
                Ok(())
            } else {
                Err(what(format!("timestamped points {got:?}, sent {want:?}")))
            };
        }
        let kind = s.kind.unwrap_or(MetricType::Gauge);
        match kind {
            MetricType::Count => {
                let got: f64 = p.plain.iter().sum();
                if near(got, s.counter) {
                    Ok(())
                } else {
                    Err(what(format!("counter total {got}, sent {}", s.counter)))
                }
            }
            MetricType::Gauge => match p.plain.last() {
                Some(v) if near(*v, s.gauge_last) => Ok(()),
                _ => Err(what(format!(
                    "gauge {:?}, last value sent {}",
                    p.plain, s.gauge_last
                ))),
            },
            MetricType::Set => {
                let got: f64 = p.plain.iter().sum();
                let (low, high) = (s.set.len() as f64, s.total() as f64);
                if got >= low && got <= high {
                    Ok(())
                } else {
                    Err(what(format!(
                        "set of {got} distinct values, sent {low} distinct"
                    )))
                }
            }
            MetricType::Histogram | MetricType::Timing => {
                let mut checked = false;
                if let Some(n) = p.count {
                    checked = true;
                    if !near(n, s.weight as f64) {
                        return Err(what(format!(".count {n}, sent weight {}", s.weight)));
                    }
                }
                if let Some(m) = p.max {
                    checked = true;
                    if !near(m, s.max) {
                        return Err(what(format!(".max {m}, sent max {}", s.max)));
                    }
                }
                if let Some(a) = p.avg {
                    if a < s.min - REL * s.min.abs() || a > s.max + REL * s.max.abs() {
                        return Err(what(format!(
                            ".avg {a} outside the values sent [{}, {}]",
                            s.min, s.max
                        )));
                    }
                }
                if checked {
                    Ok(())
                } else {
                    Err(what("neither .count nor .max was posted".into()))
                }
            }
            MetricType::Distribution => match p.sketch {
                Some((cnt, sum, min, max))
                    if cnt == s.weight
                        && near(sum, s.sum)
                        && near(min, s.min)
                        && near(max, s.max) =>
                {
                    Ok(())
                }
                got => Err(what(format!(
                    "sketch (cnt, sum, min, max) {got:?}, sent ({}, {}, {}, {})",
                    s.weight, s.sum, s.min, s.max
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::flushed::Series;

    const S: u64 = 1_000_000_000;
    /// 1 700 000 000 is a bucket start.
    const T0: u64 = 1_700_000_000 * S;

    fn rate(metric: &str, ts: i64, v: f64) -> FlushedItem {
        FlushedItem::Series(Series {
            metric: metric.into(),
            series_type: SeriesType::Rate,
            interval: 10,
            points: vec![(ts, v)],
            tags: Vec::new(),
            host: "lastbucket".into(),
        })
    }

    fn gauge(metric: &str, ts: i64, v: f64) -> FlushedItem {
        FlushedItem::Series(Series {
            series_type: SeriesType::Gauge,
            ..match rate(metric, ts, v) {
                FlushedItem::Series(s) => s,
                _ => unreachable!(),
            }
        })
    }

    fn lost_at(j: &Judged, stage: Stage) -> u64 {
        j.tally
            .counts()
            .lost_by_stage
            .get(stage.name())
            .copied()
            .unwrap_or(0)
    }

    #[test]
    fn what_was_posted_is_flushed_and_what_was_not_is_lost_at_server() {
        let mut o = BlackboxOracle::new(10, "lastbucket");
        o.sent(T0 + S, b"a:1|c\na:2|c\ng:5|g");
        o.sent(T0 + 11 * S, b"a:4|c");
        // Bucket 0 posted (a as a rate: 3 / 10), bucket 10 not.
        let j = o.judge(
            &[
                rate("a", 1_700_000_000, 0.3),
                gauge("g", 1_700_000_000, 5.0),
            ],
            0,
            1.0,
        );
        let c = j.tally.counts();
        assert_eq!((c.sent, c.flushed, c.lost), (4, 3, 1));
        assert_eq!(lost_at(&j, Stage::Server), 1);
        assert_eq!(c.surplus, 0);
        assert!(c.identity_holds());
    }

    #[test]
    fn a_sample_near_the_boundary_may_be_read_in_the_next_bucket() {
        let mut o = BlackboxOracle::new(10, "lastbucket");
        // Sent 0.5 s before the boundary; the server read it after.
        o.sent(T0 + 9 * S + S / 2, b"a:1|c\ng:7|g");
        let j = o.judge(
            &[
                rate("a", 1_700_000_010, 0.1),
                gauge("g", 1_700_000_010, 7.0),
            ],
            0,
            1.0,
        );
        let c = j.tally.counts();
        assert_eq!((c.flushed, c.lost, c.surplus), (2, 0, 0));
    }

    #[test]
    fn a_wrong_value_is_loss_with_a_reason_and_telemetry_is_not_surplus() {
        let mut o = BlackboxOracle::new(10, "lastbucket");
        o.sent(T0 + S, b"a:1|c\na:1|c");
        let j = o.judge(
            &[
                rate("a", 1_700_000_000, 0.1),
                gauge("datadog.agent.running", 1_700_000_000, 1.0),
            ],
            0,
            1.0,
        );
        let c = j.tally.counts();
        assert_eq!((c.flushed, c.lost, c.surplus), (0, 2, 0));
        assert_eq!(j.foreign, 1);
        assert_eq!(j.disagreement_count, 1);
        assert!(
            j.disagreements[0].contains("counter total 1, sent 2"),
            "{:?}",
            j.disagreements
        );
    }

    #[test]
    fn kernel_drops_go_to_the_socket_stage() {
        let mut o = BlackboxOracle::new(10, "lastbucket");
        o.sent(T0 + S, b"a:1|c");
        o.sent(T0 + S, b"b:1|c");
        let j = o.judge(&[rate("a", 1_700_000_000, 0.1)], 1, 1.0);
        assert_eq!(lost_at(&j, Stage::Socket), 1);
        assert_eq!(lost_at(&j, Stage::Server), 0);
    }

    #[test]
    fn a_second_posted_for_nothing_sent_is_surplus_but_a_counter_zero_is_not() {
        let mut o = BlackboxOracle::new(10, "lastbucket");
        o.sent(T0 + S, b"a:1|c\ng:1|g");
        let j = o.judge(
            &[
                rate("a", 1_700_000_000, 0.1),
                rate("a", 1_700_000_010, 0.0),
                gauge("g", 1_700_000_000, 1.0),
                gauge("g", 1_700_000_030, 1.0),
            ],
            0,
            1.0,
        );
        assert_eq!(j.tally.counts().surplus, 1);
    }
}
