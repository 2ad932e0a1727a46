//! Writing datagrams to a file in any format lastbucket reads (`generate -o`, `record -o`).
//!
//! One writer type over the per-format writers, so a command picks the format once (explicitly
//! or from the file name) and then only writes datagrams.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use super::capture::CaptureWriter;
use super::error::SourceError;
use super::jsonl::JsonlWriter;
use super::pcap::{PcapFileWriter, PcapWriteOptions};
use super::text::TextWriter;
use super::Datagram;

/// The formats lastbucket writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// Datadog agent capture file, version 3, zstd-compressed or not.
    Capture { compress: bool },
    /// Classic pcap (Ethernet/IPv4/UDP to port 8125, ns timestamps).
    Pcap,
    /// pcapng (same packets).
    Pcapng,
    /// JSON lines.
    Jsonl,
    /// Text, one datagram per line (times are not kept).
    Text,
}

impl OutputFormat {
    /// The format a file name asks for: `.dog` (raw capture); `.dog.zst`, `.zst`, `.zstd`
    /// (zstd capture); `.pcap`; `.pcapng`; `.jsonl`, `.ndjson`; `.txt`.
    pub fn from_path(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let ext = |e: &str| name.ends_with(e);
        if ext(".zst") || ext(".zstd") {
            Some(OutputFormat::Capture { compress: true })
        } else if ext(".dog") {
            Some(OutputFormat::Capture { compress: false })
        } else if ext(".pcap") {
            Some(OutputFormat::Pcap)
        } else if ext(".pcapng") {
            Some(OutputFormat::Pcapng)
        } else if ext(".jsonl") || ext(".ndjson") {
            Some(OutputFormat::Jsonl)
        } else if ext(".txt") {
            Some(OutputFormat::Text)
        } else {
            None
        }
    }

    /// The name accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Capture { compress: false } => "capture",
            OutputFormat::Capture { compress: true } => "capture-zstd",
            OutputFormat::Pcap => "pcap",
            OutputFormat::Pcapng => "pcapng",
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Text => "text",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "capture" => OutputFormat::Capture { compress: false },
            "capture-zstd" => OutputFormat::Capture { compress: true },
            "pcap" => OutputFormat::Pcap,
            "pcapng" => OutputFormat::Pcapng,
            "jsonl" => OutputFormat::Jsonl,
            "text" => OutputFormat::Text,
            _ => {
                return Err(format!(
                    "unknown output format {s:?} (expected one of: capture, capture-zstd, pcap, pcapng, jsonl, text)"
                ))
            }
        })
    }
}

/// A file being written in one of the [`OutputFormat`]s.
pub enum DatagramWriter {
    Capture(CaptureWriter),
    Pcap(PcapFileWriter),
    Jsonl(JsonlWriter),
    Text(TextWriter),
}

impl DatagramWriter {
    /// Creates `path` in `format`, or in the format its name asks for.
    pub fn create(path: &Path, format: Option<OutputFormat>) -> Result<Self, SourceError> {
        let format = match format.or_else(|| OutputFormat::from_path(path)) {
            Some(f) => f,
            None => {
                return Err(SourceError::InvalidOption {
                    path: path.to_path_buf(),
                    detail: "cannot tell the output format from the file name (use .dog, \
                             .dog.zst, .zst, .zstd, .pcap, .pcapng, .jsonl or .txt, or name the format)"
                        .into(),
                })
            }
        };
        Ok(match format {
            OutputFormat::Capture { compress } => {
                DatagramWriter::Capture(CaptureWriter::create(path, compress)?)
            }
            OutputFormat::Pcap | OutputFormat::Pcapng => {
                let opts = PcapWriteOptions {
                    pcapng: format == OutputFormat::Pcapng,
                    ..Default::default()
                };
                DatagramWriter::Pcap(PcapFileWriter::create(path, opts)?)
            }
            OutputFormat::Jsonl => DatagramWriter::Jsonl(JsonlWriter::create(path)?),
            OutputFormat::Text => DatagramWriter::Text(TextWriter::create(path)?),
        })
    }

    pub fn write(&mut self, d: &Datagram) -> Result<(), SourceError> {
        match self {
            DatagramWriter::Capture(w) => w.write(d),
            DatagramWriter::Pcap(w) => w.write(d),
            DatagramWriter::Jsonl(w) => w.write(d),
            DatagramWriter::Text(w) => w.write(d),
        }
    }

    /// Capture files: flush through to the file after every `n` records (default 1, so a
    /// killed `record` loses nothing written; 0 = only on [`DatagramWriter::flush`] and
    /// [`DatagramWriter::finish`]). The other formats flush only when asked.
    pub fn set_flush_every(&mut self, n: u32) {
        if let DatagramWriter::Capture(w) = self {
            w.set_flush_every(n);
        }
    }

    /// Pushes everything written so far to the file.
    pub fn flush(&mut self) -> Result<(), SourceError> {
        match self {
            DatagramWriter::Capture(w) => w.flush(),
            DatagramWriter::Pcap(w) => w.flush(),
            DatagramWriter::Jsonl(w) => w.flush(),
            DatagramWriter::Text(w) => w.flush(),
        }
    }

    /// Completes the file (capture trailer, zstd frame end) and flushes; returns the number of
    /// datagrams written.
    pub fn finish(self) -> Result<u64, SourceError> {
        match self {
            DatagramWriter::Capture(w) => w.finish(),
            DatagramWriter::Pcap(w) => w.finish(),
            DatagramWriter::Jsonl(w) => w.finish(),
            DatagramWriter::Text(w) => w.finish(),
        }
    }
}

/// Writes every datagram to `path` in `format` (or the one its name asks for); returns the
/// number written. Meant for bulk output (`generate`): capture files are flushed every 1024
/// records rather than after each one.
pub fn write_datagrams<I>(
    path: &Path,
    format: Option<OutputFormat>,
    datagrams: I,
) -> Result<u64, SourceError>
where
    I: IntoIterator<Item = Datagram>,
{
    let mut w = DatagramWriter::create(path, format)?;
    w.set_flush_every(1024);
    for d in datagrams {
        w.write(&d)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_file_name() {
        let f = |s: &str| OutputFormat::from_path(Path::new(s));
        assert_eq!(f("a.dog"), Some(OutputFormat::Capture { compress: false }));
        assert_eq!(
            f("a.dog.zst"),
            Some(OutputFormat::Capture { compress: true })
        );
        assert_eq!(f("a.zstd"), Some(OutputFormat::Capture { compress: true }));
        assert_eq!(f("A.ZST"), Some(OutputFormat::Capture { compress: true }));
        assert_eq!(f("x/a.pcap"), Some(OutputFormat::Pcap));
        assert_eq!(f("a.pcapng"), Some(OutputFormat::Pcapng));
        assert_eq!(f("a.jsonl"), Some(OutputFormat::Jsonl));
        assert_eq!(f("a.txt"), Some(OutputFormat::Text));
        assert_eq!(f("a.bin"), None);
        for name in ["capture", "capture-zstd", "pcap", "pcapng", "jsonl", "text"] {
            assert_eq!(name.parse::<OutputFormat>().unwrap().name(), name);
        }
    }
}
