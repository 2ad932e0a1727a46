//! The whole embedded check on arbitrary bytes: the input picks the pipeline's settings, the
//! stop moments, the listener and a stream of datagrams (arrival times that may repeat, jump by
//! years or go back, anywhere in the u64 range; payloads of any bytes), and `run_check` runs
//! every flag and drain setting at every moment. Every scenario must keep the accounting
//! identity, none may end in an accounting error, and the run must end in bounded time.
#![no_main]

use lastbucket::check::matrix::Expectations;
use lastbucket::check::moment::{Phase, StopMoment};
use lastbucket::check::{run_check, CheckPlan};
use lastbucket::pipeline::{BatcherDrain, ListenerKind, PipelineConfig, StopSettings};
use lastbucket::report::Verdict;
use lastbucket::source::{Datagram, Stream, StreamError, StreamOpener};
use lastbucket_fuzz::Cursor;
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

/// Most datagrams taken from one input (inputs are a few kilobytes).
const MAX_DATAGRAMS: usize = 2_000;
/// A run over a few thousand datagrams takes milliseconds; this is far beyond any honest run
/// and well under libFuzzer's `-timeout`, so a slow input fails here with its report.
const TIME_BOUND: Duration = Duration::from_secs(10);

struct Datagrams(Vec<Datagram>);

impl StreamOpener for Datagrams {
    fn open(&self) -> Result<Stream<'_>, StreamError> {
        Ok(Box::new(self.0.iter().cloned().map(Ok)))
    }
    fn kind(&self) -> &'static str {
        "text"
    }
    fn description(&self) -> String {
        format!("{} fuzzed datagrams", self.0.len())
    }
}

/// The pipeline's settings, each within its range (fields are read in the order written).
fn config(c: &mut Cursor) -> PipelineConfig {
    let buffer_size = [8192, 16, 64, 512, 1500, 65_535][usize::from(c.u8()) % 6];
    PipelineConfig {
        buffer_size,
        packet_buffer_size: 1 + usize::from(c.u8() % 40),
        packet_buffer_flush_timeout_ms: 1 + u64::from(c.u16() % 2_000),
        queue_size: 1 + usize::from(c.u8() % 16),
        workers: 1 + usize::from(c.u8() % 4),
        pipeline_count: 1 + usize::from(c.u8() % 3),
        batch_size: 1 + usize::from(c.u8() % 40),
        bucket_seconds: match c.u8() {
            b if b < 160 => 10,
            b => 1 + i64::from(b % 30),
        },
        flush_interval_s: 1 + u64::from(c.u8() % 30),
        expiry_seconds: i64::from(c.u16() % 1_000),
        context_limit: usize::from(c.u8() % 8),
        ..flags_and_aggregates(c)
    }
}

/// The rest of the settings: the no-aggregation path, the hostname, the queue latency, the
/// histogram aggregates and percentiles.
fn flags_and_aggregates(c: &mut Cursor) -> PipelineConfig {
    let flags = c.u8();
    let queue_latency_ms = match c.u8() {
        b if b < 192 => 0,
        b => u64::from(b - 191) * 37,
    };
    let aggregates = c.u8();
    let histogram_aggregates = ["max", "min", "median", "avg", "sum", "count"]
        .iter()
        .enumerate()
        .filter(|(i, _)| aggregates & (1 << i) != 0)
        .map(|(_, a)| a.to_string())
        .collect();
    let histogram_percentiles = (0..c.u8() % 4)
        .map(|_| format!("{}", f64::from(1 + c.u8() % 100) / 100.0))
        .collect();
    PipelineConfig {
        no_aggregation_pipeline: flags & 1 == 0,
        hostname: if flags & 2 != 0 {
            "fuzz-host".into()
        } else {
            String::new()
        },
        queue_latency_ms,
        histogram_aggregates,
        histogram_percentiles,
        ..PipelineConfig::default()
    }
}

fn moment(c: &mut Cursor) -> StopMoment {
    match c.u8() % 8 {
        0 => StopMoment::End,
        1 => StopMoment::Packets(u64::from(c.u8())),
        2 => StopMoment::Time(f64::from(c.u32()) / 1000.0),
        // Any duration `t:` accepts, up to u64 nanoseconds.
        3 => StopMoment::Time(c.u64() as f64 / 1e9),
        4 => StopMoment::Phase(Phase::Percent(f64::from(c.u8() % 100))),
        5 => StopMoment::Phase(Phase::Seconds(f64::from(c.u16()) / 1000.0)),
        6 => StopMoment::Random(1 + u32::from(c.u8() % 4)),
        _ => StopMoment::Packets(u64::from(c.u16())),
    }
}

fn start_ns(c: &mut Cursor) -> u64 {
    match c.u8() % 6 {
        0 | 1 => 1_700_000_000_000_000_000,
        2 => 0,
        3 => c.u64(),
        4 => u64::MAX - u64::from(c.u32()),
        _ => 1_700_000_000_000_000_000 + u64::from(c.u32()) * 1_000_000,
    }
}

fn datagrams(c: &mut Cursor) -> Vec<Datagram> {
    let mut ts = start_ns(c);
    let mut out = Vec::new();
    while !c.is_empty() && out.len() < MAX_DATAGRAMS {
        let step = c.u8();
        ts = match step {
            0..=199 => ts.saturating_add(u64::from(step) * 1_000_000),
            200..=219 => ts.saturating_sub(u64::from(step - 199) * 1_000_000_000),
            220..=249 => ts.saturating_add(u64::from(step - 219) * 10_000_000_000),
            250..=254 => ts.saturating_add(u64::from(c.u32()) * 1_000_000_000),
            255 => c.u64(),
        };
        let len = match c.u8() {
            255 => usize::from(c.u16()),
            n => usize::from(n),
        };
        out.push(Datagram {
            ts_ns: ts,
            payload: c.bytes(len).to_vec(),
        });
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let config = config(&mut c);
    let listener = if c.bool() {
        ListenerKind::Unix
    } else {
        ListenerKind::Udp
    };
    let moments = (0..1 + c.u8() % 3).map(|_| moment(&mut c)).collect();
    let seed = u64::from(c.u16());
    let source = Datagrams(datagrams(&mut c));
    let mut settings = Vec::new();
    for flush_incomplete_buckets in [false, true] {
        for batcher_drain in [BatcherDrain::Auto, BatcherDrain::Never] {
            settings.push(StopSettings {
                flush_incomplete_buckets,
                batcher_drain,
            });
        }
    }
    let plan = CheckPlan {
        config,
        listener,
        moments,
        settings,
        expectations: Expectations::default(),
        seed,
        flushed_out: None,
        transport: None,
        jobs: 1,
        shape: None,
        shard: None,
        server: None,
    };
    let started = Instant::now();
    let report = match run_check(&plan, &source, &mut ()) {
        Ok(report) => report,
        Err(e) => {
            // A bad moment or an input the clock cannot run: a clear error is the answer.
            let _ = e.to_string();
            return;
        }
    };
    assert!(
        started.elapsed() < TIME_BOUND,
        "check took {:?}",
        started.elapsed()
    );
    for s in &report.scenarios {
        assert!(s.counts.identity_holds(), "{}: {:?}", s.name, s.counts);
        assert!(
            s.accounting_errors.is_empty(),
            "{}: {:?}",
            s.name,
            s.accounting_errors
        );
        assert_ne!(s.verdict, Verdict::AccountingError, "{}", s.name);
    }
    assert_ne!(report.exit_code, lastbucket::exit::ACCOUNTING, "exit code");
});
