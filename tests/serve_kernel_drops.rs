//! `serve --stats-json` says the same number of kernel drops in both places it says it:
//! `kernel_drops` (the sockets' counters) and `stage_counters.listener.kernel_dropped` (the
//! pipeline's listener stage). The drops are real: the server is stopped (SIGSTOP) with a small
//! receive buffer while a burst arrives, so the kernel has to drop most of it.

mod server_common;
use serde_json::Value;
use server_common::{poll, Running};
use std::net::UdpSocket;
use std::path::Path;

fn stats(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[test]
fn kernel_drops_are_one_number_in_the_stats() {
    let dir = tempfile::tempdir().unwrap();
    let stats_path = dir.path().join("stats.json");
    let mut server = Running::spawn([
        "serve",
        "--listen",
        "udp://127.0.0.1:0",
        "--so-rcvbuf",
        "4096",
        "--flush-incomplete-buckets",
        "on",
        "--stats-json",
        stats_path.to_str().unwrap(),
        "--flushed-out",
        dir.path().join("flushed.jsonl").to_str().unwrap(),
    ]);
    let address = server.listening();
    let target = address.trim_start_matches("udp://").to_string();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let payload = format!("lb.c:1|c|#{}", "t".repeat(200));
    server.signal(libc::SIGSTOP);
    // Far more than a 4 KiB buffer (doubled by the kernel) holds while nobody reads.
    for _ in 0..2_000 {
        socket.send_to(payload.as_bytes(), &target).unwrap();
    }
    server.signal(libc::SIGCONT);
    // The stats are rewritten every 200 ms; the drops show once the server runs again.
    poll("the server to see the kernel's drops", || {
        socket.send_to(payload.as_bytes(), &target).ok()?;
        let drops = stats(&stats_path)?["kernel_drops"].as_u64()?;
        (drops > 0).then_some(())
    });
    server.signal(libc::SIGTERM);
    let (status, stderr) = server.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let s = stats(&stats_path).expect("final stats");
    assert_eq!(s["running"], false);
    let drops = s["kernel_drops"].as_u64().unwrap();
    assert!(drops > 0);
    assert_eq!(
        s["stage_counters"]["listener"]["kernel_dropped"].as_u64(),
        Some(drops),
        "{s}"
    );
}
