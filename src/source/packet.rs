//! Packet layers of captured frames: link-layer headers, IPv4/IPv6, UDP, and the reassembly
//! of fragmented UDP datagrams.
//!
//! Kept apart from the pcap/pcapng file framing because it is a different job: deciding, for
//! one captured frame, whether it carries a DogStatsD datagram and what its bytes are, and
//! counting everything else. Link types: Ethernet (1), raw IP (101, 228, 229), Linux cooked SLL
//! (113) and SLL2 (276, its 20-byte header read here), BSD loopback (0, the address family in
//! the capturing host's byte order) and OpenBSD loopback (108, network order). Layers are
//! parsed with `etherparse`, except the IPv6 fragment header, whose offset and M flag
//! etherparse 0.16 misreads (fixed in later etherparse): it is read here from its raw bytes.
//!
//! Fragments of UDP datagrams are reassembled in memory, bounded: at most
//! [`MAX_PENDING_DATAGRAMS`] datagrams in flight, each at most 64 KiB, forgotten after
//! [`FRAGMENT_TIMEOUT_NS`] of packet time. Fragments that never complete are counted as dropped,
//! never handed on as partial datagrams.

use std::collections::HashMap;
use std::str::FromStr;

use etherparse::{
    EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, NetSlice, SlicedPacket, TransportSlice,
};

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

pub(super) fn link_name(link: u32) -> String {
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

pub(super) fn link_supported(link: u32) -> bool {
    matches!(link, 0 | 1 | 101 | 108 | 113 | 228 | 229 | 276)
}

/// Where the network layer starts in a frame of some link type.
pub(super) enum L3<'a> {
    Ethernet(&'a [u8]),
    EtherType(EtherType, &'a [u8]),
    Ip(&'a [u8]),
    NotIp,
    Short,
}

pub(super) fn link_to_l3(link: u32, data: &[u8]) -> L3<'_> {
    match link {
        1 => L3::Ethernet(data),
        101 | 228 | 229 => L3::Ip(data),
        0 | 108 => {
            if data.len() < 4 {
                return L3::Short;
            }
            #[allow(clippy::expect_used)] // proven: 4 bytes
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
pub(super) enum Outcome {
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
pub(super) struct Defrag {
    pending: HashMap<FragKey, Pending>,
    /// Fragments dropped (evicted, timed out, malformed, left at the end).
    pub(super) dropped: u64,
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
        #[allow(clippy::expect_used)] // proven: present
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
            #[allow(clippy::expect_used)] // proven: present
            let p = self.pending.remove(&key).expect("present");
            self.dropped += p.parts.len() as u64;
        }
    }

    /// Drops what is left at the end of the capture.
    pub(super) fn drain(&mut self) {
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
pub(super) fn classify(
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
pub(super) fn classify_cut(l3: L3<'_>, port: PortFilter, frags: &mut u64) -> Outcome {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> FragKey {
        FragKey {
            src: [1; 16],
            dst: [2; 16],
            id,
            v6: false,
        }
    }

    #[test]
    fn port_filter_parses() {
        assert_eq!("any".parse(), Ok(PortFilter::Any));
        assert_eq!("8126".parse(), Ok(PortFilter::Port(8126)));
        assert!("x".parse::<PortFilter>().is_err());
        assert_eq!(PortFilter::default(), PortFilter::Port(8125));
        assert!(PortFilter::Any.matches(1) && !PortFilter::Port(2).matches(1));
    }

    #[test]
    fn defrag_overlaps_and_bounds() {
        let mut d = Defrag::default();
        assert_eq!(d.add(key(1), 8, false, b"cdef", 0), None);
        assert_eq!(
            d.add(key(1), 0, true, b"abcdefgh", 0),
            Some(b"abcdefghcdef".to_vec())
        );
        // At most MAX_PENDING_DATAGRAMS in flight: the oldest goes first.
        for i in 0..=MAX_PENDING_DATAGRAMS as u32 {
            d.add(key(100 + i), 0, true, b"x", u64::from(i));
        }
        assert_eq!(d.pending.len(), MAX_PENDING_DATAGRAMS);
        assert_eq!(d.dropped, 1);
        assert!(!d.pending.contains_key(&key(100)));
        // Timed out by packet time.
        d.add(key(7), 0, true, b"y", FRAGMENT_TIMEOUT_NS + 1_000);
        assert_eq!(d.pending.len(), 1);
        assert_eq!(d.dropped, 1 + MAX_PENDING_DATAGRAMS as u64);
        d.drain();
        assert!(d.pending.is_empty());
        // Past 64 KiB: dropped, not buffered.
        assert_eq!(
            d.add(key(9), 65_000, true, &[0; 1000], FRAGMENT_TIMEOUT_NS),
            None
        );
        assert!(d.pending.is_empty());
    }

    #[test]
    fn reassembled_udp_header_is_checked() {
        let mut udp = vec![0, 1, 0x1F, 0xBD, 0, 11, 0, 0, b'a', b'b', b'c', b'x'];
        match udp_from_reassembled(udp.clone(), PortFilter::default()) {
            Outcome::Datagram { payload, .. } => assert_eq!(payload, b"abc"),
            _ => panic!("expected a datagram"),
        }
        udp[5] = 40; // length past the data
        assert!(matches!(
            udp_from_reassembled(udp, PortFilter::default()),
            Outcome::Malformed
        ));
    }
}
