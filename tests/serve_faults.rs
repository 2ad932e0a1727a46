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
        .stdout(Stdio::null())
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

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A UDP flood many times what a one-batch queue holds: the reference's queue blocks rather
/// than drops, so the overflow is the kernel's, counted at the socket; every datagram sent is
/// either read or counted there; memory stays bounded; what was read is all flushed.
#[test]
fn a_udp_flood_larger_than_the_queue_is_counted_at_the_socket_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("q.toml");
    std::fs::write(&config, "dogstatsd_queue_size = 1\n").unwrap();
    let stats_path = dir.path().join("stats.json");
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("udp://127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &addr,
            "--flush-incomplete-buckets",
            "on",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--stats-json")
        .arg(&stats_path)
        .env_remove("DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats(&stats_path).is_none() {
        assert!(Instant::now() < deadline, "serve never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let replay = Command::new(BIN)
        .args([
            "replay",
            "gen:seed=2,samples=200000",
            "--to",
            &addr,
            "--max",
        ])
        .output()
        .unwrap();
    assert!(replay.status.success());
    let said = String::from_utf8_lossy(&replay.stderr);
    let sent: u64 = said
        .lines()
        .find_map(|l| l.strip_prefix("sent "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    // Read or dropped, every datagram: wait until the socket is empty.
    let accounted = |s: &serde_json::Value| {
        s["datagrams_read"].as_u64().unwrap_or(0) + s["kernel_drops"].as_u64().unwrap_or(0)
    };
    loop {
        let s = stats(&stats_path).unwrap();
        if accounted(&s) == sent {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {sent} accounted: {s}",
            accounted(&s)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let hwm = vm_hwm_kib(child.id());
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let s = stats(&stats_path).unwrap();
    assert_eq!(accounted(&s), sent, "{s}");
    assert_eq!(s["stage_counters"]["queue"]["datagrams_dropped"], 0, "{s}");
    for (stage, n) in s["lost"].as_object().unwrap() {
        assert_eq!(n, 0, "flag on: {stage} lost {n}");
    }
    assert!(hwm < 256 * 1024, "VmHWM {hwm} KiB");
}
