//! Packets as the workers see them: one or more datagrams joined by `\n`, each remembering its
//! arrival time and its index in the source, so that every line can be traced back to the
//! datagram it came from (the ledger's unit of identity).

/// Index of a datagram in its source stream (0-based, in arrival order).
pub type DatagramId = u64;

/// One datagram inside a packet: bytes `start..end` of the packet's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub start: usize,
    pub end: usize,
    pub datagram: DatagramId,
    pub ts_ns: u64,
}

/// A packet: what the reference calls `packets.Packet` (contents of up to `buffer_size` bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packet {
    pub buf: Vec<u8>,
    pub segments: Vec<Segment>,
}

impl Packet {
    /// A packet holding one datagram (UDS datagrams are never packed).
    pub fn single(datagram: DatagramId, ts_ns: u64, payload: &[u8]) -> Packet {
        let mut p = Packet::default();
        p.push(datagram, ts_ns, payload);
        p
    }

    /// Appends a datagram, newline-separated from the previous one.
    pub fn push(&mut self, datagram: DatagramId, ts_ns: u64, payload: &[u8]) {
        if !self.buf.is_empty() {
            self.buf.push(b'\n');
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(payload);
        self.segments.push(Segment {
            start,
            end: self.buf.len(),
            datagram,
            ts_ns,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The datagrams of this packet with their bytes.
    pub fn datagrams(&self) -> impl Iterator<Item = (&Segment, &[u8])> {
        self.segments
            .iter()
            .map(move |s| (s, &self.buf[s.start..s.end]))
    }
}

/// A batch of packets, the unit the packets buffer hands to the queue.
pub type PacketBatch = Vec<Packet>;
