//! `lastbucket serve --forward-to URL` as a drop-in server: UDP and unixgram traffic sent by the
//! test, SIGTERM with the flag on, and everything it flushed must have reached the built-in
//! intake, decoded to the same items serve wrote itself, with the counter totals that were
//! sent. Then the same server started by the agent's `DD_` variables alone.

mod server_common;
use lastbucket::intake::{Intake, Received};
use lastbucket::pipeline::flushed::{read_jsonl, sort_items, FlushedItem};
use serde_json::Value;
use server_common::{poll, Running};
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

fn stats(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Counter total (rate × interval, or count) of `counter`, and samples of the distribution
/// `dist`.
fn totals(items: &[FlushedItem], counter: &str, dist: &str) -> (u64, u64) {
    let (mut c, mut d) = (0.0, 0u64);
    for item in items {
        match item {
            FlushedItem::Series(s) if s.metric == counter => {
                let sum: f64 = s.points.iter().map(|p| p.1).sum();
                c += match s.series_type {
                    lastbucket::pipeline::flushed::SeriesType::Rate => sum * s.interval as f64,
                    _ => sum,
                };
            }
            FlushedItem::Sketch(s) if s.metric == dist => d += s.count as u64,
            _ => {}
        }
    }
    (c.round() as u64, d)
}

/// The items as both sides can hold them: sorted; sketches without quantiles (serve reads them
/// from its DDSketch, the intake from the posted bins) and without bins (not in serve's JSON
/// lines), after checking that the posted bins hold every sample (Σn = count).
fn comparable(mut items: Vec<FlushedItem>) -> Vec<FlushedItem> {
    for item in &mut items {
        if let FlushedItem::Sketch(s) = item {
            if !s.bins.is_empty() {
                let n: u64 = s.bins.iter().map(|(_, n)| n).sum();
                assert_eq!(n, s.count as u64, "Σn = cnt for {} ts={}", s.metric, s.ts);
            }
            s.quantiles.clear();
            s.bins.clear();
        }
    }
    sort_items(&mut items);
    items
}

/// Sends `n` datagrams in rounds of 50, each round only once the server has read the one
/// before (so no datagram waits in a full socket buffer), per its stats.
fn send_paced(n: u64, send: impl Fn(u64), read: impl Fn() -> Option<u64>, before: u64) {
    let mut sent = 0;
    while sent < n {
        let round = (n - sent).min(50);
        for i in sent..sent + round {
            send(i);
        }
        sent += round;
        let want = before + sent;
        poll("the server to read what was sent", || {
            (read()? >= want).then_some(())
        });
    }
}

fn stop(server: &mut Running) -> String {
    server.signal(libc::SIGTERM);
    let (status, stderr) = server.wait();
    assert_eq!(status.code(), Some(0), "serve: {stderr}");
    stderr
}

#[test]
fn everything_serve_flushes_reaches_the_intake_as_serve_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let intake = Intake::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let sock = dir.path().join("dsd.sock");
    let out = dir.path().join("flushed.jsonl");
    let stats_path = dir.path().join("stats.json");
    let mut server = Running::spawn_with_env(
        [
            "serve",
            "--listen",
            "udp://127.0.0.1:0",
            "--listen",
            &format!("unixgram://{}", sock.display()),
            "--flush-incomplete-buckets",
            "on",
            "--flushed-out",
            out.to_str().unwrap(),
            "--stats-json",
            stats_path.to_str().unwrap(),
            "--workers",
            "2",
            "--forward-to",
            &intake.url(),
        ],
        &[("DD_API_KEY", "secret")],
    );
    let addresses = server.listening_on(2);
    let udp_addr = addresses[0].strip_prefix("udp://").unwrap().to_string();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let unix = UnixDatagram::unbound().unwrap();
    let stats_ref = &stats_path;
    let read = |i: usize| move || stats(stats_ref)?["listeners"][i]["datagrams"].as_u64();
    const N: u64 = 300;
    send_paced(
        N,
        |i| {
            let d = format!("lb.c:1|c|#k:{}\nlb.d:{i}|d|#k:{}", i % 4, i % 3);
            udp.send_to(d.as_bytes(), &udp_addr).unwrap();
        },
        read(0),
        0,
    );
    send_paced(
        N,
        |i| {
            let d = format!("lb.uc:2|c|@0.5\nlb.ud:{}.5|d|@0.25", i % 10);
            unix.send_to(d.as_bytes(), &sock).unwrap();
        },
        read(1),
        0,
    );
    let extras = [
        "_e{6,6}:deploy|v1.2.3|#env:prod",
        "_sc|app.up|2|#env:prod|m:down",
        "lb.g:7|g\nlb.s:a|s\nlb.s:b|s",
    ];
    for d in extras {
        unix.send_to(d.as_bytes(), &sock).unwrap();
    }
    poll("the extras to be read", || {
        (read(1)()? >= N + extras.len() as u64).then_some(())
    });
    let stderr = stop(&mut server);

    let received: Received = intake.stop();
    assert!(received.errors.is_empty(), "{:?}", received.errors);
    assert_eq!(received.unknown_total(), 0);
    assert_eq!(received.without_api_key, 0, "DD_API_KEY sent as DD-API-KEY");
    let s = stats(&stats_path).expect("final stats");
    let f = &s["forward"];
    assert_eq!(f["payloads_failed"], 0, "{f}");
    assert_eq!(f["payloads_posted"], received.payload_total(), "{f}");
    assert_eq!(f["items_posted"], received.item_total(), "{f}");
    assert!(stderr.contains("payloads_failed=0"), "{stderr}");
    for path in [
        "/api/v2/series",
        "/api/beta/sketches",
        "/intake/",
        "/api/v1/check_run",
    ] {
        assert!(
            received.payloads.contains_key(path),
            "nothing on {path}: {received:?}"
        );
    }

    let written = read_jsonl(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        received.item_total(),
        written.len() as u64,
        "every item serve wrote was posted"
    );
    // The counter totals are the ones sent: 1 per UDP datagram; 2 at rate 0.5 per unixgram one.
    assert_eq!(totals(&received.items, "lb.c", "lb.d"), (N, N));
    assert_eq!(totals(&received.items, "lb.uc", "lb.ud"), (4 * N, 4 * N));
    assert_eq!(comparable(received.items), comparable(written));
}

/// Milliseconds into the current 10 s bucket of the system clock.
fn bucket_phase_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 10_000
}

/// The receive queue of the UDP socket bound to 127.0.0.1:`port`, from /proc/net/udp.
fn rx_queue(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.get(1)? != &local {
            return None;
        }
        let (_, rx) = f.get(4)?.split_once(':')?;
        u64::from_str_radix(rx, 16).ok()
    })
}

#[test]
fn the_agents_variables_alone_start_a_forwarding_server() {
    let intake = Intake::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let port_s = port.to_string();
    let url = intake.url();
    let mut server = Running::spawn_with_env(
        ["serve", "--flushed-out", "/dev/null"],
        &[
            ("DD_DD_URL", url.as_str()),
            ("DD_API_KEY", "k"),
            ("DD_HOSTNAME", "lastbucket"),
            ("DD_DOGSTATSD_PORT", port_s.as_str()),
            ("DD_BIND_HOST", "127.0.0.1"),
            ("DD_DOGSTATSD_NON_LOCAL_TRAFFIC", "false"),
            ("DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS", "true"),
        ],
    );
    assert_eq!(server.listening(), format!("udp://127.0.0.1:{port}"));
    // Sent early in a bucket, so the stop comes while that bucket is open: only the flag,
    // read from DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS, flushes it.
    poll("an early moment of a bucket", || {
        (200..6_000).contains(&bucket_phase_ms()).then_some(())
    });
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..40 {
        udp.send_to(
            format!("env.c:1|c|#i:{}", i % 2).as_bytes(),
            ("127.0.0.1", port),
        )
        .unwrap();
    }
    poll("the server to read every datagram", || {
        (rx_queue(port)? == 0).then_some(())
    });
    let stderr = stop(&mut server);
    assert!(
        stderr.contains(&format!("forward         url={url}")),
        "{stderr}"
    );
    let r = intake.stop();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.without_api_key, 0);
    assert_eq!(totals(&r.items, "env.c", "-"), (40, 0), "{:?}", r.items);
}

#[test]
fn a_forward_url_off_loopback_is_a_usage_error() {
    let out = server_common::bin()
        .args([
            "serve",
            "--listen",
            "udp://127.0.0.1:0",
            "--forward-to",
            "http://192.0.2.1:80",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = server_common::bin()
        .env_remove("DD_DOGSTATSD_PORT")
        .env_remove("DD_DOGSTATSD_SOCKET")
        .env_remove("DD_DOGSTATSD_STREAM_SOCKET")
        .args(["serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no address to listen on"));
}

#[test]
fn a_failed_post_is_shown_and_counted() {
    // An address nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let stats_path = dir.path().join("stats.json");
    let mut server = Running::spawn_with_env(
        [
            "serve",
            "--listen",
            "udp://127.0.0.1:0",
            "--flush-incomplete-buckets",
            "on",
            "--flushed-out",
            "/dev/null",
            "--stats-json",
            stats_path.to_str().unwrap(),
            "--forward-to",
            &format!("http://127.0.0.1:{port}"),
        ],
        &[],
    );
    let addr = server.listening();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"x:1|c", addr.strip_prefix("udp://").unwrap())
        .unwrap();
    poll("the datagram to be read", || {
        (stats(&stats_path)?["datagrams_read"].as_u64()? >= 1).then_some(())
    });
    let stderr = stop(&mut server);
    assert!(stderr.contains("error: cannot post"), "{stderr}");
    assert!(stderr.contains("payloads_posted=0"), "{stderr}");
    let s = stats(&stats_path).unwrap();
    // One flush at least (a bucket may have closed before the stop's own flush).
    assert!(
        s["forward"]["payloads_failed"].as_u64().unwrap() >= 1,
        "{s}"
    );
    assert!(s["forward"]["items_failed"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["forward"]["payloads_posted"], 0, "{s}");
}
