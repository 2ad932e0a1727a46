//! Arbitrary and mutated bytes given to every reader: errors, never panics, never endless.

mod source_common;

use std::path::Path;

use lastbucket::source::capture::CaptureReader;
use lastbucket::source::pcap::{
    pcap_header_bytes, pcap_record_header, write_pcap_with, LinkType, PcapWriteOptions,
};
use lastbucket::source::{open, InputFormat, OpenOptions, PortFilter, StatsHandle};
use proptest::prelude::*;
use source_common::*;

/// Opens `bytes` as `format` and drains it; any outcome but a panic is fine.
fn drain(dir: &Path, bytes: &[u8], format: Option<InputFormat>, allow_truncated: bool) {
    let p = dir.join("fuzz.bin");
    std::fs::write(&p, bytes).unwrap();
    let opts = OpenOptions {
        format,
        allow_truncated,
        port: PortFilter::Any,
        ..Default::default()
    };
    if let Ok(src) = open(&p, &opts) {
        let mut n = 0;
        for item in src.datagrams {
            n += 1;
            assert!(n < 100_000, "endless stream");
            if item.is_err() {
                break;
            }
        }
        let _ = src.stats.snapshot();
    }
}

fn drain_capture_stream(bytes: &[u8], allow_truncated: bool) {
    if let Ok(r) = CaptureReader::new(
        Path::new("<fuzz>"),
        bytes,
        false,
        allow_truncated,
        StatsHandle::new(),
    ) {
        for item in r.take(100_000) {
            if item.is_err() {
                break;
            }
        }
    }
}

fn valid_capture() -> Vec<u8> {
    let mut r2 = Rec::new(1_700_000_001, b"lat:5|msXX");
    r2.payload_size = 8;
    r2.pid = 3;
    r2.ancillary = vec![1, 2];
    let recs = [
        Rec::new(1_700_000_000, b"a:1|c\nb:2|g").encode(),
        r2.encode(),
    ];
    let state = tagger_state_bytes(3, "container_id://c", "container_id", "c", &["a:b"]);
    capture_bytes(2, &recs, Some(&state))
}

fn valid_pcap(pcapng: bool, link: LinkType) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.pcap");
    let data = vec![dg(1, b"a:1|c"), dg(2, b"b:2|c\nc:3|g"), dg(3, b"")];
    let opts = PcapWriteOptions {
        pcapng,
        link,
        ..Default::default()
    };
    write_pcap_with(&p, &data, &opts).unwrap();
    std::fs::read(&p).unwrap()
}

fn mutate(mut bytes: Vec<u8>, flips: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for &(i, b) in flips {
        if !bytes.is_empty() {
            let n = bytes.len();
            bytes[i % n] = b;
        }
    }
    let keep = bytes.len() - cut % (bytes.len() + 1) / 2;
    bytes.truncate(keep);
    bytes
}

fn link_number() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(101),
        Just(108),
        Just(113),
        Just(228),
        Just(229),
        Just(276),
        any::<u32>()
    ]
}

proptest! {
    // 300 cases by default; PROPTEST_CASES=N for a longer run.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
    ))]

    #[test]
    fn capture_reader_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        drain_capture_stream(&bytes, false);
        drain_capture_stream(&bytes, true);
    }

    #[test]
    fn capture_reader_valid_header_any_body(
        version in 0u8..16,
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = header(version);
        bytes.extend_from_slice(&body);
        drain_capture_stream(&bytes, false);
        drain_capture_stream(&bytes, true);
    }

    #[test]
    fn capture_mutated(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
        compressed in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let raw = mutate(valid_capture(), &flips, cut);
        drain_capture_stream(&raw, false);
        let bytes = if compressed { mutate(zstd(&valid_capture()), &flips, cut) } else { raw };
        drain(dir.path(), &bytes, None, false);
        drain(dir.path(), &bytes, Some(InputFormat::Capture), true);
    }

    #[test]
    fn zstd_magic_any_body(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = vec![0x28, 0xB5, 0x2F, 0xFD];
        bytes.extend_from_slice(&body);
        drain(dir.path(), &bytes, None, true);
    }

    #[test]
    fn pcap_any_records(
        link in link_number(),
        nanos in any::<bool>(),
        big in any::<bool>(),
        records in proptest::collection::vec(
            (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..120), 0u32..200),
            0..8,
        ),
        tail in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = pcap_header_bytes(link, 262_144, nanos, big);
        for (ts, frame, orig) in &records {
            let h = pcap_record_header(u64::from(*ts), frame.len() as u32, *orig, nanos, big).unwrap();
            bytes.extend_from_slice(&h);
            bytes.extend_from_slice(frame);
        }
        bytes.extend_from_slice(&tail);
        drain(dir.path(), &bytes, None, false);
        drain(dir.path(), &bytes, Some(InputFormat::Pcap), true);
    }

    #[test]
    fn pcap_and_pcapng_mutated(
        pcapng in any::<bool>(),
        link in prop_oneof![
            Just(LinkType::Ethernet),
            Just(LinkType::Null),
            Just(LinkType::RawIp),
            Just(LinkType::LinuxSll),
            Just(LinkType::LinuxSll2),
        ],
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = mutate(valid_pcap(pcapng, link), &flips, cut);
        drain(dir.path(), &bytes, None, false);
        drain(dir.path(), &bytes, Some(if pcapng { InputFormat::Pcapng } else { InputFormat::Pcap }), true);
    }

    #[test]
    fn any_bytes_as_every_format(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        drain(dir.path(), &bytes, None, false);
        for f in InputFormat::ALL {
            drain(dir.path(), &bytes, Some(f), false);
            drain(dir.path(), &bytes, Some(f), true);
        }
    }

    #[test]
    fn pcapng_magic_any_body(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = vec![0x0A, 0x0D, 0x0D, 0x0A];
        bytes.extend_from_slice(&body);
        drain(dir.path(), &bytes, None, true);
        // A valid section header and interface, then anything.
        let mut bytes = valid_pcap(true, LinkType::Ethernet)[..48].to_vec();
        bytes.extend_from_slice(&body);
        drain(dir.path(), &bytes, None, false);
    }
}
