//! The `packetsIn` queue between the listeners and the workers: a bounded FIFO of packet
//! batches. On the virtual clock a batch becomes available to the workers `latency` after it was
//! queued (0 by default: workers keep up), so what is still queued at a stop moment is exact.

use super::packet::PacketBatch;
use std::collections::VecDeque;

#[derive(Debug, Clone)]
pub struct Queue {
    capacity: usize,
    latency_ns: u64,
    batches: VecDeque<(u64, PacketBatch)>,
}

impl Queue {
    pub fn new(capacity: usize, latency_ns: u64) -> Queue {
        Queue {
            capacity,
            latency_ns,
            batches: VecDeque::new(),
        }
    }

    pub fn is_full(&self) -> bool {
        self.batches.len() >= self.capacity
    }

    pub fn len(&self) -> usize {
        self.batches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Queues a batch at `now`. The caller makes room first when the queue is full (the
    /// reference blocks the listener; see the driver).
    pub fn push(&mut self, now_ns: u64, batch: PacketBatch) {
        self.batches.push_back((now_ns + self.latency_ns, batch));
    }

    /// The next batch a worker may take at `now`.
    pub fn pop_ready(&mut self, now_ns: u64) -> Option<PacketBatch> {
        match self.batches.front() {
            Some((ready, _)) if *ready <= now_ns => self.batches.pop_front().map(|(_, b)| b),
            _ => None,
        }
    }

    /// The oldest batch regardless of its ready time (a worker drains without waiting).
    pub fn pop_any(&mut self) -> Option<PacketBatch> {
        self.batches.pop_front().map(|(_, b)| b)
    }

    /// When the oldest batch becomes available.
    pub fn next_ready_ns(&self) -> Option<u64> {
        self.batches.front().map(|(t, _)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::packet::Packet;

    #[test]
    fn batches_wait_their_latency() {
        let mut q = Queue::new(2, 100);
        q.push(1_000, vec![Packet::single(0, 1_000, b"a")]);
        assert!(q.pop_ready(1_099).is_none());
        assert!(q.pop_ready(1_100).is_some());
        q.push(1_000, vec![]);
        q.push(1_000, vec![]);
        assert!(q.is_full());
        assert!(q.pop_any().is_some());
        assert_eq!(q.len(), 1);
    }
}
