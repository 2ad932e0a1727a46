//! `check` and `inspect` on recorded traffic: real client captures, agent capture files,
//! JSON lines; input errors are exit 3.

mod common;
use common::{fixture, json_report, lastbucket};
use predicates::prelude::*;

#[test]
fn real_client_pcaps_have_zero_loss_with_the_flag_on_and_match_inspect() {
    for file in ["python-client.pcap", "node-client.pcap"] {
        let path = fixture(file);
        let (code, inspect) = json_report(
            lastbucket()
                .arg("inspect")
                .arg(&path)
                .args(["--format", "json"]),
        );
        assert_eq!(code, 0);
        let (code, report) = json_report(lastbucket().arg("check").arg(&path).args([
            "--flush-incomplete-buckets",
            "on",
            "--export-json",
            "-",
            "--quiet",
        ]));
        assert_eq!(code, 0, "{file}: {report}");
        let s = &report["scenarios"][0];
        assert_eq!(s["verdict"], "pass");
        assert_eq!(s["counts"]["lost"], 0);
        assert_eq!(s["counts"]["rejected"], 0);
        let by_type = &s["counts"]["by_type"];
        // Per type, the check counts what inspect counts: values per metric type, events, checks.
        assert_eq!(by_type["event"]["sent"], inspect["events"]);
        assert_eq!(by_type["service_check"]["sent"], inspect["service_checks"]);
        let metric_samples: u64 = [
            "count",
            "gauge",
            "histogram",
            "timing",
            "distribution",
            "set",
        ]
        .iter()
        .map(|t| by_type[t]["sent"].as_u64().unwrap())
        .sum();
        assert_eq!(metric_samples, inspect["samples"].as_u64().unwrap());
        assert_eq!(
            by_type["set"]["flushed"].as_u64().unwrap(),
            inspect["metrics_by_type"]["s"].as_u64().unwrap()
        );
        assert_eq!(report["source"]["kind"], "pcap");
        assert_eq!(report["source"]["packets"], inspect["datagrams"]);
    }
}

#[test]
fn agent_capture_files_of_every_version_are_checked() {
    for file in [
        "capture-v1.dog",
        "capture-v2.dog.zst",
        "capture-v3.dog",
        "capture-v3.dog.zst",
    ] {
        let (code, report) = json_report(lastbucket().arg("check").arg(fixture(file)).args([
            "--export-json",
            "-",
            "--quiet",
        ]));
        assert!(code == 0 || code == 4, "{file}: exit {code}");
        assert_eq!(report["source"]["kind"], "capture", "{file}");
    }
}

#[test]
fn truncated_capture_is_an_input_error_naming_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("capture-v2.dog")).unwrap();
    let cut = dir.path().join("cut.dog");
    std::fs::write(&cut, &bytes[..50]).unwrap();
    lastbucket()
        .arg("check")
        .arg(&cut)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("cut.dog").and(predicate::str::contains("offset")));
    // With --allow-truncated the readable part is checked and the report says where it ends.
    let (code, report) = json_report(lastbucket().arg("check").arg(&cut).args([
        "--allow-truncated",
        "--export-json",
        "-",
        "--quiet",
    ]));
    assert!(code == 0 || code == 4, "exit {code}");
    assert!(
        report["source"]["truncated_at"].as_u64().is_some(),
        "{report}"
    );
}

#[test]
fn empty_source_is_vacuous() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    lastbucket().arg("check").arg(&empty).assert().code(4);
    let rejected = dir.path().join("bad.txt");
    std::fs::write(&rejected, "not a metric\nneither:this\n").unwrap();
    lastbucket().arg("check").arg(&rejected).assert().code(4);
}

#[test]
fn jsonl_source_with_hand_made_datagrams() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    // Two buckets: 1700000000 and 1700000010; the stream ends 3 s into the second.
    std::fs::write(
        &path,
        "{\"ts_ns\": 1700000001000000000, \"payload\": \"a:1|c\\nb:2|g\"}\n\
         {\"ts_ns\": 1700000013000000000, \"payload\": \"a:3|c\"}\n",
    )
    .unwrap();
    let (code, report) =
        json_report(
            lastbucket()
                .arg("check")
                .arg(&path)
                .args(["--export-json", "-", "--quiet"]),
        );
    assert_eq!(code, 0);
    let off = &report["scenarios"][0];
    assert_eq!(off["settings"]["flush_incomplete_buckets"], false);
    // Flag off: the second datagram is still in the assembler at stop: lost in the queue.
    assert_eq!(off["counts"]["lost_by_stage"]["queue"], 1);
    assert_eq!(off["counts"]["flushed"], 2);
    let on = &report["scenarios"][1];
    assert_eq!(on["counts"]["lost"], 0);
    assert_eq!(on["counts"]["flushed"], 3);
}
