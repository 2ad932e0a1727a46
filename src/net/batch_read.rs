//! The read path's buffers: datagrams are read many at a time (`recvmmsg`) and handed on in
//! batches whose buffers are reused, so that reading at line rate allocates nothing per
//! datagram and costs one channel hand-off per batch instead of one per datagram.
//!
//! - [`ReadBatch`]: datagrams (or stream messages) read by one listener, packed in one buffer,
//!   each with its length, read instant and truncation. Dropping a batch gives its buffers back
//!   to the [`BatchPool`] it came from, which is how the consumer (the pipeline task) returns
//!   them to the reader without a channel of its own.
//! - [`MmsgReader`]: one `recvmmsg` call into fixed slots of `buffer_size + 1` bytes, then a
//!   copy of each datagram into the batch (a copy, not an allocation: the batch's buffer is
//!   sized once for [`BATCH_BYTES`] plus one slot, so it never grows). Packing keeps the memory
//!   in flight proportional to the bytes read, not to `buffer_size` (8 KiB slots for 245-byte
//!   datagrams would hold 33 times more).

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Most datagrams one `recvmmsg` call reads.
pub const RECV_VLEN: usize = 32;
/// A batch is handed on once it holds this many datagrams...
pub const BATCH_DATAGRAMS: usize = 256;
/// ...or this many bytes, or when the socket is empty and the batch is a millisecond old (see
/// the reader, `datagram_thread`).
pub const BATCH_BYTES: usize = 64 << 10;

/// One datagram (or stream message) as read, borrowed from its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    /// The bytes read: at most `buffer_size + 1` (one more than fits means truncated).
    pub payload: &'a [u8],
    /// When it was read (one instant for all the datagrams of one read call).
    pub at: Instant,
    /// Longer than the read buffer: `payload` holds only its first `buffer_size + 1` bytes.
    pub truncated: bool,
    /// The pipeline listener index of the listener that read it.
    pub listener: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    len: usize,
    truncated: bool,
    at: Instant,
}

/// The reusable parts of a batch.
#[derive(Debug, Default)]
struct Buffers {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

/// Datagrams read by one listener, in the order read.
#[derive(Debug)]
pub struct ReadBatch {
    listener: usize,
    buffers: Buffers,
    /// Where the buffers go back when the batch is dropped (`None`: a batch of its own).
    pool: Option<Arc<BatchPool>>,
}

impl ReadBatch {
    /// A batch outside any pool (tests, one-off uses).
    pub fn new(listener: usize) -> ReadBatch {
        ReadBatch {
            listener,
            buffers: Buffers::default(),
            pool: None,
        }
    }

    pub fn listener(&self) -> usize {
        self.listener
    }

    pub fn len(&self) -> usize {
        self.buffers.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buffers.entries.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.buffers.bytes.len()
    }

    /// Whether the batch should be handed on now (see [`BATCH_DATAGRAMS`], [`BATCH_BYTES`]).
    pub fn is_full(&self) -> bool {
        self.len() >= BATCH_DATAGRAMS || self.bytes() >= BATCH_BYTES
    }

    /// Appends a copy of `payload`.
    pub fn push(&mut self, payload: &[u8], truncated: bool, at: Instant) {
        let b = &mut self.buffers;
        b.entries.push(Entry {
            start: b.bytes.len(),
            len: payload.len(),
            truncated,
            at,
        });
        b.bytes.extend_from_slice(payload);
    }

    /// The `i`-th datagram.
    pub fn get(&self, i: usize) -> Option<Received<'_>> {
        let e = self.buffers.entries.get(i)?;
        Some(Received {
            payload: &self.buffers.bytes[e.start..e.start + e.len],
            at: e.at,
            truncated: e.truncated,
            listener: self.listener,
        })
    }

    /// The datagrams, in the order read.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Received<'_>> + '_ {
        self.buffers.entries.iter().map(move |e| Received {
            payload: &self.buffers.bytes[e.start..e.start + e.len],
            at: e.at,
            truncated: e.truncated,
            listener: self.listener,
        })
    }

    /// Where the batch's bytes live: the same address again means the buffer was reused.
    pub fn buffer_address(&self) -> *const u8 {
        self.buffers.bytes.as_ptr()
    }
}

impl Drop for ReadBatch {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give(std::mem::take(&mut self.buffers));
        }
    }
}

/// The free batch buffers of one listener. It holds at most as many as were ever in flight at
/// once (the channel's capacity plus the one being filled and the one being consumed), so it
/// allocates only while the pipeline falls behind for the first time, never per datagram.
#[derive(Debug)]
pub struct BatchPool {
    listener: usize,
    /// The capacity a new batch's buffer gets: one full batch plus one slot, so pushing up to
    /// the hand-on threshold never reallocates.
    capacity: usize,
    free: Mutex<Vec<Buffers>>,
    created: AtomicUsize,
}

impl BatchPool {
    /// A pool for a listener with read buffers of `slot` bytes (`buffer_size + 1`).
    pub fn new(listener: usize, slot: usize) -> Arc<BatchPool> {
        Arc::new(BatchPool {
            listener,
            capacity: BATCH_BYTES + slot,
            free: Mutex::new(Vec::new()),
            created: AtomicUsize::new(0),
        })
    }

    /// An empty batch: a returned one when there is one, else a new one.
    pub fn take(self: &Arc<Self>) -> ReadBatch {
        // A poisoned lock only means a thread panicked while pushing a buffer: the list is
        // still a list of valid buffers.
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let buffers = reused.unwrap_or_else(|| {
            self.created.fetch_add(1, Relaxed);
            Buffers {
                bytes: Vec::with_capacity(self.capacity),
                entries: Vec::with_capacity(BATCH_DATAGRAMS + RECV_VLEN),
            }
        });
        ReadBatch {
            listener: self.listener,
            buffers,
            pool: Some(self.clone()),
        }
    }

    /// Batches allocated so far.
    pub fn created(&self) -> usize {
        self.created.load(Relaxed)
    }

    fn give(&self, mut b: Buffers) {
        b.bytes.clear();
        b.entries.clear();
        self.free.lock().unwrap_or_else(|e| e.into_inner()).push(b);
    }
}

/// What one read call added to a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCounts {
    pub datagrams: usize,
    pub bytes: usize,
    pub truncated: usize,
}

/// Reads a datagram socket with `recvmmsg` into slots it owns (allocated once).
pub struct MmsgReader {
    buffer_size: usize,
    slots: Box<[u8]>,
}

impl MmsgReader {
    /// A reader for datagrams of up to `buffer_size` bytes (longer ones are cut to
    /// `buffer_size + 1` bytes and marked truncated, as the single reads were).
    pub fn new(buffer_size: usize) -> MmsgReader {
        MmsgReader {
            buffer_size,
            slots: vec![0u8; RECV_VLEN * (buffer_size + 1)].into_boxed_slice(),
        }
    }

    /// Reads what `fd` holds right now, up to `max` datagrams (at most [`RECV_VLEN`]), without
    /// waiting, and appends them to `batch`, all stamped with the instant of the read.
    /// `Ok` with 0 datagrams: the socket is empty (it would block).
    pub fn read_into(
        &mut self,
        fd: RawFd,
        batch: &mut ReadBatch,
        max: usize,
    ) -> io::Result<ReadCounts> {
        let slot = self.buffer_size + 1;
        let vlen = max.clamp(1, RECV_VLEN);
        // SAFETY: iovec and mmsghdr are plain C structs for which all-zero is a valid value
        // (null pointers, zero lengths); the pointers set below are filled in next.
        let mut iov: [libc::iovec; RECV_VLEN] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; RECV_VLEN] = unsafe { std::mem::zeroed() };
        let base = self.slots.as_mut_ptr();
        for i in 0..vlen {
            // SAFETY: `slots` holds RECV_VLEN slots of `slot` bytes and i < vlen <= RECV_VLEN,
            // so the slot is inside the allocation.
            iov[i].iov_base = unsafe { base.add(i * slot) }.cast();
            iov[i].iov_len = slot;
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        let n = loop {
            // SAFETY: `msgs[..vlen]` point at `iov[..vlen]`, which point at distinct slots of
            // `self.slots`; all outlive the call. The kernel writes only within those lengths.
            let rc = unsafe {
                libc::recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    vlen as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if rc >= 0 {
                break rc as usize;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(ReadCounts::default()),
                _ => return Err(e),
            }
        };
        let at = Instant::now();
        let mut counts = ReadCounts::default();
        for (i, m) in msgs.iter().enumerate().take(n) {
            let len = (m.msg_len as usize).min(slot);
            let truncated = len > self.buffer_size;
            batch.push(&self.slots[i * slot..i * slot + len], truncated, at);
            counts.datagrams += 1;
            counts.bytes += len;
            counts.truncated += truncated as usize;
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn reads_several_datagrams_in_one_call_and_cuts_long_ones() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for p in [&b"a:1|c"[..], b"0123456789", b"b:2|g"] {
            tx.send_to(p, to).unwrap();
        }
        let mut reader = MmsgReader::new(8);
        let pool = BatchPool::new(3, 9);
        let mut batch = pool.take();
        let mut got = ReadCounts::default();
        // Loopback delivers at once, but the kernel may split what is queued over calls.
        while got.datagrams < 3 {
            let c = reader.read_into(rx.as_raw_fd(), &mut batch, 32).unwrap();
            got.datagrams += c.datagrams;
            got.bytes += c.bytes;
            got.truncated += c.truncated;
        }
        assert_eq!((got.bytes, got.truncated), (5 + 9 + 5, 1));
        let read: Vec<_> = batch.iter().map(|r| (r.payload, r.truncated)).collect();
        assert_eq!(
            read,
            [
                (&b"a:1|c"[..], false),
                (&b"012345678"[..], true),
                (&b"b:2|g"[..], false)
            ]
        );
        assert!(batch.iter().all(|r| r.listener == 3));
        let empty = reader.read_into(rx.as_raw_fd(), &mut batch, 32).unwrap();
        assert_eq!(empty.datagrams, 0, "an empty socket does not block");
    }

    #[test]
    fn a_dropped_batch_returns_its_buffer_to_the_pool() {
        let pool = BatchPool::new(0, 16);
        let mut a = pool.take();
        a.push(b"x", false, Instant::now());
        let address = a.buffer_address();
        drop(a);
        let b = pool.take();
        assert!(b.is_empty(), "a returned batch comes back empty");
        assert_eq!(b.buffer_address(), address, "the same buffer, reused");
        assert_eq!(pool.created(), 1);
    }
}
