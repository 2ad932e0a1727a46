//! `lastbucket serve` as a real server: a capture replayed into it (by `lastbucket replay`,
//! looping, so traffic is still arriving), SIGTERM, then its JSON-lines output compared with
//! its own stats.

mod server_common;
use lastbucket::pipeline::flushed::{read_jsonl, FlushedItem};
use serde_json::Value;
use server_common::{datagrams, poll, write_capture, Running};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Each datagram holds one counter sample (value 1) and one distribution sample.
fn payload(i: u64) -> String {
    format!("lb.c:1|c|#k:{}\nlb.d:{i}|d", i % 4)
}

fn stats(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Milliseconds into the current 10 s bucket of the system clock.
fn bucket_phase_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 10_000
}

/// Counter samples (rate × interval) and distribution samples in the flushed output.
fn flushed_samples(items: &[FlushedItem]) -> (u64, u64) {
    flushed_of(items, "lb.c", "lb.d")
}

/// Samples of the counter `counter` (rate × interval) and of the distribution `dist`.
fn flushed_of(items: &[FlushedItem], counter: &str, dist: &str) -> (u64, u64) {
    let (mut c, mut d) = (0.0, 0u64);
    for item in items {
        match item {
            FlushedItem::Series(s) if s.metric == counter => {
                c += s.points.iter().map(|p| p.1).sum::<f64>() * s.interval as f64
            }
            FlushedItem::Sketch(s) if s.metric == dist => d += s.count as u64,
            _ => {}
        }
    }
    (c.round() as u64, d)
}

struct Outcome {
    stats: Value,
    counters: (u64, u64),
    stderr: String,
}

/// Serves on `listen`, replays a looping capture into it, stops it with SIGTERM once it has
/// read some traffic (and its open bucket holds processed samples), and reads what it wrote.
fn serve_until_sigterm(listen: &str, flag: &str, dir: &Path) -> Outcome {
    let capture = dir.join("traffic.dog");
    write_capture(&capture, &datagrams(400, 5, payload));
    let out = dir.join("flushed.jsonl");
    let stats_path = dir.join("stats.json");
    let mut server = Running::spawn([
        "serve",
        "--listen",
        listen,
        "--flush-incomplete-buckets",
        flag,
        "--flushed-out",
        out.to_str().unwrap(),
        "--stats-json",
        stats_path.to_str().unwrap(),
        "--workers",
        "2",
    ]);
    let address = server.listening();
    let mut replay = Running::spawn([
        "replay",
        capture.to_str().unwrap(),
        "--to",
        &address,
        "--loops",
        "0",
        "--speed",
        "4",
    ]);
    // Enough traffic read, and not in the first 500 ms of a bucket: the samples of the last
    // 100 ms may still be in the packets buffer, so only later ones are sure to sit in the open
    // bucket at the stop.
    poll("the server to read traffic", || {
        let read = stats(&stats_path)?["datagrams_read"].as_u64()?;
        (read >= 100 && (500..9_900).contains(&bucket_phase_ms())).then_some(())
    });
    server.signal(libc::SIGTERM);
    let (status, stderr) = server.wait();
    assert_eq!(status.code(), Some(0), "serve: {stderr}");
    // Over udp and unixgram the replay outlives the server: it counts the sends refused once
    // the server is gone and goes on until interrupted; over a unix stream it stops when it
    // meets the closed stream, unless the SIGINT comes first. Whether a send failed before the
    // SIGINT depends on the scheduling, and the exit code says which.
    replay.signal(libc::SIGINT);
    let (rstatus, rerr) = replay.wait();
    let closed = listen.starts_with("unix://") && rerr.contains("the server closed the stream");
    assert!(closed || rerr.contains("interrupted"), "{rerr}");
    let refused = rerr.contains("could not be delivered");
    assert_eq!(rstatus.code(), Some(refused as i32), "replay: {rerr}");

    let stats = stats(&stats_path).expect("final stats");
    assert_eq!(stats["running"], false);
    let text = std::fs::read_to_string(&out).unwrap();
    let items = read_jsonl(&text).unwrap_or_else(|e| panic!("bad JSON line {e:?}"));
    Outcome {
        counters: flushed_samples(&items),
        stats,
        stderr,
    }
}

fn read_counts(o: &Outcome) -> (u64, u64, u64) {
    let s = &o.stats;
    let read = s["datagrams_read"].as_u64().unwrap();
    let c = &s["stage_counters"];
    assert_eq!(
        c["listener"]["datagrams"], read,
        "every datagram read entered"
    );
    assert!(
        o.stderr
            .contains(&format!("stopped: read {read} datagrams")),
        "{}",
        o.stderr
    );
    let samples = c["workers"]["samples"].as_u64().unwrap();
    let queue_dropped = s["lost"]["queue_datagrams"].as_u64().unwrap();
    (read, samples, queue_dropped)
}

fn flag_on_accounts_for_every_datagram_read(listen: &str, dir: &Path) {
    let o = serve_until_sigterm(listen, "on", dir);
    let (read, samples, queue_dropped) = read_counts(&o);
    assert_eq!(queue_dropped, 0);
    assert_eq!(samples, 2 * read, "every datagram read was parsed");
    assert_eq!(o.stats["lost"]["open_bucket_samples"], 0);
    assert_eq!(
        o.counters,
        (read, read),
        "one counter and one distribution sample flushed per datagram read"
    );
}

#[test]
fn udp_with_the_flag_on_flushes_everything_it_read() {
    let dir = tempfile::tempdir().unwrap();
    flag_on_accounts_for_every_datagram_read("udp://127.0.0.1:0", dir.path());
}

#[test]
fn unixgram_with_the_flag_on_flushes_everything_it_read() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("unixgram://{}", dir.path().join("dsd.sock").display());
    flag_on_accounts_for_every_datagram_read(&listen, dir.path());
    assert!(!dir.path().join("dsd.sock").exists(), "socket file removed");
}

#[test]
fn unix_stream_with_the_flag_on_flushes_everything_it_read() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("unix://{}", dir.path().join("dsd.sock").display());
    flag_on_accounts_for_every_datagram_read(&listen, dir.path());
}

fn flag_off_misses_the_open_bucket(listen: &str, dir: &Path) {
    let o = serve_until_sigterm(listen, "off", dir);
    let (read, _, queue_dropped) = read_counts(&o);
    let open = o.stats["lost"]["open_bucket_samples"].as_u64().unwrap();
    assert!(open > 0, "the stats say the open bucket was dropped");
    let (c, d) = o.counters;
    assert!(
        c < read && d < read,
        "the open bucket is missing: {c}, {d} of {read}"
    );
    assert_eq!(
        c + d + open + 2 * queue_dropped,
        2 * read,
        "flushed + open bucket + queue = every sample read"
    );
    // Two lines, one sample each, per datagram dropped in the queue.
    assert_eq!(o.stats["lost"]["queue_samples"], 2 * queue_dropped);
    assert_eq!(o.stats["lost"]["queue_lines"], 2 * queue_dropped);
}

#[test]
fn udp_with_the_flag_off_drops_the_open_bucket_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    flag_off_misses_the_open_bucket("udp://127.0.0.1:0", dir.path());
}

#[test]
fn unixgram_with_the_flag_off_drops_the_open_bucket_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("unixgram://{}", dir.path().join("dsd.sock").display());
    flag_off_misses_the_open_bucket(&listen, dir.path());
}

/// Like [`payload`], with metric names of its own: what the Unix client sends.
fn unix_payload(i: u64) -> String {
    format!("lb.uc:1|c|#k:{}\nlb.ud:{i}|d", i % 4)
}

#[test]
fn udp_and_unixgram_in_one_server_flush_everything_both_read() {
    let dir = tempfile::tempdir().unwrap();
    let (udp_capture, unix_capture) = (dir.path().join("udp.dog"), dir.path().join("unix.dog"));
    write_capture(&udp_capture, &datagrams(400, 5, payload));
    write_capture(&unix_capture, &datagrams(400, 5, unix_payload));
    let sock = dir.path().join("dsd.sock");
    let out = dir.path().join("flushed.jsonl");
    let stats_path = dir.path().join("stats.json");
    let mut server = Running::spawn([
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
    ]);
    let addresses = server.listening_on(2);
    assert!(addresses[0].starts_with("udp://"), "{addresses:?}");
    assert!(addresses[1].starts_with("unixgram://"), "{addresses:?}");
    let replay = |capture: &Path, to: &str| {
        Running::spawn([
            "replay",
            capture.to_str().unwrap(),
            "--to",
            to,
            "--loops",
            "0",
            "--speed",
            "4",
        ])
    };
    let mut udp_client = replay(&udp_capture, &addresses[0]);
    let _unix_client = replay(&unix_capture, &addresses[1]);
    // Both listeners have read traffic, and the open bucket holds processed samples of both.
    poll("both listeners to read traffic", || {
        let s = stats(&stats_path)?;
        let read = |i: usize| s["listeners"][i]["datagrams"].as_u64();
        (read(0)? >= 50 && read(1)? >= 50 && (500..9_900).contains(&bucket_phase_ms()))
            .then_some(())
    });
    server.signal(libc::SIGTERM);
    let (status, stderr) = server.wait();
    assert_eq!(status.code(), Some(0), "serve: {stderr}");
    udp_client.signal(libc::SIGINT);
    udp_client.wait();

    let s = stats(&stats_path).expect("final stats");
    assert_eq!(s["running"], false);
    let read = |i: usize| s["listeners"][i]["datagrams"].as_u64().unwrap();
    let (udp_read, unix_read) = (read(0), read(1));
    assert_eq!(s["datagrams_read"], udp_read + unix_read);
    let c = &s["stage_counters"];
    assert_eq!(c["listener"]["datagrams"], udp_read + unix_read);
    assert_eq!(
        c["assembler"]["datagrams_in"], udp_read,
        "only the UDP listener packs datagrams"
    );
    assert_eq!(c["workers"]["samples"], 2 * (udp_read + unix_read));
    assert_eq!(s["lost"]["queue_datagrams"], 0);
    assert_eq!(s["lost"]["open_bucket_samples"], 0);
    let items = read_jsonl(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        flushed_of(&items, "lb.c", "lb.d"),
        (udp_read, udp_read),
        "one counter and one distribution sample per datagram read over UDP"
    );
    assert_eq!(
        flushed_of(&items, "lb.uc", "lb.ud"),
        (unix_read, unix_read),
        "one counter and one distribution sample per datagram read over unixgram"
    );
    assert!(!sock.exists(), "socket file removed");
}

#[test]
fn bad_addresses_and_settings_are_usage_errors() {
    let out = server_common::bin()
        .args(["serve", "--listen", "tcp://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scheme"));

    let dir = tempfile::tempdir().unwrap();
    let out = server_common::bin()
        .args([
            "serve",
            "--listen",
            "udp://127.0.0.1:0",
            "--flush-interval",
            "0.5s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // A path that is not a socket is never replaced.
    let file = dir.path().join("plain");
    std::fs::write(&file, "keep me").unwrap();
    let out = server_common::bin()
        .args(["serve", "--listen", &format!("unix://{}", file.display())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[test]
fn a_reader_of_the_flushed_output_going_away_stops_the_server_cleanly() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let stats_path = dir.path().join("stats.json");
    // `serve … --flushed-out - | head -c 10`: the reader takes 10 bytes and closes the pipe.
    let mut server = Running::spawn_with_stdout(
        [
            "serve",
            "--listen",
            "udp://127.0.0.1:0",
            "--flushed-out",
            "-",
            "--flush-interval",
            "1s",
            "--stats-json",
            stats_path.to_str().unwrap(),
        ],
        std::process::Stdio::piped(),
    );
    let mut stdout = server.child.stdout.take().expect("piped");
    let (got_tx, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut head = [0u8; 10];
        let read = stdout.read_exact(&mut head).map(|_| head);
        drop(stdout);
        let _ = got_tx.send(read);
    });
    let address = server.listening();
    let to = address.strip_prefix("udp://").unwrap();
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Service checks are written at every flush (each second), not only when a bucket closes;
    // they keep coming, so a flush after the reader has gone has something to write.
    let send = || {
        let _ = client.send_to(b"_sc|lb.check|0", to);
    };
    let head = poll("the reader to get 10 bytes", || {
        send();
        got.try_recv().ok()
    });
    assert!(
        head.is_ok_and(|h| h.starts_with(b"{")),
        "a JSON line starts"
    );
    let status = poll("the server to stop by itself", || {
        send();
        server.child.try_wait().unwrap()
    });
    let (_, stderr) = server.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let notes: Vec<_> = stderr.lines().filter(|l| l.starts_with("note:")).collect();
    assert_eq!(notes.len(), 1, "one note: {stderr}");
    assert!(notes[0].contains("closed by its reader"), "{stderr}");
    assert!(!stderr.contains("Error"), "{stderr}");
    // The normal stop ran: final stats, every datagram read entered the pipeline and was
    // parsed (the default flag is off: queued batches may be dropped, and are counted).
    let s = stats(&stats_path).expect("final stats");
    assert_eq!(s["running"], false);
    assert_eq!(s["flushed_out_closed"], true);
    let read = s["datagrams_read"].as_u64().unwrap();
    assert!(read > 0);
    let c = &s["stage_counters"];
    assert_eq!(c["listener"]["datagrams"], read);
    let parsed = c["workers"]["datagrams"].as_u64().unwrap();
    assert_eq!(
        parsed + c["queue"]["datagrams_dropped"].as_u64().unwrap(),
        read
    );
    assert!(
        stderr.contains(&format!("stopped: read {read} datagrams")),
        "{stderr}"
    );
}

#[test]
fn a_second_signal_aborts_a_stop_that_cannot_finish() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    // The flushed items go to a pipe nobody reads: once its buffer is full, the final flush
    // blocks, so the stop cannot finish before the second signal.
    let fifo = dir.path().join("flushed.fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let _read_end = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let stats_path = dir.path().join("stats.json");
    let mut server = Running::spawn([
        "serve",
        "--listen",
        "udp://127.0.0.1:0",
        "--flush-incomplete-buckets",
        "on",
        "--flushed-out",
        fifo.to_str().unwrap(),
        "--stats-json",
        stats_path.to_str().unwrap(),
    ]);
    let address = server.listening();
    let to = address.strip_prefix("udp://").unwrap();
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // 3000 contexts: far more than a pipe buffer's worth of flushed JSON lines.
    let mut i = 0;
    poll("the server to read 3000 contexts", || {
        for _ in 0..100 {
            let line = format!("many.contexts.{i:05}:1|g|#with:a_longish_tag_value");
            let _ = client.send_to(line.as_bytes(), to);
            i += 1;
        }
        let read = stats(&stats_path)?["datagrams_read"].as_u64()?;
        (read >= 3000).then_some(())
    });
    server.signal(libc::SIGTERM);
    server.signal(libc::SIGINT);
    let (status, stderr) = server.wait();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("second signal"), "{stderr}");
}
