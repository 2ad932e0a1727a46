//! Datadog capture files: hand-assembled files of every version (raw and zstd, also committed
//! as fixtures), the writer's bytes, round trips, corrupt and truncated input, a killed writer.

mod source_common;

use std::path::Path;

use lastbucket::source::capture::{CaptureReader, CaptureWriter};
use lastbucket::source::{
    open, Datagram, InputFormat, OpenOptions, SourceError, SourceKind, StatsHandle,
};
use source_common::*;

const T0_S: i64 = 1_700_000_000;
const T0_NS: i64 = 1_700_000_000_123_456_789;

/// Version 1: seconds, no terminator, no state.
fn v1_file() -> (Vec<u8>, Vec<Datagram>) {
    let recs = [
        Rec::new(T0_S, b"page.views:1|c"),
        Rec::new(T0_S + 1, b"fuel.level:0.5|g|#tank:a"),
        Rec::new(T0_S + 1, b"a:1|c\nb:2|c\n"),
    ];
    let bytes = capture_bytes(1, &recs.iter().map(Rec::encode).collect::<Vec<_>>(), None);
    let want = vec![
        dg(1_700_000_000_000_000_000, b"page.views:1|c"),
        dg(1_700_000_001_000_000_000, b"fuel.level:0.5|g|#tank:a"),
        dg(1_700_000_001_000_000_000, b"a:1|c\nb:2|c\n"),
    ];
    (bytes, want)
}

/// Version 2: seconds; a record whose payload is longer than its payloadSize, one with
/// origin fields; a non-empty tagger state.
fn v2_file() -> (Vec<u8>, Vec<Datagram>) {
    let mut long = Rec::new(T0_S + 2, b"lat:5|msGARBAGE");
    long.payload_size = 8;
    let mut origin = Rec::new(T0_S + 3, b"req:1|c|#env:prod");
    origin.pid = 42;
    origin.ancillary = vec![1, 2, 3, 4];
    let recs = [Rec::new(T0_S, b"page.views:1|c"), long, origin];
    let state = tagger_state_bytes(
        42,
        "container_id://abc",
        "container_id",
        "abc",
        &["image:web", "env:prod"],
    );
    let bytes = capture_bytes(
        2,
        &recs.iter().map(Rec::encode).collect::<Vec<_>>(),
        Some(&state),
    );
    let want = vec![
        dg(1_700_000_000_000_000_000, b"page.views:1|c"),
        dg(1_700_000_002_000_000_000, b"lat:5|ms"),
        dg(1_700_000_003_000_000_000, b"req:1|c|#env:prod"),
    ];
    (bytes, want)
}

/// Version 3: nanoseconds, an empty datagram, the empty state the agent writes.
fn v3_file() -> (Vec<u8>, Vec<Datagram>) {
    let recs = [
        Rec::new(T0_NS, b"page.views:1|c"),
        Rec::new(T0_NS + 1, b""),
        Rec::new(T0_NS + 1_000_000_000, b"_sc|db|0|#env:prod"),
    ];
    let bytes = capture_bytes(
        3,
        &recs.iter().map(Rec::encode).collect::<Vec<_>>(),
        Some(&[]),
    );
    let want = vec![
        dg(T0_NS as u64, b"page.views:1|c"),
        dg(T0_NS as u64 + 1, b""),
        dg(T0_NS as u64 + 1_000_000_000, b"_sc|db|0|#env:prod"),
    ];
    (bytes, want)
}

fn all_versions() -> Vec<(u8, Vec<u8>, Vec<Datagram>)> {
    let (b1, w1) = v1_file();
    let (b2, w2) = v2_file();
    let (b3, w3) = v3_file();
    vec![(1, b1, w1), (2, b2, w2), (3, b3, w3)]
}

#[test]
fn hand_assembled_bytes_have_the_documented_layout() {
    // Spot-check the assembler itself against bytes written out by hand.
    let (bytes, _) = v3_file();
    assert_eq!(
        &bytes[..8],
        &[0xD4, 0x74, 0xD0, 0x60, 0xF3, 0xFF, 0x00, 0x00]
    );
    let rec = Rec::new(5, b"a:1|c").encode();
    assert_eq!(
        rec,
        [0x08, 0x05, 0x10, 0x05, 0x1A, 0x05, b'a', b':', b'1', b'|', b'c']
    );
    assert_eq!(&bytes[bytes.len() - 8..], &[0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn every_version_raw_and_zstd_reads_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for (v, raw, want) in all_versions() {
        for compressed in [false, true] {
            let bytes = if compressed { zstd(&raw) } else { raw.clone() };
            let p = write_tmp(dir.path(), &format!("v{v}-{compressed}.dog"), &bytes);
            let src = open(&p, &OpenOptions::default()).unwrap();
            assert_eq!(src.kind, SourceKind::Capture);
            assert_eq!(src.format, InputFormat::Capture);
            assert!(
                src.description.contains(&format!("v{v}")),
                "{}",
                src.description
            );
            assert_eq!(src.description.contains("zstd"), compressed);
            let (got, stats) = read_ok(&p, &OpenOptions::default());
            assert_eq!(got, want, "version {v} compressed {compressed}");
            assert_eq!(stats.datagrams, want.len() as u64);
            assert_eq!(stats.records_read, want.len() as u64);
            assert_eq!(stats.bytes_read, raw.len() as u64);
            assert!(stats.complete && !stats.truncated);
            let info = stats.capture.unwrap();
            assert_eq!((info.version, info.compressed), (v, compressed));
            if v == 1 {
                assert!(info.tagger_state.is_none());
            }
        }
    }
}

#[test]
fn version_2_tagger_state_is_exposed() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, _) = v2_file();
    let p = write_tmp(dir.path(), "v2.dog", &raw);
    let (_, stats) = read_ok(&p, &OpenOptions::default());
    let info = stats.capture.unwrap();
    let state = info.tagger_state.expect("state read");
    assert!(info.tagger_state_len > 0);
    assert_eq!(
        state.pid_map.get(&42).map(String::as_str),
        Some("container_id://abc")
    );
    let entity = &state.state["container_id://abc"];
    let id = entity.id.as_ref().unwrap();
    assert_eq!(
        (id.prefix.as_str(), id.uid.as_str()),
        ("container_id", "abc")
    );
    assert_eq!(entity.low_cardinality_tags, ["image:web", "env:prod"]);
    // Version 3 with the agent's empty state.
    let (raw, _) = v3_file();
    let p = write_tmp(dir.path(), "v3.dog", &raw);
    let (_, stats) = read_ok(&p, &OpenOptions::default());
    let info = stats.capture.unwrap();
    assert_eq!(info.tagger_state_len, 0);
    let state = info.tagger_state.unwrap();
    assert!(state.pid_map.is_empty() && state.state.is_empty());
}

#[test]
fn committed_fixtures_match_and_read_back() {
    let dir = fixtures_dir();
    let write = std::env::var_os("LASTBUCKET_WRITE_FIXTURES").is_some();
    for (v, raw, want) in all_versions() {
        for compressed in [false, true] {
            let name = if compressed {
                format!("capture-v{v}.dog.zst")
            } else {
                format!("capture-v{v}.dog")
            };
            let path = dir.join(&name);
            if write {
                std::fs::create_dir_all(&dir).unwrap();
                let bytes = if compressed { zstd(&raw) } else { raw.clone() };
                std::fs::write(&path, bytes).unwrap();
            }
            let on_disk = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{name}: {e} (LASTBUCKET_WRITE_FIXTURES=1 writes it)"));
            let content = if compressed {
                zstd::decode_all(&on_disk[..]).unwrap()
            } else {
                on_disk
            };
            assert_eq!(content, raw, "{name} differs from the hand-assembled bytes");
            let (got, _) = read_ok(&path, &OpenOptions::default());
            assert_eq!(got, want, "{name}");
        }
    }
}

#[test]
fn multi_frame_zstd_reads_as_one_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, want) = v2_file();
    let mut bytes = zstd(&raw[..13]);
    bytes.extend(zstd(&raw[13..]));
    let p = write_tmp(dir.path(), "frames.dog.zst", &bytes);
    assert_eq!(read_ok(&p, &OpenOptions::default()).0, want);
}

#[test]
fn writer_output_equals_hand_assembled_version_3() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, want) = v3_file();
    let p = dir.path().join("w.dog");
    let mut w = CaptureWriter::create(&p, false).unwrap();
    for d in &want {
        w.write(d).unwrap();
    }
    assert_eq!(w.finish().unwrap(), 3);
    assert_eq!(std::fs::read(&p).unwrap(), raw);
    // zstd: the same bytes once decompressed, in one frame.
    let pz = dir.path().join("w.dog.zst");
    let mut w = CaptureWriter::create(&pz, true).unwrap();
    for d in &want {
        w.write(d).unwrap();
    }
    w.finish().unwrap();
    let z = std::fs::read(&pz).unwrap();
    assert_eq!(&z[..4], &[0x28, 0xB5, 0x2F, 0xFD]);
    assert_eq!(zstd::decode_all(&z[..]).unwrap(), raw);
}

fn sample_datagrams(n: usize) -> Vec<Datagram> {
    (0..n)
        .map(|i| Datagram {
            ts_ns: 1_700_000_000_000_000_000 + i as u64 * 1_234_567,
            payload: if i % 7 == 3 {
                (0..=255u8).cycle().skip(i).take(300 + i).collect()
            } else {
                format!("metric.{i}:{i}|c|#k:v{}\n", i % 3).into_bytes()
            },
        })
        .collect()
}

#[test]
fn round_trip_raw_and_zstd() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample_datagrams(200);
    for compress in [false, true] {
        let p = dir.path().join(format!("rt-{compress}.dog"));
        let mut w = CaptureWriter::create(&p, compress).unwrap();
        w.set_flush_every(16);
        for d in &data {
            w.write(d).unwrap();
        }
        w.finish().unwrap();
        let (got, stats) = read_ok(&p, &OpenOptions::default());
        assert_eq!(got, data);
        assert!(stats.complete);
    }
}

fn expect_err(path: &Path, opts: &OpenOptions) -> (Vec<Datagram>, SourceError) {
    let (d, e, _) = read_path(path, opts);
    (d, e.expect("an error"))
}

#[test]
fn truncated_header_is_an_error_with_offset() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_tmp(dir.path(), "h.dog", &[0xD4, 0x74, 0xD0, 0x60, 0xF3]);
    let opts = OpenOptions {
        format: Some(InputFormat::Capture),
        ..Default::default()
    };
    let e = open(&p, &opts).unwrap_err();
    assert!(e.is_truncated(), "{e}");
    assert_eq!(e.offset(), Some(5));
    let msg = e.to_string();
    assert!(
        msg.contains("h.dog") && msg.contains("8-byte capture header"),
        "{msg}"
    );
}

#[test]
fn truncated_record_error_then_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, want) = v3_file();
    // Cut inside the second record (header 8 + first record 4 + 22 bytes, + 3 more).
    let first_len = 4 + Rec::new(T0_NS, b"page.views:1|c").encode().len();
    let cut = 8 + first_len + 3;
    for compressed in [false, true] {
        let bytes = if compressed {
            zstd(&raw[..cut])
        } else {
            raw[..cut].to_vec()
        };
        let p = write_tmp(dir.path(), &format!("t-{compressed}.dog"), &bytes);
        let (got, e) = expect_err(&p, &OpenOptions::default());
        assert_eq!(got, want[..1]);
        assert!(e.is_truncated(), "{e}");
        assert_eq!(e.offset(), Some((8 + first_len) as u64));
        let msg = e.to_string();
        assert!(msg.contains("record 1"), "{msg}");
        assert!(msg.contains("1 datagrams read before"), "{msg}");
        assert_eq!(msg.contains("decompressed"), compressed, "{msg}");

        let (got, stats) = read_ok(&p, &truncating());
        assert_eq!(got, want[..1]);
        assert!(stats.truncated && !stats.complete);
        assert_eq!(stats.truncated_at, Some((8 + first_len) as u64));
        assert_eq!(stats.bytes_read, (8 + first_len) as u64);
    }
}

#[test]
fn record_length_past_the_end_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = header(3);
    bytes.extend_from_slice(&1000u32.to_le_bytes());
    bytes.extend_from_slice(&Rec::new(1, b"a:1|c").encode());
    let p = write_tmp(dir.path(), "long.dog", &bytes);
    let (got, e) = expect_err(&p, &OpenOptions::default());
    assert!(got.is_empty());
    assert!(e.is_truncated());
    assert_eq!(e.offset(), Some(8));
    assert!(e.to_string().contains("1000-byte record"), "{e}");
    // An absurd length is corruption, not a 4 GiB allocation.
    let mut bytes = header(3);
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    let p = write_tmp(dir.path(), "huge.dog", &bytes);
    let (_, e) = expect_err(&p, &OpenOptions::default());
    assert!(matches!(e, SourceError::Corrupt { .. }), "{e}");
}

#[test]
fn bad_protobuf_is_corrupt_with_record_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let good = Rec::new(T0_NS, b"a:1|c").encode();
    let bad = vec![0x0F, 0xFF, 0xFF]; // wire type 7 does not exist
    let p = write_tmp(
        dir.path(),
        "bad.dog",
        &capture_bytes(3, &[good.clone(), bad], Some(&[])),
    );
    let (got, e) = expect_err(&p, &truncating());
    assert_eq!(got.len(), 1);
    match &e {
        SourceError::Corrupt {
            at,
            datagrams_before,
            ..
        } => {
            assert_eq!(at.index, Some(1));
            assert_eq!(at.offset, (8 + 4 + good.len()) as u64);
            assert_eq!(*datagrams_before, 1);
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("protobuf"), "{e}");
    // payloadSize larger than the payload.
    let mut r = Rec::new(1, b"ab");
    r.payload_size = 9;
    let p = write_tmp(
        dir.path(),
        "size.dog",
        &capture_bytes(3, &[r.encode()], Some(&[])),
    );
    let (_, e) = expect_err(&p, &OpenOptions::default());
    assert!(e.to_string().contains("payloadSize 9"), "{e}");
}

#[test]
fn bad_zstd_frame_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = vec![0x28, 0xB5, 0x2F, 0xFD];
    bytes.extend_from_slice(&[0xFF; 40]);
    let p = write_tmp(dir.path(), "bad.dog.zst", &bytes);
    let e = open(&p, &OpenOptions::default()).unwrap_err();
    assert!(matches!(e, SourceError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("zstd"), "{e}");
    // Garbage after a valid frame: the records read, then a clear error.
    let (raw, want) = v1_file();
    let mut bytes = zstd(&raw);
    bytes.extend_from_slice(&[0x28, 0xB5, 0x2F, 0xFD, 0xFF, 0xFF, 0xFF, 0xFF]);
    let p = write_tmp(dir.path(), "tail.dog.zst", &bytes);
    let (got, e) = expect_err(&p, &OpenOptions::default());
    assert_eq!(got, want);
    assert!(e.to_string().contains("zstd"), "{e}");
}

#[test]
fn zstd_data_that_is_not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_tmp(dir.path(), "x.zst", &zstd(b"just some text, not a capture"));
    let e = open(&p, &OpenOptions::default()).unwrap_err();
    assert!(e.to_string().contains("not a Datadog capture file"), "{e}");
}

#[test]
fn version_1_timestamps_out_of_range_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_tmp(
        dir.path(),
        "ns-in-v1.dog",
        &capture_bytes(1, &[Rec::new(T0_NS, b"a").encode()], None),
    );
    let (_, e) = expect_err(&p, &OpenOptions::default());
    assert!(e.to_string().contains("does not fit in nanoseconds"), "{e}");
    let p = write_tmp(
        dir.path(),
        "neg.dog",
        &capture_bytes(3, &[Rec::new(-5, b"a").encode()], Some(&[])),
    );
    let (_, e) = expect_err(&p, &OpenOptions::default());
    assert!(e.to_string().contains("negative timestamp -5"), "{e}");
}

#[test]
fn unsupported_versions() {
    let dir = tempfile::tempdir().unwrap();
    for v in [0u8, 4, 15] {
        let p = write_tmp(dir.path(), &format!("v{v}.dog"), &header(v));
        let e = open(&p, &OpenOptions::default()).unwrap_err();
        assert!(matches!(e, SourceError::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains(&format!("version {v}")), "{e}");
    }
}

#[test]
fn missing_terminator_and_bad_state_length() {
    let dir = tempfile::tempdir().unwrap();
    let recs = [Rec::new(T0_NS, b"a:1|c").encode()];
    // Version 3 without the terminator: truncated at the end of the last record.
    let bytes = capture_bytes(3, &recs, None);
    let p = write_tmp(dir.path(), "noterm.dog", &bytes);
    let (got, e) = expect_err(&p, &OpenOptions::default());
    assert_eq!(got.len(), 1);
    assert!(e.is_truncated());
    assert_eq!(e.offset(), Some(bytes.len() as u64));
    let (got, stats) = read_ok(&p, &truncating());
    assert_eq!(got.len(), 1);
    assert_eq!(stats.truncated_at, Some(bytes.len() as u64));
    // State length says more than there is: truncated.
    let mut bytes = capture_bytes(3, &recs, None);
    bytes.extend_from_slice(&[0, 0, 0, 0, 0x0A, 0x00]);
    bytes.extend_from_slice(&50u32.to_le_bytes());
    let p = write_tmp(dir.path(), "shortstate.dog", &bytes);
    let (_, e) = expect_err(&p, &OpenOptions::default());
    assert!(e.is_truncated(), "{e}");
    // State length says less than there is: corrupt.
    let mut bytes = capture_bytes(3, &recs, None);
    bytes.extend_from_slice(&[0, 0, 0, 0, 1, 2, 3, 4, 5]);
    bytes.extend_from_slice(&1u32.to_le_bytes());
    let p = write_tmp(dir.path(), "longstate.dog", &bytes);
    let (_, e) = expect_err(&p, &OpenOptions::default());
    assert!(matches!(e, SourceError::Corrupt { .. }), "{e}");
    // Only 2 bytes of a record length: truncated.
    let mut bytes = capture_bytes(1, &[Rec::new(T0_S, b"a:1|c").encode()], None);
    bytes.extend_from_slice(&[7, 0]);
    let p = write_tmp(dir.path(), "partlen.dog", &bytes);
    let (got, e) = expect_err(&p, &OpenOptions::default());
    assert_eq!(got.len(), 1);
    assert!(e.is_truncated(), "{e}");
}

#[test]
fn killed_writer_leaves_every_flushed_record_readable() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample_datagrams(37);
    for compress in [false, true] {
        let p = dir.path().join(format!("killed-{compress}.dog"));
        let mut w = CaptureWriter::create(&p, compress).unwrap();
        for d in &data {
            w.write(d).unwrap();
        }
        // The process dies here: no finish, no destructor.
        std::mem::forget(w);
        let (got, e, _) = read_path(&p, &OpenOptions::default());
        assert_eq!(got, data);
        assert!(e.unwrap().is_truncated());
        let (got, stats) = read_ok(&p, &truncating());
        assert_eq!(got, data);
        assert!(stats.truncated);
        if !compress {
            assert_eq!(
                stats.truncated_at,
                Some(std::fs::metadata(&p).unwrap().len())
            );
        }
    }
}

#[test]
fn a_file_cut_anywhere_reads_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample_datagrams(12);
    let full = dir.path().join("full.dog");
    let mut w = CaptureWriter::create(&full, false).unwrap();
    for d in &data {
        w.write(d).unwrap();
    }
    w.finish().unwrap();
    let bytes = std::fs::read(&full).unwrap();
    for cut in 8..bytes.len() {
        let p = write_tmp(dir.path(), "cut.dog", &bytes[..cut]);
        let (got, stats) = read_ok(&p, &truncating());
        assert!(stats.truncated, "cut at {cut}");
        assert_eq!(got, data[..got.len()], "cut at {cut}");
        let at = stats.truncated_at.unwrap();
        assert!(at <= cut as u64 && at == stats.bytes_read, "cut at {cut}");
    }
}

#[test]
fn reader_works_on_any_byte_stream() {
    let (raw, want) = v2_file();
    let r = CaptureReader::new(
        Path::new("<memory>"),
        &raw[..],
        false,
        false,
        StatsHandle::new(),
    )
    .unwrap();
    assert_eq!(r.version(), 2);
    let got: Vec<_> = r.map(Result::unwrap).collect();
    assert_eq!(got, want);
}
