//! Input format detection from a file's first bytes, and the `--input-format` names.
//!
//! Kept apart from the readers so the rule is written once and tested on bytes alone: a user
//! passes any recording as SOURCE and the tool must pick the right reader without being told,
//! the way `agent dogstatsd-replay` matches the capture magic (and zstd) before reading.

use std::fmt;
use std::str::FromStr;

/// First four bytes of every capture file (`D4 74 D0 60`); byte 4 is `F0 | version`, bytes 5–7
/// are `FF 00 00` (the agent's `datadogHeader`).
pub const CAPTURE_MAGIC: [u8; 4] = [0xD4, 0x74, 0xD0, 0x60];
/// The zstd frame magic number, as it appears in a file (little-endian `0xFD2FB528`).
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// The pcapng Section Header Block type (the same in both byte orders).
pub const PCAPNG_MAGIC: [u8; 4] = [0x0A, 0x0D, 0x0D, 0x0A];
/// Classic pcap magics as they appear in a file: µs and ns resolutions, both byte orders.
pub const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xD4, 0xC3, 0xB2, 0xA1], // little-endian, µs
    [0xA1, 0xB2, 0xC3, 0xD4], // big-endian, µs
    [0x4D, 0x3C, 0xB2, 0xA1], // little-endian, ns
    [0xA1, 0xB2, 0x3C, 0x4D], // big-endian, ns
];

/// The input formats lastbucket reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// Datadog agent capture file (`agent dogstatsd-capture`), raw or zstd-compressed.
    Capture,
    /// Classic libpcap file.
    Pcap,
    /// pcapng file.
    Pcapng,
    /// JSON lines, one datagram per line.
    Jsonl,
    /// Plain text, one datagram per line.
    Text,
}

impl InputFormat {
    /// Every format, in the order of the `--input-format` help.
    pub const ALL: [InputFormat; 5] = [
        InputFormat::Capture,
        InputFormat::Pcap,
        InputFormat::Pcapng,
        InputFormat::Jsonl,
        InputFormat::Text,
    ];

    /// The `--input-format` name.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Capture => "capture",
            InputFormat::Pcap => "pcap",
            InputFormat::Pcapng => "pcapng",
            InputFormat::Jsonl => "jsonl",
            InputFormat::Text => "text",
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An `--input-format` value that is none of the known names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown input format {0:?} (expected one of: capture, pcap, pcapng, jsonl, text)")]
pub struct UnknownFormat(pub String);

impl FromStr for InputFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InputFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// True when `bytes` start with a raw (uncompressed) capture header of any version nibble.
/// Mirrors the agent's `datadogMatcher`: the version byte must have the `F0` bits set.
pub fn is_capture_header(bytes: &[u8]) -> bool {
    bytes.len() >= 8
        && bytes[..4] == CAPTURE_MAGIC
        && bytes[4] & 0xF0 == 0xF0
        && bytes[5..8] == [0xFF, 0x00, 0x00]
}

/// True when `bytes` start with the zstd frame magic.
pub fn is_zstd(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes[..4] == ZSTD_MAGIC
}

/// Picks the format of a file from its first bytes (give at least 8 when the file has them).
///
/// zstd-compressed data is taken for a capture file (the only compressed format lastbucket
/// reads); the capture reader confirms it by checking the decompressed header and fails with a
/// clear error when it is not one. A file that starts with the capture magic but has a damaged
/// or cut header, or that is too short to hold any magic but starts like one, goes to that
/// format's reader too, so the user gets its error with the offset rather than a text reading
/// of binary bytes. Anything not recognised is text.
pub fn detect(first_bytes: &[u8]) -> InputFormat {
    if first_bytes.starts_with(&CAPTURE_MAGIC) || is_zstd(first_bytes) {
        return InputFormat::Capture;
    }
    if let Some(magic) = first_bytes.get(..4) {
        if magic == PCAPNG_MAGIC {
            return InputFormat::Pcapng;
        }
        if PCAP_MAGICS.iter().any(|m| m == magic) {
            return InputFormat::Pcap;
        }
    } else if !first_bytes.is_empty() {
        let cut_from = |magic: &[u8]| magic.starts_with(first_bytes);
        if cut_from(&CAPTURE_MAGIC) || cut_from(&ZSTD_MAGIC) {
            return InputFormat::Capture;
        }
        if PCAP_MAGICS.iter().any(|m| cut_from(m)) {
            return InputFormat::Pcap;
        }
    }
    match first_bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => InputFormat::Jsonl,
        _ => InputFormat::Text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in InputFormat::ALL {
            assert_eq!(f.name().parse::<InputFormat>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
        let err = "dog".parse::<InputFormat>().unwrap_err();
        assert!(err
            .to_string()
            .contains("capture, pcap, pcapng, jsonl, text"));
    }

    #[test]
    fn detects_capture_raw_every_version_and_zstd() {
        for v in 0..=0x0F_u8 {
            let h = [0xD4, 0x74, 0xD0, 0x60, 0xF0 | v, 0xFF, 0x00, 0x00];
            assert_eq!(detect(&h), InputFormat::Capture);
        }
        assert_eq!(
            detect(&[0x28, 0xB5, 0x2F, 0xFD, 0x04, 0x00]),
            InputFormat::Capture
        );
        // Damaged or cut headers go to the capture reader, which names the offset.
        assert_eq!(
            detect(&[0xD4, 0x74, 0xD0, 0x60, 0x03, 0xFF, 0x00, 0x00]),
            InputFormat::Capture
        );
        assert_eq!(
            detect(&[0xD4, 0x74, 0xD0, 0x60, 0xF3]),
            InputFormat::Capture
        );
        assert_eq!(detect(&[0xD4, 0x74]), InputFormat::Capture);
        assert_eq!(detect(&[0x28, 0xB5]), InputFormat::Capture);
    }

    #[test]
    fn detects_pcap_both_orders_and_resolutions() {
        for m in PCAP_MAGICS {
            let mut b = m.to_vec();
            b.extend_from_slice(&[0; 20]);
            assert_eq!(detect(&b), InputFormat::Pcap, "{m:02X?}");
        }
        assert_eq!(
            detect(&[0x0A, 0x0D, 0x0D, 0x0A, 0x1C, 0, 0, 0]),
            InputFormat::Pcapng
        );
    }

    #[test]
    fn detects_jsonl_and_text() {
        assert_eq!(detect(b"{\"ts_ns\":1}"), InputFormat::Jsonl);
        assert_eq!(detect(b"  \n\t{\"ts_ns\":1}"), InputFormat::Jsonl);
        assert_eq!(detect(b"page.views:1|c\n"), InputFormat::Text);
        assert_eq!(detect(b""), InputFormat::Text);
        assert_eq!(detect(b"\xA1\xB2"), InputFormat::Pcap);
        assert_eq!(detect(b"a"), InputFormat::Text);
    }
}
