//! `check` and `inspect` on recorded traffic: real client captures, agent capture files,
//! JSON lines; input errors are exit 3.

mod common;
use common::{check_flag_on, fixture, json_report, lastbucket};
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
        let (code, report) = json_report(&mut check_flag_on(&path));
        assert_eq!(code, 0, "{file}: {report}");
        let s = &report["scenarios"][0];
        assert_eq!(s["verdict"], "pass");
        assert_eq!(s["counts"]["lost"], 0);
        assert_eq!(s["counts"]["rejected"], 0);
        let by_type = &s["counts"]["by_type"];
        // Per type, the check counts what inspect counts: values per metric type, events, checks.
        assert_eq!(by_type["event"]["sent"], inspect["events"]);
        assert_eq!(by_type["service_check"]["sent"], inspect["service_checks"]);
        for (name, code) in [
            ("count", "c"),
            ("gauge", "g"),
            ("histogram", "h"),
            ("timing", "ms"),
            ("distribution", "d"),
            ("set", "s"),
        ] {
            assert_eq!(
                by_type[name]["sent"], inspect["samples_by_type"][code],
                "{file}: {name}"
            );
            assert_eq!(by_type[name]["flushed"], by_type[name]["sent"], "{file}");
        }
        assert_eq!(
            by_type["set"]["flushed"].as_u64().unwrap(),
            inspect["metrics_by_type"]["s"].as_u64().unwrap()
        );
        assert_eq!(report["source"]["kind"], "pcap");
        assert_eq!(report["source"]["packets"], inspect["datagrams"]);
    }
}

#[test]
fn real_client_pcaps_read_back_exactly() {
    // Counted independently by a plain walk of the pcap records (Ethernet, IPv4, UDP to 8125).
    for (file, datagrams, bytes) in [
        ("python-client.pcap", 738, 45_542),
        ("node-client.pcap", 239, 273_579),
    ] {
        let (code, inspect) = json_report(
            lastbucket()
                .arg("inspect")
                .arg(fixture(file))
                .args(["--format", "json"]),
        );
        assert_eq!(code, 0);
        assert_eq!(inspect["datagrams"], datagrams, "{file}");
        assert_eq!(inspect["bytes"], bytes, "{file}");
        assert_eq!(inspect["read"]["skipped_non_udp"], 0, "{file}");
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
    let at = report["source"]["truncated_at"]
        .as_u64()
        .expect("truncated_at");
    assert_eq!(report["source"]["read"]["truncated_at"], at);
    // inspect says it too, in both renderings.
    let (code, inspect) = json_report(lastbucket().arg("inspect").arg(&cut).args([
        "--allow-truncated",
        "--format",
        "json",
    ]));
    assert_eq!(code, 0);
    assert_eq!(inspect["read"]["truncated_at"], at);
    lastbucket()
        .arg("inspect")
        .arg(&cut)
        .arg("--allow-truncated")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("up to byte {at}")));
}

#[test]
fn a_cut_or_damaged_capture_header_is_detected_and_named() {
    // No --input-format: detection must still hand these to the capture reader.
    let dir = tempfile::tempdir().unwrap();
    let header = std::fs::read(fixture("capture-v3.dog")).unwrap()[..8].to_vec();
    let mut damaged = header.clone();
    damaged[5] = 0;
    for (name, bytes, says) in [
        ("cut.dog", &header[..5], "header at byte offset 5"),
        ("damaged.dog", &damaged[..], "not a Datadog capture header"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        for cmd in ["check", "inspect"] {
            lastbucket()
                .arg(cmd)
                .arg(&path)
                .assert()
                .code(3)
                .stderr(predicate::str::contains(name).and(predicate::str::contains(says)));
        }
    }
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
    // Malformed lines still queued at a flag-off stop are lost, not rejected: still nothing
    // was compared, and every scenario says so.
    let (code, report) = json_report(lastbucket().arg("check").arg(&rejected).args([
        "--flush-incomplete-buckets",
        "off",
        "--export-json",
        "-",
        "--quiet",
    ]));
    assert_eq!(code, 4);
    let s = &report["scenarios"][0];
    assert_eq!(s["verdict"], "vacuous");
    assert_eq!(s["counts"]["compared"], 0);
    common::assert_identity(s);
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

#[test]
fn datagrams_as_long_as_the_read_buffer_and_longer_lose_nothing_with_the_flag_on() {
    // A datagram that fills the 8192-byte read buffer exactly, and one the listener truncates,
    // between ordinary ones: the assembler must hand on every packet before and after them,
    // and the part the read buffer cuts off is accounted for.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.txt");
    let long = |len: usize| {
        let head = "long.metric:1|c|#pad:";
        format!("{head}{}", "x".repeat(len - head.len()))
    };
    let mut text = "short.metric:1|c\n".repeat(40);
    text += &format!("{}\n{}\n", long(8192), long(9000));
    text += &"after.metric:2|c\n".repeat(10);
    std::fs::write(&path, text).unwrap();
    for transport in [None, Some("udp")] {
        let mut cmd = check_flag_on(&path);
        if let Some(t) = transport {
            cmd.args(["--transport", t]);
        }
        let (code, report) = json_report(&mut cmd);
        assert_eq!(code, 0, "{transport:?}: {report}");
        // The 9000-byte line is cut: the client's line never arrives as sent (lost at the
        // socket, where zero loss does not look), the server reads a shorter line instead.
        let c = &report["scenarios"][0]["counts"];
        assert_eq!(c["sent"], 53, "{transport:?}");
        assert_eq!(c["flushed"], 52, "{transport:?}: {report}");
        assert_eq!(c["lost_by_stage"]["socket"], 1, "{transport:?}: {report}");
        common::assert_identity(&report["scenarios"][0]);
    }
}

#[test]
fn lines_past_the_read_buffer_are_lost_at_the_socket_not_forgotten() {
    // One datagram of 3000 lines (28 890 bytes): the 8192-byte read buffer holds the first
    // 922 whole lines and a cut piece of the 923rd ("m922:1|", rejected).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let payload: Vec<String> = (0..3000).map(|i| format!("m{i}:1|c")).collect();
    let line =
        serde_json::json!({"ts_ns": 1_700_000_001_000_000_000u64, "payload": payload.join("\n")});
    std::fs::write(&path, format!("{line}\n")).unwrap();
    let (code, report) = json_report(&mut check_flag_on(&path));
    assert_eq!(code, 0, "{report}");
    let c = &report["scenarios"][0]["counts"];
    assert_eq!(c["sent"], 3001);
    assert_eq!(c["flushed"], 922);
    assert_eq!(c["rejected"], 1);
    assert_eq!(c["lost_by_stage"]["socket"], 2078);
    assert_eq!(report["source"]["samples"], 3001);
}

#[test]
fn port_and_input_format_options() {
    let pcap = fixture("python-client.pcap");
    let datagrams = |port: &str| {
        let (code, v) = json_report(
            lastbucket()
                .arg("inspect")
                .arg(&pcap)
                .args(["--format", "json", "--port", port]),
        );
        assert_eq!(code, 0);
        (
            v["datagrams"].as_u64().unwrap(),
            v["read"]["skipped_other_port"].as_u64().unwrap(),
        )
    };
    assert_eq!(datagrams("8125"), (738, 0));
    assert_eq!(datagrams("any"), (738, 0));
    assert_eq!(datagrams("9999"), (0, 738));
    // Detection says text; --input-format jsonl reads it as JSON lines and fails on line 1.
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("plain.dat");
    std::fs::write(&text, "a:1|c\n").unwrap();
    lastbucket().arg("inspect").arg(&text).assert().success();
    lastbucket()
        .arg("inspect")
        .arg(&text)
        .args(["--input-format", "jsonl"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("line 1"));
}
