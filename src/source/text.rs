//! Plain text: one datagram per line.
//!
//! The simplest way to hand the tool some traffic (`cat metrics.txt`), and what `generate` can
//! write for a quick look. DogStatsD splits datagrams into lines anyway, so a line per datagram
//! loses nothing a server sees except the grouping of lines into packets and the arrival times.
//! Times come from `text_rate` (datagram *i* arrives at *i* / rate seconds) or are all 0.
//! Empty lines (also `\r` alone) are skipped; other bytes, `\r` included, are kept as they are.
//!
//! The writer puts each datagram on its own line. A datagram holding several lines comes back
//! as several datagrams (one per line), an empty datagram does not come back, and times are not
//! kept: use the capture or JSON-lines format when those matter.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::error::SourceError;
use super::lines::{read_line, LineRead, MAX_LINE_LEN};
use super::stats::StatsHandle;
use super::Datagram;

/// Streaming reader of a text file.
pub struct TextSource {
    src: BufReader<File>,
    path: PathBuf,
    rate: Option<f64>,
    stats: StatsHandle,
    line: u64,
    offset: u64,
    datagrams: u64,
    done: bool,
    buf: Vec<u8>,
}

impl TextSource {
    /// `rate`: datagrams per second (finite, > 0), or `None` for all at t = 0.
    pub fn open(path: &Path, rate: Option<f64>, stats: StatsHandle) -> Result<Self, SourceError> {
        if let Some(r) = rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(SourceError::InvalidOption {
                    path: path.to_path_buf(),
                    detail: format!(
                        "text rate must be a positive number of datagrams per second, got {r}"
                    ),
                });
            }
        }
        let file = File::open(path).map_err(|e| SourceError::io(path, e))?;
        Ok(TextSource {
            src: BufReader::with_capacity(256 << 10, file),
            path: path.to_path_buf(),
            rate,
            stats,
            line: 0,
            offset: 0,
            datagrams: 0,
            done: false,
            buf: Vec::new(),
        })
    }

    /// Arrival of datagram `index`; `None` past [`super::MAX_TS_NS`] (a tiny rate), which a
    /// float-to-int cast would otherwise silently saturate.
    fn ts_ns(&self, index: u64) -> Option<u64> {
        match self.rate {
            Some(r) => {
                let ns = (index as f64 * 1e9 / r).round();
                (ns <= super::MAX_TS_NS as f64).then_some(ns as u64)
            }
            None => Some(0),
        }
    }
}

impl Iterator for TextSource {
    type Item = Result<Datagram, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let line_offset = self.offset;
            let read = match read_line(&mut self.src, &mut self.buf) {
                Ok(r) => r,
                Err(e) => {
                    self.done = true;
                    return Some(Err(SourceError::io(&self.path, e)));
                }
            };
            self.line += 1;
            match read {
                LineRead::End => {
                    self.done = true;
                    self.stats.update(|s| s.complete = true);
                    return None;
                }
                LineRead::TooLong => {
                    self.done = true;
                    return Some(Err(SourceError::Corrupt {
                        path: self.path.clone(),
                        at: super::Position::at("line", self.line, line_offset),
                        detail: format!(
                            "line longer than {MAX_LINE_LEN} bytes (is this a text file?)"
                        ),
                        datagrams_before: self.datagrams,
                    }));
                }
                LineRead::Line { raw_len, .. } => self.offset += raw_len as u64,
            }
            if self.buf.is_empty() || self.buf == b"\r" {
                let offset = self.offset;
                self.stats.update(|s| {
                    s.blank_lines += 1;
                    s.bytes_read = offset;
                });
                continue;
            }
            let Some(ts_ns) = self.ts_ns(self.datagrams) else {
                self.done = true;
                return Some(Err(SourceError::Corrupt {
                    path: self.path.clone(),
                    at: super::Position::at("line", self.line, line_offset),
                    detail: format!(
                        "at {} datagrams/s, datagram {} would arrive past the latest arrival \
                         time (2262-04-11); give a higher text rate",
                        self.rate.unwrap_or(0.0),
                        self.datagrams
                    ),
                    datagrams_before: self.datagrams,
                }));
            };
            let d = Datagram {
                ts_ns,
                payload: self.buf.clone(),
            };
            self.datagrams += 1;
            let (offset, plen) = (self.offset, d.payload.len() as u64);
            self.stats.update(|s| {
                s.bytes_read = offset;
                s.records_read += 1;
                s.datagrams += 1;
                s.payload_bytes += plen;
            });
            return Some(Ok(d));
        }
    }
}

/// Writes datagrams one per line (see the module doc for what is not kept).
pub struct TextWriter {
    out: BufWriter<File>,
    path: PathBuf,
    written: u64,
}

impl TextWriter {
    pub fn create(path: &Path) -> Result<Self, SourceError> {
        let file = super::output_file::create_output(path).map_err(|e| SourceError::io(path, e))?;
        Ok(TextWriter {
            out: BufWriter::with_capacity(64 << 10, file),
            path: path.to_path_buf(),
            written: 0,
        })
    }

    /// Writes the datagram's bytes (without trailing newlines) and a newline.
    pub fn write(&mut self, d: &Datagram) -> Result<(), SourceError> {
        let mut p = &d.payload[..];
        while let [rest @ .., b'\n'] = p {
            p = rest;
        }
        self.out
            .write_all(p)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|e| SourceError::io(&self.path, e))?;
        self.written += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), SourceError> {
        self.out.flush().map_err(|e| SourceError::io(&self.path, e))
    }

    /// Flushes; returns the number of datagrams written.
    pub fn finish(mut self) -> Result<u64, SourceError> {
        self.flush()?;
        Ok(self.written)
    }
}
