//! `serve` read at full rate: a sender in the test writes as fast as the socket takes it, the
//! server is stopped with SIGTERM in the middle of the traffic, and every datagram it read is
//! in what it flushed (flag on). Over unixgram a full socket makes the sender wait, so "full
//! rate" is the server's own pace: its readers, not the sender, set it. With `--readers 2`
//! over UDP, each SO_REUSEPORT socket is a listener of its own, and the same holds.

mod server_common;
use lastbucket::pipeline::flushed::{read_jsonl, FlushedItem};
use serde_json::Value;
use server_common::{poll, Running};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// One counter sample (value 1) and one distribution sample per datagram.
fn payload(i: u64) -> String {
    format!("lb.c:1|c|#k:{}\nlb.d:{i}|d", i % 4)
}

fn stats(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Counter samples (rate × interval) and distribution samples flushed.
fn flushed(items: &[FlushedItem]) -> (u64, u64) {
    let (mut c, mut d) = (0.0, 0u64);
    for item in items {
        match item {
            FlushedItem::Series(s) if s.metric == "lb.c" => {
                c += s.points.iter().map(|p| p.1).sum::<f64>() * s.interval as f64
            }
            FlushedItem::Sketch(s) if s.metric == "lb.d" => d += s.count as u64,
            _ => {}
        }
    }
    (c.round() as u64, d)
}

/// Sends from a thread until `stop`, as fast as `send` goes; returns the count sent.
fn flood(
    send: impl Fn(&[u8]) -> bool + Send + 'static,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if send(payload(i).as_bytes()) {
                sent.fetch_add(1, Ordering::Relaxed);
            }
            i += 1;
        }
    })
}

/// Runs `serve ARGS`, floods it through `send` until it has read `min_read` datagrams,
/// SIGTERMs it mid-flood, and checks that everything it read was flushed.
fn read_is_flushed(
    args: &[&str],
    dir: &Path,
    min_read: u64,
    connect: impl FnOnce(&str) -> Box<dyn Fn(&[u8]) -> bool + Send>,
) -> Value {
    let out = dir.join("flushed.jsonl");
    let stats_path = dir.join("stats.json");
    let mut argv = vec![
        "serve",
        "--flush-incomplete-buckets",
        "on",
        "--workers",
        "2",
    ];
    argv.extend_from_slice(args);
    argv.extend(["--flushed-out", out.to_str().unwrap()]);
    argv.extend(["--stats-json", stats_path.to_str().unwrap()]);
    let mut server = Running::spawn(&argv);
    let address = server.listening();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let sender = flood(connect(&address), stop.clone(), sent.clone());
    poll("the server to read traffic", || {
        let read = stats(&stats_path)?["datagrams_read"].as_u64()?;
        (read >= min_read).then_some(())
    });
    // Still flooding: the stop comes while datagrams are being read.
    server.signal(libc::SIGTERM);
    let (status, stderr) = server.wait();
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    assert_eq!(status.code(), Some(0), "serve: {stderr}");

    let s = stats(&stats_path).expect("final stats");
    assert_eq!(s["running"], false);
    let read = s["datagrams_read"].as_u64().unwrap();
    assert!(read >= min_read);
    assert!(
        read <= sent.load(Ordering::Relaxed),
        "read no more than sent"
    );
    let c = &s["stage_counters"];
    assert_eq!(
        c["listener"]["datagrams"], read,
        "every datagram read entered"
    );
    assert_eq!(
        c["workers"]["samples"],
        2 * read,
        "every datagram read was parsed"
    );
    assert_eq!(s["lost"]["queue_datagrams"], 0);
    assert_eq!(s["lost"]["open_bucket_samples"], 0);
    let text = std::fs::read_to_string(&out).unwrap();
    let items = read_jsonl(&text).unwrap_or_else(|e| panic!("bad JSON line {e:?}"));
    assert_eq!(
        flushed(&items),
        (read, read),
        "one counter and one distribution sample flushed per datagram read"
    );
    s
}

#[test]
fn unixgram_at_full_rate_flushes_every_datagram_read_after_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dsd.sock");
    let listen = format!("unixgram://{}", path.display());
    read_is_flushed(&["--listen", &listen], dir.path(), 20_000, |_| {
        let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
        sock.connect(&path).unwrap();
        // Blocking sends: a full socket makes the sender wait (backpressure); once the server
        // is gone they fail, and the flood ends when told.
        Box::new(move |p| sock.send(p).is_ok())
    });
}

#[test]
fn two_udp_readers_share_the_port_and_flush_every_datagram_read() {
    let dir = tempfile::tempdir().unwrap();
    let listen = ["--listen", "udp://127.0.0.1:0", "--readers", "2"];
    let s = read_is_flushed(&listen, dir.path(), 5_000, |address| {
        let to = address.strip_prefix("udp://").unwrap().to_string();
        // Several sender sockets: SO_REUSEPORT spreads senders (not datagrams) over readers.
        let socks: Vec<_> = (0..8)
            .map(|_| {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                s.connect(&to).unwrap();
                s
            })
            .collect();
        let next = AtomicU64::new(0);
        Box::new(move |p| {
            let i = next.fetch_add(1, Ordering::Relaxed) as usize;
            socks[i % socks.len()].send(p).is_ok()
        })
    });
    let listeners = s["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 2, "one listener per reader");
    assert_eq!(listeners[0]["address"], listeners[1]["address"], "one port");
    let per: u64 = listeners
        .iter()
        .map(|l| l["datagrams"].as_u64().unwrap())
        .sum();
    assert_eq!(per, s["datagrams_read"].as_u64().unwrap());
}

/// SIGTERM at seeded random moments of a full-rate flood, over unixgram and UDP: three
/// moments each (a bounded count), each after a different number of datagrams read, and every
/// datagram read is flushed each time.
#[test]
fn sigterm_at_seeded_random_moments_of_a_flood_flushes_every_datagram_read() {
    // A small LCG: the moments are the same every run.
    let mut state: u64 = 0x5eed;
    let mut moment = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        1_000 + (state >> 33) % 15_000
    };
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dsd.sock");
        let listen = format!("unixgram://{}", path.display());
        read_is_flushed(&["--listen", &listen], dir.path(), moment(), |_| {
            let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
            sock.connect(&path).unwrap();
            Box::new(move |p| sock.send(p).is_ok())
        });
        let dir = tempfile::tempdir().unwrap();
        let listen = ["--listen", "udp://127.0.0.1:0"];
        read_is_flushed(&listen, dir.path(), moment() / 4, |address| {
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.connect(address.strip_prefix("udp://").unwrap())
                .unwrap();
            Box::new(move |p| sock.send(p).is_ok())
        });
    }
}
