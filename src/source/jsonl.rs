//! JSON lines: one datagram per line, `{"ts_ns": <int>, "payload_b64": "<base64>"}` or
//! `{"ts_ns": <int>, "payload": "<text>"}`.
//!
//! The format lastbucket writes for humans: it diffs well, a fixture can be written by hand,
//! and `jq` can slice it. Blank lines are skipped; any other line that is not such an object is
//! an error naming its line number. A last line without a newline that does not parse is taken
//! for a cut tail (truncated), not a bad line. Other keys in an object are ignored.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::error::{Position, SourceError};
use super::lines::{read_line, LineRead, MAX_LINE_LEN};
use super::stats::StatsHandle;
use super::Datagram;

#[derive(Deserialize)]
struct InLine {
    ts_ns: u64,
    #[serde(default)]
    payload: Option<String>,
    #[serde(default)]
    payload_b64: Option<String>,
}

#[derive(Serialize)]
struct OutLine<'a> {
    ts_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_b64: Option<String>,
}

/// Decodes one JSON line (without its newline) into a datagram.
pub fn parse_line(line: &[u8]) -> Result<Datagram, String> {
    let l: InLine = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    if l.ts_ns > super::MAX_TS_NS {
        return Err(format!(
            "ts_ns {} is past the latest arrival time {} (2262-04-11)",
            l.ts_ns,
            super::MAX_TS_NS
        ));
    }
    let payload = match (l.payload, l.payload_b64) {
        (Some(p), None) => p.into_bytes(),
        (None, Some(b)) => BASE64
            .decode(b.as_bytes())
            .map_err(|e| format!("payload_b64 is not valid base64: {e}"))?,
        (Some(_), Some(_)) => return Err("both \"payload\" and \"payload_b64\" are set".into()),
        (None, None) => return Err("neither \"payload\" nor \"payload_b64\" is set".into()),
    };
    Ok(Datagram {
        ts_ns: l.ts_ns,
        payload,
    })
}

/// Encodes one datagram as a JSON line (without the newline): `payload` when the bytes are
/// UTF-8, `payload_b64` otherwise.
#[allow(clippy::expect_used)] // proven: a struct of a number and strings serializes
pub fn format_line(d: &Datagram) -> String {
    let line = match std::str::from_utf8(&d.payload) {
        Ok(text) => OutLine {
            ts_ns: d.ts_ns,
            payload: Some(text),
            payload_b64: None,
        },
        Err(_) => OutLine {
            ts_ns: d.ts_ns,
            payload: None,
            payload_b64: Some(BASE64.encode(&d.payload)),
        },
    };
    serde_json::to_string(&line).expect("plain struct serializes")
}

/// Streaming reader of a JSON-lines file.
pub struct JsonlSource {
    src: BufReader<File>,
    path: PathBuf,
    allow_truncated: bool,
    stats: StatsHandle,
    /// Line number of the last line read (1-based).
    line: u64,
    /// Offset of the next unread byte.
    offset: u64,
    datagrams: u64,
    done: bool,
    buf: Vec<u8>,
}

impl JsonlSource {
    pub fn open(
        path: &Path,
        allow_truncated: bool,
        stats: StatsHandle,
    ) -> Result<Self, SourceError> {
        let file = File::open(path).map_err(|e| SourceError::io(path, e))?;
        Ok(JsonlSource {
            src: BufReader::with_capacity(256 << 10, file),
            path: path.to_path_buf(),
            allow_truncated,
            stats,
            line: 0,
            offset: 0,
            datagrams: 0,
            done: false,
            buf: Vec::new(),
        })
    }

    fn bad_line(
        &mut self,
        line_offset: u64,
        detail: String,
    ) -> Option<Result<Datagram, SourceError>> {
        self.done = true;
        Some(Err(SourceError::BadJsonLine {
            path: self.path.clone(),
            line: self.line,
            offset: line_offset,
            detail,
            datagrams_before: self.datagrams,
        }))
    }
}

impl Iterator for JsonlSource {
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
            let (terminated, raw_len) = match read {
                LineRead::End => {
                    self.done = true;
                    self.stats.update(|s| s.complete = true);
                    return None;
                }
                LineRead::TooLong => {
                    return self.bad_line(
                        line_offset,
                        format!("line longer than {MAX_LINE_LEN} bytes"),
                    )
                }
                LineRead::Line {
                    terminated,
                    raw_len,
                } => (terminated, raw_len),
            };
            self.offset += raw_len as u64;
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                let offset = self.offset;
                self.stats.update(|s| {
                    s.blank_lines += 1;
                    s.bytes_read = offset;
                });
                continue;
            }
            match parse_line(&self.buf) {
                Ok(d) => {
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
                Err(detail) if !terminated => {
                    // The last line, cut short: a truncated file rather than a bad line.
                    self.done = true;
                    if self.allow_truncated {
                        self.stats.update(|s| {
                            s.truncated = true;
                            s.truncated_at = Some(line_offset);
                        });
                        return None;
                    }
                    return Some(Err(SourceError::Truncated {
                        path: self.path.clone(),
                        at: Position::at("line", self.line, line_offset),
                        expected: format!(
                            "a complete JSON line (the last line has no newline and does not parse: {detail})"
                        ),
                        datagrams_before: self.datagrams,
                    }));
                }
                Err(detail) => return self.bad_line(line_offset, detail),
            }
        }
    }
}

/// Writes datagrams as JSON lines.
pub struct JsonlWriter {
    out: BufWriter<File>,
    path: PathBuf,
    written: u64,
}

impl JsonlWriter {
    pub fn create(path: &Path) -> Result<Self, SourceError> {
        let file = super::output_file::create_output(path).map_err(|e| SourceError::io(path, e))?;
        Ok(JsonlWriter {
            out: BufWriter::with_capacity(64 << 10, file),
            path: path.to_path_buf(),
            written: 0,
        })
    }

    pub fn write(&mut self, d: &Datagram) -> Result<(), SourceError> {
        let mut line = format_line(d);
        line.push('\n');
        self.out
            .write_all(line.as_bytes())
            .map_err(|e| SourceError::io(&self.path, e))?;
        self.written += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), SourceError> {
        self.out.flush().map_err(|e| SourceError::io(&self.path, e))
    }

    /// Flushes; returns the number of lines written.
    pub fn finish(mut self) -> Result<u64, SourceError> {
        self.flush()?;
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_payload_forms() {
        let d = parse_line(br#"{"ts_ns": 5, "payload": "a:1|c"}"#).unwrap();
        assert_eq!(
            d,
            Datagram {
                ts_ns: 5,
                payload: b"a:1|c".to_vec()
            }
        );
        let d = parse_line(br#"{"ts_ns": 6, "payload_b64": "YToxfGM="}"#).unwrap();
        assert_eq!(
            d,
            Datagram {
                ts_ns: 6,
                payload: b"a:1|c".to_vec()
            }
        );
        assert!(parse_line(br#"{"ts_ns": 6}"#).is_err());
        assert!(parse_line(br#"{"ts_ns": -1, "payload": "x"}"#).is_err());
        assert!(parse_line(br#"{"ts_ns": 1, "payload": "x", "payload_b64": "eA=="}"#).is_err());
    }

    #[test]
    fn format_picks_text_or_base64() {
        let d = Datagram {
            ts_ns: 1,
            payload: b"a:1|c\n".to_vec(),
        };
        assert_eq!(format_line(&d), r#"{"ts_ns":1,"payload":"a:1|c\n"}"#);
        let d = Datagram {
            ts_ns: 2,
            payload: vec![0xFF, 0x00],
        };
        assert_eq!(format_line(&d), r#"{"ts_ns":2,"payload_b64":"/wA="}"#);
        assert_eq!(parse_line(format_line(&d).as_bytes()).unwrap(), d);
    }
}
