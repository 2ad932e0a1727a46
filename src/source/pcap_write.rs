//! Writing datagrams as UDP packets in pcap or pcapng files.
//!
//! Tests need packet captures of known content, and `generate -o x.pcap` makes captures other
//! tools (Wireshark, tcpreplay) can open. Frames are built with `etherparse` (IPv4 or IPv6 and
//! UDP from `127.0.0.1`/`::1` port 40000) under any of the link types the reader handles.
//! Classic pcap is written directly (a 24-byte header and 16-byte record headers, so tests can
//! also write records with any captured/original lengths); pcapng through `pcap-file`, with
//! `if_tsresol` = 9 (nanoseconds).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use etherparse::PacketBuilder;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness, PcapError};

use super::error::SourceError;
use super::packet::{LinkType, DEFAULT_PORT};
use super::Datagram;

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
        let file = super::output_file::create_output(path).map_err(|e| SourceError::io(path, e))?;
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
