//! `serve` under faults: a flushed output on a full disk (`/dev/full`, whose every write fails
//! with ENOSPC) is a clear error, the stop sequence still runs, and the count of flushed items
//! that could not be written is said: never a silent loss.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lastbucket");

fn stats(path: &std::path::Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

#[test]
fn a_flushed_output_on_a_full_disk_stops_with_the_stop_sequence_and_counts_what_was_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    let stats_path = dir.path().join("stats.json");
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--listen")
        .arg(format!("unixgram://{}", sock.display()))
        .args([
            "--flushed-out",
            "/dev/full",
            "--flush-incomplete-buckets",
            "on",
        ])
        .arg("--stats-json")
        .arg(&stats_path)
        .env_remove("DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sock.exists() {
        assert!(Instant::now() < deadline, "serve never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    let client = UnixDatagram::unbound().unwrap();
    for i in 0..50 {
        client
            .send_to(format!("faults.c:{i}|c\nfaults.g:{i}|g").as_bytes(), &sock)
            .unwrap();
    }
    // Everything read before the stop: the stop sequence must flush it (and fail to write it).
    loop {
        let read = stats(&stats_path).and_then(|s| s["datagrams_read"].as_u64());
        if read == Some(50) {
            break;
        }
        assert!(Instant::now() < deadline, "serve read {read:?} of 50");
        std::thread::sleep(Duration::from_millis(10));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(out.code(), Some(2), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains("the stop sequence ran"), "{stderr}");
    // The stop sequence flushed both contexts' bucket, and they are counted as not written.
    let unwritten: u64 = stderr
        .split("and ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(unwritten >= 2, "{stderr}");
    let last = stats(&stats_path).unwrap();
    assert_eq!(last["running"], false);
    assert!(
        last["stage_counters"]["flush"]["series_points"]
            .as_u64()
            .unwrap()
            >= 2
    );
}
