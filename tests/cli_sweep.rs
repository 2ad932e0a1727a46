//! `lastbucket sweep` through the built binary: moments, table, exports, the SVG plot.

mod common;
use common::{assert_identity, json_report, lastbucket};
use serde_json::Value;

const SOURCE: &str = "gen:seed=4,duration=32";

fn lost(s: &Value) -> u64 {
    s["counts"]["lost"].as_u64().unwrap()
}

#[test]
fn phases_sweep_the_last_bucket_for_each_setting_and_plot_it() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("loss.svg");
    // 40 s from a bucket start: the last bucket (30 s to 40 s) is full of traffic.
    let (code, report) = json_report(
        lastbucket()
            .args(["sweep", "gen:seed=4,duration=40", "--phases", "4"])
            .args(["--last-bucket", "--export-json", "-"])
            .arg("--plot")
            .arg(&svg),
    );
    assert_eq!(code, 0, "{report}");
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 4 * 2);
    for s in scenarios {
        assert_identity(s);
        if s["settings"]["flush_incomplete_buckets"] == true {
            assert_eq!(lost(s), 0, "{}", s["name"]);
        }
    }
    // Later in the last bucket, more of it is open when the flag is off.
    let off: Vec<u64> = scenarios
        .iter()
        .filter(|s| s["settings"]["flush_incomplete_buckets"] == false)
        .map(|s| {
            s["counts"]["lost_by_stage"]["open_bucket"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(off.len(), 4);
    assert!(off.windows(2).all(|w| w[0] <= w[1]), "{off:?}");
    assert!(off[3] > 0);

    let plot = common::svg_plot(&svg);
    assert_eq!(plot.series.len(), 2, "one line per setting: {plot:?}");
    assert!(plot.series.iter().all(|s| s.points == 4), "{plot:?}");
    assert!(plot.texts.iter().any(|t| t == "flag=off drain=auto"));
}

#[test]
fn every_covers_the_stream_and_ends_at_end() {
    let out = lastbucket()
        .args([
            "sweep",
            SOURCE,
            "--every",
            "10s",
            "--flush-incomplete-buckets",
            "off",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for row in ["t:0s", "t:10s", "t:20s", "t:30s", "end"] {
        assert!(
            text.lines().any(|l| l.starts_with(row)),
            "{row} missing:\n{text}"
        );
    }
}

#[test]
fn random_sweeps_are_reproducible() {
    let run = || {
        lastbucket()
            .args(["sweep", SOURCE, "--random", "3", "--seed", "8"])
            .args(["--export-csv", "-"])
            .output()
            .unwrap()
            .stdout
    };
    let a = run();
    assert_eq!(String::from_utf8_lossy(&a).lines().count(), 1 + 3 * 2);
    assert_eq!(a, run());
}

#[test]
fn bad_spreads_are_usage_errors() {
    lastbucket()
        .args(["sweep", "--every", "0s"])
        .assert()
        .code(2);
    lastbucket()
        .args(["sweep", "--every", "1s", "--random", "2"])
        .assert()
        .code(2);
    lastbucket()
        .args(["sweep", "--every", "1us"])
        .assert()
        .code(2);
}

#[test]
fn a_sweep_over_real_client_traffic_every_second() {
    // The Node.js client's pcap: its own timestamps place every stop moment.
    let (code, report) = json_report(
        lastbucket()
            .arg("sweep")
            .arg(common::fixture("node-client.pcap"))
            .args(["--every", "1s", "--export-json", "-", "--quiet"]),
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["source"]["kind"], "pcap");
    let scenarios = report["scenarios"].as_array().unwrap();
    assert!(scenarios.len() >= 2, "{report}");
    for s in scenarios {
        if s["settings"]["flush_incomplete_buckets"] == true {
            assert_eq!(lost(s), 0, "{}", s["name"]);
        }
    }
}
