//! Errors of every source reader and writer.
//!
//! One enum for all formats, because the command line treats them alike (exit code 3, "input
//! error") and a user needs the same three facts whatever the format: which file, where in it
//! reading failed (record / packet / line number and byte offset), and how much was read before
//! (datagrams already handed on). A truncated file and a corrupt file are different variants so a
//! caller can offer `--allow-truncated` for the first and not for the second.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where in a file reading failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Byte offset of the failure. For a zstd-compressed capture this is the offset in the
    /// decompressed stream (see [`Position::decompressed`]).
    pub offset: u64,
    /// Index of the record, packet or block being read (0-based), or the 1-based line number of
    /// a line-oriented format; `None` when the failure is in a file header.
    pub index: Option<u64>,
    /// What `index` counts: "record", "packet", "block", "line".
    pub unit: &'static str,
    /// True when `offset` counts bytes of the decompressed stream, not of the file.
    pub decompressed: bool,
}

impl Position {
    /// A position in a file header (no record index).
    pub fn header(offset: u64) -> Self {
        Position {
            offset,
            index: None,
            unit: "header",
            decompressed: false,
        }
    }

    /// A position inside record / packet / line number `index` (as counted by `unit`).
    pub fn at(unit: &'static str, index: u64, offset: u64) -> Self {
        Position {
            offset,
            index: Some(index),
            unit,
            decompressed: false,
        }
    }

    /// The same position, its offset counted in the decompressed stream.
    pub fn in_decompressed(mut self, decompressed: bool) -> Self {
        self.decompressed = decompressed;
        self
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{} {} at byte offset {}", self.unit, i, self.offset)?,
            None => write!(f, "{} at byte offset {}", self.unit, self.offset)?,
        }
        if self.decompressed {
            write!(f, " of the decompressed stream")?;
        }
        Ok(())
    }
}

/// Every way reading or writing a source can fail. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The operating system refused (open, read, write, seek).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file ends before something its own lengths promise.
    #[error(
        "{}: truncated: {at}: expected {expected}, the file ends first ({datagrams_before} datagrams read before)",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        at: Position,
        expected: String,
        datagrams_before: u64,
    },

    /// The bytes are there but make no sense (bad magic, bad protobuf, bad zstd frame, …).
    #[error("{}: corrupt: {at}: {detail} ({datagrams_before} datagrams read before)", path.display())]
    Corrupt {
        path: PathBuf,
        at: Position,
        detail: String,
        datagrams_before: u64,
    },

    /// A packet was captured with a snap length shorter than the packet: its datagram would be
    /// silently short, so it is refused (or counted and skipped with `allow_truncated`).
    #[error(
        "{}: packet {packet} at byte offset {offset} was cut by the capture's snap length: \
         {captured} of {original} bytes captured ({datagrams_before} datagrams read before); \
         recapture with a larger snap length (tcpdump -s 0)",
        path.display()
    )]
    SnapLength {
        path: PathBuf,
        packet: u64,
        offset: u64,
        captured: u32,
        original: u32,
        datagrams_before: u64,
    },

    /// A well-formed file this reader does not handle (capture version, link type, …).
    #[error("{}: unsupported {what}", path.display())]
    Unsupported { path: PathBuf, what: String },

    /// A JSON-lines line that is not a datagram object.
    #[error(
        "{}: line {line} (byte offset {offset}): bad JSON line: {detail} ({datagrams_before} datagrams read before)",
        path.display()
    )]
    BadJsonLine {
        path: PathBuf,
        line: u64,
        offset: u64,
        detail: String,
        datagrams_before: u64,
    },

    /// A datagram that the chosen output format cannot hold (too large for a UDP packet, a
    /// timestamp out of range, …).
    #[error("{}: cannot write datagram {index}: {detail}", path.display())]
    Unrepresentable {
        path: PathBuf,
        index: u64,
        detail: String,
    },

    /// An option that makes no sense for this source (e.g. a non-positive text rate).
    #[error("{}: {detail}", path.display())]
    InvalidOption { path: PathBuf, detail: String },
}

impl SourceError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        SourceError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            SourceError::Io { path, .. }
            | SourceError::Truncated { path, .. }
            | SourceError::Corrupt { path, .. }
            | SourceError::SnapLength { path, .. }
            | SourceError::Unsupported { path, .. }
            | SourceError::BadJsonLine { path, .. }
            | SourceError::Unrepresentable { path, .. }
            | SourceError::InvalidOption { path, .. } => path,
        }
    }

    /// The byte offset where reading failed, when there is one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            SourceError::Truncated { at, .. } | SourceError::Corrupt { at, .. } => Some(at.offset),
            SourceError::SnapLength { offset, .. } | SourceError::BadJsonLine { offset, .. } => {
                Some(*offset)
            }
            _ => None,
        }
    }

    /// True for a file that ends early (what `allow_truncated` forgives).
    pub fn is_truncated(&self) -> bool {
        matches!(self, SourceError::Truncated { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_offset_and_count() {
        let e = SourceError::Truncated {
            path: PathBuf::from("/tmp/x.dog"),
            at: Position::at("record", 3, 120).in_decompressed(true),
            expected: "a 57-byte record".into(),
            datagrams_before: 3,
        };
        let s = e.to_string();
        assert!(s.contains("/tmp/x.dog"), "{s}");
        assert!(s.contains("record 3 at byte offset 120"), "{s}");
        assert!(s.contains("decompressed"), "{s}");
        assert!(s.contains("3 datagrams read before"), "{s}");
        assert_eq!(e.offset(), Some(120));
        assert!(e.is_truncated());
        assert_eq!(e.path(), Path::new("/tmp/x.dog"));
    }
}
