//! Helpers shared by the fuzz targets: a byte cursor that turns fuzzer input into choices, a
//! scratch file for the readers that open a path, and a drain with a bound.

use lastbucket::source::{Datagram, SourceError};
use std::path::PathBuf;

/// Most items a target takes from one reader: a reader that yields more from a few kilobytes
/// of input is looping, and the assertion that says so is a finding.
pub const MAX_ITEMS: usize = 200_000;

/// Reads choices off the front of the input; past its end every read is 0, so every input is
/// a valid program.
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Cursor<'a> {
        Cursor { data }
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        (u64::from(self.u32())) | (u64::from(self.u32()) << 32)
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// What is left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// A file of this process for the readers that take a path. In `/dev/shm` when there is one
/// (no disk I/O per input), named by pid so parallel fuzzing jobs do not share it.
pub fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("lastbucket-fuzz-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("scratch file writable");
    path
}

/// Drains a reader: every item is a datagram or an error, the iterator ends after its first
/// error, and it ends within [`MAX_ITEMS`]. Returns the datagrams read.
pub fn drain<I>(items: I) -> Vec<Datagram>
where
    I: IntoIterator<Item = Result<Datagram, SourceError>>,
{
    let mut out = Vec::new();
    let mut it = items.into_iter();
    while let Some(item) = it.next() {
        match item {
            Ok(d) => out.push(d),
            Err(e) => {
                // An error names what went wrong; rendering it must not panic either.
                let _ = e.to_string();
                let _ = e.offset();
                assert!(it.next().is_none(), "a reader went on after an error: {e}");
                break;
            }
        }
        assert!(out.len() <= MAX_ITEMS, "endless stream");
    }
    out
}
