//! Datadog agent capture files (`agent dogstatsd-capture` / `agent dogstatsd-replay`): a
//! streaming reader for versions 1–3, raw or zstd-compressed, and a version-3 writer.
//!
//! This is the format real DogStatsD traffic is recorded in, so lastbucket must read what the
//! agent writes and write what the agent reads. Facts, checked against DataDog/datadog-agent
//! `comp/dogstatsd/replay/impl/{file_common,file,reader,reader_creator,writer}.go`,
//! `cmd/agent/subcommands/dogstatsdreplay/command.go`, the UDS listener that fills the records,
//! and `pkg/proto/datadog/model/v1/model.proto`:
//!
//! - The whole file may be zstd-compressed (the reader looks for the zstd magic first).
//! - Header, 8 bytes: `D4 74 D0 60 F0 FF 00 00` with the version OR-ed into byte 4; the agent
//!   reads the version as `0xF0 ^ byte4` and refuses versions above 3.
//! - Records: a 4-byte little-endian length, then a protobuf `UnixDogstatsdMsg`. The datagram is
//!   `payload[:payloadSize]`. Timestamps are seconds before version 3 and nanoseconds from 3
//!   (the listener stores `time.Now().UnixNano()`).
//! - Version ≥ 2: a record length of 0 separates the records from a protobuf `TaggerState`, and
//!   the file ends with the 4-byte little-endian length of that state. The agent's writer writes
//!   an empty state (0 bytes, length 0) when no origin was seen: `00 00 00 00 | 00 00 00 00`.
//!
//! Where lastbucket is stricter than the agent: the agent's reader treats a record length that
//! runs past the end of the file as a clean end of the capture, and its version-1 files have no
//! terminator at all. Here a length that runs past the end is a truncated file (an error, or a
//! recorded `truncated_at` with `allow_truncated`), and a version ≥ 2 file without its
//! terminator is truncated too: the format has no count and no checksum, so lengths are the only
//! way to notice a cut. Version 0 (a header with byte 4 = `F0`) was never written by an agent
//! and is refused.
//!
//! Memory: records are read one at a time through a `BufReader` (and a streaming zstd decoder);
//! only the tagger state at the end is read whole, capped at [`MAX_STATE_LEN`], and decoded
//! only when the memory its decoding would take stays within the budget of
//! [`decoded_size_estimate`] (its small elements multiply once decoded).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;

use super::capture_proto::{
    decoded_size_estimate, TaggerState, UnixDogstatsdMsg, MAX_STATE_MEMORY,
};
use super::detect::{is_capture_header, is_zstd};
use super::error::{Position, SourceError};
use super::stats::{CaptureInfo, StatsHandle};
use super::Datagram;

/// The version this crate writes (the agent's current `datadogFileVersion`).
pub const CAPTURE_VERSION: u8 = 3;
/// Oldest version with a trailing tagger state (the agent's `minStateVersion`).
pub const MIN_STATE_VERSION: u8 = 2;
/// Oldest version with nanosecond timestamps (the agent's `minNanoVersion`).
pub const MIN_NANO_VERSION: u8 = 3;
/// Largest record accepted; a larger length is taken for corruption, not a datagram.
pub const MAX_RECORD_LEN: u32 = 16 << 20;
/// Largest tagger state accepted at the end of a file.
pub const MAX_STATE_LEN: u32 = 64 << 20;

/// The 8-byte header of a capture file of `version`.
pub fn capture_header(version: u8) -> [u8; 8] {
    [0xD4, 0x74, 0xD0, 0x60, 0xF0 | version, 0xFF, 0x00, 0x00]
}

/// Streaming reader of one capture file; an iterator of datagrams in file order.
pub struct CaptureReader<R> {
    src: R,
    path: PathBuf,
    version: u8,
    compressed: bool,
    allow_truncated: bool,
    /// Offset of the next unread byte of the (decompressed) stream.
    offset: u64,
    /// Index of the next record.
    record: u64,
    datagrams: u64,
    done: bool,
    stats: StatsHandle,
    buf: Vec<u8>,
    tagger_state: Option<Arc<TaggerState>>,
}

/// The reader of a capture file on disk (raw or zstd).
pub type FileCaptureReader = CaptureReader<Box<dyn Read + Send>>;

/// Opens a capture file, raw or zstd-compressed (detected from the zstd magic), and reads its
/// header.
pub fn open_capture(
    path: &Path,
    allow_truncated: bool,
    stats: StatsHandle,
) -> Result<FileCaptureReader, SourceError> {
    let mut file = File::open(path).map_err(|e| SourceError::io(path, e))?;
    let mut magic = [0u8; 4];
    let n = read_full(&mut file, &mut magic).map_err(|e| SourceError::io(path, e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| SourceError::io(path, e))?;
    let compressed = is_zstd(&magic[..n]);
    let src: Box<dyn Read + Send> = if compressed {
        let decoder =
            zstd::stream::read::Decoder::new(file).map_err(|e| SourceError::io(path, e))?;
        Box::new(decoder)
    } else {
        Box::new(BufReader::with_capacity(64 << 10, file))
    };
    CaptureReader::new(path, src, compressed, allow_truncated, stats)
}

impl<R: Read> CaptureReader<R> {
    /// Reads the header from `src` (already decompressed when `compressed`).
    pub fn new(
        path: &Path,
        mut src: R,
        compressed: bool,
        allow_truncated: bool,
        stats: StatsHandle,
    ) -> Result<Self, SourceError> {
        let mut header = [0u8; 8];
        let n = match read_full(&mut src, &mut header) {
            Ok(n) => n,
            Err(e) => {
                return Err(classify_read_error(
                    path,
                    e,
                    compressed,
                    Position::header(0).in_decompressed(compressed),
                    "the 8-byte capture header",
                    0,
                ))
            }
        };
        if n < header.len() {
            return Err(SourceError::Truncated {
                path: path.to_path_buf(),
                at: Position::header(n as u64).in_decompressed(compressed),
                expected: format!("the 8-byte capture header, got {n} bytes"),
                datagrams_before: 0,
            });
        }
        if !is_capture_header(&header) {
            let detail = if compressed {
                format!(
                    "zstd-compressed data that is not a Datadog capture file (decompressed \
                     header {header:02X?}, expected D4 74 D0 60 Fv FF 00 00)"
                )
            } else {
                format!("not a Datadog capture header: {header:02X?} (expected D4 74 D0 60 Fv FF 00 00)")
            };
            return Err(SourceError::Corrupt {
                path: path.to_path_buf(),
                at: Position::header(0).in_decompressed(compressed),
                detail,
                datagrams_before: 0,
            });
        }
        let version = header[4] ^ 0xF0;
        if !(1..=CAPTURE_VERSION).contains(&version) {
            return Err(SourceError::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "capture file version {version} (header byte offset 4; versions 1 to \
                     {CAPTURE_VERSION} are read)"
                ),
            });
        }
        stats.update(|s| {
            s.bytes_read = 8;
            s.capture = Some(CaptureInfo {
                version,
                compressed,
                tagger_state: None,
                tagger_state_len: 0,
            });
        });
        Ok(CaptureReader {
            src,
            path: path.to_path_buf(),
            version,
            compressed,
            allow_truncated,
            offset: 8,
            record: 0,
            datagrams: 0,
            done: false,
            stats,
            buf: Vec::new(),
            tagger_state: None,
        })
    }

    /// The file's version (1–3).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// True for a zstd-compressed file.
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// The tagger state at the end of a version ≥ 2 file, once the records were all read.
    pub fn tagger_state(&self) -> Option<&TaggerState> {
        self.tagger_state.as_deref()
    }

    fn pos(&self, record: u64, offset: u64) -> Position {
        Position::at("record", record, offset).in_decompressed(self.compressed)
    }

    /// Ends the stream on a cut: an error, or (with `allow_truncated`) a clean end that
    /// records where the complete part stops.
    fn truncated(
        &mut self,
        at: Position,
        expected: String,
    ) -> Option<Result<Datagram, SourceError>> {
        self.done = true;
        if self.allow_truncated {
            self.stats.update(|s| {
                s.truncated = true;
                s.truncated_at = Some(at.offset);
            });
            None
        } else {
            Some(Err(SourceError::Truncated {
                path: self.path.clone(),
                at,
                expected,
                datagrams_before: self.datagrams,
            }))
        }
    }

    fn fail(&mut self, e: SourceError) -> Option<Result<Datagram, SourceError>> {
        self.done = true;
        if e.is_truncated() && self.allow_truncated {
            let at = e.offset();
            self.stats.update(|s| {
                s.truncated = true;
                s.truncated_at = at;
            });
            return None;
        }
        Some(Err(e))
    }

    fn corrupt(&mut self, at: Position, detail: String) -> Option<Result<Datagram, SourceError>> {
        self.done = true;
        Some(Err(SourceError::Corrupt {
            path: self.path.clone(),
            at,
            detail,
            datagrams_before: self.datagrams,
        }))
    }

    fn read_error(&self, e: io::Error, at: Position, expected: &str) -> SourceError {
        classify_read_error(&self.path, e, self.compressed, at, expected, self.datagrams)
    }

    fn next_datagram(&mut self) -> Option<Result<Datagram, SourceError>> {
        if self.done {
            return None;
        }
        let rec_start = self.offset;
        let at = self.pos(self.record, rec_start);
        let mut len_bytes = [0u8; 4];
        let n = match read_full(&mut self.src, &mut len_bytes) {
            Ok(n) => n,
            Err(e) => {
                let e = self.read_error(e, at, "a 4-byte record length");
                return self.fail(e);
            }
        };
        match n {
            0 if self.version < MIN_STATE_VERSION => {
                // Version 1 has no terminator: the end of the data after a whole record is the
                // end of the capture.
                self.finish_complete();
                return None;
            }
            0 => {
                return self.truncated(
                    at,
                    "a record length or the 0-length terminator before the tagger state".into(),
                )
            }
            1..=3 => return self.truncated(at, format!("a 4-byte record length, got {n} bytes")),
            _ => {}
        }
        self.offset += 4;
        let len = u32::from_le_bytes(len_bytes);
        if len == 0 {
            return self.end_of_records(at);
        }
        if len > MAX_RECORD_LEN {
            return self.corrupt(
                at,
                format!("record length {len} is larger than the {MAX_RECORD_LEN}-byte limit"),
            );
        }
        self.buf.clear();
        let got = match (&mut self.src)
            .take(u64::from(len))
            .read_to_end(&mut self.buf)
        {
            Ok(got) => got,
            Err(e) => {
                let e = self.read_error(e, at, "the rest of the record");
                return self.fail(e);
            }
        };
        if got < len as usize {
            return self.truncated(
                at,
                format!("a {len}-byte record, only {got} bytes follow its length"),
            );
        }
        self.offset += u64::from(len);
        let msg = match UnixDogstatsdMsg::decode(&self.buf[..]) {
            Ok(m) => m,
            Err(e) => {
                return self.corrupt(
                    at,
                    format!("bad protobuf UnixDogstatsdMsg ({len} bytes): {e}"),
                )
            }
        };
        let ts_ns = match self.timestamp_ns(msg.timestamp) {
            Ok(t) => t,
            Err(detail) => return self.corrupt(at, detail),
        };
        let size = msg.payload_size;
        if size < 0 || size as usize > msg.payload.len() {
            return self.corrupt(
                at,
                format!(
                    "payloadSize {size} does not fit the {}-byte payload",
                    msg.payload.len()
                ),
            );
        }
        let mut payload = msg.payload;
        payload.truncate(size as usize);
        self.record += 1;
        self.datagrams += 1;
        let (offset, records, plen) = (self.offset, self.record, payload.len() as u64);
        self.stats.update(|s| {
            s.bytes_read = offset;
            s.records_read = records;
            s.datagrams += 1;
            s.payload_bytes += plen;
        });
        Some(Ok(Datagram { ts_ns, payload }))
    }

    fn timestamp_ns(&self, ts: i64) -> Result<u64, String> {
        if ts < 0 {
            return Err(format!("negative timestamp {ts}"));
        }
        if self.version >= MIN_NANO_VERSION {
            Ok(ts as u64)
        } else {
            (ts as u64)
                .checked_mul(1_000_000_000)
                .filter(|&ns| ns <= super::MAX_TS_NS)
                .ok_or_else(|| {
                    format!(
                        "timestamp {ts} s does not fit in nanoseconds up to the latest arrival \
                         time (2262-04-11)"
                    )
                })
        }
    }

    /// After a 0-length record: the tagger state and its length (version ≥ 2), or the end of
    /// a version-1 file (which the agent's reader also stops at).
    fn end_of_records(&mut self, at: Position) -> Option<Result<Datagram, SourceError>> {
        let offset = self.offset;
        self.stats.update(|s| s.bytes_read = offset);
        if self.version < MIN_STATE_VERSION {
            let mut one = [0u8; 1];
            return match read_full(&mut self.src, &mut one) {
                Ok(0) => {
                    self.finish_complete();
                    None
                }
                Ok(_) => self.corrupt(
                    at,
                    "0-length record in a version 1 file (which has no terminator), followed by more data".into(),
                ),
                Err(e) => {
                    let e = self.read_error(e, at, "the end of the file");
                    self.fail(e)
                }
            };
        }
        let state_start = self.offset;
        let at = Position::at("tagger state after record", self.record, state_start)
            .in_decompressed(self.compressed);
        let mut tail = Vec::new();
        let cap = u64::from(MAX_STATE_LEN) + 5;
        if let Err(e) = (&mut self.src).take(cap).read_to_end(&mut tail) {
            let e = self.read_error(e, at, "the tagger state");
            return self.fail(e);
        }
        if tail.len() as u64 >= cap {
            return self.corrupt(
                at,
                format!("more than {MAX_STATE_LEN} bytes of tagger state after the records"),
            );
        }
        if tail.len() < 4 {
            return self.truncated(
                at,
                format!(
                    "the tagger state and its 4-byte length, got {} bytes",
                    tail.len()
                ),
            );
        }
        let body = tail.len() - 4;
        #[allow(clippy::expect_used)] // proven: 4 bytes
        let len = u32::from_le_bytes(tail[body..].try_into().expect("4 bytes")) as usize;
        if len > body {
            return self.truncated(
                at,
                format!("a {len}-byte tagger state, only {body} bytes present"),
            );
        }
        if len < body {
            return self.corrupt(
                at,
                format!(
                    "the tagger state length at the end says {len} bytes, but {body} bytes lie \
                     between the terminator and that length"
                ),
            );
        }
        let estimate = decoded_size_estimate(&tail[..body]);
        if estimate > MAX_STATE_MEMORY {
            return self.corrupt(
                at,
                format!(
                    "a {body}-byte tagger state that would take about {} MiB once decoded \
                     (more than the {} MiB limit)",
                    estimate >> 20,
                    MAX_STATE_MEMORY >> 20
                ),
            );
        }
        let state = match TaggerState::decode(&tail[..body]) {
            Ok(s) => s,
            Err(e) => {
                return self.corrupt(at, format!("bad protobuf TaggerState ({len} bytes): {e}"))
            }
        };
        self.offset += tail.len() as u64;
        let offset = self.offset;
        // Shared with the stats, not copied: a state may be large.
        let state = Arc::new(state);
        let for_stats = Arc::clone(&state);
        self.tagger_state = Some(state);
        self.stats.update(|s| {
            s.bytes_read = offset;
            if let Some(c) = s.capture.as_mut() {
                c.tagger_state = Some(for_stats);
                c.tagger_state_len = len as u32;
            }
        });
        self.finish_complete();
        None
    }

    fn finish_complete(&mut self) {
        self.done = true;
        self.stats.update(|s| s.complete = true);
    }
}

impl<R: Read> Iterator for CaptureReader<R> {
    type Item = Result<Datagram, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_datagram()
    }
}

/// Reads until `buf` is full or the data ends; returns how many bytes were read.
pub(crate) fn read_full<R: Read + ?Sized>(src: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A read error from a (possibly zstd-decoded) stream: the decoder reports a frame cut short as
/// `UnexpectedEof` ("incomplete frame") and bad compressed data as `Other`.
fn classify_read_error(
    path: &Path,
    e: io::Error,
    compressed: bool,
    at: Position,
    expected: &str,
    datagrams_before: u64,
) -> SourceError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => SourceError::Truncated {
            path: path.to_path_buf(),
            at,
            expected: format!("{expected} (the zstd stream ends mid-frame: {e})"),
            datagrams_before,
        },
        io::ErrorKind::Other if compressed => SourceError::Corrupt {
            path: path.to_path_buf(),
            at,
            detail: format!("zstd decompression failed: {e}"),
            datagrams_before,
        },
        _ => SourceError::io(path, e),
    }
}

enum Sink {
    Raw(BufWriter<File>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Raw(w) => w,
            Sink::Zstd(w) => w,
        }
    }
}

/// Writes a version-3 capture file the agent's `dogstatsd-replay` reads, raw or zstd, one
/// record at a time.
///
/// Crash safety: after every record (or every [`CaptureWriter::set_flush_every`] records) the
/// writer flushes through to the file. For zstd that is a zstd *flush* (`ZSTD_e_flush`): it
/// ends the current block, so every record written so far is inside complete blocks on disk,
/// all in one frame that is simply not closed yet. A writer killed before [`finish`] therefore
/// leaves a file whose records can all be read back up to the last flush: the streaming
/// decoder returns every complete block, then reports the frame cut short, which the reader
/// treats as a truncated file (kept with `allow_truncated`). Raw files are flushed the same
/// way. Flushing hands the bytes to the operating system (they survive the process, not a
/// power cut: there is no fsync).
///
/// Byte compatibility with the agent: records are the little-endian length + protobuf bytes
/// the agent's `writeNext`/`Write` produce (prost and Go's `proto.Marshal` both write proto3
/// fields in tag order and omit zero values; checked on hand-assembled bytes in the tests),
/// and [`finish`] writes the agent's `writeState` trailer for an empty state
/// (`00 00 00 00` separator, 0 state bytes, `00 00 00 00` length). The agent itself could not
/// be run here; the test fixtures in `fixtures/` are assembled byte by byte from the format
/// facts above, independently of this writer, and the writer's output is compared to them.
///
/// [`finish`]: CaptureWriter::finish
pub struct CaptureWriter {
    path: PathBuf,
    sink: Option<Sink>,
    records: u64,
    flush_every: u32,
    since_flush: u32,
    buf: Vec<u8>,
}

impl CaptureWriter {
    /// Creates (truncates) `path` and writes the header; `compress` selects zstd.
    pub fn create(path: &Path, compress: bool) -> Result<Self, SourceError> {
        let file = super::output_file::create_output(path).map_err(|e| SourceError::io(path, e))?;
        let out = BufWriter::with_capacity(64 << 10, file);
        let sink = if compress {
            let enc =
                zstd::stream::write::Encoder::new(out, 3).map_err(|e| SourceError::io(path, e))?;
            Sink::Zstd(enc)
        } else {
            Sink::Raw(out)
        };
        let mut w = CaptureWriter {
            path: path.to_path_buf(),
            sink: Some(sink),
            records: 0,
            flush_every: 1,
            since_flush: 0,
            buf: Vec::new(),
        };
        let header = capture_header(CAPTURE_VERSION);
        w.write_bytes(&header)?;
        w.flush()?;
        Ok(w)
    }

    /// Flush through to the file after every `n` records (default 1); 0 flushes only on
    /// [`CaptureWriter::finish`] and explicit [`CaptureWriter::flush`].
    pub fn set_flush_every(&mut self, n: u32) {
        self.flush_every = n;
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), SourceError> {
        #[allow(clippy::expect_used)] // proven: writer used after finish
        let sink = self.sink.as_mut().expect("writer used after finish");
        sink.writer()
            .write_all(bytes)
            .map_err(|e| SourceError::io(&self.path, e))
    }

    /// Appends one datagram as a record (timestamp in nanoseconds, version 3).
    pub fn write(&mut self, d: &Datagram) -> Result<(), SourceError> {
        let unrepresentable = |detail: String| SourceError::Unrepresentable {
            path: self.path.clone(),
            index: self.records,
            detail,
        };
        let timestamp = i64::try_from(d.ts_ns)
            .map_err(|_| unrepresentable(format!("timestamp {} ns is past 2262", d.ts_ns)))?;
        let payload_size = i32::try_from(d.payload.len())
            .ok()
            .filter(|&n| n as u32 <= MAX_RECORD_LEN - 64)
            .ok_or_else(|| {
                unrepresentable(format!("{}-byte payload is too large", d.payload.len()))
            })?;
        let msg = UnixDogstatsdMsg {
            timestamp,
            payload_size,
            payload: d.payload.clone(),
            pid: 0,
            ancillary_size: 0,
            ancillary: Vec::new(),
        };
        self.buf.clear();
        let len = msg.encoded_len() as u32;
        self.buf.extend_from_slice(&len.to_le_bytes());
        #[allow(clippy::expect_used)] // proven: Vec grows as needed
        msg.encode(&mut self.buf).expect("Vec grows as needed");
        let bytes = std::mem::take(&mut self.buf);
        let res = self.write_bytes(&bytes);
        self.buf = bytes;
        res?;
        self.records += 1;
        self.since_flush += 1;
        if self.flush_every > 0 && self.since_flush >= self.flush_every {
            self.flush()?;
        }
        Ok(())
    }

    /// Flushes every record written so far through to the file (see the type's doc).
    pub fn flush(&mut self) -> Result<(), SourceError> {
        self.since_flush = 0;
        #[allow(clippy::expect_used)] // proven: writer used after finish
        let sink = self.sink.as_mut().expect("writer used after finish");
        sink.writer()
            .flush()
            .map_err(|e| SourceError::io(&self.path, e))
    }

    /// Writes the trailer the agent's writer writes (0-length terminator, empty tagger state,
    /// its 0 length), closes the zstd frame and flushes. Returns the number of records.
    pub fn finish(mut self) -> Result<u64, SourceError> {
        let state = TaggerState::default().encode_to_vec();
        let mut trailer = vec![0, 0, 0, 0];
        trailer.extend_from_slice(&state);
        trailer.extend_from_slice(&(state.len() as u32).to_le_bytes());
        self.write_bytes(&trailer)?;
        let path = self.path.clone();
        let io = |e| SourceError::io(&path, e);
        #[allow(clippy::expect_used)] // proven: finish called once
        match self.sink.take().expect("finish called once") {
            Sink::Raw(mut w) => w.flush().map_err(io)?,
            Sink::Zstd(enc) => {
                let mut w = enc.finish().map_err(io)?;
                w.flush().map_err(io)?;
            }
        }
        Ok(self.records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dg(ts_ns: u64, p: &str) -> Datagram {
        Datagram {
            ts_ns,
            payload: p.as_bytes().to_vec(),
        }
    }

    fn read_all(
        path: &Path,
        allow_truncated: bool,
    ) -> (Vec<Result<Datagram, SourceError>>, StatsHandle) {
        let stats = StatsHandle::new();
        let r = open_capture(path, allow_truncated, stats.clone()).unwrap();
        (r.collect(), stats)
    }

    #[test]
    fn header_bytes() {
        assert_eq!(
            capture_header(3),
            [0xD4, 0x74, 0xD0, 0x60, 0xF3, 0xFF, 0x00, 0x00]
        );
    }

    #[test]
    fn writer_raw_exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.dog");
        let mut w = CaptureWriter::create(&p, false).unwrap();
        w.write(&dg(5, "a:1|c")).unwrap();
        assert_eq!(w.finish().unwrap(), 1);
        let bytes = std::fs::read(&p).unwrap();
        let mut want = capture_header(3).to_vec();
        // record: 08 05 (ts=5) 10 05 (size=5) 1A 05 "a:1|c" = 11 bytes
        want.extend_from_slice(&[11, 0, 0, 0, 0x08, 0x05, 0x10, 0x05, 0x1A, 0x05]);
        want.extend_from_slice(b"a:1|c");
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes, want);
    }

    #[test]
    fn zstd_writer_flushes_each_record() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.dog.zst");
        let mut w = CaptureWriter::create(&p, true).unwrap();
        for i in 0..5 {
            w.write(&dg(i, "x:1|c")).unwrap();
        }
        // Simulate a kill: the writer is never finished nor dropped.
        std::mem::forget(w);
        let (items, stats) = read_all(&p, true);
        assert_eq!(items.len(), 5);
        let s = stats.snapshot();
        assert!(s.truncated);
        assert_eq!(s.datagrams, 5);
        let (items, _) = read_all(&p, false);
        assert_eq!(items.len(), 6);
        assert!(items[5].as_ref().unwrap_err().is_truncated());
    }
}
