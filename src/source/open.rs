//! Opening a SOURCE path: detect (or take) its format, start the right streaming reader.
//!
//! The single entry point the commands use, so every command reads every format the same way
//! and reports the same facts about it: what kind of source it was, a one-line description, the
//! datagrams as a `Send` iterator (the pipeline drains it on another thread), and a shared
//! handle on the read counters that stays valid after the iterator is gone.

use std::fmt;
use std::fs::File;
use std::path::Path;

use super::capture::{open_capture, read_full};
use super::detect::{detect, InputFormat};
use super::error::SourceError;
use super::jsonl::JsonlSource;
use super::pcap::{PcapSource, PortFilter};
use super::stats::StatsHandle;
use super::text::TextSource;
use super::{Datagram, SourceKind};

/// How to open a source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenOptions {
    /// Forced format (`--input-format`); `None` detects it from the first bytes.
    pub format: Option<InputFormat>,
    /// pcap/pcapng: which UDP datagrams are DogStatsD traffic (default port 8125).
    pub port: PortFilter,
    /// A file that ends mid-record ends the stream cleanly (recorded in the stats) instead of
    /// failing; packets cut by the snap length are counted and skipped.
    pub allow_truncated: bool,
    /// Text: datagrams per second (datagram *i* at *i* / rate s); `None`: all at t = 0.
    pub text_rate: Option<f64>,
}

/// The stream of datagrams of a source.
pub type DatagramIter = Box<dyn Iterator<Item = Result<Datagram, SourceError>> + Send>;

/// An opened source, ready to stream.
pub struct OpenedSource {
    pub kind: SourceKind,
    pub format: InputFormat,
    /// One line for reports: format details and the path.
    pub description: String,
    /// The datagrams in file order. After an `Err` the iterator ends.
    pub datagrams: DatagramIter,
    /// Counters updated as the iterator is drained.
    pub stats: StatsHandle,
}

impl fmt::Debug for OpenedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedSource")
            .field("kind", &self.kind)
            .field("format", &self.format)
            .field("description", &self.description)
            .field("stats", &self.stats.snapshot())
            .finish_non_exhaustive()
    }
}

/// Bytes read from the start of a file to detect its format.
const DETECT_LEN: usize = 512;

/// The format of the file at `path`, from its first bytes (see [`detect`]).
pub fn detect_file(path: &Path) -> Result<InputFormat, SourceError> {
    let mut file = File::open(path).map_err(|e| SourceError::io(path, e))?;
    let mut head = [0u8; DETECT_LEN];
    let n = read_full(&mut file, &mut head).map_err(|e| SourceError::io(path, e))?;
    Ok(detect(&head[..n]))
}

/// Opens `path` for streaming.
pub fn open(path: &Path, opts: &OpenOptions) -> Result<OpenedSource, SourceError> {
    let format = match opts.format {
        Some(f) => f,
        None => detect_file(path)?,
    };
    let stats = StatsHandle::new();
    let shown = path.display();
    let (kind, description, datagrams): (SourceKind, String, DatagramIter) = match format {
        InputFormat::Capture => {
            let r = open_capture(path, opts.allow_truncated, stats.clone())?;
            let desc = format!(
                "Datadog capture v{}{} {shown}",
                r.version(),
                if r.compressed() { " (zstd)" } else { "" }
            );
            (SourceKind::Capture, desc, Box::new(r))
        }
        InputFormat::Pcap | InputFormat::Pcapng => {
            let r = if format == InputFormat::Pcap {
                PcapSource::open_pcap(path, opts.port, opts.allow_truncated, stats.clone())?
            } else {
                PcapSource::open_pcapng(path, opts.port, opts.allow_truncated, stats.clone())?
            };
            let desc = format!("{} {shown}, UDP port {}", r.describe(), opts.port);
            (SourceKind::Pcap, desc, Box::new(r))
        }
        InputFormat::Jsonl => {
            let r = JsonlSource::open(path, opts.allow_truncated, stats.clone())?;
            (
                SourceKind::Jsonl,
                format!("JSON lines {shown}"),
                Box::new(r),
            )
        }
        InputFormat::Text => {
            let r = TextSource::open(path, opts.text_rate, stats.clone())?;
            let timing = match opts.text_rate {
                Some(rate) => format!("{rate} datagrams/s"),
                None => "all at t=0".to_string(),
            };
            let desc = format!("text {shown}, one datagram per line, {timing}");
            (SourceKind::Text, desc, Box::new(r))
        }
    };
    Ok(OpenedSource {
        kind,
        format,
        description,
        datagrams,
        stats,
    })
}
