//! The packet assembler of the UDP listener: packs several datagrams, newline-joined, into one
//! packet of at most `buffer_size` bytes. A packet leaves when the next datagram would not fit
//! or when the flush ticker fires (`dogstatsd_packet_buffer_flush_timeout`). As in the
//! reference (`packets/assembler.go`), a full packet waits for the next datagram or the ticker
//! like any other: only a datagram that does not fit pushes it out.

use super::packet::{DatagramId, Packet};

#[derive(Debug, Clone)]
pub struct PacketAssembler {
    buffer_size: usize,
    current: Packet,
}

impl PacketAssembler {
    pub fn new(buffer_size: usize) -> PacketAssembler {
        PacketAssembler {
            buffer_size,
            current: Packet::default(),
        }
    }

    /// Adds a datagram; returns the packet that had to leave to make room for it, if any.
    pub fn add(&mut self, datagram: DatagramId, ts_ns: u64, payload: &[u8]) -> Option<Packet> {
        let mut out = None;
        if !self.current.is_empty() && self.current.buf.len() + 1 + payload.len() > self.buffer_size
        {
            out = self.flush();
        }
        self.current.push(datagram, ts_ns, payload);
        out
    }

    /// Hands over the packet being assembled (timer tick or close).
    pub fn flush(&mut self) -> Option<Packet> {
        if self.current.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.current))
        }
    }

    pub fn datagrams_held(&self) -> usize {
        self.current.segments.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_until_full_then_hands_over() {
        let mut a = PacketAssembler::new(10);
        assert!(a.add(0, 1, b"abcd").is_none());
        assert!(a.add(1, 1, b"efgh").is_none()); // "abcd\nefgh" = 9 bytes
        let p = a.add(2, 2, b"ij").expect("no room for 3 more bytes");
        assert_eq!(p.buf, b"abcd\nefgh");
        assert_eq!(p.segments.len(), 2);
        let rest = a.flush().unwrap();
        assert_eq!(rest.buf, b"ij");
        assert!(a.flush().is_none());
    }

    #[test]
    fn a_full_packet_leaves_with_the_next_datagram_none_is_lost() {
        let mut a = PacketAssembler::new(4);
        assert!(a.add(0, 1, b"ab").is_none());
        // Does not fit beside "ab": "ab" leaves; "abcd" fills the buffer but stays.
        assert_eq!(a.add(1, 1, b"abcd").unwrap().buf, b"ab");
        assert_eq!(a.datagrams_held(), 1);
        let p = a.add(2, 1, b"x").unwrap();
        assert_eq!((p.buf.as_slice(), p.segments.len()), (&b"abcd"[..], 1));
        assert_eq!(a.flush().unwrap().buf, b"x");
    }
}
