//! pcap and pcapng files: the UDP datagrams to the DogStatsD port, with their packet times.
//!
//! Many users have a `tcpdump` of their traffic rather than an agent capture, so the tool reads
//! packet captures directly. Records (pcap) and blocks (pcapng) are framed here, one at a time
//! through a `BufReader`, so every byte offset is known and a file cut short is told from a
//! corrupt one; their contents are parsed with `pcap-file`'s parsers, and each frame's layers
//! by [`super::packet`].
//!
//! Nothing is dropped silently: packets that are not UDP, UDP to another port, pcapng blocks
//! without packets, packets whose headers do not parse and IP fragments that never complete
//! are counted in [`ReadStats`]. A packet cut by the capture's snap length (captured < original
//! length) whose headers do not prove it is other traffic is an error naming the packet and
//! offset — its datagram would otherwise be silently short — or, with `allow_truncated`,
//! counted and skipped. A file that ends in the middle of a packet is truncated (an error, or a
//! clean end with `truncated_at` recorded). pcapng timestamps honour each interface's
//! `if_tsresol` and `if_tsoffset`.
//!
//! [`ReadStats`]: super::ReadStats

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{Endianness, TsResolution};

use super::error::{Position, SourceError};
use super::packet::{
    classify, classify_cut, link_name, link_supported, link_to_l3, Defrag, Outcome,
};
use super::stats::StatsHandle;
use super::Datagram;

pub use super::packet::{
    LinkType, PortFilter, DEFAULT_PORT, FRAGMENT_TIMEOUT_NS, MAX_PENDING_DATAGRAMS,
};
pub use super::pcap_write::{
    build_frame, pcap_header_bytes, pcap_record_header, write_pcap, write_pcap_with,
    PcapFileWriter, PcapWriteOptions, WRITER_SNAPLEN,
};

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
    #[allow(clippy::expect_used)] // proven: 4 bytes
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
    if !len.is_multiple_of(4) || len < 12 || (len as usize) < buf.len() {
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
                what: format!("pcap {} (header byte offset 20)", link_name(link)),
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
                what: format!(
                    "{} ({} {pkt_index} at byte offset {pkt_offset})",
                    link_name(link),
                    self.unit()
                ),
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
            if ts_ns > super::MAX_TS_NS {
                self.done = true;
                return Some(Err(SourceError::Corrupt {
                    path: self.path.clone(),
                    at: Position::at("block", blk_index, blk_offset),
                    detail: format!(
                        "packet timestamp {ts_ns} ns is past the latest arrival time (2262-04-11)"
                    ),
                    datagrams_before: self.datagrams,
                }));
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_timestamp_units() {
        assert_eq!(pcapng_ts_ns(5, 6, 0), 5_000);
        assert_eq!(pcapng_ts_ns(5, 9, 0), 5);
        assert_eq!(pcapng_ts_ns(5_000, 12, 0), 5);
        assert_eq!(pcapng_ts_ns(3, 0, 2), 5_000_000_000);
        assert_eq!(pcapng_ts_ns(1024, 0x80 | 10, 0), 1_000_000_000);
        assert_eq!(pcapng_ts_ns(u64::MAX, 0, u64::MAX), u64::MAX);
        assert_eq!(pcapng_ts_ns(7, 200, 0), 0);
    }
}
