//! Message framing of the Unix stream transport: each DogStatsD message is preceded by its
//! length as a 4-byte little-endian integer (the agent's `uds_stream` listener).
//!
//! The reader keeps bytes it has read in its own buffer and reads the socket with one plain
//! `read` per [`FrameReader::fill`], so a fill cancelled by a stop consumes nothing: the stream
//! never loses its framing, and what is left can still be read after the stop (the transport
//! check drains it to identify the messages that were never read).

use crate::runtime::{ReadExt, UnixStream};
use std::io;

/// Longest frame accepted; a longer length prefix means the peer does not speak the protocol.
pub const MAX_FRAME: usize = 16 << 20;

const READ_CHUNK: usize = 64 << 10;

/// A length prefix over [`MAX_FRAME`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stream message of {0} bytes is longer than the {MAX_FRAME}-byte limit")]
pub struct FrameTooLong(pub usize);

/// Reads length-prefixed messages from a Unix stream.
pub struct FrameReader {
    stream: UnixStream,
    buf: Vec<u8>,
    start: usize,
    scratch: Box<[u8]>,
    eof: bool,
}

impl FrameReader {
    pub fn new(stream: UnixStream) -> FrameReader {
        FrameReader {
            stream,
            buf: Vec::new(),
            start: 0,
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            eof: false,
        }
    }

    /// Reads once from the socket into the buffer; returns the number of bytes read, 0 at the
    /// end of the stream. Cancel-safe (see the module documentation).
    pub async fn fill(&mut self) -> io::Result<usize> {
        let n = self.stream.read(&mut self.scratch).await?;
        if n == 0 {
            self.eof = true;
        }
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= READ_CHUNK {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(&self.scratch[..n]);
        Ok(n)
    }

    /// The next complete message already buffered, if any, borrowed from the buffer (valid
    /// until the next fill): the listener copies it into its batch without allocating.
    pub fn next_frame_slice(&mut self) -> Result<Option<&[u8]>, FrameTooLong> {
        let avail = &self.buf[self.start..];
        let Some(prefix) = avail.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if len > MAX_FRAME {
            return Err(FrameTooLong(len));
        }
        if avail.len() < 4 + len {
            return Ok(None);
        }
        let at = self.start + 4;
        self.start += 4 + len;
        Ok(Some(&self.buf[at..at + len]))
    }

    /// The next complete message already buffered, if any.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameTooLong> {
        let avail = &self.buf[self.start..];
        let Some(prefix) = avail.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if len > MAX_FRAME {
            return Err(FrameTooLong(len));
        }
        let Some(body) = avail.get(4..4 + len) else {
            return Ok(None);
        };
        let frame = body.to_vec();
        self.start += 4 + len;
        Ok(Some(frame))
    }

    /// True once the peer closed its end.
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Bytes read but not yet returned as a frame (a partial message).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// A message with its length prefix, as a client writes it.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::block_on;
    use std::io::Write;

    #[test]
    fn frames_split_across_reads_come_out_whole() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut a = a;
        let mut r = FrameReader::new(UnixStream::from(b));
        let mut bytes = encode(b"a:1|c");
        bytes.extend(encode(b""));
        bytes.extend(encode(b"b:2|g\nc:3|h"));
        block_on(async {
            let mut got = Vec::new();
            for chunk in bytes.chunks(3) {
                a.write_all(chunk).unwrap();
                r.fill().await.unwrap();
                while let Some(f) = r.next_frame().unwrap() {
                    got.push(f);
                }
            }
            drop(a);
            assert_eq!(r.fill().await.unwrap(), 0);
            assert!(r.is_eof());
            assert_eq!(
                got,
                vec![b"a:1|c".to_vec(), vec![], b"b:2|g\nc:3|h".to_vec()]
            );
            assert_eq!(r.buffered(), 0);
        });
    }

    #[test]
    fn an_absurd_length_is_an_error() {
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut r = FrameReader::new(UnixStream::from(b));
        a.write_all(&u32::MAX.to_le_bytes()).unwrap();
        block_on(async {
            r.fill().await.unwrap();
            assert_eq!(r.next_frame(), Err(FrameTooLong(u32::MAX as usize)));
        });
    }
}
