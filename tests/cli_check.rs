//! `lastbucket check` end to end, through the built binary: the default workload, the matrix,
//! expectations and exit codes, determinism, the accounting identity, exports.

mod common;
use common::{assert_identity, json_report, lastbucket};
use lastbucket::pipeline::clock::NANOS_PER_SEC;
use lastbucket::protocol::{self, Line};
use lastbucket::source::generate::{generate, GeneratorConfig};
use predicates::prelude::*;
use serde_json::Value;

fn scenario<'a>(report: &'a Value, flag: bool, drain: &str) -> &'a Value {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["settings"]["flush_incomplete_buckets"] == flag
                && s["settings"]["batcher_drain"] == drain
        })
        .unwrap_or_else(|| panic!("no scenario flag={flag} drain={drain}"))
}

/// Samples of a datagram as the pipeline counts them, and whether they are aggregated
/// (bucketed) samples.
fn samples(payload: &[u8]) -> (u64, u64) {
    let (mut all, mut bucketed) = (0, 0);
    for line in protocol::split_lines(payload) {
        match protocol::parse_line(line) {
            Ok(Line::Metric(m)) => {
                all += m.value_count as u64;
                if m.timestamp.is_none() {
                    bucketed += m.value_count as u64;
                }
            }
            Ok(_) => all += 1,
            Err(_) => {}
        }
    }
    (all, bucketed)
}

#[test]
fn default_check_passes_and_flag_off_loses_exactly_the_open_bucket_and_the_queue() {
    let (code, report) = json_report(lastbucket().args(["check", "--export-json", "-", "--quiet"]));
    assert_eq!(code, 0, "{report}");
    let on = scenario(&report, true, "auto");
    assert_eq!(on["verdict"], "pass");
    assert_eq!(on["counts"]["lost"], 0);
    assert!(on["counts"]["flushed"].as_u64().unwrap() > 1000);

    // Independently of the pipeline: from the generated stream, the datagrams still held in the
    // assembler at stop (received at or after the last 100 ms tick) are lost in the queue, and
    // every other bucketed sample of the last bucket is lost in the open bucket.
    let stream: Vec<_> = generate(&GeneratorConfig::default()).collect();
    let first = stream[0].ts_ns;
    let last = stream.last().unwrap().ts_ns;
    let tick = 100_000_000;
    let last_tick = first + (last - first) / tick * tick;
    let bucket = last - last % (10 * NANOS_PER_SEC);
    let (mut queue, mut queue_lines, mut open) = (0, 0, 0);
    for d in &stream {
        let (all, bucketed) = samples(&d.payload);
        if d.ts_ns >= last_tick {
            queue += all;
            queue_lines += protocol::split_lines(&d.payload).count() as u64;
        } else if d.ts_ns >= bucket {
            open += bucketed;
        }
    }
    let off = scenario(&report, false, "auto");
    assert!(
        queue > 0 && open > 0,
        "the default workload ends mid-bucket with datagrams held"
    );
    assert_eq!(off["counts"]["lost_by_stage"]["queue"], queue);
    assert_eq!(off["counts"]["lost_by_stage"]["open_bucket"], open);
    assert_eq!(off["counts"]["lost"], queue + open);
    assert_eq!(off["verdict"], "pass");
    // The pipeline's own queue counters say the same, in samples and in lines.
    let q = &off["stage_counters"]["queue"];
    assert_eq!(q["samples_dropped"], queue);
    assert_eq!(q["lines_dropped"], queue_lines);
    assert_eq!(on["stage_counters"]["queue"]["samples_dropped"], 0);
}

#[test]
fn terminal_report_names_the_loss_by_stage() {
    lastbucket()
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::contains("open_bucket").and(predicate::str::contains("flag=on")));
}

#[test]
fn never_drain_with_the_flag_on_loses_the_queue_and_fails() {
    let (code, report) = json_report(lastbucket().args([
        "check",
        "--flush-incomplete-buckets",
        "on",
        "--batcher-drain",
        "never",
        "--export-json",
        "-",
        "--quiet",
    ]));
    assert_eq!(code, 1);
    let s = scenario(&report, true, "never");
    assert_eq!(s["verdict"], "fail");
    assert!(s["counts"]["lost_by_stage"]["queue"].as_u64().unwrap() > 0);
    assert_eq!(s["counts"]["lost_by_stage"]["open_bucket"], 0);
    // The same loss is accepted when the expectation says so.
    lastbucket()
        .args([
            "check",
            "--flush-incomplete-buckets",
            "on",
            "--batcher-drain",
            "never",
            "--expect",
            "loss",
            "--quiet",
        ])
        .assert()
        .code(0);
}

#[test]
fn identity_holds_in_every_scenario_and_type() {
    let (_, report) = json_report(lastbucket().args([
        "check",
        "gen:seed=11,contexts=300,duration=35.5",
        "--legacy",
        "--stop",
        "end",
        "--stop",
        "phase:3s",
        "--stop",
        "packets:500",
        "--stop",
        "random:3",
        "--seed",
        "5",
        "--export-json",
        "-",
        "--quiet",
    ]));
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 6 * 3);
    for s in scenarios {
        assert_identity(s);
    }
}

#[test]
fn same_seed_and_stop_give_byte_identical_json() {
    let run = || {
        lastbucket()
            .args([
                "check",
                "gen:seed=3,duration=25",
                "--stop",
                "random:2",
                "--seed",
                "9",
                "--export-json",
                "-",
                "--quiet",
            ])
            .output()
            .unwrap()
            .stdout
    };
    let a = run();
    assert!(!a.is_empty());
    assert_eq!(a, run());
}

#[test]
fn usage_errors_exit_2() {
    lastbucket()
        .args(["check", "--flush-incomplete-buckets", "sometimes"])
        .assert()
        .code(2);
    lastbucket()
        .args(["check", "--stop", "later"])
        .assert()
        .code(2);
    lastbucket()
        .args(["check", "gen:seed=1,contxts=5"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("contxts"));
    lastbucket()
        .args(["check", "--expect", "maybe"])
        .assert()
        .code(2);
    // Moments the stream cannot have, and a matrix given twice.
    lastbucket()
        .args(["check", "--stop", "packets:999999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("only 3535 packets"));
    lastbucket()
        .args(["check", "--stop", "phase:11s"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("10 s bucket"));
    lastbucket()
        .args(["check", "--legacy", "--flush-incomplete-buckets", "on"])
        .assert()
        .code(2);
}

#[test]
fn a_config_file_in_the_agent_key_names_sets_sizes_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "dogstatsd_flush_incomplete_buckets = true
         dogstatsd_packet_buffer_flush_timeout = \"1s\"
         dogstatsd_packet_buffer_size = 4
",
    )
    .unwrap();
    let (code, report) = json_report(
        lastbucket()
            .args(["check", "--quiet", "--export-json", "-", "--config"])
            .arg(&config),
    );
    assert_eq!(code, 0);
    // The file's flag replaces the default matrix of both settings.
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 1);
    assert_eq!(scenarios[0]["settings"]["flush_incomplete_buckets"], true);
    // The default stream sends 100 datagrams/s: with the default 100 ms timeout every tick
    // hands on a packet (354 in all); with 1 s, packets leave only when 8192 bytes are full.
    let counters = &scenarios[0]["stage_counters"];
    let packets = counters["assembler"]["packets_out"].as_u64().unwrap();
    assert!(packets < 200, "{packets} packets");
    // Batches of 4 packets instead of 32.
    let batches = counters["packets_buffer"]["batches_out"].as_u64().unwrap();
    assert!(
        batches >= packets / 4,
        "{batches} batches of {packets} packets"
    );
    // The command line wins over the file.
    let (_, report) = json_report(
        lastbucket()
            .args([
                "check",
                "--quiet",
                "--export-json",
                "-",
                "--flush-incomplete-buckets",
                "both",
                "--config",
            ])
            .arg(&config),
    );
    assert_eq!(report["scenarios"].as_array().unwrap().len(), 2);
}
