//! `check --server-cmd`: real child servers (`lastbucket serve` and the independent Python
//! server of `tests/servers/`), real sockets, and the built-in intake over real HTTP on loopback.

mod common;
use common::{json_report, lastbucket};
use serde_json::Value;
use std::path::{Path, PathBuf};

const BIN: &str = env!("CARGO_BIN_EXE_lastbucket");

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn serve_cmd() -> String {
    format!("exec {BIN} serve")
}

fn python_cmd(extra: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/run_server.sh");
    format!("exec {} {extra}", script.display())
}

/// A socket path of this test's own, short enough for `sun_path`.
fn socket_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/lb-bb-{}-{name}.sock", std::process::id()))
}

/// A small generated stream with every metric type, events and service checks.
const GEN: &str = "gen:seed=11,contexts=40,samples=1500";

/// A black-box check at `--speed 0` over Unix sockets (their backpressure loses nothing); over
/// UDP at twice the stream's cadence, so the receive buffer of a server on a busy machine does
/// not overflow.
fn blackbox(source: &str, cmd: &str, addr: &str, flag: &str, extra: &[&str]) -> (i32, Value) {
    let speed = if addr.starts_with("udp") { "2" } else { "0" };
    let mut c = lastbucket();
    c.args(["check", source, "--server-cmd", cmd, "--server-addr", addr])
        .args(["--flush-incomplete-buckets", flag, "--speed", speed])
        .args(["--server-timeout", "20s", "--export-json", "-", "--quiet"])
        .args(extra);
    json_report(&mut c)
}

fn only(report: &Value) -> &Value {
    let s = report["scenarios"].as_array().expect("scenarios");
    assert_eq!(s.len(), 1, "{report}");
    &s[0]
}

#[test]
fn serve_with_the_flag_on_loses_nothing_over_udp_and_unixgram() {
    let unixgram = format!("unixgram://{}", socket_path("on").display());
    for addr in ["udp://127.0.0.1:0", unixgram.as_str()] {
        let (code, report) = blackbox(GEN, &serve_cmd(), addr, "on", &[]);
        let s = only(&report);
        assert_eq!(code, 0, "{addr}: {s}");
        assert_eq!(s["verdict"], "pass");
        assert_eq!(s["counts"]["lost"], 0, "{}", s["reasons"]);
        assert_eq!(s["counts"]["surplus"], 0);
        assert!(n(&s["counts"]["flushed"]) > 1000, "{s}");
        assert_eq!(s["counts"]["lost_by_stage"]["server"], 0);
        assert_eq!(s["server"]["exit_code"], 0);
        assert_eq!(s["server"]["killed"], false);
        assert!(n(&s["server"]["payloads"]) > 0);
        assert_eq!(s["socket"]["transport"], addr.split(':').next().unwrap());
    }
}

/// A stream whose every datagram is in one 10 s bucket: with the flag off, that bucket is the
/// one open at the stop.
fn one_bucket_stream(dir: &Path) -> PathBuf {
    let path = dir.join("one-bucket.jsonl");
    let mut text = String::new();
    for i in 0..60u64 {
        let ts = 1_700_000_001_000_000_000u64 + i * 10_000_000;
        let payload = format!(
            "bb.c:{}|c|#k:{}\\nbb.g:{i}|g\\nbb.h:{i}|h|@0.5",
            i + 1,
            i % 3
        );
        text.push_str(&format!(
            "{{\"ts_ns\": {ts}, \"payload\": \"{payload}\"}}\n"
        ));
    }
    std::fs::write(&path, text).expect("write stream");
    path
}

/// Two buckets at the stream's own cadence: 7 s to 8 s into bucket B and 0.5 s to 1 s into
/// B + 10, far enough from the boundary that no sample can spill.
fn two_bucket_stream(dir: &Path) -> PathBuf {
    let path = dir.join("two-buckets.jsonl");
    let mut text = String::new();
    let base = 1_700_000_000_000_000_000u64;
    let times = (0..20u64)
        .map(|i| base + 7_000_000_000 + i * 50_000_000)
        .chain((0..10u64).map(|i| base + 10_500_000_000 + i * 50_000_000));
    for (i, ts) in times.enumerate() {
        let payload = format!("bb2.c:1|c\\nbb2.g:{i}|g\\nbb2.d:{i}|d");
        text.push_str(&format!(
            "{{\"ts_ns\": {ts}, \"payload\": \"{payload}\"}}\n"
        ));
    }
    std::fs::write(&path, text).expect("write stream");
    path
}

/// The embedded check's loss of the same stream, flag off, stop at the end.
fn embedded_loss(source: &Path) -> u64 {
    let (_, report) = json_report(lastbucket().args([
        "check",
        source.to_str().unwrap(),
        "--flush-incomplete-buckets",
        "off",
        "--export-json",
        "-",
        "--quiet",
    ]));
    let s = only(&report);
    assert_eq!(s["verdict"], "pass", "{s}");
    n(&s["counts"]["lost"])
}

#[test]
fn serve_with_the_flag_off_loses_the_open_bucket_as_the_embedded_check_predicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stream = one_bucket_stream(dir.path());
    let predicted = embedded_loss(&stream);
    assert_eq!(predicted, 180, "every sample is in the open bucket");
    let unixgram = format!("unixgram://{}", socket_path("off").display());
    for addr in [unixgram.as_str(), "udp://127.0.0.1:0"] {
        let (code, report) = blackbox(stream.to_str().unwrap(), &serve_cmd(), addr, "off", &[]);
        let s = only(&report);
        assert_eq!(code, 0, "{addr}: {s}");
        assert_eq!(n(&s["counts"]["lost"]), predicted, "{addr}: {s}");
        assert_eq!(n(&s["counts"]["lost_by_stage"]["server"]), predicted);
        assert_eq!(s["counts"]["surplus"], 0);
    }
}

/// At speed 1 the sending follows the stream's phase within the bucket, so the server's
/// buckets are the stream's: the closed bucket is posted, the open one is lost, as predicted.
#[test]
fn serve_at_the_stream_cadence_loses_exactly_the_open_bucket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stream = two_bucket_stream(dir.path());
    let predicted = embedded_loss(&stream);
    assert_eq!(predicted, 30, "the 10 datagrams of the second bucket");
    let mut c = lastbucket();
    c.args([
        "check",
        stream.to_str().unwrap(),
        "--server-cmd",
        &serve_cmd(),
    ])
    .args(["--flush-incomplete-buckets", "off", "--speed", "1"])
    .args(["--export-json", "-", "--quiet"]);
    let (code, report) = json_report(&mut c);
    let s = only(&report);
    assert_eq!(code, 0, "{s}");
    assert_eq!(n(&s["counts"]["lost"]), predicted, "{s}");
    assert_eq!(n(&s["counts"]["flushed"]), 60, "{s}");
    assert!(n(&s["server"]["payloads"]) > 0);
}

#[test]
fn the_python_server_with_the_flag_on_passes() {
    for addr in ["udp://127.0.0.1:0", "unix:///tmp/lb-bb-py-stream.sock"] {
        let addr = addr.replace("py-stream", &format!("py-{}", std::process::id()));
        let (code, report) = blackbox(GEN, &python_cmd(""), &addr, "on", &[]);
        let s = only(&report);
        assert_eq!(code, 0, "{addr}: {s}");
        assert_eq!(s["counts"]["lost"], 0);
        assert_eq!(s["counts"]["surplus"], 0);
        assert!(n(&s["counts"]["flushed"]) > 1000);
    }
}

#[test]
fn the_python_server_that_drops_on_stop_fails_with_the_loss_at_server() {
    let (code, report) = blackbox(
        GEN,
        &python_cmd("--drop-on-stop"),
        "udp://127.0.0.1:0",
        "on",
        &[],
    );
    let s = only(&report);
    assert_eq!(code, 1, "{s}");
    assert_eq!(s["verdict"], "fail");
    let lost = n(&s["counts"]["lost"]);
    assert!(lost > 1000, "{s}");
    assert_eq!(n(&s["counts"]["lost_by_stage"]["server"]), lost);
    assert_eq!(s["counts"]["lost_by_stage"]["socket"], 0);
    assert!(s["examples"][0]["stage"] == "server");
}

fn failing(cmd: &str, timeout: &str) -> std::process::Output {
    let mut c = std::process::Command::new(BIN);
    c.args(["check", "gen:seed=1,samples=50", "--server-cmd", cmd])
        .args(["--server-timeout", timeout, "--speed", "0", "--quiet"])
        .args(["--flush-incomplete-buckets", "on", "--export-json", "-"]);
    c.output().expect("runs")
}

#[test]
fn a_server_that_exits_at_once_is_an_error_with_its_stderr() {
    let out = failing("echo 'cannot open config: no such file' >&2; exit 3", "10s");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("exited (exit code 3) before it listened"),
        "{err}"
    );
    assert!(err.contains("cannot open config: no such file"), "{err}");
}

#[test]
fn a_shell_that_exits_cleanly_with_nothing_listening_is_an_error_at_once() {
    let start = std::time::Instant::now();
    let out = failing("echo nothing to run >&2", "60s");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("exited (exit code 0) before it listened"),
        "{err}"
    );
    assert!(err.contains("nothing to run"), "{err}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "not the timeout"
    );
}

#[test]
fn a_sweep_checks_every_moment_against_its_own_server() {
    let addr = format!("unixgram://{}", socket_path("sweep").display());
    let mut c = lastbucket();
    c.args([
        "sweep",
        "gen:seed=4,contexts=20,samples=400",
        "--server-cmd",
        &serve_cmd(),
    ])
    .args([
        "--server-addr",
        &addr,
        "--speed",
        "0",
        "--packets-every",
        "50",
    ])
    .args([
        "--flush-incomplete-buckets",
        "on",
        "--export-json",
        "-",
        "--quiet",
    ]);
    let (code, report) = json_report(&mut c);
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    assert!(scenarios.len() >= 2, "{report}");
    assert_eq!(code, 0, "{report}");
    for s in scenarios {
        assert_eq!(s["counts"]["lost"], 0, "{s}");
        assert!(n(&s["counts"]["sent"]) > 0, "{s}");
        assert_eq!(s["server"]["exit_code"], 0, "{s}");
    }
    // Every moment up to its own stop: the packets sent are the moment's.
    assert_eq!(scenarios[0]["stop"]["after_packets"], 50);
}

#[test]
fn a_server_that_never_listens_is_an_error_after_the_timeout() {
    let start = std::time::Instant::now();
    let out = failing("echo started >&2; exec sleep 60", "1s");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("did not listen on udp://127.0.0.1:"), "{err}");
    assert!(err.contains("within 1s"), "{err}");
    assert!(err.contains("started"), "{err}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "the sleep was killed"
    );
}

#[test]
fn a_server_that_ignores_sigterm_is_killed_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    // Listens, reads nothing, ignores SIGTERM.
    let cmd = "exec python3 -c 'import socket,signal,sys,time; signal.signal(signal.SIGTERM, \
               signal.SIG_IGN); s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
               s.bind((\"127.0.0.1\", {port})); print(\"ignoring TERM\", file=sys.stderr, flush=True); \
               time.sleep(60)'";
    let mut c = lastbucket();
    c.args(["check", "gen:seed=1,samples=50", "--server-cmd", cmd])
        .args(["--server-timeout", "1s", "--speed", "0", "--quiet"])
        .args(["--flush-incomplete-buckets", "on", "--export-json", "-"])
        .arg("--server-log")
        .arg(&log);
    let (code, report) = json_report(&mut c);
    let s = only(&report);
    assert_eq!(code, 1, "{s}");
    assert_eq!(s["verdict"], "fail");
    assert_eq!(s["server"]["killed"], true);
    assert_eq!(s["server"]["exit_signal"], 9, "SIGKILL");
    let reasons = s["reasons"].to_string();
    assert!(reasons.contains("was killed"), "{reasons}");
    assert!(reasons.contains("posted nothing"), "{reasons}");
    let kept = std::fs::read_to_string(&log).expect("server log");
    assert!(kept.contains("ignoring TERM"), "{kept}");
}

#[test]
fn settings_that_cannot_be_seen_from_outside_are_usage_errors() {
    for extra in [["--batcher-drain", "never"], ["--legacy", "--quiet"]] {
        let out = std::process::Command::new(BIN)
            .args(["check", "gen:seed=1,samples=10", "--server-cmd", "true"])
            .args(extra)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
    }
}

/// The issue's own line: `check --server-cmd 'lastbucket serve'`, no other flag, with
/// `lastbucket` found on PATH. `sh -c` (dash) does not exec it, so the shell dies of the stop
/// signal sent to its group while serve exits 0: a normal stop, not a failure. The stream
/// (12 s, every type) repeats service checks a few seconds apart: each is matched to the post
/// nearest to when it was sent.
#[test]
fn check_server_cmd_lastbucket_serve_works_with_no_other_flag() {
    let dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = lastbucket();
    c.env("PATH", path)
        .args([
            "check",
            "gen:duration=12",
            "--server-cmd",
            "lastbucket serve",
        ])
        .args(["--export-json", "-", "--quiet"]);
    let (code, report) = json_report(&mut c);
    assert_eq!(code, 0, "{report}");
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 2);
    for s in scenarios {
        if s["settings"]["flush_incomplete_buckets"] == true {
            assert_eq!(n(&s["counts"]["lost"]), 0, "{s}");
            assert_eq!(n(&s["counts"]["surplus"]), 0, "{s}");
        }
    }
}
