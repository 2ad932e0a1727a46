//! The check at scale: an event-driven clock (idle time costs nothing, however long), the same
//! report whatever `--jobs` is, and a ledger that allocates nothing per line once it knows the
//! contexts.

use lastbucket::check::driver::{pass, Fork, StopPoint};
use lastbucket::pipeline::{BatcherDrain, ListenerKind, PipelineConfig, StopSettings};
use lastbucket::report::Verdict;
use lastbucket::source::generate::{generate, GeneratorConfig};
use lastbucket::source::Datagram;
use lastbucket::verify;
use std::convert::Infallible;

const YEAR_NS: u64 = 365 * 24 * 3600 * 1_000_000_000;

fn stream() -> Vec<Datagram> {
    generate(&GeneratorConfig::from_spec("gen:seed=5,contexts=300,duration=40").unwrap()).collect()
}

/// The stream with its second half moved by `years` (forward, or back when negative).
fn with_jump(mut datagrams: Vec<Datagram>, years: i64) -> Vec<Datagram> {
    let half = datagrams.len() / 2;
    let shift = years.unsigned_abs() * YEAR_NS;
    for d in &mut datagrams[half..] {
        d.ts_ns = if years > 0 {
            d.ts_ns + shift
        } else {
            d.ts_ns - shift
        };
    }
    datagrams
}

/// One pass stopped at the end: per setting (off, on), the verdict under the default
/// expectation, and the clock steps of the whole run.
fn run(datagrams: Vec<Datagram>) -> Vec<(Verdict, u64)> {
    let config = PipelineConfig::default();
    let mut forks: Vec<Fork> = Vec::new();
    let end = StopPoint {
        max_datagrams: u64::MAX,
        at_ns: None,
    };
    pass::<_, Infallible>(
        &config,
        ListenerKind::Udp,
        datagrams.into_iter().map(Ok),
        &[end],
        &mut (),
        &mut |f| forks.push(f),
        &mut |_| {},
    )
    .unwrap();
    let expect = lastbucket::check::matrix::Expectations::default();
    [false, true]
        .into_iter()
        .map(|on| {
            let s = StopSettings {
                flush_incomplete_buckets: on,
                batcher_drain: BatcherDrain::Auto,
            };
            let o = forks[0].stop(&config, ListenerKind::Udp, s, &mut |_| {});
            let v = &o.verification;
            let (verdict, _) =
                verify::verdict(&v.counts, &v.accounting_errors, expect.for_settings(&s));
            assert!(v.accounting_errors.is_empty(), "{:?}", v.accounting_errors);
            assert!(v.counts.identity_holds());
            (verdict, o.clock_steps)
        })
        .collect()
}

#[test]
fn a_gap_of_years_checks_like_the_stream_without_it_in_as_many_clock_steps() {
    let plain = run(stream());
    let gap = run(with_jump(stream(), 10));
    let short_gap = run(with_jump(stream(), 1));
    for (((v0, steps0), (v1, steps1)), (_, steps_short)) in plain.iter().zip(&gap).zip(&short_gap) {
        assert_eq!(v0, v1);
        // Ten years of 100 ms ticks would be 3e9 steps. What the gap costs is the live
        // counters' expiry (300 s of flushes) and does not grow with the gap.
        assert!(
            *steps1 <= steps0 + 200,
            "{steps1} clock steps with the gap, {steps0} without"
        );
        assert_eq!(steps1, steps_short, "a gap of 10 years and one of 1 year");
    }
}

#[test]
fn timestamps_going_back_years_check_like_the_stream_without_the_jump() {
    let plain = run(stream());
    let back = run(with_jump(stream(), -10));
    for ((v0, steps0), (v1, steps1)) in plain.iter().zip(&back) {
        assert_eq!(v0, v1);
        assert!(
            *steps1 <= steps0 + 50,
            "{steps1} clock steps going back, {steps0} without"
        );
    }
}

#[test]
fn jobs_do_not_change_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = |jobs: &str| {
        let out = dir.path().join(format!("r{jobs}.json"));
        let flushed = dir.path().join(format!("f{jobs}"));
        assert_cmd::Command::cargo_bin("lastbucket")
            .unwrap()
            .args([
                "check",
                "gen:seed=3,contexts=400,duration=45",
                "--legacy",
                "--color",
                "never",
            ])
            .args([
                "--stop",
                "end",
                "--stop",
                "packets:700",
                "--stop",
                "t:12.5s",
                "--stop",
                "phase:40%",
            ])
            .args(["--jobs", jobs, "--export-json"])
            .arg(&out)
            .arg("--flushed-out")
            .arg(&flushed)
            .assert()
            .code(1);
        let mut files: Vec<_> = std::fs::read_dir(&flushed)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let outputs: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(p).unwrap(),
                )
            })
            .collect();
        (std::fs::read(out).unwrap(), outputs)
    };
    let (one, flushed_one) = report("1");
    let (two, flushed_two) = report("2");
    assert!(one == two, "--jobs 1 and --jobs 2 reports differ");
    assert_eq!(flushed_one.len(), 12);
    assert!(
        flushed_one == flushed_two,
        "--jobs 1 and --jobs 2 flushed output differs"
    );
}
