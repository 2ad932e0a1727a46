//! The corrupt-input suite: every input format cut at every structural boundary and with
//! flipped bytes, lengths of 2³²−1, huge and strange lines, and out-of-range timestamps.
//!
//! What each case must give is written in the format facts (`formats.md`) and the CLI
//! contract (`cli.md`): a rejection counted in the JSON report with its reason, or exit 3 with
//! a message naming the file and the byte offset (exit 2 for settings files and generator
//! specs, which are configuration). Always in bounded time (every child runs under a deadline
//! and is killed past it) and bounded memory (every child runs under an address-space limit,
//! and in-process reads record their largest allocation, so nothing is sized by an
//! untrusted length before it is checked).
//!
//! Cut points are computed from the formats (headers, length fields, protobuf fields, record
//! ends), not drawn at random; `source_fuzz.rs` covers random bytes.

mod corrupt_common;
mod source_common;

use std::path::{Path, PathBuf};

use corrupt_common::*;
use lastbucket::source::pcap::{write_pcap_with, LinkType, PcapWriteOptions};
use lastbucket::source::{open, CaptureWriter, Datagram, OpenOptions, PortFilter, SourceError};
use source_common::{capture_bytes, dg, field_bytes, field_varint, tagger_state_bytes, zstd, Rec};

#[global_allocator]
static RECORDING: Recording = Recording;

const T0: i64 = 1_700_000_000;
const T0_NS: u64 = 1_700_000_000_000_000_000;

/// The datagrams of the test files: three metric types, a tag, a multi-value line.
fn payloads() -> [&'static [u8]; 3] {
    [b"page.views:1|c", b"lat:5:7|ms|#env:prod", b"users:alice|s"]
}

/// In-process read of a file (what the CLI runs): datagrams, first error, stats, and the
/// largest allocation and the peak of live bytes on the way.
struct Read {
    datagrams: Vec<Datagram>,
    error: Option<SourceError>,
    stats: lastbucket::source::ReadStats,
    largest: usize,
    peak: usize,
}

fn read(path: &Path, opts: &OpenOptions) -> Read {
    let ((datagrams, error, stats), largest, peak) = allocations_of(|| {
        let src = match open(path, opts) {
            Ok(s) => s,
            Err(e) => return (Vec::new(), Some(e), Default::default()),
        };
        let mut out = Vec::new();
        let mut err = None;
        for item in src.datagrams {
            match item {
                Ok(d) => out.push(d),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
            assert!(
                out.len() < 1_000_000,
                "endless stream from {}",
                path.display()
            );
        }
        (out, err, src.stats.snapshot())
    });
    Read {
        datagrams,
        error,
        stats,
        largest,
        peak,
    }
}

/// No allocation of a read is sized by the data's claims: the largest is bounded by the
/// reader's own buffers (256 KiB) plus what the file really holds.
fn assert_bounded(r: &Read, input_len: usize, what: &str) {
    let bound = (1 << 20) + 4 * input_len;
    assert!(
        r.largest <= bound,
        "{what}: an allocation of {} bytes for a {input_len}-byte input",
        r.largest
    );
    assert!(
        r.peak <= 2 * bound,
        "{what}: {} bytes live at once for a {input_len}-byte input",
        r.peak
    );
}

fn opts(allow_truncated: bool) -> OpenOptions {
    OpenOptions {
        allow_truncated,
        ..Default::default()
    }
}

/// Checks an in-process read against the outcome the format gives for the cut.
fn assert_read_outcome(path: &Path, cut: Cut, input_len: usize, what: &str) {
    let r = read(path, &opts(false));
    assert_bounded(&r, input_len, what);
    match cut {
        Cut::Clean { datagrams } => {
            if let Some(e) = &r.error {
                panic!("{what}: expected a clean end after {datagrams} datagrams: {e}");
            }
            assert_eq!(r.datagrams.len() as u64, datagrams, "{what}");
        }
        Cut::Truncated { offset, datagrams } => {
            let e = r
                .error
                .as_ref()
                .unwrap_or_else(|| panic!("{what}: expected a truncation error"));
            assert!(e.is_truncated(), "{what}: not taken for a cut: {e}");
            assert_eq!(e.offset(), Some(offset), "{what}: {e}");
            assert_eq!(r.datagrams.len() as u64, datagrams, "{what}: {e}");
            // With allow_truncated: the datagrams before the cut, and where the cut is.
            let r = read(path, &opts(true));
            assert!(r.error.is_none(), "{what}: {:?}", r.error);
            assert_eq!(r.datagrams.len() as u64, datagrams, "{what}");
            assert_eq!(r.stats.truncated_at, Some(offset), "{what}");
        }
        Cut::Header { offset } => {
            for r in [r, read(path, &opts(true))] {
                let e = r
                    .error
                    .as_ref()
                    .unwrap_or_else(|| panic!("{what}: expected a header error"));
                assert!(e.is_truncated(), "{what}: not taken for a cut: {e}");
                assert_eq!(e.offset(), Some(offset), "{what}: {e}");
                assert!(r.datagrams.is_empty(), "{what}");
            }
        }
        Cut::Damaged { offset, datagrams } => {
            let e = r
                .error
                .as_ref()
                .unwrap_or_else(|| panic!("{what}: expected an error"));
            assert_eq!(e.offset(), Some(offset), "{what}: {e}");
            assert_eq!(r.datagrams.len() as u64, datagrams, "{what}: {e}");
            assert!(!r.stats.complete, "{what}");
        }
    }
}

/// Checks the CLI (`check`) against the outcome the format gives for the cut.
fn assert_cli_outcome(path: &Path, cut: Cut, what: &str) {
    match cut {
        Cut::Clean { datagrams } => {
            let run = check(path, &[]);
            let code = run.code();
            if datagrams == 0 {
                assert_eq!(
                    code, 4,
                    "{what}: nothing to compare is vacuous\n{}",
                    run.stderr
                );
            } else {
                assert_eq!(code, 0, "{what}\n{}", run.stderr);
                let report = run.json();
                assert_eq!(report["source"]["packets"], datagrams, "{what}");
                counts(&report);
            }
        }
        Cut::Truncated { offset, datagrams } => {
            check(path, &[]).assert_input_error(path, offset);
            let run = check(path, &["--allow-truncated"]);
            assert_eq!(
                run.code(),
                if datagrams == 0 { 4 } else { 0 },
                "{what}\n{}",
                run.stderr
            );
            let report = run.json();
            assert_eq!(report["source"]["read"]["truncated_at"], offset, "{what}");
            assert_eq!(report["source"]["packets"], datagrams, "{what}");
            counts(&report);
        }
        Cut::Damaged { offset, .. } => {
            check(path, &[]).assert_input_error(path, offset);
        }
        Cut::Header { offset } => {
            check(path, &[]).assert_input_error(path, offset);
            check(path, &["--allow-truncated"]).assert_input_error(path, offset);
        }
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

// ---------------------------------------------------------------------------------------------
// Datadog capture files.

/// A capture file of `version` holding [`payloads`], one a second; a non-empty tagger state
/// for version 2, the agent's empty state for version 3.
fn capture_file(version: u8) -> Vec<u8> {
    let scale = if version >= 3 { 1_000_000_000 } else { 1 };
    let records: Vec<Vec<u8>> = payloads()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut r = Rec::new((T0 + i as i64) * scale, p);
            if i == 1 {
                r.pid = 42;
                r.ancillary = vec![1, 2, 3];
            }
            r.encode()
        })
        .collect();
    let state = tagger_state_bytes(
        42,
        "container_id://abc",
        "container_id",
        "abc",
        &["image:web"],
    );
    match version {
        1 => capture_bytes(1, &records, None),
        2 => capture_bytes(2, &records, Some(&state)),
        _ => capture_bytes(3, &records, Some(&[])),
    }
}

#[test]
fn capture_cut_at_every_boundary_raw_and_zstd_every_version() {
    let dir = tempfile::tempdir().unwrap();
    for version in 1..=3u8 {
        let full = capture_file(version);
        let cuts = capture_cuts(&full);
        assert!(cuts.len() > 30, "boundaries of v{version}: {cuts:?}");
        for &(at, cut) in &cuts {
            let bytes = &full[..at];
            let what = format!("v{version} raw cut at {at} of {}", full.len());
            let p = write(dir.path(), "cut.dog", bytes);
            assert_read_outcome(&p, cut, bytes.len(), &what);
            // The same cut inside a whole zstd frame: the same outcome, offsets counted in
            // the decompressed stream.
            let what = format!("v{version} zstd cut at {at}");
            let z = zstd(bytes);
            let p = write(dir.path(), "cut.dog.zst", &z);
            assert_read_outcome(&p, cut, bytes.len(), &what);
        }
    }
}

#[test]
fn capture_cut_at_every_boundary_cli() {
    let dir = tempfile::tempdir().unwrap();
    let full = capture_file(2);
    for (at, cut) in capture_cuts(&full) {
        let p = write(dir.path(), "cut.dog", &full[..at]);
        assert_cli_outcome(&p, cut, &format!("v2 cut at {at}"));
    }
    // The message of a cut in a zstd file says where, in the decompressed stream: 10 bytes
    // off a version-3 file cut its 8-byte trailer and the end of record 2.
    let full = capture_file(3);
    let p = write(dir.path(), "cut.dog.zst", &zstd(&full[..full.len() - 10]));
    let run = check(&p, &[]);
    run.assert_input_error(&p, third_record_start(&full) as u64);
    assert!(run.stderr.contains("decompressed"), "{}", run.stderr);
    inspect(&p, &[]).assert_input_error(&p, third_record_start(&full) as u64);
}

/// Offset of record 2 of a capture file (past the header and records 0 and 1).
fn third_record_start(b: &[u8]) -> usize {
    let mut at = 8;
    for _ in 0..2 {
        at += 4 + le32(b, at);
    }
    at
}

#[test]
fn capture_state_cut_is_never_read_as_complete() {
    let dir = tempfile::tempdir().unwrap();
    let full = capture_file(2);
    let state_start = full.len() - 4 - (le32(&full, full.len() - 4));
    for at in state_start..full.len() {
        let p = write(dir.path(), "cut.dog", &full[..at]);
        let r = read(&p, &opts(false));
        let e = r.error.expect("a cut state is an error");
        assert_eq!(e.offset(), Some(state_start as u64), "cut at {at}: {e}");
        assert_eq!(r.datagrams.len(), 3);
        assert!(!r.stats.complete, "cut at {at}");
    }
}

/// The capture file of the agent's writer, zstd, flushed after every record: each record
/// ends a zstd block. Cut at every boundary of the zstd frame (its header fields, each block
/// header, the end of each block), the file reads back every record wholly decompressed
/// before the cut, then says truncated at the start of the first record it could not finish.
#[test]
fn zstd_capture_cut_at_every_frame_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.dog.zst");
    let mut w = CaptureWriter::create(&p, true).unwrap();
    for (i, pl) in payloads().iter().enumerate() {
        w.write(&dg(T0_NS + i as u64, pl)).unwrap();
    }
    w.finish().unwrap();
    let z = std::fs::read(&p).unwrap();
    let raw = ::zstd::decode_all(&z[..]).unwrap();
    let record_starts: Vec<u64> = {
        let mut v = vec![8u64];
        let mut at = 8;
        while le32(&raw, at) != 0 {
            at += 4 + le32(&raw, at);
            v.push(at as u64);
        }
        v
    };
    let cuts = zstd_frame_boundaries(&z);
    assert!(cuts.len() >= 8, "{cuts:?}");
    for at in cuts {
        let bytes = &z[..at];
        let what = format!("zstd cut at {at} of {}", z.len());
        let p = write(dir.path(), "cut.dog.zst", bytes);
        let r = read(&p, &opts(false));
        assert_bounded(&r, raw.len(), &what);
        if at == z.len() {
            assert!(r.error.is_none(), "{what}");
            assert_eq!(r.datagrams.len(), 3);
            continue;
        }
        let e = r.error.unwrap_or_else(|| panic!("{what}: no error"));
        let msg = e.to_string();
        match e.offset() {
            // A cut inside the frame header: no data, the header is cut.
            Some(off) if off < 8 => {
                assert!(e.is_truncated(), "{what}: {msg}");
                assert!(r.datagrams.is_empty(), "{what}");
            }
            Some(off) => {
                assert!(e.is_truncated(), "{what}: {msg}");
                let n = record_starts.iter().position(|&s| s == off);
                let n = n.unwrap_or_else(|| panic!("{what}: {off} is no record start: {msg}"));
                assert_eq!(r.datagrams.len(), n, "{what}: {msg}");
                assert!(msg.contains("decompressed"), "{what}: {msg}");
            }
            None => panic!("{what}: no offset in {msg}"),
        }
    }
}

/// Offsets of a zstd frame's structure: after the magic, the frame header descriptor and
/// each optional header field, then each block's 3-byte header and its end, and the checksum.
fn zstd_frame_boundaries(z: &[u8]) -> Vec<usize> {
    assert_eq!(z[..4], [0x28, 0xB5, 0x2F, 0xFD]);
    let fhd = z[4];
    let single_segment = fhd & 0x20 != 0;
    let dict = [0, 1, 2, 4][usize::from(fhd & 3)];
    let fcs = match fhd >> 6 {
        0 => usize::from(single_segment),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let mut cuts = vec![1, 4, 5];
    let mut at = 5;
    if !single_segment {
        at += 1;
        cuts.push(at);
    }
    at += dict;
    cuts.push(at);
    at += fcs;
    cuts.push(at);
    loop {
        let h = u32::from(z[at]) | u32::from(z[at + 1]) << 8 | u32::from(z[at + 2]) << 16;
        let last = h & 1 == 1;
        let size = (h >> 3) as usize;
        let content = if (h >> 1) & 3 == 1 { 1 } else { size };
        cuts.extend([at + 1, at + 3, at + 3 + content / 2]);
        at += 3 + content;
        cuts.push(at);
        if last {
            break;
        }
    }
    if fhd & 0x04 != 0 {
        cuts.push(at + 2);
        at += 4;
    }
    assert_eq!(at, z.len(), "one frame");
    cuts.push(at);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[test]
fn capture_every_byte_flipped_reads_bounded_and_errors_name_an_offset() {
    let dir = tempfile::tempdir().unwrap();
    for version in 1..=3u8 {
        let full = capture_file(version);
        for i in 0..full.len() {
            for flip in [0xFF, 0x80, 0x01] {
                let mut b = full.clone();
                b[i] ^= flip;
                let what = format!("v{version} byte {i} ^ {flip:#04x}");
                for (name, bytes) in [("f.dog", b.clone()), ("f.dog.zst", zstd(&b))] {
                    let p = write(dir.path(), name, &bytes);
                    let r = read(&p, &opts(false));
                    assert_bounded(&r, b.len(), &what);
                    if let Some(e) = &r.error {
                        if let Some(off) = e.offset() {
                            assert!(off <= b.len() as u64, "{what}: {e}");
                        }
                        let msg = e.to_string();
                        assert!(msg.contains("byte offset"), "{what}: {msg}");
                    }
                }
            }
        }
    }
}

/// One record whose body is `body`, in a version-3 file with the empty trailer.
fn v3_with_record(body: &[u8]) -> Vec<u8> {
    let good = Rec::new(T0 * 1_000_000_000, b"ok:1|c").encode();
    capture_bytes(3, &[good, body.to_vec()], Some(&[]))
}

#[test]
fn capture_lengths_of_2_32_minus_1() {
    let dir = tempfile::tempdir().unwrap();
    let full = capture_file(3);
    let second = 8 + 4 + le32(&full, 8);

    // A record length of 2³²−1: corrupt (over the record limit), at that record.
    let mut b = full.clone();
    b[second..second + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let p = write(dir.path(), "len.dog", &b);
    let run = check(&p, &[]);
    run.assert_input_error(&p, second as u64);
    assert!(
        run.stderr.contains("record length 4294967295"),
        "{}",
        run.stderr
    );
    let r = read(&p, &opts(false));
    assert_bounded(&r, b.len(), "record length 2^32-1");
    assert!(!r.error.unwrap().is_truncated());

    // A record length at the limit, with little behind it: a cut, and no 16 MiB buffer.
    let mut b = full.clone();
    b[second..second + 4].copy_from_slice(&(16u32 << 20).to_le_bytes());
    let p = write(dir.path(), "limit.dog", &b);
    let r = read(&p, &opts(false));
    assert_bounded(&r, b.len(), "record length 16 MiB");
    assert!(r.error.unwrap().is_truncated());
    check(&p, &[]).assert_input_error(&p, second as u64);

    // Protobuf lengths of 2³²−1 inside a record: the payload's, and payloadSize.
    let mut body = Vec::new();
    field_varint(1, T0 * 1_000_000_000, &mut body);
    field_varint(2, 5, &mut body);
    body.push(0x1A);
    source_common::varint(u64::from(u32::MAX), &mut body);
    body.extend_from_slice(b"a:1|c");
    let b = v3_with_record(&body);
    let p = write(dir.path(), "pb.dog", &b);
    let second = 8 + 4 + le32(&b, 8);
    let run = check(&p, &[]);
    run.assert_input_error(&p, second as u64);
    assert!(run.stderr.contains("protobuf"), "{}", run.stderr);
    assert_bounded(&read(&p, &opts(false)), b.len(), "protobuf length 2^32-1");

    let mut rec = Rec::new(T0 * 1_000_000_000, b"a:1|c");
    rec.payload_size = i32::MAX;
    let b = v3_with_record(&rec.encode());
    let p = write(dir.path(), "size.dog", &b);
    let run = check(&p, &[]);
    run.assert_input_error(&p, second as u64);
    assert!(
        run.stderr.contains("payloadSize 2147483647"),
        "{}",
        run.stderr
    );
    rec.payload_size = -1;
    let p = write(dir.path(), "neg.dog", &v3_with_record(&rec.encode()));
    check(&p, &[]).assert_input_error(&p, second as u64);

    // A tagger state length of 2³²−1: it promises more than the file holds.
    let full = capture_file(2);
    let mut b = full.clone();
    let n = b.len();
    b[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    let state_start = n - 4 - le32(&full, n - 4);
    let p = write(dir.path(), "state.dog", &b);
    check(&p, &[]).assert_input_error(&p, state_start as u64);
    assert_bounded(&read(&p, &opts(false)), b.len(), "state length 2^32-1");
}

#[test]
fn capture_header_damage_names_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let full = capture_file(3);
    for (version_byte, what) in [
        (0xF0u8, "version 0"),
        (0xF4, "version 4"),
        (0xFF, "version 15"),
    ] {
        let mut b = full.clone();
        b[4] = version_byte;
        let p = write(dir.path(), "v.dog", &b);
        let run = check(&p, &[]);
        run.assert_input_error(&p, 4);
        assert!(run.stderr.contains(what), "{}", run.stderr);
        inspect(&p, &[]).assert_input_error(&p, 4);
    }
    // The version nibble without its F0 bits, or bytes 5-7 damaged: not a capture header.
    for (i, v) in [(4usize, 0x03u8), (5, 0x00), (7, 0x01)] {
        let mut b = full.clone();
        b[i] = v;
        let p = write(dir.path(), "h.dog", &b);
        let run = check(&p, &[]);
        run.assert_input_error(&p, 0);
        assert!(
            run.stderr.contains("not a Datadog capture header"),
            "{}",
            run.stderr
        );
    }
    // A damaged magic is not a capture any more: read as text, and every line is rejected
    // and counted (nothing compared: vacuous), unless the format is forced.
    let mut b = full.clone();
    b[0] = b'x';
    let p = write(dir.path(), "m.dog", &b);
    let run = check(&p, &[]);
    assert_eq!(run.code(), 4, "{}", run.stderr);
    let c = counts(&run.json());
    assert!(c["rejected"].as_u64().unwrap() > 0, "{c}");
    check(&p, &["--input-format", "capture"]).assert_input_error(&p, 0);
    // zstd data that is no capture: refused at the decompressed header.
    let p = write(
        dir.path(),
        "z.dog",
        &zstd(b"page.views:1|c\npage.views:2|c\n"),
    );
    let run = check(&p, &[]);
    run.assert_input_error(&p, 0);
    assert!(run.stderr.contains("decompressed"), "{}", run.stderr);
}

#[test]
fn capture_timestamps_zero_max_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let v3 = |stamps: &[i64]| {
        let recs: Vec<Vec<u8>> = stamps
            .iter()
            .map(|&t| Rec::new(t, b"a:1|c\nh:2|h").encode())
            .collect();
        capture_bytes(3, &recs, Some(&[]))
    };
    // 0, i64::MAX and going backwards: arrival times, read as they are; the run accounts
    // for every sample.
    for (name, stamps) in [
        ("zero", vec![0, 0]),
        ("max", vec![T0 * 1_000_000_000, i64::MAX]),
        (
            "backwards",
            vec![(T0 + 30) * 1_000_000_000, T0 * 1_000_000_000, 5],
        ),
    ] {
        let p = write(dir.path(), &format!("{name}.dog"), &v3(&stamps));
        let run = check(&p, &[]);
        assert_eq!(run.code(), 0, "{name}: {}", run.stderr);
        let c = counts(&run.json());
        assert_eq!(c["sent"], 2 * stamps.len() as u64, "{name}");
        let run = inspect(&p, &[]);
        assert_eq!(run.code(), 0, "{name}: {}", run.stderr);
        assert_eq!(run.json()["datagrams"], stamps.len() as u64);
    }
    // Negative: corrupt, at that record.
    let b = v3(&[T0 * 1_000_000_000, -1]);
    let p = write(dir.path(), "neg.dog", &b);
    let run = check(&p, &[]);
    run.assert_input_error(&p, (8 + 4 + le32(&b, 8)) as u64);
    assert!(run.stderr.contains("negative timestamp"), "{}", run.stderr);
}

/// Regression: a version 1/2 record time in seconds past 2262 (i64::MAX ns) used to pass as
/// a u64 of nanoseconds and overflow the pipeline's clock.
#[test]
fn capture_v1_seconds_past_2262_are_corrupt_not_a_clock_overflow() {
    let dir = tempfile::tempdir().unwrap();
    for secs in [i64::MAX / 1_000_000_000 + 1, 18_000_000_000, i64::MAX] {
        let recs = [
            Rec::new(T0, b"a:1|c").encode(),
            Rec::new(secs, b"a:1|c").encode(),
        ];
        let b = capture_bytes(1, &recs, None);
        let p = write(dir.path(), "v1.dog", &b);
        let run = check(&p, &[]);
        run.assert_input_error(&p, (8 + 4 + recs[0].len()) as u64);
        assert!(run.stderr.contains("latest arrival time"), "{}", run.stderr);
    }
}

/// Regression: a tagger state of 60 MiB of empty tags (a zstd file of a few kilobytes) was
/// decoded into about a gigabyte of `String`s, and copied into every stats snapshot. It is
/// now refused from an estimate of what decoding would take, in bounded memory.
#[test]
fn capture_tagger_state_that_decodes_to_gigabytes_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut entity = Vec::new();
    for _ in 0..(30 << 20) {
        entity.extend_from_slice(&[0x1A, 0x00]); // high_cardinality_tags: ""
    }
    let mut entry = Vec::new();
    field_bytes(1, b"container_id://abc", &mut entry);
    field_bytes(2, &entity, &mut entry);
    drop(entity);
    let mut state = Vec::new();
    field_bytes(1, &entry, &mut state);
    drop(entry);
    let recs = [Rec::new(T0 * 1_000_000_000, b"a:1|c").encode()];
    let raw = capture_bytes(3, &recs, Some(&state));
    let state_start = (8 + 4 + recs[0].len() + 4) as u64;
    drop(state);
    let z = ::zstd::encode_all(&raw[..], 1).unwrap();
    drop(raw);
    assert!(z.len() < 1 << 20, "a small file: {} bytes", z.len());
    let p = write(dir.path(), "bomb.dog.zst", &z);
    let run = inspect(&p, &[]);
    run.assert_input_error(&p, state_start);
    assert!(run.stderr.contains("once decoded"), "{}", run.stderr);
    check(&p, &[]).assert_input_error(&p, state_start);
}

// ---------------------------------------------------------------------------------------------
// pcap and pcapng.

fn pcap_file(pcapng: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.pcap");
    let data: Vec<Datagram> = payloads()
        .iter()
        .enumerate()
        .map(|(i, pl)| dg(T0_NS + i as u64 * 1_000_000_000, pl))
        .collect();
    let o = PcapWriteOptions {
        pcapng,
        link: LinkType::Ethernet,
        ..Default::default()
    };
    write_pcap_with(&p, &data, &o).unwrap();
    std::fs::read(&p).unwrap()
}

#[test]
fn pcap_and_pcapng_cut_at_every_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = pcap_file(false);
    let cuts = pcap_cuts(&pcap, |packets| packets);
    assert!(cuts.len() > 20, "{cuts:?}");
    for (at, cut) in cuts {
        let what = format!("pcap cut at {at} of {}", pcap.len());
        let p = write(dir.path(), "cut.pcap", &pcap[..at]);
        assert_read_outcome(&p, cut, at, &what);
        assert_cli_outcome(&p, cut, &what);
    }
    // Section header, interface description, then one enhanced packet block per datagram.
    let ng = pcap_file(true);
    let cuts = pcapng_cuts(&ng, |blocks| blocks.saturating_sub(2));
    assert!(cuts.len() > 20, "{cuts:?}");
    for (at, cut) in cuts {
        let what = format!("pcapng cut at {at} of {}", ng.len());
        let p = write(dir.path(), "cut.pcapng", &ng[..at]);
        assert_read_outcome(&p, cut, at, &what);
        assert_cli_outcome(&p, cut, &what);
    }
}

#[test]
fn pcap_and_pcapng_every_byte_flipped_reads_bounded() {
    let dir = tempfile::tempdir().unwrap();
    for pcapng in [false, true] {
        let full = pcap_file(pcapng);
        for i in 0..full.len() {
            for flip in [0xFF, 0x80, 0x01] {
                let mut b = full.clone();
                b[i] ^= flip;
                let what = format!("pcapng={pcapng} byte {i} ^ {flip:#04x}");
                let p = write(dir.path(), "f.pcap", &b);
                let r = read(&p, &opts(false));
                assert_bounded(&r, b.len(), &what);
                if let Some(e) = &r.error {
                    if let Some(off) = e.offset() {
                        assert!(off <= b.len() as u64, "{what}: {e}");
                    }
                    let msg = e.to_string();
                    assert!(
                        msg.contains("byte offset") || matches!(e, SourceError::Io { .. }),
                        "{what}: {msg}"
                    );
                }
            }
        }
    }
}

#[test]
fn pcap_lengths_of_2_32_minus_1() {
    let dir = tempfile::tempdir().unwrap();
    let full = pcap_file(false);
    let second = 24 + 16 + le32(&full, 24 + 8);
    // Captured length 2³²−1: corrupt, at that packet.
    let mut b = full.clone();
    b[second + 8..second + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let p = write(dir.path(), "incl.pcap", &b);
    let run = check(&p, &[]);
    run.assert_input_error(&p, second as u64);
    assert!(
        run.stderr.contains("captured length 4294967295"),
        "{}",
        run.stderr
    );
    inspect(&p, &[]).assert_input_error(&p, second as u64);
    assert_bounded(&read(&p, &opts(false)), b.len(), "incl_len 2^32-1");
    // Original length 2³²−1: the packet looks cut by the snap length; an error naming it, or
    // with --allow-truncated a counted skip.
    let mut b = full.clone();
    b[second + 12..second + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    let p = write(dir.path(), "orig.pcap", &b);
    let run = check(&p, &[]);
    run.assert_input_error(&p, second as u64);
    assert!(run.stderr.contains("snap length"), "{}", run.stderr);
    let run = check(&p, &["--allow-truncated"]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["source"]["read"]["snaplen_cut"], 1);
    assert_eq!(report["source"]["packets"], 2);
    // The IPv4 total length and the UDP length at 0xFFFF: a malformed packet, counted and
    // skipped. (Ethernet 14 bytes, IPv4 total length at 2, UDP length at 20 + 4.)
    for (field, name) in [(14 + 2, "ip total length"), (14 + 20 + 4, "udp length")] {
        let mut b = full.clone();
        b[second + 16 + field..second + 16 + field + 2].copy_from_slice(&[0xFF, 0xFF]);
        let p = write(dir.path(), "ip.pcap", &b);
        let run = check(&p, &[]);
        assert_eq!(run.code(), 0, "{name}: {}", run.stderr);
        let report = run.json();
        let read = &report["source"]["read"];
        assert_eq!(read["skipped_malformed"], 1, "{name}: {read}");
        assert_eq!(report["source"]["packets"], 2, "{name}");
    }
    // Link type 0xFFFF: unsupported, naming the header field.
    let mut b = full.clone();
    b[20..24].copy_from_slice(&0xFFFFu32.to_le_bytes());
    let p = write(dir.path(), "link.pcap", &b);
    check(&p, &[]).assert_input_error(&p, 20);

    // pcapng block lengths: 2³²−1 (not a multiple of 4), 2³²−4 (over the limit).
    let ng = pcap_file(true);
    let idb = le32(&ng, 4);
    let epb = idb + le32(&ng, idb + 4);
    for len in [u32::MAX, u32::MAX - 3] {
        let mut b = ng.clone();
        b[epb + 4..epb + 8].copy_from_slice(&len.to_le_bytes());
        let p = write(dir.path(), "blk.pcapng", &b);
        let run = check(&p, &[]);
        run.assert_input_error(&p, epb as u64);
        assert!(run.stderr.contains("block length"), "{}", run.stderr);
        assert_bounded(&read(&p, &opts(false)), b.len(), "block length");
    }
}

/// Regression: a pcapng packet time past u64 nanoseconds saturated to u64::MAX, which then
/// overflowed the pipeline's clock. Times past 2262 are now corrupt, at that block.
#[test]
fn pcapng_timestamp_past_2262_is_corrupt_not_a_clock_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let ng = pcap_file(true);
    let idb = le32(&ng, 4);
    let epb = idb + le32(&ng, idb + 4);
    let second = epb + le32(&ng, epb + 4);
    let mut b = ng.clone();
    // Enhanced packet block: type, length, interface id, timestamp high, timestamp low.
    b[second + 12..second + 20].fill(0xFF);
    let p = write(dir.path(), "ts.pcapng", &b);
    let run = check(&p, &[]);
    run.assert_input_error(&p, second as u64);
    assert!(run.stderr.contains("latest arrival time"), "{}", run.stderr);
    inspect(&p, &[]).assert_input_error(&p, second as u64);
}

// ---------------------------------------------------------------------------------------------
// JSON lines.

fn jsonl_file() -> Vec<u8> {
    let mut out = String::new();
    for (i, pl) in payloads().iter().enumerate() {
        let text = std::str::from_utf8(pl).unwrap();
        if i == 1 {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(pl);
            out += &format!(
                "{{\"ts_ns\":{},\"payload_b64\":\"{b64}\"}}\n",
                T0_NS + i as u64
            );
        } else {
            out += &format!(
                "{{\"ts_ns\":{},\"payload\":\"{text}\"}}\n",
                T0_NS + i as u64
            );
        }
    }
    out.into_bytes()
}

#[test]
fn jsonl_cut_at_every_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let full = jsonl_file();
    for (at, cut) in jsonl_cuts(&full) {
        let what = format!("jsonl cut at {at} of {}", full.len());
        let p = write(dir.path(), "cut.jsonl", &full[..at]);
        assert_read_outcome(&p, cut, at, &what);
        if at > 0 {
            assert_cli_outcome(&p, cut, &what);
        }
    }
}

#[test]
fn jsonl_bad_lines_name_their_line_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let good = format!("{{\"ts_ns\":{T0_NS},\"payload\":\"a:1|c\"}}\n");
    let second = good.len() as u64;
    for (name, line) in [
        (
            "negative ts",
            b"{\"ts_ns\":-1,\"payload\":\"a:1|c\"}".to_vec(),
        ),
        (
            "ts past u64",
            b"{\"ts_ns\":18446744073709551616,\"payload\":\"a\"}".to_vec(),
        ),
        (
            "bad base64",
            b"{\"ts_ns\":1,\"payload_b64\":\"@@@\"}".to_vec(),
        ),
        ("no payload", b"{\"ts_ns\":1}".to_vec()),
        (
            "invalid utf-8",
            b"{\"ts_ns\":1,\"payload\":\"\xff\"}".to_vec(),
        ),
        ("not an object", b"[1,2]".to_vec()),
        ("flipped brace", b"}\"ts_ns\":1,\"payload\":\"a\"}".to_vec()),
    ] {
        let mut b = good.clone().into_bytes();
        b.extend_from_slice(&line);
        b.extend_from_slice(b"\n");
        b.extend_from_slice(good.as_bytes());
        let p = write(dir.path(), "bad.jsonl", &b);
        let run = check(&p, &[]);
        run.assert_input_error(&p, second);
        assert!(run.stderr.contains("line 2"), "{name}: {}", run.stderr);
        inspect(&p, &[]).assert_input_error(&p, second);
    }
}

/// Regression: `ts_ns` of u64::MAX overflowed the pipeline's clock (a panic, exit 101). Times
/// past 2262 are now a bad line, naming it.
#[test]
fn jsonl_ts_past_2262_is_a_bad_line_not_a_clock_overflow() {
    let dir = tempfile::tempdir().unwrap();
    for ts in [u64::MAX, i64::MAX as u64 + 1] {
        let good = format!("{{\"ts_ns\":{T0_NS},\"payload\":\"a:1|c\"}}\n");
        let text = format!("{good}{{\"ts_ns\":{ts},\"payload\":\"a:1|c\"}}\n");
        let p = write(dir.path(), "max.jsonl", text.as_bytes());
        for stop in ["end", "phase:5s", "t:5s"] {
            let run = check(&p, &["--stop", stop]);
            run.assert_input_error(&p, good.len() as u64);
            assert!(run.stderr.contains("latest arrival time"), "{}", run.stderr);
        }
    }
}

#[test]
fn jsonl_timestamps_zero_max_backwards() {
    let dir = tempfile::tempdir().unwrap();
    for (name, stamps) in [
        ("zero", vec![0u64, 0]),
        ("max", vec![T0_NS, i64::MAX as u64]),
        ("backwards", vec![T0_NS + 30_000_000_000, T0_NS, 5]),
    ] {
        let text: String = stamps
            .iter()
            .map(|t| format!("{{\"ts_ns\":{t},\"payload\":\"a:1|c\\nd:2|d\"}}\n"))
            .collect();
        let p = write(dir.path(), "ts.jsonl", text.as_bytes());
        // Every datagram is sent at the end; an earlier stop may come before some.
        for stop in ["end", "packets:1", "random:3"] {
            let run = run([
                "check".as_ref(),
                p.as_os_str(),
                "--stop".as_ref(),
                stop.as_ref(),
                "--export-json".as_ref(),
                "-".as_ref(),
                "--quiet".as_ref(),
            ]);
            assert!(matches!(run.code(), 0 | 1), "{name} {stop}: {}", run.stderr);
            for s in run.json()["scenarios"].as_array().unwrap() {
                let one = serde_json::json!({ "scenarios": [s] });
                let c = counts(&one);
                if stop == "end" {
                    assert_eq!(c["sent"], 2 * stamps.len() as u64, "{name} {stop}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lines: text sources, and what any source's datagrams may hold.

/// A text file of `lines` run through `check` with a read buffer large enough for every line
/// (so they reach the parser whole): the counts of its only scenario.
fn check_lines(dir: &Path, lines: &[u8]) -> serde_json::Value {
    let cfg = write(dir, "big-buffer.toml", b"dogstatsd_buffer_size = 1048576\n");
    let p = write(dir, "lines.txt", lines);
    let run = check(&p, &["--config", cfg.to_str().unwrap()]);
    assert!(matches!(run.code(), 0 | 4), "{}", run.stderr);
    counts(&run.json())
}

#[test]
fn invalid_utf8_in_names_tags_and_set_values_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let c = check_lines(
        dir.path(),
        b"bad\xffname:1|c\nok:1|c|#env:\xfe\nusers:\xc3|s\n_sc|chk\xff|0\n_e{2,2}:\xff\xfe|ab\ngood:1|c\n",
    );
    assert_eq!(rejected_for(&c, "invalid_utf8"), 5, "{c}");
    assert_eq!(c["flushed"], 1, "{c}");
}

#[test]
fn nan_inf_and_bad_numbers_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let c = check_lines(
        dir.path(),
        b"g:nan|g\ng:NaN|g\ng:inf|g\ng:-Inf|g\nh:1:nan|h\nc:1e999|c\nc:0x|c\ngood:1|c\n",
    );
    // Each value of a multi-value line is a sample; a non-finite one is dropped by the
    // sampler (as the agent does), the finite one beside it is kept. 1e999 and 0x do not
    // parse as numbers.
    assert_eq!(c["sent"], 9, "{c}");
    assert_eq!(rejected_for(&c, "non_finite_value"), 5, "{c}");
    assert_eq!(rejected_for(&c, "invalid_value"), 2, "{c}");
    assert_eq!(c["flushed"], 2, "{c}");
}

#[test]
fn ten_thousand_tags_and_64_kib_lines() {
    let dir = tempfile::tempdir().unwrap();
    let tags: Vec<String> = (0..10_000).map(|i| format!("k{i}:v{i}")).collect();
    let dup = vec!["a:b"; 10_000].join(",");
    let long_name = "n".repeat(64 << 10);
    let long_set = "v".repeat(64 << 10);
    let long_tag = "t".repeat(64 << 10);
    let text = format!(
        "many:1|c|#{}\ndup:1|c|#{dup}\n{long_name}:1|c\nset:{long_set}|s\ntag:1|g|#{long_tag}\n",
        tags.join(",")
    );
    let c = check_lines(dir.path(), text.as_bytes());
    assert_eq!(c["sent"], 5, "{c}");
    assert_eq!(c["flushed"], 5, "{c}");
    // With the default 8 KiB read buffer every one of these datagrams is cut at the socket:
    // its line is lost there, counted at that stage (and what the server reads of it instead
    // is parsed or rejected, counted too).
    let p = write(dir.path(), "long.txt", text.as_bytes());
    let run = check(&p, &[]);
    assert!(matches!(run.code(), 0 | 4), "{}", run.stderr);
    let c = counts(&run.json());
    assert_eq!(c["lost_by_stage"]["socket"], 5, "{c}");
}

#[test]
fn empty_tags_and_fields_are_accounted() {
    let dir = tempfile::tempdir().unwrap();
    let c = check_lines(
        dir.path(),
        b"a:1|c|#\nb:1|c|#,,\nc:1|c|#,x:y,\nd:1|c||\ne:1|c|\n:1|c\nf:|c\ng:1|\n_sc||0\n",
    );
    assert_eq!(c["sent"].as_u64().unwrap(), 9, "{c}");
    assert_eq!(rejected_for(&c, "empty_name"), 1, "{c}");
    assert!(rejected_for(&c, "missing_value") >= 1, "{c}");
    assert!(rejected_for(&c, "missing_type") >= 1, "{c}");
    assert_eq!(rejected_for(&c, "malformed_service_check"), 1, "{c}");
}

#[test]
fn line_timestamps_zero_max_and_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let c = check_lines(
        dir.path(),
        b"a:1|g|T0\na:1|g|T-1\na:1|g|T9223372036854775807\na:1|g|T9223372036854775808\n\
          a:1|g|T1700000100\na:1|g|T1700000000\na:1|g|T1\n",
    );
    assert_eq!(c["sent"], 7, "{c}");
    assert_eq!(rejected_for(&c, "bad_timestamp"), 3, "{c}");
    assert_eq!(c["flushed"], 4, "{c}");
}

#[test]
fn event_lengths_of_2_32_minus_1_and_more_are_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let c = check_lines(
        dir.path(),
        b"_e{4294967295,4294967295}:t|x\n_e{18446744073709551615,1}:t|x\n\
          _e{99999999999999999999999,1}:t|x\n_e{1,-1}:t|x\n_e{0,1}:|x\n_e{1,1}:t|x\n",
    );
    assert_eq!(rejected_for(&c, "malformed_event"), 5, "{c}");
    assert_eq!(c["flushed"], 1, "{c}");
}

#[test]
fn text_cut_lines_are_rejected_and_counted_never_lost_silently() {
    let dir = tempfile::tempdir().unwrap();
    let full = b"page.views:1|c|#env:prod\nlat:5|ms\n_sc|db|0|m:ok\n";
    // Every cut of a line: a shorter line, parsed or rejected with a reason.
    for at in 1..full.len() {
        let p = write(dir.path(), "cut.txt", &full[..at]);
        let run = check(&p, &[]);
        assert!(matches!(run.code(), 0 | 4), "cut at {at}: {}", run.stderr);
        let c = counts(&run.json());
        assert!(c["sent"].as_u64().unwrap() >= 1, "cut at {at}: {c}");
    }
}

/// Endless input: a reader stops at its line cap, at offset 0, in bounded time and memory.
#[test]
fn endless_input_stops_at_the_line_cap() {
    let zero = Path::new("/dev/zero");
    check(zero, &[]).assert_input_error(zero, 0);
    inspect(zero, &[]).assert_input_error(zero, 0);
    for format in ["jsonl", "capture", "pcap", "pcapng"] {
        let run = check(zero, &["--input-format", format]);
        run.assert_input_error(zero, 0);
    }
}

/// Regression: a text rate so small that a datagram's time passes u64 nanoseconds was
/// saturated to u64::MAX by a float cast and overflowed the pipeline's clock.
#[test]
fn text_rate_that_runs_past_2262_is_an_error_at_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.txt", b"a:1|c\nb:1|c\n");
    let run = check(&p, &["--rate", "1e-300"]);
    run.assert_input_error(&p, 6);
    assert!(run.stderr.contains("line 2"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Generator specs and settings files (configuration: exit 2, naming what is wrong).

#[test]
fn bad_generator_specs_are_usage_errors_naming_the_key() {
    for (spec, key) in [
        ("gen:seed", "seed"),
        ("gen:seed=x", "seed"),
        ("gen:seed=-1", "seed"),
        ("gen:contexts=0", "contexts"),
        ("gen:contexts=4294967295", "contexts"),
        ("gen:contexts=18446744073709551616", "contexts"),
        ("gen:samples=1e300", "samples"),
        ("gen:samples=nan", "samples"),
        ("gen:packets=0", "packets"),
        ("gen:duration=99999999999h", "duration"),
        ("gen:start_ts=18446744073709551615", "start_ts"),
        (
            "gen:tag_keys=1000,tag_cardinality=100000",
            "tag_cardinality",
        ),
        ("gen:bogus=1", "bogus"),
        ("gen:seed=1,seed=2", "seed"),
    ] {
        let run = run(["check", spec, "--quiet"]);
        assert_eq!(run.code(), 2, "{spec}: {}", run.stderr);
        assert!(run.stderr.contains(key), "{spec}: {}", run.stderr);
    }
}

/// Regression: a generated stream starting past 2262 (`start_ts` up to 1e10 s was allowed)
/// had arrival times the pipeline's clock could not count to the end of.
#[test]
fn generator_stream_past_2262_is_refused() {
    let run = run(["check", "gen:start_ts=9300000000,packets=10", "--quiet"]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("start_ts"), "{}", run.stderr);
}

const CONFIG_TOML: &str = "dogstatsd_buffer_size = 8192\ndogstatsd_queue_size = 64\n\
    dogstatsd_packet_buffer_flush_timeout = \"100ms\"\n\
    histogram_percentiles = [\"0.95\", \"0.5\"]\ndogstatsd_flush_incomplete_buckets = true\n";

/// Offsets of a TOML or JSON settings text worth cutting at: each line start and end, after
/// each `=` / `:`, each quote and bracket.
fn settings_cuts(text: &str) -> Vec<usize> {
    let mut v = vec![0, text.len()];
    for (i, ch) in text.char_indices() {
        if matches!(ch, '\n' | '=' | ':' | '"' | '[' | ']' | '{' | '}' | ',') {
            v.extend([i, i + 1]);
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn settings_files_cut_at_every_boundary_are_read_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(dir.path(), "s.txt", b"a:1|c\n");
    let json = r#"{"dogstatsd_buffer_size": 8192, "histogram_aggregates": ["max", "count"]}"#;
    let gen = "seed = 7\ncontexts = 20\npackets = 30\n[weights]\nc = 1\ng = 2\n";
    for (name, text, flag) in [
        ("c.toml", CONFIG_TOML, "--config"),
        ("c.json", json, "--config"),
        ("g.toml", gen, "--generator"),
    ] {
        for at in settings_cuts(text) {
            let p = write(dir.path(), name, &text.as_bytes()[..at]);
            let mut args = vec!["check".to_string()];
            if flag == "--config" {
                args.push(source.display().to_string());
            }
            args.extend([flag.to_string(), p.display().to_string(), "--quiet".into()]);
            let run = run(&args);
            let what = format!("{name} cut at {at}: {:?}", &text[..at]);
            match run.code() {
                0 => {}
                2 => assert!(
                    run.stderr.contains(&p.display().to_string()),
                    "{what}: {}",
                    run.stderr
                ),
                other => panic!("{what}: exit {other}: {}", run.stderr),
            }
        }
    }
}

/// Regression: settings past any sane bound (2³²−1 packets per buffer, 10⁸ workers, a bucket
/// of 10¹² s, periods of 2⁶⁴−1 ms) aborted on a failed allocation or panicked on an
/// overflow. Each is now a usage error naming the key.
#[test]
fn settings_past_their_bounds_are_usage_errors_not_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(dir.path(), "s.txt", b"a:1|c\n");
    let keys = [
        "buffer_size",
        "packet_buffer_size",
        "queue_size",
        "workers",
        "pipeline_count",
        "batch_size",
        "bucket_seconds",
        "flush_interval_s",
        "expiry_seconds",
        "packet_buffer_flush_timeout_ms",
        "queue_latency_ms",
    ];
    for key in keys {
        for value in ["4294967295", "9223372036854775807", "18446744073709551615"] {
            let p = write(
                dir.path(),
                "c.json",
                format!("{{\"{key}\": {value}}}").as_bytes(),
            );
            let run = check(&source, &["--config", p.to_str().unwrap()]);
            assert_eq!(run.code(), 2, "{key}={value}: {}", run.stderr);
            assert!(run.stderr.contains(key), "{key}={value}: {}", run.stderr);
        }
    }
    // Each within its bound, but together too many batcher slots.
    let p = write(
        dir.path(),
        "c.json",
        br#"{"workers": 1024, "pipeline_count": 1024}"#,
    );
    let run = check(&source, &["--config", p.to_str().unwrap()]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("batch_size"), "{}", run.stderr);
    let run = check(&source, &["--workers", "100000000"]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
}

/// Regression: `record --buffer-size 4294967295` allocated a 4 GiB read buffer.
#[test]
fn record_buffer_size_past_its_bound_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.dog");
    let run = run([
        "record".as_ref(),
        "--listen".as_ref(),
        "udp://127.0.0.1:0".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        "--buffer-size".as_ref(),
        "4294967295".as_ref(),
    ]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("--buffer-size"), "{}", run.stderr);
}

/// Regression: settings files were read whole with no cap: `--config /dev/zero` took all
/// the memory there was. They are now capped at 1 MiB, and invalid UTF-8 names its byte.
#[test]
fn settings_files_are_read_capped_and_bad_bytes_named() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(dir.path(), "s.txt", b"a:1|c\n");
    let zero = "/dev/zero";
    let run = check(&source, &["--config", zero]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("larger than"), "{}", run.stderr);
    let run = self::run(["check", "--generator", zero, "--quiet"]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("larger than"), "{}", run.stderr);

    let mut b = CONFIG_TOML.as_bytes().to_vec();
    let at = b.iter().position(|&c| c == b'8').unwrap();
    b[at] = 0xFF;
    let p = write(dir.path(), "u.toml", &b);
    let run = check(&source, &["--config", p.to_str().unwrap()]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("byte offset {at}")),
        "{}",
        run.stderr
    );
    let p = write(dir.path(), "u.toml", &b);
    let run = self::run(["check".as_ref(), "--generator".as_ref(), p.as_os_str()]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("byte offset {at}")),
        "{}",
        run.stderr
    );
}

#[test]
fn port_filter_any_reads_the_same_cut_pcap() {
    // The port filter changes what counts as a datagram, not how a cut is found.
    let dir = tempfile::tempdir().unwrap();
    let pcap = pcap_file(false);
    let p = write(dir.path(), "cut.pcap", &pcap[..pcap.len() - 3]);
    let r = read(
        &p,
        &OpenOptions {
            port: PortFilter::Any,
            ..Default::default()
        },
    );
    assert!(r.error.unwrap().is_truncated());
    assert_eq!(r.datagrams.len(), 2);
}

/// The allocation recorder behind every bound of this file sees what a reader would do
/// wrong: one buffer sized by a length, zeroed or not.
#[test]
fn the_allocation_recorder_sees_a_buffer_sized_by_a_length() {
    let claimed = std::hint::black_box(5usize << 20);
    let (v, largest, peak) = allocations_of(|| vec![0u8; claimed]);
    assert!(largest >= claimed && peak >= claimed, "{largest} {peak}");
    drop(v);
    let (v, largest, _) = allocations_of(|| Vec::<u8>::with_capacity(claimed));
    assert!(largest >= claimed, "{largest}");
    drop(v);
    let r = Read {
        datagrams: Vec::new(),
        error: None,
        stats: Default::default(),
        largest,
        peak: 0,
    };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_bounded(&r, 100, "a 5 MiB buffer")
    }));
    assert!(
        caught.is_err(),
        "a 5 MiB allocation for 100 bytes must fail the bound"
    );
}
