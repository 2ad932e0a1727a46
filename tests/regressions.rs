//! Regressions found by fuzzing (`fuzz/`) and by the property tests (`tests/properties.rs`),
//! each named after what it was.

mod common;

use common::lastbucket;
use lastbucket::check::clock_range::OutOfClockRange;
use lastbucket::check::matrix::Expectations;
use lastbucket::check::moment::StopMoment;
use lastbucket::check::{run_check, CheckError, CheckPlan};
use lastbucket::pipeline::clock::MAX_TS_NS;
use lastbucket::pipeline::{ListenerKind, PipelineConfig, StopSettings};
use lastbucket::source::{Datagram, Stream, StreamError, StreamOpener};
use predicates::str::contains;

struct Datagrams(Vec<Datagram>);

impl StreamOpener for Datagrams {
    fn open(&self) -> Result<Stream<'_>, StreamError> {
        Ok(Box::new(self.0.iter().cloned().map(Ok)))
    }
    fn kind(&self) -> &'static str {
        "text"
    }
    fn description(&self) -> String {
        "regression".into()
    }
}

fn plan(moments: Vec<StopMoment>) -> CheckPlan {
    CheckPlan {
        config: PipelineConfig::default(),
        listener: ListenerKind::Udp,
        moments,
        settings: vec![StopSettings::default()],
        expectations: Expectations::default(),
        seed: 0,
        flushed_out: None,
        transport: None,
        jobs: 1,
        shape: None,
        shard: None,
        server: None,
    }
}

fn dg(ts_ns: u64) -> Datagram {
    Datagram {
        ts_ns,
        payload: b"a:1|c".to_vec(),
    }
}

/// An arrival time near the top of u64 (a JSON line may say anything) overflowed the first
/// tick of the pipeline's timers: a panic. It is an input error now, naming the datagram.
#[test]
fn arrival_past_the_clock_range_overflowed_the_timers() {
    for ts in [u64::MAX, MAX_TS_NS + 1] {
        let source = Datagrams(vec![dg(1_700_000_000_000_000_000), dg(ts)]);
        for moments in [vec![StopMoment::End], vec![StopMoment::Random(2)]] {
            let e = run_check(&plan(moments), &source, &mut ()).unwrap_err();
            let CheckError::Input(e) = e else {
                panic!("not an input error: {e}")
            };
            let e = e
                .downcast_ref::<OutOfClockRange>()
                .expect("the range error");
            assert_eq!((e.index, e.ts_ns), (1, ts));
        }
    }
    // The last instant of the range itself is fine.
    let source = Datagrams(vec![dg(MAX_TS_NS - 20_000_000_000), dg(MAX_TS_NS)]);
    let report = run_check(&plan(vec![StopMoment::End]), &source, &mut ()).unwrap();
    assert!(report.scenarios[0].counts.identity_holds());
}

#[test]
fn arrival_past_the_clock_range_is_an_input_error_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.jsonl");
    std::fs::write(
        &path,
        "{\"ts_ns\": 5, \"payload\": \"a:1|c\"}\n{\"ts_ns\": 18446744073709551615, \"payload\": \"a:1|c\"}\n",
    )
    .unwrap();
    lastbucket()
        .arg("check")
        .arg(&path)
        .arg("--quiet")
        .assert()
        .code(3)
        .stderr(contains("line 2 (byte offset 33)"))
        .stderr(contains("past the latest arrival time"));
}

/// `--stop t:` far past the stream (u64 nanoseconds of stream time after a first arrival of
/// 2023) overflowed when placed: a panic. It is a usage error now.
#[test]
fn stop_time_past_the_clock_range_overflowed_when_placed() {
    let source = Datagrams(vec![dg(1_700_000_000_000_000_000)]);
    let e = run_check(&plan(vec![StopMoment::Time(1.8e10)]), &source, &mut ()).unwrap_err();
    assert!(matches!(e, CheckError::Moment(_)), "{e}");
    lastbucket()
        .args([
            "check",
            "gen:duration=1",
            "--stop",
            "t:18000000000s",
            "--quiet",
        ])
        .assert()
        .code(2)
        .stderr(contains("past the latest time"));
    // Far, but within the clock's range: past the stream's end, which is a usage error too.
    let e = run_check(&plan(vec![StopMoment::Time(1e9)]), &source, &mut ()).unwrap_err();
    assert!(e.to_string().contains("which ends at 0.000 s"), "{e}");
}

/// Periods from `--config` that do not fit the clock's nanoseconds (`flush_interval_s`,
/// `bucket_seconds`, the flush timeout, the queue latency) overflowed; sizes past any machine
/// (`workers`, `packet_buffer_size`, ...) aborted on allocation. Both are refused by name.
#[test]
fn huge_pipeline_settings_overflowed_or_aborted() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [
        ("flush_interval_s", "9000000000000000000"),
        ("bucket_seconds", "9000000000000000000"),
        ("packet_buffer_flush_timeout_ms", "9000000000000000000"),
        ("queue_latency_ms", "9000000000000000000"),
        ("expiry_seconds", "9000000000000000000"),
        ("workers", "100000000000"),
        ("pipeline_count", "100000000000"),
        ("packet_buffer_size", "100000000000"),
        ("batch_size", "100000000000"),
        ("queue_size", "100000000000"),
        ("buffer_size", "100000000000"),
    ] {
        let path = dir.path().join(format!("{key}.toml"));
        std::fs::write(&path, format!("{key} = {value}\n")).unwrap();
        lastbucket()
            .args(["check", "gen:duration=1", "--quiet", "--config"])
            .arg(&path)
            .assert()
            .code(2)
            .stderr(contains(key));
    }
    // The agent's own spelling of the timeout, as a Go duration.
    let path = dir.path().join("agent.toml");
    std::fs::write(
        &path,
        "dogstatsd_packet_buffer_flush_timeout = \"100000h\"\n",
    )
    .unwrap();
    lastbucket()
        .args(["check", "gen:duration=1", "--quiet", "--config"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(contains("packet_buffer_flush_timeout_ms"));
}

/// The largest settings the limits allow still run.
#[test]
fn settings_at_their_limits_run() {
    use lastbucket::pipeline::config::limits;
    let config = PipelineConfig {
        flush_interval_s: limits::MAX_PERIOD_S,
        bucket_seconds: limits::MAX_PERIOD_S as i64,
        packet_buffer_flush_timeout_ms: limits::MAX_MS,
        expiry_seconds: limits::MAX_EXPIRY_S,
        ..PipelineConfig::default()
    };
    config.validate().unwrap();
    let mut p = plan(vec![StopMoment::End, StopMoment::Packets(1)]);
    p.config = config;
    let source = Datagrams(vec![dg(MAX_TS_NS - 1), dg(MAX_TS_NS)]);
    let report = run_check(&p, &source, &mut ()).unwrap();
    for s in &report.scenarios {
        assert!(s.counts.identity_holds(), "{}", s.name);
        assert!(s.accounting_errors.is_empty(), "{}", s.name);
    }
}

/// The generator accepted a start up to the year 2286, past the check's clock (2262): such a
/// stream would now fail the check as input. The generator's range ends in 2255 instead.
#[test]
fn generator_start_past_the_clock_range_is_refused_up_front() {
    use lastbucket::source::generate::GeneratorConfig;
    let e = GeneratorConfig::from_spec("gen:start_ts=9500000000").unwrap_err();
    assert!(e.to_string().contains("start_ts"), "{e}");
    // The latest start with the longest duration (100 days) still ends within the clock.
    let c = GeneratorConfig::from_spec("gen:start_ts=9000000000,duration=2400h").unwrap();
    let first = lastbucket::source::generate::generate(&c).next().unwrap();
    assert_eq!(first.ts_ns, 9_000_000_000 * 1_000_000_000);
    assert!(first.ts_ns + 2400 * 3600 * 1_000_000_000 < MAX_TS_NS);
}

/// A counter sampled at `@0` flushes `0 × 1/0 = NaN`; the oracle expects the same NaN, and
/// NaN equals nothing: every such point was an accounting error (found by `embedded_check`).
/// Infinities agreed with any expected number (their relative tolerance is infinite); now a
/// non-finite value agrees only with the same one.
#[test]
fn nan_from_a_zero_sample_rate_was_an_accounting_error() {
    let lines: &[&[u8]] = &[
        b"a:0|c|@0",
        b"b:1e308|c|@0.001",
        b"h:0|h|@0\nh:1|h",
        b"d:0|d|@0",
        b"g:1|g|@0",
    ];
    let mut datagrams: Vec<Datagram> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| Datagram {
            ts_ns: 1_700_000_000_000_000_000 + i as u64 * 1_000_000,
            payload: l.to_vec(),
        })
        .collect();
    // A second bucket, so that the first is closed and flushed with the flag off too.
    datagrams.push(Datagram {
        ts_ns: 1_700_000_020_000_000_000,
        payload: b"z:1|c".to_vec(),
    });
    let mut p = plan(vec![StopMoment::End]);
    p.settings = vec![
        StopSettings::default(),
        StopSettings {
            flush_incomplete_buckets: true,
            ..StopSettings::default()
        },
    ];
    let report = run_check(&p, &Datagrams(datagrams), &mut ()).unwrap();
    for s in &report.scenarios {
        assert!(
            s.accounting_errors.is_empty(),
            "{}: {:?}",
            s.name,
            s.accounting_errors
        );
        assert!(s.counts.identity_holds(), "{}", s.name);
    }
}

/// The rule itself: NaN agrees with NaN, an infinity with the same infinity only.
#[test]
fn non_finite_values_agree_only_with_themselves() {
    use lastbucket::verify::group::close;
    assert!(close(f64::NAN, f64::NAN));
    assert!(close(f64::INFINITY, f64::INFINITY));
    assert!(!close(f64::INFINITY, 1e300));
    assert!(!close(f64::INFINITY, f64::NEG_INFINITY));
    assert!(!close(f64::NAN, 0.0));
    assert!(close(1.0, 1.0 + 1e-12));
    assert!(!close(1.0, 1.0001));
}
