//! How far a source was read, shared between the streaming reader and whoever reports on it.
//!
//! A reader runs inside an iterator that the pipeline drains; the report is written by someone
//! else, possibly after the iterator is gone or while it stops half way. So the counters live
//! behind a shared handle the reader updates after every record, and a report can always say
//! how far a file was read, what was skipped and why, and where a truncated file ended.

use std::sync::{Arc, Mutex, MutexGuard};

use super::capture_proto::TaggerState;

/// Counters of one source read. Offsets are in the decompressed stream for compressed files.
/// Reports serialize the part that says how far the source was read and what was skipped
/// (`source.read`): every packet or record not handed on is counted here with its reason.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReadStats {
    /// Bytes consumed: the offset just past the last complete record / packet / line.
    pub bytes_read: u64,
    /// Records (capture), packets or blocks (pcap/pcapng), non-blank lines (jsonl/text) read.
    pub records_read: u64,
    /// Datagrams handed on.
    #[serde(skip)]
    pub datagrams: u64,
    /// Bytes of datagram payload handed on.
    #[serde(skip)]
    pub payload_bytes: u64,
    /// True once the reader hit the end of the data in the middle of a record.
    #[serde(skip)]
    pub truncated: bool,
    /// Where the incomplete tail starts (offset of the record / packet that was cut).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_at: Option<u64>,
    /// True once the whole source was read to its proper end.
    #[serde(skip)]
    pub complete: bool,
    /// Packets without a UDP payload (TCP, ICMP, ARP, …), skipped.
    pub skipped_non_udp: u64,
    /// UDP packets to another port than the filter, skipped.
    pub skipped_other_port: u64,
    /// pcapng blocks that hold no packet (statistics, name resolution, …), skipped.
    pub skipped_blocks: u64,
    /// Packets whose headers could not be parsed, skipped.
    pub skipped_malformed: u64,
    /// IP fragments seen.
    pub fragments: u64,
    /// Datagrams rebuilt from fragments (already counted in `datagrams`).
    pub reassembled: u64,
    /// Fragments that never completed a datagram (evicted or left at the end), dropped.
    pub fragments_dropped: u64,
    /// Packets cut by the snap length, skipped (only with `allow_truncated`; otherwise an error).
    pub snaplen_cut: u64,
    /// Blank lines skipped (jsonl/text).
    #[serde(skip)]
    pub blank_lines: u64,
    /// Capture files: version, compression and the tagger state read from the file's end.
    #[serde(skip)]
    pub capture: Option<CaptureInfo>,
}

impl ReadStats {
    /// One line per fact worth telling a user; empty for a clean, complete read.
    /// (pcapng blocks without packets are normal and not mentioned.)
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(at) = self.truncated_at {
            notes.push(format!(
                "truncated: read {} records, up to byte {at}; the rest was cut off",
                self.records_read
            ));
        }
        let skipped: Vec<String> = [
            (self.skipped_non_udp, "not UDP"),
            (self.skipped_other_port, "UDP to another port"),
            (self.skipped_malformed, "malformed headers"),
            (self.snaplen_cut, "cut by the snap length"),
            (self.fragments_dropped, "incomplete IP fragments"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, why)| format!("{n} {why}"))
        .collect();
        if !skipped.is_empty() {
            notes.push(format!("skipped packets: {}", skipped.join(", ")));
        }
        if self.reassembled > 0 {
            notes.push(format!(
                "IP fragments: {} seen, {} datagrams reassembled from them",
                self.fragments, self.reassembled
            ));
        }
        notes
    }
}

/// What a capture file says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaptureInfo {
    /// File version (1–3).
    pub version: u8,
    /// True for a zstd-compressed file.
    pub compressed: bool,
    /// The tagger state at the end of a version ≥ 2 file, once it was read (`None` until the
    /// end is reached, and always for version 1).
    /// Shared, not copied, by every snapshot.
    pub tagger_state: Option<Arc<TaggerState>>,
    /// Size in bytes of the encoded tagger state (0 for the empty state the agent writes when
    /// no origin detection was on).
    pub tagger_state_len: u32,
}

/// Shared handle on a reader's [`ReadStats`] (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct StatsHandle(Arc<Mutex<ReadStats>>);

impl StatsHandle {
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the counters as they are now.
    pub fn snapshot(&self) -> ReadStats {
        self.lock().clone()
    }

    /// Updates the counters.
    pub(crate) fn update(&self, f: impl FnOnce(&mut ReadStats)) {
        f(&mut self.lock());
    }

    fn lock(&self) -> MutexGuard<'_, ReadStats> {
        // A panic while holding the lock leaves plain counters behind: still worth reading.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
