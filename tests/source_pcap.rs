//! pcap and pcapng: every link type and byte order, port filtering, other traffic, IP
//! fragments, snap-length cuts, truncated files.

mod source_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lastbucket::source::pcap::{
    build_frame, pcap_header_bytes, pcap_record_header, write_pcap, write_pcap_with, LinkType,
    PcapWriteOptions, PortFilter,
};
use lastbucket::source::{open, Datagram, InputFormat, OpenOptions, SourceError, SourceKind};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{PcapNgWriter, RawBlock};
use pcap_file::DataLink;
use source_common::*;

fn sample(n: usize) -> Vec<Datagram> {
    (0..n)
        .map(|i| Datagram {
            ts_ns: 1_700_000_000_000_000_000 + i as u64 * 1_000_001,
            payload: format!("m{i}:{i}|c|#a:b\nn{i}:1|g").into_bytes(),
        })
        .collect()
}

/// A classic pcap (LE, ns) of Ethernet frames: (ts, captured bytes, original length).
fn pcap_of(records: &[(u64, Vec<u8>, u32)]) -> Vec<u8> {
    pcap_of_link(1, records)
}

fn pcap_of_link(link: u32, records: &[(u64, Vec<u8>, u32)]) -> Vec<u8> {
    let mut out = pcap_header_bytes(link, 262_144, true, false);
    for (ts, frame, orig) in records {
        out.extend_from_slice(
            &pcap_record_header(*ts, frame.len() as u32, *orig, true, false).unwrap(),
        );
        out.extend_from_slice(frame);
    }
    out
}

fn eth(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in b.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 header written by hand.
fn ipv4(proto: u8, id: u16, more: bool, frag_offset: usize, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let flags = if more { 0x2000 } else { 0 } | (frag_offset / 8) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&flags.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// An IPv6 packet with a fragment header, by hand.
fn ipv6_frag(id: u32, more: bool, frag_offset: usize, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[44, 64]);
    h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    let off = (frag_offset as u16) | u16::from(more);
    h.extend_from_slice(&[17, 0]);
    h.extend_from_slice(&off.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// A UDP header + payload (checksum 0 = none, legal for IPv4).
fn udp(dst: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&5555u16.to_be_bytes());
    u.extend_from_slice(&dst.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn full(ts: u64, frame: Vec<u8>) -> (u64, Vec<u8>, u32) {
    let n = frame.len() as u32;
    (ts, frame, n)
}

fn tmp_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    write_tmp(dir.path(), name, bytes)
}

#[test]
fn pcap_header_layout_by_hand() {
    assert_eq!(
        pcap_header_bytes(1, 65_535, false, false),
        [
            0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 1, 0, 0,
            0
        ]
    );
    assert_eq!(
        &pcap_header_bytes(1, 65_535, true, true)[..4],
        &[0xA1, 0xB2, 0x3C, 0x4D]
    );
    assert_eq!(
        pcap_record_header(1_500_000_123, 10, 20, false, false).unwrap(),
        [1, 0, 0, 0, 0x20, 0xA1, 0x07, 0, 10, 0, 0, 0, 20, 0, 0, 0]
    );
}

#[test]
fn round_trip_every_link_type_ip_version_byte_order_and_container() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample(25);
    let links = [
        LinkType::Null,
        LinkType::Ethernet,
        LinkType::RawIp,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
    ];
    for link in links {
        for ipv6 in [false, true] {
            for pcapng in [false, true] {
                for big_endian in [false, true] {
                    let opts = PcapWriteOptions {
                        link,
                        ipv6,
                        pcapng,
                        big_endian,
                        ..Default::default()
                    };
                    let p = dir.path().join("rt.pcap");
                    assert_eq!(write_pcap_with(&p, &data, &opts).unwrap(), 25);
                    let src = open(&p, &OpenOptions::default()).unwrap();
                    assert_eq!(src.kind, SourceKind::Pcap);
                    let want_format = if pcapng {
                        InputFormat::Pcapng
                    } else {
                        InputFormat::Pcap
                    };
                    assert_eq!(src.format, want_format);
                    assert!(src.description.contains("port 8125"), "{}", src.description);
                    let (got, stats) = read_ok(&p, &OpenOptions::default());
                    assert_eq!(got, data, "{opts:?}");
                    assert!(stats.complete);
                    assert_eq!(stats.records_read, if pcapng { 27 } else { 25 });
                    assert_eq!(stats.bytes_read, std::fs::metadata(&p).unwrap().len());
                }
            }
        }
    }
}

#[test]
fn microsecond_pcap_keeps_microseconds() {
    let dir = tempfile::tempdir().unwrap();
    let data = vec![dg(1_700_000_000_123_456_789, b"a:1|c")];
    let opts = PcapWriteOptions {
        nanosecond: false,
        ..Default::default()
    };
    let p = dir.path().join("us.pcap");
    write_pcap_with(&p, &data, &opts).unwrap();
    assert_eq!(&std::fs::read(&p).unwrap()[..4], &[0xD4, 0xC3, 0xB2, 0xA1]);
    let (got, _) = read_ok(&p, &OpenOptions::default());
    assert_eq!(got, vec![dg(1_700_000_000_123_456_000, b"a:1|c")]);
}

#[test]
fn port_filter_and_other_traffic_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample(3);
    let p = dir.path().join("p9000.pcap");
    write_pcap(&p, &data, 9000, LinkType::Ethernet).unwrap();
    let (got, stats) = read_ok(&p, &OpenOptions::default());
    assert!(got.is_empty());
    assert_eq!(stats.skipped_other_port, 3);
    let opts = OpenOptions {
        port: PortFilter::Port(9000),
        ..Default::default()
    };
    assert_eq!(read_ok(&p, &opts).0, data);
    let opts = OpenOptions {
        port: PortFilter::Any,
        ..Default::default()
    };
    assert_eq!(read_ok(&p, &opts).0, data);

    // A mix: TCP, ARP, UDP elsewhere, UDP to 8125, a garbage IPv4 packet.
    let mut tcp = Vec::new();
    etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(1234, 8125, 1, 1000)
        .write(&mut tcp, b"not dogstatsd")
        .unwrap();
    let arp = eth(0x0806, &[0; 28]);
    let other = eth(0x0800, &ipv4(17, 1, false, 0, &udp(53, b"dns")));
    let ours = eth(0x0800, &ipv4(17, 2, false, 0, &udp(8125, b"x:1|c")));
    let garbage = eth(0x0800, &[0x45, 0, 0, 1]);
    let bytes = pcap_of(&[
        full(1, tcp),
        full(2, arp),
        full(3, other),
        full(4, ours),
        full(5, garbage),
    ]);
    let p = tmp_file(&dir, "mix.pcap", &bytes);
    let (got, stats) = read_ok(&p, &OpenOptions::default());
    assert_eq!(got, vec![dg(4, b"x:1|c")]);
    assert_eq!(stats.skipped_non_udp, 2);
    assert_eq!(stats.skipped_other_port, 1);
    assert_eq!(stats.skipped_malformed, 1);
    assert_eq!(stats.records_read, 5);

    // What was skipped reaches the user: inspect (text and JSON) and the check report.
    let bin = || assert_cmd::Command::cargo_bin("lastbucket").unwrap();
    let out = bin()
        .args(["inspect", "--format", "json"])
        .arg(&p)
        .output()
        .unwrap();
    let inspect: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inspect["read"]["skipped_non_udp"], 2);
    assert_eq!(inspect["read"]["skipped_other_port"], 1);
    assert_eq!(inspect["read"]["skipped_malformed"], 1);
    let skipped = "skipped packets: 2 not UDP, 1 UDP to another port, 1 malformed headers";
    bin()
        .arg("inspect")
        .arg(&p)
        .assert()
        .success()
        .stdout(predicates::str::contains(skipped));
    let out = bin()
        .arg("check")
        .arg(&p)
        .args(["--export-json", "-", "--quiet"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["source"]["read"]["skipped_non_udp"], 2, "{report}");
    assert_eq!(report["source"]["read"]["records_read"], 5);
    bin()
        .arg("check")
        .arg(&p)
        .assert()
        .success()
        .stdout(predicates::str::contains(skipped));
}

#[test]
fn ipv4_fragments_are_reassembled_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let payload: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let dgram = udp(8125, &payload);
    let chunks: Vec<(usize, &[u8])> = dgram
        .chunks(1480)
        .enumerate()
        .map(|(i, c)| (i * 1480, c))
        .collect();
    let n = chunks.len();
    let frag = |i: usize, id: u16| {
        let (off, c) = chunks[i];
        eth(0x0800, &ipv4(17, id, i + 1 < n, off, c))
    };
    // In order, then reversed (the last fragment first), interleaved with a whole packet.
    let whole = eth(0x0800, &ipv4(17, 9, false, 0, &udp(8125, b"w:1|c")));
    let bytes = pcap_of(&[
        full(10, frag(0, 1)),
        full(11, frag(1, 1)),
        full(12, frag(2, 1)),
        full(20, frag(2, 2)),
        full(21, whole),
        full(22, frag(1, 2)),
        full(23, frag(0, 2)),
    ]);
    let p = tmp_file(&dir, "frag.pcap", &bytes);
    let (got, stats) = read_ok(&p, &OpenOptions::default());
    assert_eq!(
        got,
        vec![dg(12, &payload), dg(21, b"w:1|c"), dg(23, &payload)]
    );
    assert_eq!(stats.fragments, 6);
    assert_eq!(stats.reassembled, 2);
    assert_eq!(stats.fragments_dropped, 0);
}

#[test]
fn ipv6_fragments_are_reassembled_and_incomplete_ones_counted() {
    let dir = tempfile::tempdir().unwrap();
    let payload = vec![b'z'; 2000];
    let dgram = udp(8125, &payload);
    let (a, b) = dgram.split_at(1232);
    let bytes = pcap_of(&[
        full(1, eth(0x86DD, &ipv6_frag(7, true, 0, a))),
        full(2, eth(0x86DD, &ipv6_frag(7, false, 1232, b))),
        // A datagram whose second fragment never comes.
        full(3, eth(0x86DD, &ipv6_frag(8, true, 0, a))),
        // IPv4 too.
        full(4, eth(0x0800, &ipv4(17, 3, true, 0, &dgram[..1480]))),
    ]);
    let p = tmp_file(&dir, "frag6.pcap", &bytes);
    let (got, stats) = read_ok(&p, &OpenOptions::default());
    assert!(
        got == vec![dg(2, &payload)],
        "{} datagrams, {stats:?}",
        got.len()
    );
    assert_eq!(stats.fragments, 4);
    assert_eq!(stats.reassembled, 1);
    assert_eq!(stats.fragments_dropped, 2);
}

#[test]
fn fragments_of_other_ports_are_skipped_after_reassembly() {
    let dir = tempfile::tempdir().unwrap();
    let dgram = udp(53, &[7u8; 1600]);
    let bytes = pcap_of(&[
        full(1, eth(0x0800, &ipv4(17, 5, true, 0, &dgram[..1480]))),
        full(2, eth(0x0800, &ipv4(17, 5, false, 1480, &dgram[1480..]))),
    ]);
    let p = tmp_file(&dir, "frag53.pcap", &bytes);
    let (got, stats) = read_ok(&p, &OpenOptions::default());
    assert!(got.is_empty());
    assert_eq!(stats.skipped_other_port, 1);
    assert_eq!(stats.fragments, 2);
}

#[test]
fn snap_length_cut_is_an_error_or_counted() {
    let dir = tempfile::tempdir().unwrap();
    let ours = eth(0x0800, &ipv4(17, 1, false, 0, &udp(8125, &[b'x'; 200])));
    let orig = ours.len() as u32;
    let cut = ours[..100].to_vec();
    let first = eth(0x0800, &ipv4(17, 2, false, 0, &udp(8125, b"a:1|c")));
    let first_len = first.len();
    let bytes = pcap_of(&[full(1, first), (2, cut, orig)]);
    let p = tmp_file(&dir, "snap.pcap", &bytes);
    let (got, e, _) = read_path(&p, &OpenOptions::default());
    assert_eq!(got, vec![dg(1, b"a:1|c")]);
    match e.expect("error") {
        SourceError::SnapLength {
            packet,
            offset,
            captured,
            original,
            datagrams_before,
            ..
        } => {
            assert_eq!(packet, 1);
            assert_eq!(offset, (24 + 16 + first_len) as u64);
            assert_eq!((captured, original), (100, orig));
            assert_eq!(datagrams_before, 1);
        }
        other => panic!("{other}"),
    }
    let (got, stats) = read_ok(&p, &truncating());
    assert_eq!(got, vec![dg(1, b"a:1|c")]);
    assert_eq!(stats.snaplen_cut, 1);

    // A cut TCP packet and a cut UDP packet to another port are other traffic: no error.
    let mut tcp = Vec::new();
    etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(1, 2, 3, 4)
        .write(&mut tcp, &[0; 500])
        .unwrap();
    let tcp_len = tcp.len() as u32;
    let dns = eth(0x0800, &ipv4(17, 3, false, 0, &udp(53, &[0; 500])));
    let dns_len = dns.len() as u32;
    let bytes = pcap_of(&[
        (1, tcp[..60].to_vec(), tcp_len),
        (2, dns[..60].to_vec(), dns_len),
    ]);
    let p = tmp_file(&dir, "snap-other.pcap", &bytes);
    let (got, stats) = read_ok(&p, &OpenOptions::default());
    assert!(got.is_empty());
    assert_eq!((stats.skipped_non_udp, stats.skipped_other_port), (1, 1));
    // Cut before the UDP header could be read: cannot prove it is not ours.
    let bytes = pcap_of(&[(1, ours[..20].to_vec(), orig)]);
    let p = tmp_file(&dir, "snap-early.pcap", &bytes);
    let (_, e, _) = read_path(&p, &OpenOptions::default());
    assert!(matches!(e, Some(SourceError::SnapLength { .. })));
}

#[test]
fn truncated_pcap_error_then_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample(4);
    let p = dir.path().join("full.pcap");
    write_pcap(&p, &data, 8125, LinkType::Ethernet).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let rec_len = (bytes.len() - 24) / 4; // equal-size records
    let cut_at = 24 + 2 * rec_len + 20;
    let p = tmp_file(&dir, "cut.pcap", &bytes[..cut_at]);
    let (got, e, _) = read_path(&p, &OpenOptions::default());
    assert_eq!(got, data[..2]);
    let e = e.unwrap();
    assert!(e.is_truncated(), "{e}");
    assert_eq!(e.offset(), Some((24 + 2 * rec_len) as u64));
    assert!(e.to_string().contains("packet 2"), "{e}");
    let (got, stats) = read_ok(&p, &truncating());
    assert_eq!(got, data[..2]);
    assert_eq!(stats.truncated_at, Some((24 + 2 * rec_len) as u64));
    // Every cut point gives a prefix.
    for cut in 24..bytes.len() {
        let p = tmp_file(&dir, "cut2.pcap", &bytes[..cut]);
        let (got, stats) = read_ok(&p, &truncating());
        assert_eq!(got, data[..got.len()]);
        assert_eq!(stats.truncated, (cut - 24) % rec_len != 0, "cut {cut}");
    }
    // A header cut short.
    let p = tmp_file(&dir, "head.pcap", &bytes[..10]);
    let opts = OpenOptions {
        format: Some(InputFormat::Pcap),
        ..Default::default()
    };
    let e = open(&p, &opts).unwrap_err();
    assert!(
        e.is_truncated() && e.to_string().contains("24-byte pcap header"),
        "{e}"
    );
}

#[test]
fn truncated_pcapng_block() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample(3);
    let p = dir.path().join("full.pcapng");
    let opts = PcapWriteOptions {
        pcapng: true,
        ..Default::default()
    };
    write_pcap_with(&p, &data, &opts).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let p = tmp_file(&dir, "cut.pcapng", &bytes[..bytes.len() - 5]);
    let (got, e, _) = read_path(&p, &OpenOptions::default());
    assert_eq!(got, data[..2]);
    let e = e.unwrap();
    assert!(e.is_truncated() && e.to_string().contains("block 4"), "{e}");
    let (got, stats) = read_ok(&p, &truncating());
    assert_eq!(got, data[..2]);
    assert!(stats.truncated);
}

#[test]
fn unsupported_link_types() {
    let dir = tempfile::tempdir().unwrap();
    let p = tmp_file(&dir, "wifi.pcap", &pcap_of_link(105, &[]));
    let e = open(&p, &OpenOptions::default()).unwrap_err();
    assert!(
        matches!(e, SourceError::Unsupported { .. }) && e.to_string().contains("105"),
        "{e}"
    );
}

fn pcapng_with(
    path: &Path,
    linktype: u32,
    options: Vec<InterfaceDescriptionOption<'static>>,
    packets: &[(u64, Vec<u8>)],
) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapNgWriter::new(f).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::from(linktype),
        snaplen: 0,
        options,
    })
    .unwrap();
    w.write_raw_block(&RawBlock {
        type_: 0x0BAD,
        initial_len: 16,
        body: vec![0; 4].into(),
        trailer_len: 16,
    })
    .unwrap();
    for (raw_ts, frame) in packets {
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_nanos(*raw_ts),
            original_len: frame.len() as u32,
            data: frame.as_slice().into(),
            options: vec![],
        })
        .unwrap();
    }
}

#[test]
fn pcapng_timestamp_resolution_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let frame = build_frame(b"a:1|c", &PcapWriteOptions::default()).unwrap();
    let p = dir.path().join("res.pcapng");
    // Default resolution: microseconds.
    pcapng_with(&p, 1, vec![], &[(1_700_000_000_123_456, frame.clone())]);
    let (got, stats) = read_ok(&p, &OpenOptions::default());
    assert_eq!(got, vec![dg(1_700_000_000_123_456_000, b"a:1|c")]);
    assert_eq!(stats.skipped_blocks, 1);
    // 2^-10 s units, plus a 100 s offset.
    pcapng_with(
        &p,
        1,
        vec![
            InterfaceDescriptionOption::IfTsResol(0x80 | 10),
            InterfaceDescriptionOption::IfTsOffset(100),
        ],
        &[(1024 * 3 + 512, frame.clone())],
    );
    let (got, _) = read_ok(&p, &OpenOptions::default());
    assert_eq!(got, vec![dg(103_500_000_000, b"a:1|c")]);
    // An interface of an unsupported link type carrying a packet.
    pcapng_with(&p, 105, vec![], &[(1, frame)]);
    let (_, e, _) = read_path(&p, &OpenOptions::default());
    assert!(matches!(e, Some(SourceError::Unsupported { .. })));
}

#[test]
fn loopback_family_in_either_byte_order() {
    let dir = tempfile::tempdir().unwrap();
    let ip = ipv4(17, 1, false, 0, &udp(8125, b"lo:1|c"));
    let mut le = 2u32.to_le_bytes().to_vec();
    le.extend_from_slice(&ip);
    let mut be = 2u32.to_be_bytes().to_vec();
    be.extend_from_slice(&ip);
    let mut other = 99u32.to_le_bytes().to_vec();
    other.extend_from_slice(&ip);
    let p = tmp_file(
        &dir,
        "lo.pcap",
        &pcap_of_link(0, &[full(1, le), full(2, be), full(3, other)]),
    );
    let (got, stats) = read_ok(&p, &OpenOptions::default());
    assert_eq!(got, vec![dg(1, b"lo:1|c"), dg(2, b"lo:1|c")]);
    assert_eq!(stats.skipped_non_udp, 1);
}
