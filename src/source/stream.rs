//! A stream of datagrams, and what can open the same stream again: every command that reads
//! traffic takes a [`StreamOpener`], whatever the source is.

use super::{Datagram, ReadStats};

/// An error of a stream's source (unreadable, corrupt, truncated).
pub type StreamError = Box<dyn std::error::Error + Send + Sync>;
/// A stream of datagrams in arrival order.
pub type Stream<'a> = Box<dyn Iterator<Item = Result<Datagram, StreamError>> + 'a>;

/// Something that can open the same stream again for each scenario.
pub trait StreamOpener {
    fn open(&self) -> Result<Stream<'_>, StreamError>;
    /// `generated`, `capture`, `pcap`, `jsonl` or `text`.
    fn kind(&self) -> &'static str;
    fn description(&self) -> String;
    /// How far the last opening read a file source and what its reader skipped.
    fn read_stats(&self) -> Option<ReadStats> {
        None
    }
}
