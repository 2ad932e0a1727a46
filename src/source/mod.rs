//! Packet streams into the pipeline: recorded traffic (Datadog capture files, pcap/pcapng,
//! JSON lines, text) and seeded generated traffic. Every source yields [`Datagram`]s in arrival
//! order, streaming, with the arrival time that the virtual clock of the pipeline will use.

pub mod capture;
pub mod capture_proto;
pub mod detect;
pub mod error;
pub mod generate;
pub mod jsonl;
mod lines;
pub mod open;
pub mod output_file;
pub mod packet;
pub mod pcap;
pub mod pcap_write;
pub mod spec;
pub mod stats;
pub mod stream;
pub mod text;
pub mod write;

pub use capture::{CaptureReader, CaptureWriter};
pub use detect::{detect, InputFormat};
pub use error::{Position, SourceError};
pub use open::{detect_file, open, DatagramIter, OpenOptions, OpenedSource};
pub use pcap::{write_pcap, LinkType, PortFilter};
pub use spec::SourceSpec;
pub use stats::{CaptureInfo, ReadStats, StatsHandle};
pub use stream::{Stream, StreamError, StreamOpener};
pub use write::{write_datagrams, DatagramWriter, OutputFormat};

use serde::{Deserialize, Serialize};

/// Latest arrival time a source hands on: `i64::MAX` ns (2262-04-11), the most a version-3
/// capture record can hold. Every reader refuses a later time as corrupt input (with its
/// offset), so the pipeline's clock, whose timers add periods to arrival times in u64
/// nanoseconds, always has some 290 years of headroom and cannot overflow.
pub const MAX_TS_NS: u64 = i64::MAX as u64;

/// One datagram as it arrived at (or would arrive at) the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Arrival time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The datagram's bytes, exactly as received.
    pub payload: Vec<u8>,
}

/// What kind of source a stream came from (the `source.kind` of the JSON report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Generated,
    Capture,
    Pcap,
    Jsonl,
    Text,
}

impl SourceKind {
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Generated => "generated",
            SourceKind::Capture => "capture",
            SourceKind::Pcap => "pcap",
            SourceKind::Jsonl => "jsonl",
            SourceKind::Text => "text",
        }
    }
}
