//! `open`: detection, forced formats, the writer chosen by file name, `Send` streams.

mod source_common;

use lastbucket::source::{
    detect_file, open, write_datagrams, Datagram, DatagramWriter, InputFormat, OpenOptions,
    OpenedSource, OutputFormat, SourceError, SourceKind,
};
use source_common::*;

fn data() -> Vec<Datagram> {
    (0..10)
        .map(|i| {
            dg(
                1_700_000_000_000_000_000 + i * 1_000_000,
                format!("x{i}:1|c").as_bytes(),
            )
        })
        .collect()
}

#[test]
fn opened_source_streams_can_cross_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<OpenedSource>();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.dog.zst");
    write_datagrams(&p, None, data()).unwrap();
    let src = open(&p, &OpenOptions::default()).unwrap();
    let stats = src.stats.clone();
    let n = std::thread::spawn(move || src.datagrams.count())
        .join()
        .unwrap();
    assert_eq!(n, 10);
    assert_eq!(stats.snapshot().datagrams, 10);
}

#[test]
fn every_output_format_by_name_round_trips_through_open() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("a.dog", InputFormat::Capture, SourceKind::Capture, true),
        ("a.dog.zst", InputFormat::Capture, SourceKind::Capture, true),
        ("a.zstd", InputFormat::Capture, SourceKind::Capture, true),
        ("a.pcap", InputFormat::Pcap, SourceKind::Pcap, true),
        ("a.pcapng", InputFormat::Pcapng, SourceKind::Pcap, true),
        ("a.jsonl", InputFormat::Jsonl, SourceKind::Jsonl, true),
        ("a.txt", InputFormat::Text, SourceKind::Text, false),
    ];
    for (name, format, kind, keeps_time) in cases {
        let p = dir.path().join(name);
        assert_eq!(write_datagrams(&p, None, data()).unwrap(), 10, "{name}");
        assert_eq!(detect_file(&p).unwrap(), format, "{name}");
        let src = open(&p, &OpenOptions::default()).unwrap();
        assert_eq!((src.format, src.kind), (format, kind), "{name}");
        assert!(src.description.contains(name), "{}", src.description);
        let (got, _) = read_ok(&p, &OpenOptions::default());
        if keeps_time {
            assert_eq!(got, data(), "{name}");
        } else {
            let payloads: Vec<_> = got.iter().map(|d| d.payload.clone()).collect();
            let want: Vec<_> = data().into_iter().map(|d| d.payload).collect();
            assert_eq!(payloads, want, "{name}");
        }
    }
}

#[test]
fn explicit_output_format_wins_over_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.bin");
    assert!(matches!(
        DatagramWriter::create(&p, None),
        Err(SourceError::InvalidOption { .. })
    ));
    write_datagrams(&p, Some(OutputFormat::Capture { compress: true }), data()).unwrap();
    assert_eq!(&std::fs::read(&p).unwrap()[..4], &[0x28, 0xB5, 0x2F, 0xFD]);
    assert_eq!(read_ok(&p, &OpenOptions::default()).0, data());
}

#[test]
fn forced_input_format() {
    let dir = tempfile::tempdir().unwrap();
    // A JSON-looking file read as text.
    let p = write_tmp(dir.path(), "x", b"{\"ts_ns\":1,\"payload\":\"a\"}\n");
    let opts = OpenOptions {
        format: Some(InputFormat::Text),
        ..Default::default()
    };
    let (got, _) = read_ok(&p, &opts);
    assert_eq!(got, vec![dg(0, b"{\"ts_ns\":1,\"payload\":\"a\"}")]);
    // Text forced to be a capture: a clear header error.
    let p = write_tmp(dir.path(), "y", b"a:1|c\nb:2|c\n");
    let opts = OpenOptions {
        format: Some(InputFormat::Capture),
        ..Default::default()
    };
    let e = open(&p, &opts).unwrap_err();
    assert!(
        e.to_string().contains("not a Datadog capture header"),
        "{e}"
    );
}

#[test]
fn missing_file_and_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.dog");
    let e = open(&missing, &OpenOptions::default()).unwrap_err();
    assert!(matches!(e, SourceError::Io { .. }));
    assert!(e.to_string().contains("nope.dog"), "{e}");
    let empty = write_tmp(dir.path(), "empty", b"");
    let (got, stats) = read_ok(&empty, &OpenOptions::default());
    assert!(got.is_empty() && stats.complete);
}
