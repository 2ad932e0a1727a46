//! `sweep` in one pass: each moment of a sweep gives exactly what `check --stop` of that moment
//! gives (and what a replay of the stream from the start up to that moment gives, verified
//! whole), for every spread; the shape of the loss over the moments; shards and `merge`.

mod common;
use common::{fixture, json_report, lastbucket};
use lastbucket::check::driver::{run, StopPoint};
use lastbucket::check::moment::{resolve, StopMoment, StreamShape};
use lastbucket::pipeline::{BatcherDrain, ListenerKind, PipelineConfig, StopSettings};
use lastbucket::source::generate::GeneratorConfig;
use lastbucket::source::{Datagram, SourceSpec, StreamOpener};
use lastbucket::verify::{self, SentLog};
use serde_json::Value;
use std::collections::HashSet;

const GEN: &str = "gen:seed=4,duration=32";
/// More contexts, multi-value lines and sampling, starting off a bucket boundary.
const GEN_WIDE: &str =
    "gen:seed=11,contexts=400,duration=27,multi_value=0.3,sampled_share=0.4,start_ts=1700000003";

fn scenarios(report: &Value) -> &Vec<Value> {
    report["scenarios"].as_array().expect("scenarios")
}

fn sweep(source: &str, spread: &[&str], extra: &[&str]) -> Value {
    let (code, report) = json_report(
        lastbucket()
            .args(["sweep", source])
            .args(spread)
            .args(extra)
            .args(["--export-json", "-", "--quiet"]),
    );
    assert!(code == 0 || code == 1, "exit {code}: {report}");
    report
}

fn check(source: &str, stop: &str, extra: &[&str]) -> Value {
    let (code, report) = json_report(
        lastbucket()
            .args(["check", source, "--stop", stop])
            .args(extra)
            .args(["--export-json", "-", "--quiet"]),
    );
    assert!(code == 0 || code == 1, "exit {code}: {report}");
    report
}

/// A few of a sweep's moments (first, middle, last), each compared in full with the scenarios
/// `check --stop` gives for it alone.
fn assert_moments_match_check(source: &str, spread: &[&str], extra: &[&str]) {
    let report = sweep(source, spread, extra);
    let all = scenarios(&report);
    let specs: Vec<String> = all.iter().fold(Vec::new(), |mut v, s| {
        let spec = s["stop"]["spec"].as_str().unwrap().to_string();
        if !v.contains(&spec) {
            v.push(spec);
        }
        v
    });
    assert!(specs.len() >= 3, "{spread:?}: {specs:?}");
    for spec in [&specs[0], &specs[specs.len() / 2], &specs[specs.len() - 1]] {
        let alone = check(source, spec, extra);
        let swept: Vec<&Value> = all.iter().filter(|s| s["stop"]["spec"] == **spec).collect();
        let checked: Vec<&Value> = scenarios(&alone).iter().collect();
        assert_eq!(swept.len(), checked.len(), "{spec}");
        for (a, b) in swept.iter().zip(&checked) {
            assert_eq!(a, b, "{source} {spread:?} at {spec}");
        }
    }
}

#[test]
fn every_moment_of_every_is_what_check_stop_gives() {
    assert_moments_match_check(GEN, &["--every", "3s"], &[]);
    assert_moments_match_check(GEN_WIDE, &["--every", "2.5s"], &["--legacy"]);
}

#[test]
fn every_moment_of_phases_is_what_check_stop_gives() {
    assert_moments_match_check(GEN, &["--phases", "3"], &[]);
    assert_moments_match_check(GEN_WIDE, &["--phases", "4"], &["--legacy"]);
    assert_moments_match_check(
        fixture("node-client.pcap").to_str().unwrap(),
        &["--phases", "20"],
        &[],
    );
}

#[test]
fn every_moment_of_packets_every_is_what_check_stop_gives() {
    assert_moments_match_check(GEN, &["--packets-every", "700"], &[]);
    assert_moments_match_check(
        fixture("capture-v3.dog").to_str().unwrap(),
        &["--packets-every", "1"],
        &["--legacy"],
    );
}

#[test]
fn random_moments_are_what_check_stop_random_gives() {
    for (source, extra) in [(GEN, vec![]), (GEN_WIDE, vec!["--legacy"])] {
        let seeded = [extra.as_slice(), &["--seed", "3"]].concat();
        let swept = sweep(source, &["--random", "5"], &seeded);
        let checked = check(source, "random:5", &seeded);
        assert_eq!(
            scenarios(&swept).len(),
            5 * if extra.is_empty() { 2 } else { 3 }
        );
        assert_eq!(scenarios(&swept), scenarios(&checked), "{source}");
    }
}

#[test]
fn moments_from_a_file_are_the_stops_it_lists() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("moments.txt");
    std::fs::write(&file, "# the stops\nt:4.2s\npackets:900\nphase:15%\nend\n").unwrap();
    let report = sweep(GEN, &["--moments", file.to_str().unwrap()], &[]);
    let specs: Vec<&str> = scenarios(&report)
        .iter()
        .map(|s| s["stop"]["spec"].as_str().unwrap())
        .collect();
    assert_eq!(
        specs,
        [
            "t:4.2s",
            "t:4.2s",
            "packets:900",
            "packets:900",
            "phase:15%",
            "phase:15%",
            "end",
            "end"
        ]
    );
    std::fs::write(&file, "end\nlater\n").unwrap();
    lastbucket()
        .args(["sweep", GEN, "--moments"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "line 2: invalid stop moment 'later'",
        ));
}

/// The stream of a source, whole, and its shape.
fn stream_of(source: &str) -> (Vec<Datagram>, StreamShape) {
    let spec = SourceSpec::Generated(GeneratorConfig::from_spec(source).unwrap());
    let datagrams: Vec<Datagram> = spec.open().unwrap().map(|d| d.unwrap()).collect();
    let shape = StreamShape {
        datagrams: datagrams.len() as u64,
        first_ns: datagrams[0].ts_ns,
        last_ns: datagrams.iter().map(|d| d.ts_ns).max().unwrap(),
    };
    (datagrams, shape)
}

/// The peer the sweep's forks are held to: the stream replayed from its start up to the stop
/// (no fork, no shared state), its whole output verified at once.
fn replayed(
    datagrams: &[Datagram],
    stop: StopPoint,
    settings: StopSettings,
) -> lastbucket::report::Counts {
    let config = PipelineConfig::default();
    let mut sent = SentLog::default();
    let r = run::<_, std::convert::Infallible>(
        &config,
        settings,
        ListenerKind::Udp,
        datagrams.iter().cloned().map(Ok),
        stop,
        &mut |id, d| sent.record_datagram(id, d, &config),
    )
    .unwrap();
    let v = verify::verify(
        &sent,
        &r.flushed,
        &r.counters,
        &r.losses,
        &HashSet::new(),
        &config,
    );
    v.counts
}

#[test]
fn a_sweep_counts_what_a_replay_up_to_each_moment_counts() {
    let (datagrams, shape) = stream_of(GEN_WIDE);
    let report = sweep(GEN_WIDE, &["--every", "4s"], &["--legacy"]);
    let mut compared = 0;
    for s in scenarios(&report) {
        let spec: StopMoment = s["stop"]["spec"].as_str().unwrap().parse().unwrap();
        let stop = resolve(&spec, &shape, 10, 0).unwrap()[0].point;
        let settings = StopSettings {
            flush_incomplete_buckets: s["settings"]["flush_incomplete_buckets"] == true,
            batcher_drain: if s["settings"]["batcher_drain"] == "never" {
                BatcherDrain::Never
            } else {
                BatcherDrain::Auto
            },
        };
        let counts = serde_json::to_value(replayed(&datagrams, stop, settings)).unwrap();
        assert_eq!(s["counts"], counts, "{}", s["name"]);
        compared += 1;
    }
    assert_eq!(
        compared,
        3 * 8,
        "7 moments of 4 s, then end, for 3 settings"
    );
}

fn flag(s: &Value) -> bool {
    s["settings"]["flush_incomplete_buckets"] == true
}

fn lost(s: &Value) -> u64 {
    s["counts"]["lost"].as_u64().unwrap()
}

#[test]
fn loss_over_the_moments_has_the_shape_the_stop_sequence_gives() {
    let report = sweep(GEN_WIDE, &["--phases", "7"], &["--legacy"]);
    let all = scenarios(&report);
    assert!(all.len() >= 3 * 15, "{}", all.len());
    let mut queued_moments = 0;
    for s in all {
        let drain = s["settings"]["batcher_drain"].as_str().unwrap();
        let held = &s["held_at_stop"];
        let something_queued = [
            "assembler_datagrams",
            "packets_buffer_packets",
            "queued_batches",
        ]
        .iter()
        .any(|k| held[k].as_u64().unwrap() > 0);
        match (flag(s), drain) {
            // Every moment of this stream is inside a bucket with samples in it.
            (false, _) => assert!(lost(s) > 0, "{}", s["name"]),
            (true, "auto") => assert_eq!(lost(s), 0, "{}", s["name"]),
            (true, _) => {
                queued_moments += usize::from(something_queued);
                if lost(s) > 0 {
                    assert!(something_queued, "{}: lost with nothing queued", s["name"]);
                }
            }
        }
    }
    assert!(queued_moments > 0, "some stop caught something in flight");
}

fn without_tool(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("tool");
    v
}

#[test]
fn shards_merged_are_the_unsharded_sweep_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    // A failing expectation (zero loss with the flag off), so the exit code says something.
    let args = ["--every", "3s", "--legacy", "--expect", "off=zero-loss"];
    let whole_path = dir.path().join("whole.json");
    let whole_code = lastbucket()
        .args(["sweep", GEN_WIDE])
        .args(args)
        .arg("--export-json")
        .arg(&whole_path)
        .arg("--quiet")
        .output()
        .unwrap()
        .status
        .code();
    assert_eq!(whole_code, Some(1));
    let mut parts = Vec::new();
    for k in 1..=3 {
        let path = dir.path().join(format!("shard{k}.json"));
        let out = lastbucket()
            .args(["sweep", GEN_WIDE])
            .args(args)
            .args(["--shard", &format!("{k}/3"), "--quiet", "--export-json"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0 | 1)));
        parts.push(path);
    }
    let merged_path = dir.path().join("merged.json");
    let out = lastbucket()
        .arg("merge")
        .args([&parts[2], &parts[0], &parts[1]])
        .arg("--export-json")
        .arg(&merged_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), whole_code);
    let read = |p: &std::path::Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let whole = read(&whole_path);
    assert_eq!(
        without_tool(read(&merged_path)),
        without_tool(whole.clone())
    );
    // Each shard holds its own part, and says so.
    let first = read(&parts[0]);
    assert_eq!(first["shard"]["index"], 1);
    assert_eq!(first["shard"]["count"], 3);
    assert!(scenarios(&first).len() < scenarios(&whole).len());

    // A shard missing, one given twice, and a report that is not a shard: usage errors.
    lastbucket()
        .args(["merge"])
        .args([&parts[0], &parts[1]])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("shard 3/3 is missing"));
    lastbucket()
        .args(["merge"])
        .args([&parts[0], &parts[0], &parts[1]])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("given twice"));
    lastbucket()
        .args(["merge"])
        .arg(&whole_path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not a shard report"));
    // Not JSON at all: an input error.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"schema_version\": 1,").unwrap();
    lastbucket()
        .arg("merge")
        .arg(&junk)
        .assert()
        .code(3)
        .stderr(predicates::str::contains("junk.json"));
}

#[test]
fn merging_shards_of_different_runs_names_the_field_that_differs() {
    let dir = tempfile::tempdir().unwrap();
    let shard = |source: &str, k: u32, extra: &[&str]| {
        let path = dir.path().join(format!("{k}-{}.json", extra.len()));
        lastbucket()
            .args([
                "sweep",
                source,
                "--every",
                "5s",
                "--shard",
                &format!("{k}/2"),
            ])
            .args(extra)
            .arg("--export-json")
            .arg(&path)
            .arg("--quiet")
            .output()
            .unwrap();
        path
    };
    let a = shard(GEN, 1, &[]);
    let other_source = shard("gen:seed=5,duration=32", 2, &[]);
    lastbucket()
        .args(["merge"])
        .args([&a, &other_source])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("source.description differs"));
    let other_settings = shard(GEN, 2, &["--legacy"]);
    lastbucket()
        .args(["merge"])
        .args([&a, &other_settings])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("differs"));
}

#[test]
fn a_shard_without_moments_is_a_usage_error() {
    lastbucket()
        .args(["sweep", GEN, "--packets-every", "1600", "--shard", "3/3"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("shard 3/3 has no stop moment"));
}

#[test]
fn the_plot_has_a_line_per_setting_and_marks_buckets_and_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("sweep.svg");
    let png = dir.path().join("sweep.png");
    for path in [&svg, &png] {
        lastbucket()
            .args(["sweep", GEN, "--phases", "4", "--legacy", "--quiet"])
            .args(["--expect", "on-never=any", "--plot"])
            .arg(path)
            .assert()
            .code(0);
    }
    let plot = common::svg_plot(&svg);
    assert_eq!(plot.series.len(), 3, "{plot:?}");
    // 13 moments: the quarters of buckets 0, 10 and 20 s, and 30 s (the stream ends at 32 s).
    assert!(plot.series.iter().all(|s| s.points == 13), "{plot:?}");
    // Bucket starts at 0, 10, 20 and 30 s; flush ticks at 15 and 30 s.
    assert_eq!(plot.bucket_marks.len(), 4, "{plot:?}");
    assert_eq!(plot.tick_marks.len(), 2, "{plot:?}");
    for label in [
        "flag=off drain=auto",
        "flag=on drain=auto",
        "flag=on drain=never",
        "lost samples",
        "stop moment (seconds of stream time)",
        "bucket start",
        "flush tick",
    ] {
        assert!(plot.texts.iter().any(|t| t == label), "{label}: {plot:?}");
    }
    // Round ticks on the time axis, starting where the moments start.
    assert!(
        plot.texts.iter().any(|t| t == "0.0" || t == "0"),
        "{plot:?}"
    );
    assert!(
        plot.texts.iter().any(|t| t == "10.0" || t == "10"),
        "{plot:?}"
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn the_summary_names_each_settings_worst_moment() {
    let out = lastbucket()
        .args(["sweep", GEN, "--every", "5s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let off = text
        .lines()
        .find(|l| l.starts_with("flag=off drain=auto: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(off.contains("8 moments"), "{off}");
    // 2424 samples lost at 5 s into the first bucket; later buckets lose fewer at 5 s in.
    assert!(off.contains("worst t:5s (5.000 s): 2424 lost"), "{off}");
    assert!(off.contains("open_bucket"), "{off}");
    assert!(
        text.lines()
            .any(|l| l == "flag=on drain=auto: 8 moments, 0 with loss"),
        "{text}"
    );
}
