//! `lastbucket record`: what arrives on a socket is written as a capture file that reads back
//! exactly, also after the recorder was killed mid-stream.

mod server_common;
use lastbucket::net::Address;
use lastbucket::source::{open, Datagram, OpenOptions, SourceError};
use server_common::{poll, Running};
use std::os::unix::net::UnixDatagram;
use std::path::Path;

fn payloads(n: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("rec.m:{i}|g|#i:{i}\nrec.c:1|c").into_bytes())
        .collect()
}

/// A client of the recorder's address (UDP or Unix datagram).
enum Client {
    Udp(std::net::UdpSocket),
    Unix(UnixDatagram),
}

impl Client {
    fn connect(address: &str) -> Client {
        match address.parse::<Address>().unwrap() {
            Address::Udp(a) => {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                s.connect(a).unwrap();
                Client::Udp(s)
            }
            Address::Unixgram(p) => {
                let s = UnixDatagram::unbound().unwrap();
                s.connect(p).unwrap();
                Client::Unix(s)
            }
            Address::Unix(_) => unreachable!(),
        }
    }

    fn send(&self, p: &[u8]) {
        match self {
            Client::Udp(s) => s.send(p).unwrap(),
            Client::Unix(s) => s.send(p).unwrap(),
        };
    }
}

fn read_back(path: &Path, allow_truncated: bool) -> Vec<Result<Datagram, SourceError>> {
    let opts = OpenOptions {
        allow_truncated,
        ..OpenOptions::default()
    };
    open(path, &opts).unwrap().datagrams.collect()
}

fn payloads_of(items: Vec<Result<Datagram, SourceError>>) -> Vec<Vec<u8>> {
    items.into_iter().map(|d| d.unwrap().payload).collect()
}

/// Records `--count` datagrams from `listen` into `file` and checks the file.
fn record_count(listen: &str, file: &Path) {
    let sent = payloads(200);
    let mut rec = Running::spawn([
        "record",
        "--listen",
        listen,
        "-o",
        file.to_str().unwrap(),
        "--count",
        "200",
        "--so-rcvbuf",
        "4194304",
    ]);
    let client = Client::connect(&rec.listening());
    for p in &sent {
        client.send(p);
    }
    let (status, stderr) = rec.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let bytes: usize = sent.iter().map(Vec::len).sum();
    assert!(
        stderr.contains(&format!("wrote 200 datagrams ({bytes} bytes)")),
        "{stderr}"
    );
    assert!(stderr.contains("kernel drops:"), "{stderr}");
    let items = read_back(file, false);
    let mut last = 0;
    for d in items.iter().flatten() {
        assert!(d.ts_ns >= last, "arrival times in order");
        last = d.ts_ns;
    }
    assert_eq!(payloads_of(items), sent);
}

#[test]
fn udp_count_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    record_count("udp://127.0.0.1:0", &dir.path().join("udp.dog"));
}

#[test]
fn unixgram_count_reads_back_exactly_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("unixgram://{}", dir.path().join("r.sock").display());
    let file = dir.path().join("unix.dog.zst");
    record_count(&listen, &file);
    let head = std::fs::read(&file).unwrap();
    assert_eq!(&head[..4], &[0x28, 0xB5, 0x2F, 0xFD], "zstd by its name");
}

/// Sends 50 datagrams, waits until the file holds them, then `stop`s the recorder.
fn record_then(file: &Path, stop: impl FnOnce(&Running)) -> (Running, Vec<Vec<u8>>) {
    let sent = payloads(50);
    let mut rec = Running::spawn([
        "record",
        "--listen",
        "udp://127.0.0.1:0",
        "-o",
        file.to_str().unwrap(),
    ]);
    let client = Client::connect(&rec.listening());
    for p in &sent {
        client.send(p);
    }
    poll("50 records on disk", || {
        let n = read_back(file, true).iter().filter(|d| d.is_ok()).count();
        (n == 50).then_some(())
    });
    stop(&rec);
    (rec, sent)
}

#[test]
fn a_killed_recorder_leaves_a_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["killed.dog", "killed.dog.zst"] {
        let file = dir.path().join(name);
        let (mut rec, sent) = record_then(&file, |r| r.signal(libc::SIGKILL));
        let (status, _) = rec.wait();
        assert_eq!(status.code(), None, "killed by a signal");
        assert_eq!(payloads_of(read_back(&file, true)), sent, "{name}");
        // Without allow_truncated the cut end is an error, after every complete record.
        let strict = read_back(&file, false);
        assert_eq!(strict.len(), 51, "{name}");
        assert!(strict[50].as_ref().unwrap_err().is_truncated(), "{name}");
    }
}

#[test]
fn sigterm_completes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("term.dog");
    let (mut rec, sent) = record_then(&file, |r| r.signal(libc::SIGTERM));
    let (status, stderr) = rec.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("wrote 50 datagrams"), "{stderr}");
    assert_eq!(payloads_of(read_back(&file, false)), sent);
}

#[test]
fn duration_ends_a_quiet_recording() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quiet.dog");
    let started = std::time::Instant::now();
    let out = server_common::bin()
        .args([
            "record",
            "--listen",
            "udp://127.0.0.1:0",
            "--duration",
            "300ms",
        ])
        .arg("-o")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(read_back(&file, false).is_empty());
}

#[test]
fn bad_arguments_are_usage_errors() {
    let out = server_common::bin()
        .args(["record", "--listen", "udp:/x", "-o", "/tmp/never.dog"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = server_common::bin()
        .args(["record", "--listen", "udp://127.0.0.1:0", "-o"])
        .arg("/nonexistent/dir/x.dog")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
