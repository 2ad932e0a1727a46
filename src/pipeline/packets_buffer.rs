//! The packets buffer of a listener: collects packets and hands a batch to the queue when it
//! holds `packet_buffer_size` packets or when its flush ticker fires. Closing it (listener stop)
//! hands over what it holds, as current versions of the reference do.

use super::packet::{Packet, PacketBatch};

#[derive(Debug, Clone)]
pub struct PacketsBuffer {
    size: usize,
    packets: PacketBatch,
}

impl PacketsBuffer {
    pub fn new(size: usize) -> PacketsBuffer {
        PacketsBuffer {
            size,
            packets: Vec::with_capacity(size),
        }
    }

    /// Appends a packet; returns a full batch when the buffer reached its size.
    pub fn append(&mut self, packet: Packet) -> Option<PacketBatch> {
        self.packets.push(packet);
        if self.packets.len() >= self.size {
            self.flush()
        } else {
            None
        }
    }

    /// Hands over what is held (timer tick or close).
    pub fn flush(&mut self) -> Option<PacketBatch> {
        if self.packets.is_empty() {
            None
        } else {
            Some(std::mem::replace(
                &mut self.packets,
                Vec::with_capacity(self.size),
            ))
        }
    }

    pub fn packets_held(&self) -> usize {
        self.packets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_over_full_batches_and_the_rest_on_flush() {
        let mut b = PacketsBuffer::new(2);
        assert!(b.append(Packet::single(0, 0, b"a")).is_none());
        assert_eq!(b.append(Packet::single(1, 0, b"b")).unwrap().len(), 2);
        assert!(b.append(Packet::single(2, 0, b"c")).is_none());
        assert_eq!(b.packets_held(), 1);
        assert_eq!(b.flush().unwrap().len(), 1);
        assert!(b.flush().is_none());
    }
}
