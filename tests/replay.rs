//! `lastbucket replay` into sockets the test owns: cadence, speed, rate, loops, the Unix stream
//! framing, SIGINT, servers that go away mid-replay, and errors.

mod server_common;
use server_common::{bin, datagrams, poll, write_capture, Running, DEADLINE};
use std::io::Read;
use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn payload(i: u64) -> String {
    format!("replay.n:{i}|c|#seq:{i}")
}

/// A Unix datagram socket that collects what it receives on a thread.
struct Sink {
    got: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Sink {
    fn unixgram(path: &Path) -> Sink {
        let sock = UnixDatagram::bind(path).unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let keep = got.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = sock.recv(&mut buf) {
                keep.lock().unwrap().push(buf[..n].to_vec());
            }
        });
        Sink { got }
    }

    fn len(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    fn wait_for(&self, n: usize) -> Vec<Vec<u8>> {
        poll(&format!("{n} datagrams"), || {
            (self.len() >= n).then_some(())
        });
        self.got.lock().unwrap().clone()
    }
}

fn expected(d: &[lastbucket::source::Datagram]) -> Vec<Vec<u8>> {
    d.iter().map(|d| d.payload.clone()).collect()
}

#[test]
fn speed_10_replays_a_10_second_capture_in_about_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let data = datagrams(101, 100, payload); // 0 s .. 10 s
    let capture = dir.path().join("ten-seconds.dog");
    write_capture(&capture, &data);
    let sock = dir.path().join("sink.sock");
    let sink = Sink::unixgram(&sock);
    let started = Instant::now();
    let out = bin()
        .args(["replay", capture.to_str().unwrap(), "--speed", "10", "--to"])
        .arg(format!("unixgram://{}", sock.display()))
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        took > Duration::from_millis(500) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    assert!(stderr.contains("sent 101 datagrams"), "{stderr}");
    assert_eq!(
        sink.wait_for(101),
        expected(&data),
        "every datagram, in order"
    );
}

#[test]
fn rate_and_loops_over_udp() {
    let dir = tempfile::tempdir().unwrap();
    let data = datagrams(50, 1000, payload); // the source's own cadence would take 49 s
    let capture = dir.path().join("slow.dog");
    write_capture(&capture, &data);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    let to = format!("udp://{}", sock.local_addr().unwrap());
    let started = Instant::now();
    let out = bin()
        .args(["replay", capture.to_str().unwrap(), "--to", &to])
        .args(["--rate", "500", "--loops", "2"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0));
    // 100 datagrams at 500/s: the last is due at 198 ms.
    assert!(
        took > Duration::from_millis(150) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sent 100 datagrams"), "{stderr}");
    let mut buf = [0u8; 1024];
    for i in 0..100u64 {
        let n = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], payload(i % 50).as_bytes());
    }
}

#[test]
fn unix_stream_messages_are_length_prefixed() {
    let dir = tempfile::tempdir().unwrap();
    let data = datagrams(300, 1, payload);
    let capture = dir.path().join("c.dog");
    write_capture(&capture, &data);
    let path = dir.path().join("stream.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut bytes = Vec::new();
        s.read_to_end(&mut bytes).unwrap();
        bytes
    });
    let out = bin()
        .args(["replay", capture.to_str().unwrap(), "--max", "--to"])
        .arg(format!("unix://{}", path.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let bytes = reader.join().unwrap();
    let mut frames = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        frames.push(rest[4..4 + len].to_vec());
        rest = &rest[4 + len..];
    }
    assert_eq!(frames, expected(&data));
}

#[test]
fn loops_0_runs_until_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let data = datagrams(20, 1, payload);
    let capture = dir.path().join("c.dog");
    write_capture(&capture, &data);
    let sock = dir.path().join("sink.sock");
    let sink = Sink::unixgram(&sock);
    let mut replay = Running::spawn([
        "replay".to_string(),
        capture.display().to_string(),
        "--loops".into(),
        "0".into(),
        "--rate".into(),
        "2000".into(),
        "--to".into(),
        format!("unixgram://{}", sock.display()),
    ]);
    sink.wait_for(60); // three passes and counting
    replay.signal(libc::SIGINT);
    let (status, stderr) = replay.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let got = sink.wait_for(60);
    assert!(got
        .iter()
        .zip(data.iter().cycle())
        .all(|(g, d)| *g == d.payload));
}

#[test]
fn errors_have_their_exit_codes() {
    let out = bin()
        .args(["replay", "/nonexistent/x.dog", "--to", "udp://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "unreadable source");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.dog"));

    let out = bin()
        .args(["replay", "gen:seed=1", "--to", "udp://nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "bad address");

    let out = bin()
        .args([
            "replay",
            "gen:seed=1",
            "--to",
            "unixgram:///nonexistent/s.sock",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "nobody listening");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));

    let out = bin()
        .args([
            "replay",
            "gen:seed=1",
            "--speed",
            "0",
            "--to",
            "udp://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "speed 0");

    let help = bin().args(["replay", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("1  some datagrams could not be delivered"),
        "{help}"
    );
}

/// A source much larger than what the kernel buffers between a sender and a Unix socket that
/// stopped reading (a few hundred KB): 3000 datagrams of about 1 KB.
const MANY: u64 = 3000;

fn big_payload(i: u64) -> String {
    format!("replay.big:{i}|c|#seq:{i},pad:{}", "x".repeat(1000))
}

fn big_capture(dir: &Path) -> (std::path::PathBuf, Vec<lastbucket::source::Datagram>) {
    let data = datagrams(MANY, 1, big_payload);
    let capture = dir.join("many.dog");
    write_capture(&capture, &data);
    (capture, data)
}

/// The number in `stderr` right after `before` (and before `after`), e.g. `sent N datagrams`.
fn number(stderr: &str, before: &str, after: &str) -> Option<u64> {
    stderr.lines().find_map(|l| {
        let rest = &l[l.find(before)? + before.len()..];
        rest[..rest.find(after)?].parse().ok()
    })
}

fn sent(stderr: &str) -> u64 {
    number(stderr, "sent ", " datagrams").unwrap_or_else(|| panic!("no summary: {stderr}"))
}

fn failed(stderr: &str) -> u64 {
    stderr
        .lines()
        .find(|l| l.contains("could not be delivered"))
        .and_then(|l| l.split(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// Receives `n` datagrams on a Unix datagram socket at `path`, then closes and removes it.
fn unixgram_reading(path: &Path, n: usize) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
    let sock = UnixDatagram::bind(path).unwrap();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let got = recv_n(&sock, n);
        drop(sock);
        std::fs::remove_file(&path).unwrap();
        got
    })
}

fn recv_n(sock: &UnixDatagram, n: usize) -> Vec<Vec<u8>> {
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = vec![0u8; 65536];
    (0..n)
        .map(|_| {
            let len = sock.recv(&mut buf).expect("a datagram before the deadline");
            buf[..len].to_vec()
        })
        .collect()
}

#[test]
fn unixgram_server_removed_mid_replay_counts_what_was_not_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (capture, data) = big_capture(dir.path());
    let path = dir.path().join("gone.sock");
    // The replay blocks once the socket's queue is full, so it is still sending when the
    // receiver leaves after 50 datagrams, whatever the scheduling.
    let receiver = unixgram_reading(&path, 50);
    let out = bin()
        .args(["replay", capture.to_str().unwrap(), "--max", "--to"])
        .arg(format!("unixgram://{}", path.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(receiver.join().unwrap(), expected(&data[..50]));
    let (sent, failed) = (sent(&stderr), failed(&stderr));
    assert!(sent >= 50 && failed > 0, "{stderr}");
    assert_eq!(
        sent + failed,
        MANY,
        "every datagram sent or counted: {stderr}"
    );
    assert!(stderr.contains("reconnecting: "), "why it failed: {stderr}");
}

#[test]
fn unixgram_replay_reconnects_to_a_restarted_server() {
    let dir = tempfile::tempdir().unwrap();
    let (capture, _) = big_capture(dir.path());
    let path = dir.path().join("restarted.sock");
    let first = unixgram_reading(&path, 50);
    let mut replay = Running::spawn([
        "replay".to_string(),
        capture.display().to_string(),
        "--loops".into(),
        "0".into(),
        "--max".into(),
        "--to".into(),
        format!("unixgram://{}", path.display()),
    ]);
    first.join().unwrap();
    // A new server at the same path: only a reconnected client reaches it.
    let second = UnixDatagram::bind(&path).unwrap();
    let got = recv_n(&second, 50);
    assert!(got.iter().all(|g| g.starts_with(b"replay.big:")));
    // The new server reads no more: the replay waits in a blocked send, which SIGINT must end.
    replay.signal(libc::SIGINT);
    let (status, stderr) = replay.wait();
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stderr.contains("reconnected "), "{stderr}");
    // Whether a send failed while no server was there depends on the scheduling; the exit code
    // must say which.
    let code = if failed(&stderr) > 0 { 1 } else { 0 };
    assert_eq!(status.code(), Some(code), "{stderr}");
}

#[test]
fn unix_stream_closed_by_the_server_stops_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (capture, data) = big_capture(dir.path());
    let path = dir.path().join("stream.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        (0..50)
            .map(|_| {
                let mut len = [0u8; 4];
                s.read_exact(&mut len).unwrap();
                let mut frame = vec![0u8; u32::from_le_bytes(len) as usize];
                s.read_exact(&mut frame).unwrap();
                frame
            })
            .collect::<Vec<_>>()
        // The stream and the listener close here, with unread frames in the socket.
    });
    let out = bin()
        .args(["replay", capture.to_str().unwrap(), "--max", "--to"])
        .arg(format!("unix://{}", path.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(reader.join().unwrap(), expected(&data[..50]));
    assert!(
        stderr.contains("stopped: the server closed the stream"),
        "{stderr}"
    );
    let sent = sent(&stderr);
    assert!((50..MANY).contains(&sent), "{stderr}");
    assert_eq!(
        failed(&stderr),
        1,
        "the write that met the closed stream: {stderr}"
    );
}

#[test]
fn udp_server_gone_mid_replay_counts_refused_sends() {
    let dir = tempfile::tempdir().unwrap();
    let data = datagrams(1500, 1, payload);
    let capture = dir.path().join("udp.dog");
    write_capture(&capture, &data);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    let to = format!("udp://{}", sock.local_addr().unwrap());
    // Reads 10 datagrams and closes the port; the replay goes on for 1.5 s, and the kernel
    // refuses its sends once the port is closed (ICMP port unreachable on loopback).
    let receiver = std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        for _ in 0..10 {
            sock.recv(&mut buf).expect("a datagram before the deadline");
        }
    });
    let out = bin()
        .args([
            "replay",
            capture.to_str().unwrap(),
            "--rate",
            "1000",
            "--to",
            &to,
        ])
        .output()
        .unwrap();
    receiver.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let (sent, failed) = (sent(&stderr), failed(&stderr));
    assert!(failed > 0, "{stderr}");
    assert_eq!(sent + failed, 1500, "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
}
