//! `check --transport`: the same verdict with packets crossing real loopback sockets into the
//! pipeline on the real clock, through the built binary.

mod common;
use common::{assert_identity, json_report, lastbucket};
use serde_json::Value;

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn unixgram_with_the_flag_on_loses_nothing() {
    for transport in ["unixgram", "unix"] {
        let (code, report) = json_report(lastbucket().args([
            "check",
            "gen:seed=5,duration=12",
            "--transport",
            transport,
            "--speed",
            "0",
            "--export-json",
            "-",
        ]));
        assert_eq!(code, 0, "{report}");
        for s in report["scenarios"].as_array().unwrap() {
            assert_identity(s);
            assert_eq!(s["socket"]["transport"], transport);
            assert_eq!(s["counts"]["lost_by_stage"]["socket"], 0, "backpressure");
            if s["settings"]["flush_incomplete_buckets"] == true {
                assert_eq!(s["counts"]["lost"], 0, "{}", s["reasons"]);
            }
        }
    }
}

/// A UDP check the receiver cannot keep up with: a tiny receive buffer, sent as fast as
/// possible, the flag on.
fn udp_overrun(expect: &str) -> (i32, Value) {
    json_report(lastbucket().args([
        "check",
        "gen:seed=5,duration=12,packet_rate=2000",
        "--transport",
        "udp",
        "--speed",
        "0",
        "--so-rcvbuf",
        "2048",
        "--flush-incomplete-buckets",
        "on",
        "--expect",
        expect,
        "--export-json",
        "-",
    ]))
}

#[test]
fn udp_overrun_reports_kernel_drops_under_socket() {
    let (code, report) = udp_overrun("zero-loss");
    let s = &report["scenarios"][0];
    assert_identity(s);
    let socket = &s["socket"];
    let dropped = n(&socket["dropped"]) + n(&socket["unread_at_stop"]);
    if dropped == 0 {
        eprintln!("note: this machine dropped no datagrams; only the identity was checked");
    } else {
        assert!(n(&s["counts"]["lost_by_stage"]["socket"]) > 0);
        if let Some(k) = socket["kernel_drops"].as_u64() {
            assert!(k >= n(&socket["dropped"]), "{socket}");
        }
    }
    // Zero loss covers what entered the pipeline; socket loss is reported, not held against
    // the flag.
    assert_eq!(s["counts"]["lost"], s["counts"]["lost_by_stage"]["socket"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(s["verdict"], "pass");

    // `--expect strict` holds the socket stage against the run too.
    let (code, report) = udp_overrun("strict");
    let s = &report["scenarios"][0];
    assert_eq!(s["expectation"], "strict");
    if n(&s["counts"]["lost_by_stage"]["socket"]) > 0 {
        assert_eq!((code, s["verdict"].as_str()), (1, Some("fail")), "{report}");
    } else {
        assert_eq!(code, 0, "{report}");
    }
}

#[test]
fn a_mid_stream_stop_is_a_real_stop() {
    let (code, report) = json_report(lastbucket().args([
        "check",
        "gen:seed=6,duration=12",
        "--transport",
        "unixgram",
        "--speed",
        "20",
        "--stop",
        "t:4s",
        "--export-json",
        "-",
    ]));
    assert_eq!(code, 0, "{report}");
    for s in report["scenarios"].as_array().unwrap() {
        assert_identity(s);
        assert!(n(&s["counts"]["sent"]) > 0);
    }
}

#[test]
fn transport_options_need_a_transport() {
    lastbucket()
        .args(["check", "--speed", "2"])
        .assert()
        .code(2);
    lastbucket()
        .args(["check", "--transport", "tcp"])
        .assert()
        .code(2);
    lastbucket()
        .args(["check", "--transport", "udp", "--speed", "-1"])
        .assert()
        .code(2);
    // The transport decides the listener kind: a different one is a contradiction.
    lastbucket()
        .args(["check", "--transport", "unixgram", "--listener", "udp"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--listener"));
}
