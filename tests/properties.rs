//! Properties of the check over random generated streams, random stop moments and every flag
//! and drain setting: the accounting identity, no loss with the flag on, exactly the loss a
//! small independent model predicts with it off, half-open buckets at exact edges, and idle
//! gaps that change nothing.
//!
//! The model ([`model`]) is written here from the pipeline's description
//! (`shared/design/pipeline.md`), not from lastbucket's verifier: a datagram waits in the UDP
//! packet assembler and the packets buffer until one of them fills or their common flush
//! ticker fires; a batch handed on is parsed at once (no queue latency); at the stop what they
//! hold goes to the queue, which only the flag on with `auto` drains; a parsed sample lands in
//! the bucket of its arrival second, and without the flag only buckets that ended by the stop's
//! bucket start are flushed; events, service checks and timestamped samples are not bucketed.
//!
//! 256 cases each (`PROPTEST_CASES` to change), on small streams: the whole file runs in
//! seconds in the dev profile.

use lastbucket::check::driver::{pass, Fork, StopPoint};
use lastbucket::check::matrix::Expectations;
use lastbucket::check::moment::StopMoment;
use lastbucket::check::{run_check, CheckPlan};
use lastbucket::pipeline::{BatcherDrain, ListenerKind, PipelineConfig, StopSettings};
use lastbucket::report::{Counts, Report, Verdict};
use lastbucket::source::generate::{generate, GeneratorConfig, StreamLength};
use lastbucket::source::{Datagram, Stream, StreamError, StreamOpener};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::convert::Infallible;

const NS: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Every flag and drain setting, in this order.
fn all_settings() -> Vec<StopSettings> {
    let mut out = Vec::new();
    for flush_incomplete_buckets in [false, true] {
        for batcher_drain in [BatcherDrain::Auto, BatcherDrain::Never] {
            out.push(StopSettings {
                flush_incomplete_buckets,
                batcher_drain,
            });
        }
    }
    out
}

struct Datagrams(Vec<Datagram>);

impl StreamOpener for Datagrams {
    fn open(&self) -> Result<Stream<'_>, StreamError> {
        Ok(Box::new(self.0.iter().cloned().map(Ok)))
    }
    fn kind(&self) -> &'static str {
        "text"
    }
    fn description(&self) -> String {
        format!("{} datagrams", self.0.len())
    }
}

/// A small random workload: every metric type, events, service checks, multi-value and
/// sampled lines, timestamped samples, jitter, a start anywhere in a bucket.
#[derive(Debug, Clone)]
struct Workload {
    generator: GeneratorConfig,
    buffer_size: usize,
    packet_buffer_size: usize,
    flush_timeout_ms: u64,
    listener: ListenerKind,
}

fn workload() -> impl Strategy<Value = Workload> {
    (
        (any::<u64>(), 1u32..40, prop::array::uniform6(0u32..4)),
        (
            0.0f64..0.1,
            0.0..0.1,
            0.0..0.3,
            0.0..0.5,
            0.0..0.2,
            0.0..0.9,
        ),
        (1u32..60, 1u64..25, 0u64..97, 1u32..6),
        (
            prop::sample::select(vec![256usize, 1500, 8192]),
            1usize..40,
            prop::sample::select(vec![1u64, 3, 50, 100, 250, 1000]),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (seed, contexts, weights),
                (events, checks, multi, sampled, timestamped, jitter),
                (rate, seconds, start_offset, lines),
                (buffer_size, packet_buffer_size, flush_timeout_ms, unix),
            )| {
                let mut g = GeneratorConfig {
                    seed,
                    contexts,
                    contexts_per_name: 2,
                    event_share: events,
                    service_check_share: checks,
                    multi_value: multi,
                    sampled_share: sampled,
                    timestamp_share: timestamped,
                    jitter,
                    packet_rate: rate,
                    start_ts: 1_700_000_000 + start_offset,
                    datagram_size: buffer_size as u32,
                    length: StreamLength::Duration(seconds * NS),
                    ..GeneratorConfig::default()
                };
                g.lines_per_datagram.min = 1;
                g.lines_per_datagram.max = lines;
                for (t, w) in lastbucket::protocol::MetricType::ALL.iter().zip(weights) {
                    *g.weights.get_mut(*t) = w;
                }
                // At least one metric type.
                if g.weights.total() == 0 {
                    *g.weights.get_mut(lastbucket::protocol::MetricType::Count) = 1;
                }
                Workload {
                    generator: g,
                    buffer_size,
                    packet_buffer_size,
                    flush_timeout_ms,
                    listener: if unix {
                        ListenerKind::Unix
                    } else {
                        ListenerKind::Udp
                    },
                }
            },
        )
}

impl Workload {
    fn config(&self) -> PipelineConfig {
        PipelineConfig {
            buffer_size: self.buffer_size,
            packet_buffer_size: self.packet_buffer_size,
            packet_buffer_flush_timeout_ms: self.flush_timeout_ms,
            workers: 2,
            ..PipelineConfig::default()
        }
    }

    fn stream(&self) -> Option<Vec<Datagram>> {
        self.generator.validate().ok()?;
        let d: Vec<Datagram> = generate(&self.generator).collect();
        (!d.is_empty()).then_some(d)
    }
}

/// Where a scenario stops, as the model reads it.
#[derive(Debug, Clone, Copy)]
struct Stop {
    max_datagrams: u64,
    at_ns: Option<u64>,
}

/// Three stops: `packets:N`, `t:X` (X in whole ms, inside the stream: a later `t:` is a
/// usage error) and `end`.
fn stops(datagrams: &[Datagram], pick: (u64, u64)) -> (Vec<StopMoment>, Vec<Stop>) {
    let n = 1 + pick.0 % datagrams.len() as u64;
    let first = datagrams[0].ts_ns;
    let last = datagrams.iter().map(|d| d.ts_ns).max().unwrap_or(first);
    let span_ms = (last - first) / MS + 1;
    let t_ms = pick.1 % span_ms;
    let t = t_ms as f64 / 1000.0;
    let moments = vec![StopMoment::Packets(n), StopMoment::Time(t), StopMoment::End];
    let points = vec![
        Stop {
            max_datagrams: n,
            at_ns: None,
        },
        Stop {
            max_datagrams: u64::MAX,
            // The documented rule of `t:`: seconds after the first arrival, to the nanosecond.
            at_ns: Some(first + (t * NS as f64).round() as u64),
        },
        Stop {
            max_datagrams: u64::MAX,
            at_ns: None,
        },
    ];
    (moments, points)
}

fn check(
    config: PipelineConfig,
    listener: ListenerKind,
    datagrams: Vec<Datagram>,
    moments: Vec<StopMoment>,
) -> Report {
    let plan = CheckPlan {
        config,
        listener,
        moments,
        settings: all_settings(),
        expectations: Expectations::default(),
        seed: 1,
        flushed_out: None,
        transport: None,
        jobs: 1,
        shape: None,
        shard: None,
        server: None,
    };
    run_check(&plan, &Datagrams(datagrams), &mut ()).expect("the check runs")
}

/// The independent model of what each stage holds and loses.
mod model {
    use super::*;

    /// One generated line's entries: its type name, how many, whether it is bucketed.
    pub struct Entries {
        pub kind: &'static str,
        pub count: u64,
        pub bucketed: bool,
    }

    /// The entries of a well-formed generated line: `_e{` an event, `_sc|` a service check,
    /// else `name:v1:v2|type|...` with one sample per value, timestamped by a `|T` field.
    pub fn entries(line: &[u8]) -> Entries {
        let text = std::str::from_utf8(line).expect("generated lines are text");
        if text.starts_with("_e{") {
            return Entries {
                kind: "event",
                count: 1,
                bucketed: false,
            };
        }
        if text.starts_with("_sc|") {
            return Entries {
                kind: "service_check",
                count: 1,
                bucketed: false,
            };
        }
        let mut fields = text.split('|');
        let head = fields.next().unwrap_or("");
        let code = fields.next().unwrap_or("");
        let values = head.split(':').count() as u64 - 1;
        let timestamped = fields.any(|f| f.starts_with('T'));
        let kind = match code {
            "c" => "count",
            "g" => "gauge",
            "h" => "histogram",
            "ms" => "timing",
            "d" => "distribution",
            "s" => "set",
            other => panic!("generated an unknown type {other:?} in {text:?}"),
        };
        Entries {
            kind,
            count: values,
            bucketed: !timestamped,
        }
    }

    /// The listener stages on the virtual clock: which datagrams were parsed before the stop,
    /// and which were still held (in the assembler or the packets buffer) when it came.
    pub struct Listener {
        udp: bool,
        buffer_size: usize,
        packet_buffer_size: usize,
        period: u64,
        next_tick: u64,
        assembling: Vec<usize>,
        assembled_len: usize,
        buffered: Vec<Vec<usize>>,
        pub parsed: Vec<bool>,
    }

    impl Listener {
        pub fn new(w: &Workload, start_ns: u64, datagrams: usize) -> Listener {
            let period = w.flush_timeout_ms * MS;
            Listener {
                udp: w.listener == ListenerKind::Udp,
                buffer_size: w.buffer_size,
                packet_buffer_size: w.packet_buffer_size,
                period,
                next_tick: start_ns + period,
                assembling: Vec::new(),
                assembled_len: 0,
                buffered: Vec::new(),
                parsed: vec![false; datagrams],
            }
        }

        fn parse_buffered(&mut self) {
            for packet in self.buffered.drain(..) {
                for i in packet {
                    self.parsed[i] = true;
                }
            }
        }

        fn hand_to_buffer(&mut self, packet: Vec<usize>) {
            self.buffered.push(packet);
            if self.buffered.len() >= self.packet_buffer_size {
                self.parse_buffered();
            }
        }

        /// The ticks at or before `t`: the assembler's packet to the buffer, then the buffer
        /// to the workers (both tick together, the assembler first). Idle ticks are skipped.
        pub fn tick_until(&mut self, t: u64) {
            while self.next_tick <= t {
                if self.assembling.is_empty() && self.buffered.is_empty() {
                    let k = (t - self.next_tick) / self.period + 1;
                    self.next_tick += k * self.period;
                    break;
                }
                if !self.assembling.is_empty() {
                    let p = std::mem::take(&mut self.assembling);
                    self.hand_to_buffer(p);
                }
                self.parse_buffered();
                self.next_tick += self.period;
            }
        }

        pub fn receive(&mut self, i: usize, len: usize) {
            if !self.udp {
                self.hand_to_buffer(vec![i]);
                return;
            }
            if !self.assembling.is_empty() && self.assembled_len + 1 + len > self.buffer_size {
                let p = std::mem::take(&mut self.assembling);
                self.hand_to_buffer(p);
            }
            self.assembled_len = if self.assembling.is_empty() {
                len
            } else {
                self.assembled_len + 1 + len
            };
            self.assembling.push(i);
        }
    }

    /// Per type: (sent, lost in the queue, lost in the open bucket).
    pub type Expected = BTreeMap<&'static str, (u64, u64, u64)>;

    /// What a scenario should count, for one stop and one setting.
    pub fn expect(w: &Workload, datagrams: &[Datagram], stop: Stop, s: StopSettings) -> Expected {
        let mut delivered = 0;
        for d in datagrams {
            if delivered as u64 >= stop.max_datagrams || stop.at_ns.is_some_and(|at| d.ts_ns > at) {
                break;
            }
            delivered += 1;
        }
        let sent = &datagrams[..delivered];
        let stop_ns = stop.at_ns.unwrap_or(sent[sent.len() - 1].ts_ns);
        let mut listener = Listener::new(w, sent[0].ts_ns, sent.len());
        for (i, d) in sent.iter().enumerate() {
            listener.tick_until(d.ts_ns);
            listener.receive(i, d.payload.len());
        }
        listener.tick_until(stop_ns);
        let bucket = |ns: u64| {
            let s = ns / NS;
            s - s % 10
        };
        let drained = s.flush_incomplete_buckets && s.batcher_drain == BatcherDrain::Auto;
        let mut out = Expected::new();
        for (i, d) in sent.iter().enumerate() {
            for line in d.payload.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let e = entries(line);
                let slot = out.entry(e.kind).or_default();
                slot.0 += e.count;
                if !listener.parsed[i] {
                    if !drained {
                        slot.1 += e.count;
                    }
                } else if e.bucketed
                    && !s.flush_incomplete_buckets
                    && bucket(d.ts_ns) + 10 > bucket(stop_ns)
                {
                    slot.2 += e.count;
                }
            }
        }
        out
    }
}

/// The scenario's counts against the model's, type by type.
fn assert_matches(counts: &Counts, expected: &model::Expected, name: &str) {
    let stage = |t: &lastbucket::report::TypeCounts, s: &str| -> u64 {
        t.lost_by_stage.get(s).copied().unwrap_or(0)
    };
    for (kind, (sent, queue, open)) in expected {
        let t = counts.by_type.get(*kind).cloned().unwrap_or_default();
        assert_eq!(t.sent, *sent, "{name}: {kind} sent");
        assert_eq!(t.rejected, 0, "{name}: {kind} rejected");
        assert_eq!(
            stage(&t, "queue"),
            *queue,
            "{name}: {kind} lost in the queue"
        );
        assert_eq!(
            stage(&t, "open_bucket"),
            *open,
            "{name}: {kind} lost in the open bucket"
        );
        assert_eq!(t.lost, queue + open, "{name}: {kind} lost elsewhere");
    }
    for (kind, t) in &counts.by_type {
        assert!(
            t.sent == 0 || expected.contains_key(kind.as_ref()),
            "{name}: unexpected type {kind}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// `sent = rejected + flushed + Σ lost`, overall and per type, at every moment and setting.
    #[test]
    fn the_identity_holds_per_type(w in workload(), pick in (any::<u64>(), any::<u64>())) {
        let Some(datagrams) = w.stream() else { return Ok(()) };
        let (moments, _) = stops(&datagrams, pick);
        let report = check(w.config(), w.listener, datagrams, moments);
        prop_assert_eq!(report.scenarios.len(), 3 * 4);
        for s in &report.scenarios {
            prop_assert!(s.accounting_errors.is_empty(), "{}: {:?}", s.name, s.accounting_errors);
            prop_assert!(s.counts.identity_holds(), "{}: {:?}", s.name, s.counts);
            for (kind, t) in &s.counts.by_type {
                let by_stage: u64 = t.lost_by_stage.values().sum();
                prop_assert_eq!(t.sent, t.rejected + t.flushed + by_stage, "{} {}", s.name, kind);
            }
        }
    }

    /// The flag on with the `auto` drain: nothing is lost, whatever the moment.
    #[test]
    fn flag_on_with_auto_drain_loses_nothing(
        w in workload(),
        pick in (any::<u64>(), any::<u64>()),
    ) {
        let Some(datagrams) = w.stream() else { return Ok(()) };
        let (moments, _) = stops(&datagrams, pick);
        let report = check(w.config(), w.listener, datagrams, moments);
        for s in report.scenarios.iter().filter(|s| {
            s.settings.flush_incomplete_buckets && s.settings.batcher_drain == "auto"
        }) {
            prop_assert_eq!(s.counts.lost, 0, "{}: {:?}", &s.name, &s.counts.lost_by_stage);
            prop_assert_eq!(s.verdict, Verdict::Pass, "{}: {:?}", &s.name, &s.reasons);
        }
    }

    /// The flag off loses exactly what the model predicts: what was queued at the stop, and
    /// the samples of the buckets not closed by it. (The flag on with the `never` drain loses
    /// the queued part only, and with `auto` nothing: checked by the same model.)
    #[test]
    fn every_setting_loses_what_the_model_predicts(
        w in workload(),
        pick in (any::<u64>(), any::<u64>()),
    ) {
        let Some(datagrams) = w.stream() else { return Ok(()) };
        let (moments, points) = stops(&datagrams, pick);
        let report = check(w.config(), w.listener, datagrams.clone(), moments);
        let settings = all_settings();
        for (i, s) in report.scenarios.iter().enumerate() {
            let expected = model::expect(&w, &datagrams, points[i / 4], settings[i % 4]);
            assert_matches(&s.counts, &expected, &s.name);
        }
    }

    /// A bucket is `[start, start + width)`: a sample one nanosecond before an edge belongs to
    /// the bucket that ends there, one at the edge to the next. With the flag off a stop at the
    /// edge flushes the first and loses the second; one nanosecond before it loses both.
    #[test]
    fn the_bucket_rule_is_half_open_at_exact_edges(
        edge_s in (1_600_000_000u64 / 30..1_800_000_000 / 30).prop_map(|k| k * 30),
        width in prop::sample::select(vec![1i64, 2, 5, 10, 15, 30]),
        stop_offset in -1i64..=1,
        before in 1u64..2_000_000_000,
    ) {
        let edge = edge_s * NS;
        let datagrams = vec![
            Datagram { ts_ns: edge - before, payload: b"early:1|c".to_vec() },
            Datagram { ts_ns: edge - 1, payload: b"before:1|c".to_vec() },
            Datagram { ts_ns: edge, payload: b"at:1|c".to_vec() },
        ];
        let config = PipelineConfig {
            bucket_seconds: width,
            packet_buffer_size: 1,
            ..PipelineConfig::default()
        };
        let stop_ns = edge.checked_add_signed(stop_offset).unwrap();
        let point = StopPoint { max_datagrams: u64::MAX, at_ns: Some(stop_ns) };
        let mut forks: Vec<Fork> = Vec::new();
        pass::<_, Infallible>(
            &config,
            ListenerKind::Unix,
            datagrams.into_iter().map(Ok),
            &[point],
            &mut (),
            &mut |f| forks.push(f),
            &mut |_| {},
        ).unwrap();
        let off = StopSettings { flush_incomplete_buckets: false, batcher_drain: BatcherDrain::Auto };
        let o = forks[0].stop(&config, ListenerKind::Unix, off, &mut |_| {});
        let c = &o.verification.counts;
        let open = c.lost_by_stage.get("open_bucket").copied().unwrap_or(0);
        let bucket_ns = width as u64 * NS;
        // `early` is in the edge's bucket's predecessor or earlier; lost only if the stop is
        // in its bucket (one ns before the edge, and `early` within the last bucket).
        let early_lost = u64::from(stop_offset < 0 && edge - before >= edge - bucket_ns);
        let (sent, lost) = match stop_offset {
            -1 => (2, 1 + early_lost), // `at` not sent; `before` in the open bucket
            _ => (3, 1),               // `before` flushed at the edge; `at` open
        };
        prop_assert_eq!(c.sent, sent);
        prop_assert_eq!(open, lost, "{:?}", c);
        prop_assert_eq!(c.lost, lost);
        prop_assert_eq!(c.flushed, sent - lost);
    }

    /// Idle gaps (a millisecond to years, anywhere in the stream) change no verdict of the
    /// default matrix (off, and on with `auto`): what was sent stays the same, and with the flag
    /// on everything sent is still flushed. (They may change what the flag off loses, rightly:
    /// a gap closes the buckets before it.)
    #[test]
    fn idle_gaps_change_no_verdict(
        w in workload(),
        pick in (any::<u64>(), any::<u64>()),
        gaps in prop::collection::vec((any::<prop::sample::Index>(), 1u64..400_000_000), 1..4),
    ) {
        let Some(datagrams) = w.stream() else { return Ok(()) };
        let mut gapped = datagrams.clone();
        for (at, ms) in &gaps {
            // Short gaps mostly, some of days or years.
            let ms = match ms % 4 {
                0 => ms * 1000,
                1 => *ms,
                _ => ms % 60_000 + 1,
            };
            let from = at.index(gapped.len());
            for d in &mut gapped[from..] {
                d.ts_ns += ms * MS;
            }
        }
        let (mut moments, _) = stops(&datagrams, pick);
        // `t:` is a time, which a gap moves: only the moments placed by datagram count.
        moments.remove(1);
        let plain = check(w.config(), w.listener, datagrams, moments.clone());
        let spaced = check(w.config(), w.listener, gapped, moments);
        prop_assert_eq!(plain.scenarios.len(), spaced.scenarios.len());
        for (a, b) in plain.scenarios.iter().zip(&spaced.scenarios) {
            prop_assert_eq!(&a.name, &b.name);
            prop_assert!(b.counts.identity_holds(), "{}", &b.name);
            let sent = |s: &lastbucket::report::ScenarioReport| -> Vec<(String, u64, u64)> {
                s.counts.by_type.iter().map(|(k, t)| (k.to_string(), t.sent, t.rejected)).collect()
            };
            prop_assert_eq!(sent(a), sent(b), "{}", &a.name);
            if a.settings.batcher_drain != "auto" {
                continue;
            }
            prop_assert_eq!(a.verdict, b.verdict, "{}: {:?} / {:?}", &a.name, &a.reasons, &b.reasons);
            if a.settings.flush_incomplete_buckets {
                prop_assert_eq!(b.counts.lost, 0, "{}", &b.name);
                prop_assert_eq!(a.counts.flushed, b.counts.flushed, "{}", &a.name);
            }
        }
    }
}
