//! pcap and pcapng files: the UDP datagrams to the DogStatsD port, with their packet times.
//!
//! Many users have a `tcpdump` of their traffic rather than an agent capture, so the tool reads
//! packet captures directly. Files are parsed with `pcap-file` (streaming, raw packets/blocks so
//! the reader knows every byte offset), packet layers with `etherparse`. Link types: Ethernet
//! (1), raw IP (101, 228, 229), Linux cooked SLL (113) and SLL2 (276, its 20-byte header parsed
//! here), BSD loopback (0, the family in the capturing host's byte order; and 108, network
//! order). IPv4 and IPv6.
//!
//! Nothing is dropped silently. Packets that are not UDP, UDP to another port, pcapng blocks
//! without packets and packets whose headers do not parse are counted in [`ReadStats`]. IP
//! fragments of UDP datagrams are reassembled (in memory, bounded: at most
//! [`MAX_PENDING_DATAGRAMS`] datagrams in flight, each at most 64 KiB, forgotten after
//! [`FRAGMENT_TIMEOUT_NS`] of packet time); fragments that never complete are counted as
//! dropped. A packet cut by the capture's snap length (captured < original length) whose
//! headers do not prove it is other traffic is an error naming the packet and offset — its
//! datagram would otherwise be silently short — or, with `allow_truncated`, counted and
//! skipped. A file that ends in the middle of a packet is truncated (error, or a clean end with
//! `truncated_at` recorded).
//!
//! [`ReadStats`]: super::ReadStats

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use etherparse::{
    EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, NetSlice, PacketBuilder, SlicedPacket,
    TransportSlice,
};
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgParser, PcapNgWriter};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

use super::error::{Position, SourceError};
use super::stats::StatsHandle;
use super::Datagram;

/// Default DogStatsD port.
pub const DEFAULT_PORT: u16 = 8125;
/// Datagrams being reassembled at once, at most; the oldest is dropped beyond.
pub const MAX_PENDING_DATAGRAMS: usize = 64;
/// A datagram whose fragments do not all arrive within this much packet time is dropped.
pub const FRAGMENT_TIMEOUT_NS: u64 = 30_000_000_000;
/// Largest reassembled IP payload (the IP length fields are 16 bits).
const MAX_REASSEMBLED: usize = 65_535;

/// Which UDP datagrams of a packet capture are DogStatsD traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortFilter {
    /// UDP datagrams to this destination port.
    Port(u16),
    /// Every UDP datagram.
    Any,
}

impl Default for PortFilter {
    fn default() -> Self {
        PortFilter::Port(DEFAULT_PORT)
    }
}

impl PortFilter {
    pub fn matches(self, dst_port: u16) -> bool {
        match self {
            PortFilter::Port(p) => p == dst_port,
            PortFilter::Any => true,
        }
    }
}

impl std::fmt::Display for PortFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortFilter::Port(p) => write!(f, "{p}"),
            PortFilter::Any => f.write_str("any"),
        }
    }
}

impl FromStr for PortFilter {
    type Err = String;

    /// A port number, or `any`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "any" {
            return Ok(PortFilter::Any);
        }
        s.parse::<u16>()
            .map(PortFilter::Port)
            .map_err(|_| format!("invalid port {s:?} (expected 0-65535 or \"any\")"))
    }
}

/// Link-layer types read (and written for tests), by their LINKTYPE number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// BSD loopback / null (0): 4-byte address family in the capturing host's byte order.
    Null,
    /// Ethernet II (1).
    Ethernet,
    /// Raw IP (101; also 228 = IPv4 only and 229 = IPv6 only when reading).
    RawIp,
    /// Linux cooked capture v1 (113).
    LinuxSll,
    /// Linux cooked capture v2 (276).
    LinuxSll2,
}

impl LinkType {
    /// The LINKTYPE number written to a file.
    pub fn number(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
        }
    }
}

fn link_name(link: u32) -> String {
    match link {
        0 => "null/loopback (0)".into(),
        1 => "ethernet (1)".into(),
        101 => "raw IP (101)".into(),
        108 => "OpenBSD loopback (108)".into(),
        113 => "linux SLL (113)".into(),
        228 => "raw IPv4 (228)".into(),
        229 => "raw IPv6 (229)".into(),
        276 => "linux SLL2 (276)".into(),
        n => format!("link type {n}"),
    }
}

fn link_supported(link: u32) -> bool {
    matches!(link, 0 | 1 | 101 | 108 | 113 | 228 | 229 | 276)
}

/// Where the network layer starts in a frame of some link type.
enum L3<'a> {
    Ethernet(&'a [u8]),
    EtherType(EtherType, &'a [u8]),
    Ip(&'a [u8]),
    NotIp,
    Short,
}

fn link_to_l3(link: u32, data: &[u8]) -> L3<'_> {
    match link {
        1 => L3::Ethernet(data),
        101 | 228 | 229 => L3::Ip(data),
        0 | 108 => {
            if data.len() < 4 {
                return L3::Short;
            }
            let raw: [u8; 4] = data[..4].try_into().expect("4 bytes");
            // The family is in the capturing host's byte order (network order for 108): the
            // small value of the two readings is the right one.
            let family = if link == 108 {
                u32::from_be_bytes(raw)
            } else {
                u32::from_le_bytes(raw).min(u32::from_be_bytes(raw))
            };
            match family {
                // AF_INET everywhere; AF_INET6 on Linux (10), NetBSD/OpenBSD (24),
                // FreeBSD (28), macOS (30).
                2 | 10 | 24 | 28 | 30 => L3::Ip(&data[4..]),
                _ => L3::NotIp,
            }
        }
        113 => {
            if data.len() < 16 {
                return L3::Short;
            }
            let proto = u16::from_be_bytes([data[14], data[15]]);
            L3::EtherType(EtherType(proto), &data[16..])
        }
        276 => {
            // SLL2: protocol (2), reserved (2), interface index (4), ARPHRD type (2),
            // packet type (1), address length (1), address (8).
            if data.len() < 20 {
                return L3::Short;
            }
            let proto = u16::from_be_bytes([data[0], data[1]]);
            L3::EtherType(EtherType(proto), &data[20..])
        }
        _ => L3::NotIp,
    }
}

/// What one packet turned out to be.
enum Outcome {
    Datagram {
        payload: Vec<u8>,
        reassembled: bool,
    },
    NonUdp,
    OtherPort,
    Malformed,
    /// A fragment kept for reassembly (or dropped when it can never complete).
    Fragment,
    /// Cut by the snap length and possibly DogStatsD traffic.
    Cut,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FragKey {
    src: [u8; 16],
    dst: [u8; 16],
    id: u32,
    v6: bool,
}

struct Pending {
    parts: Vec<(usize, Vec<u8>)>,
    total: Option<usize>,
    bytes: usize,
    first_ts: u64,
}

/// Bounded in-memory reassembly of fragmented UDP datagrams.
#[derive(Default)]
struct Defrag {
    pending: HashMap<FragKey, Pending>,
    /// Fragments dropped (evicted, timed out, malformed, left at the end).
    dropped: u64,
}

impl Defrag {
    fn add(
        &mut self,
        key: FragKey,
        offset: usize,
        more: bool,
        data: &[u8],
        ts: u64,
    ) -> Option<Vec<u8>> {
        self.expire(ts);
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_PENDING_DATAGRAMS {
            self.evict_oldest();
        }
        let p = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            parts: Vec::new(),
            total: None,
            bytes: 0,
            first_ts: ts,
        });
        let end = offset + data.len();
        if end > MAX_REASSEMBLED || p.bytes + data.len() > 2 * MAX_REASSEMBLED {
            let n = p.parts.len() as u64 + 1;
            self.pending.remove(&key);
            self.dropped += n;
            return None;
        }
        p.parts.push((offset, data.to_vec()));
        p.bytes += data.len();
        if !more {
            p.total = Some(end);
        }
        let total = p.total?;
        p.parts.sort_by_key(|(o, _)| *o);
        let mut covered = 0;
        for (o, d) in &p.parts {
            if *o > covered {
                return None;
            }
            covered = covered.max(o + d.len());
        }
        if covered < total {
            return None;
        }
        let p = self.pending.remove(&key).expect("present");
        let mut out = vec![0u8; total];
        for (o, d) in &p.parts {
            let n = d.len().min(total.saturating_sub(*o));
            out[*o..*o + n].copy_from_slice(&d[..n]);
        }
        Some(out)
    }

    fn expire(&mut self, now: u64) {
        let before: u64 = self.pending.values().map(|p| p.parts.len() as u64).sum();
        self.pending
            .retain(|_, p| now.saturating_sub(p.first_ts) <= FRAGMENT_TIMEOUT_NS);
        let after: u64 = self.pending.values().map(|p| p.parts.len() as u64).sum();
        self.dropped += before - after;
    }

    fn evict_oldest(&mut self) {
        if let Some(key) = self
            .pending
            .iter()
            .min_by_key(|(_, p)| p.first_ts)
            .map(|(k, _)| k.clone())
        {
            let p = self.pending.remove(&key).expect("present");
            self.dropped += p.parts.len() as u64;
        }
    }

    /// Drops what is left at the end of the capture.
    fn drain(&mut self) {
        self.dropped += self
            .pending
            .drain()
            .map(|(_, p)| p.parts.len() as u64)
            .sum::<u64>();
    }
}

/// Reads the UDP header of a reassembled IP payload.
fn udp_from_reassembled(buf: Vec<u8>, port: PortFilter) -> Outcome {
    if buf.len() < 8 {
        return Outcome::Malformed;
    }
    let dst = u16::from_be_bytes([buf[2], buf[3]]);
    let len = u16::from_be_bytes([buf[4], buf[5]]) as usize;
    if len < 8 || len > buf.len() {
        return Outcome::Malformed;
    }
    if !port.matches(dst) {
        return Outcome::OtherPort;
    }
    let mut buf = buf;
    buf.truncate(len);
    buf.drain(..8);
    Outcome::Datagram {
        payload: buf,
        reassembled: true,
    }
}

fn ip16(b: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..b.len()].copy_from_slice(b);
    out
}

/// The fields of an IPv6 fragment header that really fragments its packet.
struct V6Frag {
    offset: usize,
    more: bool,
    id: u32,
}

fn ipv6_fragment(v6: &etherparse::Ipv6Slice<'_>) -> Option<V6Frag> {
    let raw = v6
        .extensions()
        .clone()
        .into_iter()
        .find_map(|ext| match ext {
            etherparse::Ipv6ExtensionSlice::Fragment(f) => Some(f.slice()),
            _ => None,
        })?;
    // Next header (1), reserved (1), offset in 8-byte units (13 bits) | reserved (2) | M (1),
    // identification (4).
    let word = u16::from_be_bytes([raw[2], raw[3]]);
    let frag = V6Frag {
        offset: usize::from(word & 0xFFF8),
        more: word & 1 == 1,
        id: u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]),
    };
    // An "atomic fragment" (offset 0, no more) holds a whole datagram.
    (frag.offset != 0 || frag.more).then_some(frag)
}

/// Classifies a complete (not snap-length-cut) frame.
fn classify(
    l3: L3<'_>,
    port: PortFilter,
    ts: u64,
    defrag: &mut Defrag,
    frags: &mut u64,
) -> Outcome {
    let sliced = match l3 {
        L3::Ethernet(d) => SlicedPacket::from_ethernet(d),
        L3::EtherType(et, d) => SlicedPacket::from_ether_type(et, d),
        L3::Ip(d) => SlicedPacket::from_ip(d),
        L3::NotIp => return Outcome::NonUdp,
        L3::Short => return Outcome::Malformed,
    };
    let p = match sliced {
        Ok(p) => p,
        Err(_) => return Outcome::Malformed,
    };
    match &p.net {
        None => return Outcome::NonUdp,
        Some(NetSlice::Ipv4(v4)) if v4.payload().fragmented => {
            *frags += 1;
            let h = v4.header();
            if v4.payload().ip_number != IpNumber::UDP {
                return Outcome::NonUdp;
            }
            let key = FragKey {
                src: ip16(&h.source()),
                dst: ip16(&h.destination()),
                id: u32::from(h.identification()),
                v6: false,
            };
            let offset = usize::from(h.fragments_offset().byte_offset());
            return match defrag.add(key, offset, h.more_fragments(), v4.payload().payload, ts) {
                Some(buf) => udp_from_reassembled(buf, port),
                None => Outcome::Fragment,
            };
        }
        Some(NetSlice::Ipv6(v6)) => {
            // etherparse 0.16 misreads the offset and M flag of the IPv6 fragment header
            // (fixed upstream later), so the header is read here from its raw bytes.
            if let Some(frag) = ipv6_fragment(v6) {
                *frags += 1;
                if v6.payload().ip_number != IpNumber::UDP {
                    return Outcome::NonUdp;
                }
                let h = v6.header();
                let key = FragKey {
                    src: h.source(),
                    dst: h.destination(),
                    id: frag.id,
                    v6: true,
                };
                return match defrag.add(key, frag.offset, frag.more, v6.payload().payload, ts) {
                    Some(buf) => udp_from_reassembled(buf, port),
                    None => Outcome::Fragment,
                };
            }
        }
        Some(_) => {}
    }
    match &p.transport {
        Some(TransportSlice::Udp(u)) => {
            if port.matches(u.destination_port()) {
                Outcome::Datagram {
                    payload: u.payload().to_vec(),
                    reassembled: false,
                }
            } else {
                Outcome::OtherPort
            }
        }
        _ => Outcome::NonUdp,
    }
}

/// Classifies a frame cut by the snap length: other traffic when its headers say so, `Cut`
/// when it may be a DogStatsD datagram.
fn classify_cut(l3: L3<'_>, port: PortFilter, frags: &mut u64) -> Outcome {
    let lax = match l3 {
        L3::Ethernet(d) => LaxSlicedPacket::from_ethernet(d).ok(),
        L3::EtherType(et, d) => Some(LaxSlicedPacket::from_ether_type(et, d)),
        L3::Ip(d) => LaxSlicedPacket::from_ip(d).ok(),
        L3::NotIp => return Outcome::NonUdp,
        L3::Short => None,
    };
    let Some(p) = lax else {
        return Outcome::Cut;
    };
    let Some(net) = &p.net else {
        // No IP header: not IP at all (ARP, …), or its headers were cut before the IP layer.
        return if p.stop_err.is_some() {
            Outcome::Cut
        } else {
            Outcome::NonUdp
        };
    };
    let payload = match net {
        LaxNetSlice::Ipv4(s) => s.payload(),
        LaxNetSlice::Ipv6(s) => s.payload(),
    };
    if payload.fragmented {
        *frags += 1;
    }
    if payload.ip_number != IpNumber::UDP {
        return Outcome::NonUdp;
    }
    if !payload.fragmented && payload.payload.len() >= 4 {
        let dst = u16::from_be_bytes([payload.payload[2], payload.payload[3]]);
        if !port.matches(dst) {
            return Outcome::OtherPort;
        }
    }
    Outcome::Cut
}

/// One interface of a pcapng section.
#[derive(Debug, Clone)]
struct Iface {
    link: u32,
    snaplen: u32,
    tsresol: u8,
    tsoffset_s: u64,
}

/// Converts a pcapng timestamp in interface units to nanoseconds since the epoch.
fn pcapng_ts_ns(raw: u64, tsresol: u8, tsoffset_s: u64) -> u64 {
    let raw = u128::from(raw);
    let ns: u128 = if tsresol & 0x80 == 0 {
        let exp = u32::from(tsresol);
        if exp <= 9 {
            raw * 10u128.pow(9 - exp)
        } else if exp <= 38 {
            raw / 10u128.pow(exp - 9)
        } else {
            0
        }
    } else {
        let exp = u32::from(tsresol & 0x7F);
        raw.saturating_mul(1_000_000_000) >> exp
    };
    let total = ns.saturating_add(u128::from(tsoffset_s) * 1_000_000_000);
    u64::try_from(total).unwrap_or(u64::MAX)
}

/// Largest packet record or block accepted; a larger length is taken for corruption.
pub const MAX_PACKET_LEN: u32 = 16 << 20;

enum Inner {
    Pcap {
        parser: PcapParser,
        link: u32,
        nanos: bool,
        big_endian: bool,
    },
    Ng {
        parser: PcapNgParser,
        /// Byte order of the current section (for reading block lengths).
        big_endian: bool,
        ifaces: Vec<Iface>,
        last_ts: u64,
    },
}

/// Why reading a record or block by hand stopped.
enum ReadStop {
    /// The data ended at a record boundary.
    End,
    Truncated(String),
    Corrupt(String),
    Io(io::Error),
}

/// Streaming reader of a pcap or pcapng file; an iterator of the UDP datagrams it holds.
///
/// Records and blocks are framed here (one at a time through a `BufReader`, so every byte
/// offset is known and a cut is told from corruption) and parsed with `pcap-file`'s parsers.
pub struct PcapSource {
    inner: Inner,
    src: BufReader<File>,
    path: PathBuf,
    port: PortFilter,
    allow_truncated: bool,
    stats: StatsHandle,
    /// File offset of the next packet record / block.
    offset: u64,
    /// Index of the next packet record / block.
    index: u64,
    datagrams: u64,
    done: bool,
    defrag: Defrag,
    /// The current record / block, as read from the file.
    buf: Vec<u8>,
    /// The current frame (link-layer packet).
    frame: Vec<u8>,
}

fn u32_at(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let v: [u8; 4] = b[at..at + 4].try_into().expect("4 bytes");
    if big_endian {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

/// Reads exactly `n` more bytes onto `buf`; `Err(got)` when the data ends first.
fn read_more(src: &mut impl Read, buf: &mut Vec<u8>, n: u64) -> Result<Result<(), u64>, io::Error> {
    let got = src.take(n).read_to_end(buf)? as u64;
    Ok(if got < n { Err(got) } else { Ok(()) })
}

/// Reads one pcapng block into `buf` (cleared first). A section header block sets
/// `big_endian` from its byte-order magic.
/// `None` when a whole block was read.
fn read_ng_block(
    src: &mut impl Read,
    buf: &mut Vec<u8>,
    big_endian: &mut bool,
) -> Option<ReadStop> {
    buf.clear();
    match read_more(src, buf, 8) {
        Err(e) => return Some(ReadStop::Io(e)),
        Ok(Err(0)) => return Some(ReadStop::End),
        Ok(Err(n)) => {
            return Some(ReadStop::Truncated(format!(
                "an 8-byte block header, got {n} bytes"
            )))
        }
        Ok(Ok(())) => {}
    }
    if buf[..4] == [0x0A, 0x0D, 0x0D, 0x0A] {
        match read_more(src, buf, 4) {
            Err(e) => return Some(ReadStop::Io(e)),
            Ok(Err(_)) => {
                return Some(ReadStop::Truncated(
                    "the section header's byte-order magic".into(),
                ))
            }
            Ok(Ok(())) => {}
        }
        *big_endian = match buf[8..12] {
            [0x1A, 0x2B, 0x3C, 0x4D] => true,
            [0x4D, 0x3C, 0x2B, 0x1A] => false,
            _ => {
                return Some(ReadStop::Corrupt(format!(
                    "bad section header byte-order magic {:02X?}",
                    &buf[8..12]
                )))
            }
        };
    }
    let len = u32_at(buf, 4, *big_endian);
    if len % 4 != 0 || len < 12 || (len as usize) < buf.len() {
        return Some(ReadStop::Corrupt(format!("bad block length {len}")));
    }
    if len > MAX_PACKET_LEN {
        return Some(ReadStop::Corrupt(format!(
            "block length {len} is larger than the {MAX_PACKET_LEN}-byte limit"
        )));
    }
    let have = buf.len() as u64;
    match read_more(src, buf, u64::from(len) - have) {
        Err(e) => Some(ReadStop::Io(e)),
        Ok(Err(got)) => Some(ReadStop::Truncated(format!(
            "a {len}-byte block, only {} bytes left",
            have + got
        ))),
        Ok(Ok(())) => None,
    }
}

impl PcapSource {
    /// `start`: offset and index of the first record / block after the file header.
    fn new(
        inner: Inner,
        src: BufReader<File>,
        path: &Path,
        port: PortFilter,
        allow_truncated: bool,
        stats: StatsHandle,
        start: (u64, u64),
    ) -> Self {
        let (offset, index) = start;
        stats.update(|s| {
            s.bytes_read = offset;
            s.records_read = index;
        });
        PcapSource {
            inner,
            src,
            path: path.to_path_buf(),
            port,
            allow_truncated,
            stats,
            offset,
            index,
            datagrams: 0,
            done: false,
            defrag: Defrag::default(),
            buf: Vec::new(),
            frame: Vec::new(),
        }
    }

    /// Opens a classic pcap file and reads its header.
    pub fn open_pcap(
        path: &Path,
        port: PortFilter,
        allow_truncated: bool,
        stats: StatsHandle,
    ) -> Result<Self, SourceError> {
        let file = File::open(path).map_err(|e| SourceError::io(path, e))?;
        let mut src = BufReader::with_capacity(256 << 10, file);
        let mut head = Vec::with_capacity(24);
        match read_more(&mut src, &mut head, 24).map_err(|e| SourceError::io(path, e))? {
            Ok(()) => {}
            Err(n) => {
                return Err(SourceError::Truncated {
                    path: path.to_path_buf(),
                    at: Position::header(n),
                    expected: format!("a 24-byte pcap header, got {n} bytes"),
                    datagrams_before: 0,
                })
            }
        }
        let (_, parser) = PcapParser::new(&head).map_err(|e| SourceError::Corrupt {
            path: path.to_path_buf(),
            at: Position::header(0),
            detail: e.to_string(),
            datagrams_before: 0,
        })?;
        let h = parser.header();
        let link = u32::from(h.datalink) & 0xFFFF;
        if !link_supported(link) {
            return Err(SourceError::Unsupported {
                path: path.to_path_buf(),
                what: format!("pcap {}", link_name(link)),
            });
        }
        let inner = Inner::Pcap {
            parser,
            link,
            nanos: h.ts_resolution == TsResolution::NanoSecond,
            big_endian: h.endianness == Endianness::Big,
        };
        Ok(Self::new(
            inner,
            src,
            path,
            port,
            allow_truncated,
            stats,
            (24, 0),
        ))
    }

    /// Opens a pcapng file and reads its first section header.
    pub fn open_pcapng(
        path: &Path,
        port: PortFilter,
        allow_truncated: bool,
        stats: StatsHandle,
    ) -> Result<Self, SourceError> {
        let file = File::open(path).map_err(|e| SourceError::io(path, e))?;
        let mut src = BufReader::with_capacity(256 << 10, file);
        let mut buf = Vec::new();
        let mut big_endian = false;
        let corrupt = |detail: String| SourceError::Corrupt {
            path: path.to_path_buf(),
            at: Position::header(0),
            detail,
            datagrams_before: 0,
        };
        match read_ng_block(&mut src, &mut buf, &mut big_endian) {
            None => {}
            Some(ReadStop::Corrupt(d)) => return Err(corrupt(d)),
            Some(ReadStop::Io(e)) => return Err(SourceError::io(path, e)),
            Some(ReadStop::End) => {
                return Err(SourceError::Truncated {
                    path: path.to_path_buf(),
                    at: Position::header(0),
                    expected: "a pcapng section header block".into(),
                    datagrams_before: 0,
                })
            }
            Some(ReadStop::Truncated(expected)) => {
                return Err(SourceError::Truncated {
                    path: path.to_path_buf(),
                    at: Position::header(0),
                    expected,
                    datagrams_before: 0,
                })
            }
        }
        let (_, parser) = PcapNgParser::new(&buf).map_err(|e| corrupt(e.to_string()))?;
        let offset = buf.len() as u64;
        let inner = Inner::Ng {
            parser,
            big_endian,
            ifaces: Vec::new(),
            last_ts: 0,
        };
        Ok(Self::new(
            inner,
            src,
            path,
            port,
            allow_truncated,
            stats,
            (offset, 1),
        ))
    }

    /// A short description: format, link type, timestamp resolution.
    pub fn describe(&self) -> String {
        match &self.inner {
            Inner::Pcap {
                link,
                nanos,
                big_endian,
                ..
            } => format!(
                "pcap ({}, {} timestamps, {}-endian)",
                link_name(*link),
                if *nanos { "ns" } else { "µs" },
                if *big_endian { "big" } else { "little" }
            ),
            Inner::Ng { big_endian, .. } => format!(
                "pcapng ({}-endian)",
                if *big_endian { "big" } else { "little" }
            ),
        }
    }

    fn unit(&self) -> &'static str {
        match self.inner {
            Inner::Pcap { .. } => "packet",
            Inner::Ng { .. } => "block",
        }
    }

    fn end(&mut self) -> Option<Result<Datagram, SourceError>> {
        self.done = true;
        self.defrag.drain();
        self.sync_frag_stats();
        self.stats.update(|s| s.complete = true);
        None
    }

    fn sync_frag_stats(&self) {
        let dropped = self.defrag.dropped;
        self.stats.update(|s| s.fragments_dropped = dropped);
    }

    /// Ends the stream on a record / block that could not be read whole.
    fn stopped(&mut self, stop: ReadStop) -> Option<Result<Datagram, SourceError>> {
        if let ReadStop::End = stop {
            return self.end();
        }
        self.done = true;
        self.defrag.drain();
        self.sync_frag_stats();
        let at = Position::at(self.unit(), self.index, self.offset);
        let err = match stop {
            ReadStop::End => unreachable!("handled above"),
            ReadStop::Io(e) => SourceError::io(&self.path, e),
            ReadStop::Truncated(_) if self.allow_truncated => {
                let off = self.offset;
                self.stats.update(|s| {
                    s.truncated = true;
                    s.truncated_at = Some(off);
                });
                return None;
            }
            ReadStop::Truncated(expected) => SourceError::Truncated {
                path: self.path.clone(),
                at,
                expected,
                datagrams_before: self.datagrams,
            },
            ReadStop::Corrupt(detail) => SourceError::Corrupt {
                path: self.path.clone(),
                at,
                detail,
                datagrams_before: self.datagrams,
            },
        };
        Some(Err(err))
    }

    /// Moves past the record / block just read.
    fn advance(&mut self) {
        self.index += 1;
        self.offset += self.buf.len() as u64;
        let (off, idx) = (self.offset, self.index);
        self.stats.update(|s| {
            s.bytes_read = off;
            s.records_read = idx;
        });
    }

    /// Handles one captured frame (in `self.frame`); returns a datagram or an error to yield.
    fn handle_frame(
        &mut self,
        link: u32,
        original_len: u32,
        ts_ns: u64,
        pkt_index: u64,
        pkt_offset: u64,
    ) -> Option<Result<Datagram, SourceError>> {
        if !link_supported(link) {
            self.done = true;
            return Some(Err(SourceError::Unsupported {
                path: self.path.clone(),
                what: format!("{} ({} {pkt_index})", link_name(link), self.unit()),
            }));
        }
        let captured = self.frame.len() as u32;
        let cut = captured < original_len;
        let mut frags = 0;
        let outcome = {
            let l3 = link_to_l3(link, &self.frame);
            if cut {
                classify_cut(l3, self.port, &mut frags)
            } else {
                classify(l3, self.port, ts_ns, &mut self.defrag, &mut frags)
            }
        };
        let dropped = self.defrag.dropped;
        self.stats.update(|s| {
            s.fragments += frags;
            s.fragments_dropped = dropped;
            match &outcome {
                Outcome::NonUdp => s.skipped_non_udp += 1,
                Outcome::OtherPort => s.skipped_other_port += 1,
                Outcome::Malformed => s.skipped_malformed += 1,
                _ => {}
            }
        });
        match outcome {
            Outcome::Datagram {
                payload,
                reassembled,
            } => {
                self.datagrams += 1;
                let plen = payload.len() as u64;
                self.stats.update(|s| {
                    s.datagrams += 1;
                    s.payload_bytes += plen;
                    if reassembled {
                        s.reassembled += 1;
                    }
                });
                Some(Ok(Datagram { ts_ns, payload }))
            }
            Outcome::Cut if self.allow_truncated => {
                self.stats.update(|s| s.snaplen_cut += 1);
                None
            }
            Outcome::Cut => {
                self.done = true;
                Some(Err(SourceError::SnapLength {
                    path: self.path.clone(),
                    packet: pkt_index,
                    offset: pkt_offset,
                    captured,
                    original: original_len,
                    datagrams_before: self.datagrams,
                }))
            }
            _ => None,
        }
    }

    fn next_pcap(&mut self) -> Option<Result<Datagram, SourceError>> {
        loop {
            if self.done {
                return None;
            }
            let Inner::Pcap {
                parser,
                link,
                nanos,
                big_endian,
            } = &self.inner
            else {
                unreachable!("pcap reader");
            };
            let (link, nanos, big_endian) = (*link, *nanos, *big_endian);
            self.buf.clear();
            let stop = match read_more(&mut self.src, &mut self.buf, 16) {
                Err(e) => Some(ReadStop::Io(e)),
                Ok(Err(0)) => Some(ReadStop::End),
                Ok(Err(n)) => Some(ReadStop::Truncated(format!(
                    "a 16-byte packet header, got {n} bytes"
                ))),
                Ok(Ok(())) => None,
            };
            if let Some(stop) = stop {
                return self.stopped(stop);
            }
            let incl_len = u32_at(&self.buf, 8, big_endian);
            if incl_len > MAX_PACKET_LEN {
                return self.stopped(ReadStop::Corrupt(format!(
                    "captured length {incl_len} is larger than the {MAX_PACKET_LEN}-byte limit"
                )));
            }
            match read_more(&mut self.src, &mut self.buf, u64::from(incl_len)) {
                Err(e) => return self.stopped(ReadStop::Io(e)),
                Ok(Err(got)) => {
                    return self.stopped(ReadStop::Truncated(format!(
                        "a {incl_len}-byte packet, only {got} bytes left"
                    )))
                }
                Ok(Ok(())) => {}
            }
            let raw = match parser.next_raw_packet(&self.buf) {
                Ok((_, raw)) => raw,
                Err(e) => return self.stopped(ReadStop::Corrupt(e.to_string())),
            };
            let frac = u64::from(raw.ts_frac) * if nanos { 1 } else { 1_000 };
            let ts_ns = u64::from(raw.ts_sec) * 1_000_000_000 + frac;
            let orig_len = raw.orig_len;
            self.frame.clear();
            self.frame.extend_from_slice(&raw.data);
            let (pkt_index, pkt_offset) = (self.index, self.offset);
            self.advance();
            if let Some(item) = self.handle_frame(link, orig_len, ts_ns, pkt_index, pkt_offset) {
                return Some(item);
            }
        }
    }

    fn next_pcapng(&mut self) -> Option<Result<Datagram, SourceError>> {
        loop {
            if self.done {
                return None;
            }
            let Inner::Ng {
                parser,
                big_endian,
                ifaces,
                last_ts,
            } = &mut self.inner
            else {
                unreachable!("pcapng reader");
            };
            if let Some(stop) = read_ng_block(&mut self.src, &mut self.buf, big_endian) {
                return self.stopped(stop);
            }
            let (blk_index, blk_offset) = (self.index, self.offset);
            let block = match parser.next_block(&self.buf) {
                Ok((_, b)) => b,
                Err(e) => {
                    let detail = e.to_string();
                    return self.stopped(ReadStop::Corrupt(detail));
                }
            };
            // (interface index, original length, raw timestamp) of a packet block.
            let (iface_id, orig_len, ts_raw) = match block {
                Block::SectionHeader(_) => {
                    ifaces.clear();
                    (None, 0, None)
                }
                Block::InterfaceDescription(idb) => {
                    let mut iface = Iface {
                        link: u32::from(idb.linktype) & 0xFFFF,
                        snaplen: idb.snaplen,
                        tsresol: 6,
                        tsoffset_s: 0,
                    };
                    for opt in &idb.options {
                        match opt {
                            InterfaceDescriptionOption::IfTsResol(r) => iface.tsresol = *r,
                            InterfaceDescriptionOption::IfTsOffset(o) => iface.tsoffset_s = *o,
                            _ => {}
                        }
                    }
                    ifaces.push(iface);
                    (None, 0, None)
                }
                Block::EnhancedPacket(epb) => {
                    self.frame.clear();
                    self.frame.extend_from_slice(&epb.data);
                    // pcap-file keeps the raw timestamp (interface units) in a Duration's
                    // nanoseconds; the interface's if_tsresol gives the real unit.
                    let raw_ts = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
                    (Some(epb.interface_id), epb.original_len, Some(raw_ts))
                }
                Block::Packet(pb) => {
                    self.frame.clear();
                    self.frame.extend_from_slice(&pb.data);
                    (
                        Some(u32::from(pb.interface_id)),
                        pb.original_len,
                        Some(pb.timestamp),
                    )
                }
                Block::SimplePacket(spb) => {
                    // The block holds min(original length, snap length) bytes plus padding.
                    let snaplen = ifaces.first().map_or(0, |i| i.snaplen);
                    let mut n = spb.original_len as usize;
                    if snaplen > 0 {
                        n = n.min(snaplen as usize);
                    }
                    let n = n.min(spb.data.len());
                    self.frame.clear();
                    self.frame.extend_from_slice(&spb.data[..n]);
                    (Some(0), spb.original_len, None)
                }
                _ => {
                    self.stats.update(|s| s.skipped_blocks += 1);
                    (None, 0, None)
                }
            };
            let iface = iface_id.map(|id| (id, ifaces.get(id as usize).cloned()));
            let ts_ns = match (&iface, ts_raw) {
                (Some((_, Some(i))), Some(raw)) => pcapng_ts_ns(raw, i.tsresol, i.tsoffset_s),
                // A simple packet block has no timestamp: it takes the previous packet's.
                _ => *last_ts,
            };
            *last_ts = ts_ns;
            self.advance();
            match iface {
                None => continue,
                Some((id, None)) => {
                    self.done = true;
                    return Some(Err(SourceError::Corrupt {
                        path: self.path.clone(),
                        at: Position::at("block", blk_index, blk_offset),
                        detail: format!(
                            "packet on interface {id}, which no interface block declared"
                        ),
                        datagrams_before: self.datagrams,
                    }));
                }
                Some((_, Some(i))) => {
                    if let Some(item) =
                        self.handle_frame(i.link, orig_len, ts_ns, blk_index, blk_offset)
                    {
                        return Some(item);
                    }
                }
            }
        }
    }
}

impl Iterator for PcapSource {
    type Item = Result<Datagram, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.inner {
            Inner::Pcap { .. } => self.next_pcap(),
            Inner::Ng { .. } => self.next_pcapng(),
        }
    }
}

/// How [`PcapFileWriter`] builds its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapWriteOptions {
    /// Link-layer header of every frame.
    pub link: LinkType,
    /// Destination UDP port.
    pub port: u16,
    /// IPv6 (`::1` → `::1`) instead of IPv4 (`127.0.0.1` → `127.0.0.1`).
    pub ipv6: bool,
    /// Nanosecond timestamps (classic pcap; pcapng always writes nanoseconds).
    pub nanosecond: bool,
    /// Write pcapng instead of classic pcap.
    pub pcapng: bool,
    /// Big-endian headers instead of little-endian.
    pub big_endian: bool,
}

impl Default for PcapWriteOptions {
    fn default() -> Self {
        PcapWriteOptions {
            link: LinkType::Ethernet,
            port: DEFAULT_PORT,
            ipv6: false,
            nanosecond: true,
            pcapng: false,
            big_endian: false,
        }
    }
}

/// Source port of written packets.
const WRITER_SRC_PORT: u16 = 40_000;
/// Snap length declared by written files (larger than any packet they hold).
pub const WRITER_SNAPLEN: u32 = 262_144;

/// Builds one frame (link header + IP + UDP + payload) for `payload`.
pub fn build_frame(payload: &[u8], opts: &PcapWriteOptions) -> Result<Vec<u8>, String> {
    let max = if opts.ipv6 {
        65_535 - 8
    } else {
        65_535 - 20 - 8
    };
    if payload.len() > max {
        return Err(format!(
            "{}-byte payload does not fit in one UDP packet (max {max})",
            payload.len()
        ));
    }
    let builder = if opts.ipv6 {
        let mut lo = [0u8; 16];
        lo[15] = 1;
        PacketBuilder::ipv6(lo, lo, 64)
    } else {
        PacketBuilder::ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
    }
    .udp(WRITER_SRC_PORT, opts.port);
    let mut ip = Vec::with_capacity(builder.size(payload.len()));
    builder
        .write(&mut ip, payload)
        .map_err(|e| format!("building the packet: {e}"))?;
    let ether_type: u16 = if opts.ipv6 { 0x86DD } else { 0x0800 };
    let mut frame = Vec::with_capacity(ip.len() + 20);
    match opts.link {
        LinkType::Ethernet => {
            frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]); // destination MAC
            frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]); // source MAC
            frame.extend_from_slice(&ether_type.to_be_bytes());
        }
        LinkType::RawIp => {}
        LinkType::Null => {
            // As captured on a little-endian host; AF_INET6 as on macOS.
            let family: u32 = if opts.ipv6 { 30 } else { 2 };
            frame.extend_from_slice(&family.to_le_bytes());
        }
        LinkType::LinuxSll => {
            frame.extend_from_slice(&0u16.to_be_bytes()); // packet type: to us
            frame.extend_from_slice(&772u16.to_be_bytes()); // ARPHRD_LOOPBACK
            frame.extend_from_slice(&6u16.to_be_bytes()); // address length
            frame.extend_from_slice(&[0; 8]); // address
            frame.extend_from_slice(&ether_type.to_be_bytes());
        }
        LinkType::LinuxSll2 => {
            frame.extend_from_slice(&ether_type.to_be_bytes());
            frame.extend_from_slice(&[0, 0]); // reserved
            frame.extend_from_slice(&1u32.to_be_bytes()); // interface index
            frame.extend_from_slice(&772u16.to_be_bytes()); // ARPHRD_LOOPBACK
            frame.push(0); // packet type
            frame.push(6); // address length
            frame.extend_from_slice(&[0; 8]); // address
        }
    }
    frame.extend_from_slice(&ip);
    Ok(frame)
}

/// The 24-byte classic pcap header (version 2.4).
pub fn pcap_header_bytes(link: u32, snaplen: u32, nanosecond: bool, big_endian: bool) -> Vec<u8> {
    let magic: u32 = if nanosecond { 0xA1B2_3C4D } else { 0xA1B2_C3D4 };
    let mut out = Vec::with_capacity(24);
    let mut put = |v: &[u8]| out.extend_from_slice(v);
    if big_endian {
        put(&magic.to_be_bytes());
        put(&2u16.to_be_bytes());
        put(&4u16.to_be_bytes());
        put(&0i32.to_be_bytes());
        put(&0u32.to_be_bytes());
        put(&snaplen.to_be_bytes());
        put(&link.to_be_bytes());
    } else {
        put(&magic.to_le_bytes());
        put(&2u16.to_le_bytes());
        put(&4u16.to_le_bytes());
        put(&0i32.to_le_bytes());
        put(&0u32.to_le_bytes());
        put(&snaplen.to_le_bytes());
        put(&link.to_le_bytes());
    }
    out
}

/// The 16-byte classic pcap packet record header.
pub fn pcap_record_header(
    ts_ns: u64,
    incl_len: u32,
    orig_len: u32,
    nanosecond: bool,
    big_endian: bool,
) -> Option<[u8; 16]> {
    let sec = u32::try_from(ts_ns / 1_000_000_000).ok()?;
    let sub = (ts_ns % 1_000_000_000) as u32;
    let frac = if nanosecond { sub } else { sub / 1_000 };
    let mut out = [0u8; 16];
    for (i, v) in [sec, frac, incl_len, orig_len].into_iter().enumerate() {
        let b = if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        out[i * 4..i * 4 + 4].copy_from_slice(&b);
    }
    Some(out)
}

enum PcapSink {
    /// Classic pcap is written directly (a 24-byte header, 16-byte record headers).
    Pcap(BufWriter<File>),
    Ng(PcapNgWriter<BufWriter<File>>),
}

/// Writes datagrams as UDP packets in a pcap or pcapng file (for tests and `generate`).
pub struct PcapFileWriter {
    path: PathBuf,
    opts: PcapWriteOptions,
    sink: PcapSink,
    written: u64,
}

impl PcapFileWriter {
    pub fn create(path: &Path, opts: PcapWriteOptions) -> Result<Self, SourceError> {
        let file = File::create(path).map_err(|e| SourceError::io(path, e))?;
        let mut out = BufWriter::with_capacity(64 << 10, file);
        let pcap_err = |e: PcapError| match e {
            PcapError::IoError(io) => SourceError::io(path, io),
            other => SourceError::io(path, io::Error::other(other.to_string())),
        };
        let sink = if opts.pcapng {
            let endianness = if opts.big_endian {
                Endianness::Big
            } else {
                Endianness::Little
            };
            let mut w = PcapNgWriter::with_endianness(out, endianness).map_err(pcap_err)?;
            let idb = InterfaceDescriptionBlock {
                linktype: DataLink::from(opts.link.number()),
                snaplen: WRITER_SNAPLEN,
                options: vec![InterfaceDescriptionOption::IfTsResol(9)],
            };
            w.write_pcapng_block(idb).map_err(pcap_err)?;
            PcapSink::Ng(w)
        } else {
            let header = pcap_header_bytes(
                opts.link.number(),
                WRITER_SNAPLEN,
                opts.nanosecond,
                opts.big_endian,
            );
            out.write_all(&header)
                .map_err(|e| SourceError::io(path, e))?;
            PcapSink::Pcap(out)
        };
        Ok(PcapFileWriter {
            path: path.to_path_buf(),
            opts,
            sink,
            written: 0,
        })
    }

    /// Appends one datagram as a packet at its timestamp.
    pub fn write(&mut self, d: &Datagram) -> Result<(), SourceError> {
        let index = self.written;
        let unrepresentable = |detail: String| SourceError::Unrepresentable {
            path: self.path.clone(),
            index,
            detail,
        };
        let frame = build_frame(&d.payload, &self.opts).map_err(unrepresentable)?;
        let len = frame.len() as u32;
        match &mut self.sink {
            PcapSink::Pcap(w) => {
                let header = pcap_record_header(
                    d.ts_ns,
                    len,
                    len,
                    self.opts.nanosecond,
                    self.opts.big_endian,
                )
                .ok_or_else(|| {
                    unrepresentable(format!(
                        "timestamp {} ns is past the pcap limit (2106)",
                        d.ts_ns
                    ))
                })?;
                w.write_all(&header)
                    .and_then(|()| w.write_all(&frame))
                    .map_err(|e| SourceError::io(&self.path, e))?;
            }
            PcapSink::Ng(w) => {
                w.write_pcapng_block(EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp: Duration::from_nanos(d.ts_ns),
                    original_len: len,
                    data: frame.as_slice().into(),
                    options: vec![],
                })
                .map_err(|e| match e {
                    PcapError::IoError(io) => SourceError::io(&self.path, io),
                    other => unrepresentable(other.to_string()),
                })?;
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Flushes written packets to the file.
    pub fn flush(&mut self) -> Result<(), SourceError> {
        let w = match &mut self.sink {
            PcapSink::Pcap(w) => w,
            PcapSink::Ng(w) => w.get_mut(),
        };
        w.flush().map_err(|e| SourceError::io(&self.path, e))
    }

    /// Flushes and closes; returns the number of packets written.
    pub fn finish(mut self) -> Result<u64, SourceError> {
        self.flush()?;
        Ok(self.written)
    }
}

/// Writes `datagrams` as Ethernet/IPv4/UDP packets to `port` in a classic pcap file
/// (nanosecond timestamps, little-endian) with the given link type. Returns the packet count.
pub fn write_pcap<'a, I>(
    path: &Path,
    datagrams: I,
    port: u16,
    link: LinkType,
) -> Result<u64, SourceError>
where
    I: IntoIterator<Item = &'a Datagram>,
{
    write_pcap_with(
        path,
        datagrams,
        &PcapWriteOptions {
            link,
            port,
            ..Default::default()
        },
    )
}

/// [`write_pcap`] with every option (IPv6, µs timestamps, pcapng, byte order).
pub fn write_pcap_with<'a, I>(
    path: &Path,
    datagrams: I,
    opts: &PcapWriteOptions,
) -> Result<u64, SourceError>
where
    I: IntoIterator<Item = &'a Datagram>,
{
    let mut w = PcapFileWriter::create(path, *opts)?;
    for d in datagrams {
        w.write(d)?;
    }
    w.finish()
}
