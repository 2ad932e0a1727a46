//! `lastbucket replay` into sockets the test owns: cadence, speed, rate, loops, the Unix stream
//! framing, SIGINT, and errors.

mod server_common;
use server_common::{bin, datagrams, poll, write_capture, Running, DEADLINE};
use std::io::Read;
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
}
