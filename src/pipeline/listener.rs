//! One listener's stages before the shared queue, as in the reference
//! (`comp/dogstatsd/listeners`): every listener owns a packets buffer; a UDP listener also owns
//! a packet assembler that packs its datagrams, a Unix listener none (its datagrams carry
//! origin metadata, so they are never packed). Every listener's batches go to the one queue.
//!
//! Each stage here has its own timer, as each reference goroutine has its own ticker; the
//! [`super::Pipeline`] fires them in time order and hands the batches to the queue. Counters are
//! kept per listener and summed by the pipeline, so that they stay per stage.

use super::assembler::PacketAssembler;
use super::clock::{Ticker, NANOS_PER_MS};
use super::counters::{AssemblerCounters, ListenerCounters, PacketsBufferCounters};
use super::packet::{DatagramId, Packet, PacketBatch};
use super::packets_buffer::PacketsBuffer;
use super::PipelineConfig;

/// How a listener hands datagrams on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// UDP: datagrams are packed into packets by the assembler.
    Udp,
    /// Unix sockets: one datagram per packet (they carry origin metadata).
    Unix,
}

/// A listener's assembler (UDP only) and packets buffer, with their timers and counters.
#[derive(Debug, Clone)]
pub struct ListenerStage {
    kind: ListenerKind,
    buffer_size: usize,
    assembler: Option<(PacketAssembler, Ticker)>,
    packets_buffer: PacketsBuffer,
    buffer_ticker: Ticker,
    pub(super) listener_counters: ListenerCounters,
    pub(super) assembler_counters: AssemblerCounters,
    pub(super) buffer_counters: PacketsBufferCounters,
}

impl ListenerStage {
    /// A listener started at `start_ns`: its timers tick every packet-buffer flush timeout from
    /// there (the reference uses the one timeout for both the assembler and the buffer).
    pub fn new(kind: ListenerKind, config: &PipelineConfig, start_ns: u64) -> ListenerStage {
        let timeout = config.packet_buffer_flush_timeout_ms * NANOS_PER_MS;
        let assembler = (kind == ListenerKind::Udp).then(|| {
            (
                PacketAssembler::new(config.buffer_size),
                Ticker::new(start_ns, timeout),
            )
        });
        ListenerStage {
            kind,
            buffer_size: config.buffer_size,
            assembler,
            packets_buffer: PacketsBuffer::new(config.packet_buffer_size),
            buffer_ticker: Ticker::new(start_ns, timeout),
            listener_counters: ListenerCounters::default(),
            assembler_counters: AssemblerCounters::default(),
            buffer_counters: PacketsBufferCounters::default(),
        }
    }

    pub fn kind(&self) -> ListenerKind {
        self.kind
    }

    /// When the assembler's timer fires next (`None`: no assembler).
    pub fn assembler_due_ns(&self) -> Option<u64> {
        self.assembler.as_ref().map(|(_, t)| t.next_ns())
    }

    /// When the packets buffer's timer fires next.
    pub fn buffer_due_ns(&self) -> u64 {
        self.buffer_ticker.next_ns()
    }

    /// A datagram read at `ts`: cut to the read buffer, packed (UDP) or made a packet of its
    /// own (Unix). Returns the batch the packets buffer handed on, if it filled up.
    pub fn receive(&mut self, id: DatagramId, ts_ns: u64, payload: &[u8]) -> Option<PacketBatch> {
        let c = &mut self.listener_counters;
        c.datagrams += 1;
        c.bytes += payload.len() as u64;
        let read = if payload.len() > self.buffer_size {
            c.truncated_datagrams += 1;
            &payload[..self.buffer_size]
        } else {
            payload
        };
        match &mut self.assembler {
            Some((assembler, _)) => {
                self.assembler_counters.datagrams_in += 1;
                let packet = assembler.add(id, ts_ns, read)?;
                self.hand_to_buffer(packet)
            }
            None => self.hand_to_buffer(Packet::single(id, ts_ns, read)),
        }
    }

    /// Whether the assembler holds nothing (its tick would do nothing).
    pub fn assembler_idle(&self) -> bool {
        self.assembler
            .as_ref()
            .is_none_or(|(a, _)| a.datagrams_held() == 0)
    }

    /// Whether the packets buffer holds nothing (its tick would do nothing).
    pub fn buffer_idle(&self) -> bool {
        self.packets_buffer.packets_held() == 0
    }

    /// Jumps the assembler's idle timer over its ticks before `until`.
    pub fn skip_assembler(&mut self, until_ns: u64) {
        if let Some((_, t)) = self.assembler.as_mut() {
            t.skip_before(until_ns);
        }
    }

    /// Jumps the packets buffer's idle timer over its ticks before `until`.
    pub fn skip_buffer(&mut self, until_ns: u64) {
        self.buffer_ticker.skip_before(until_ns);
    }

    /// The assembler's timer fired at `at`: its packet goes to the packets buffer.
    pub fn tick_assembler(&mut self, at_ns: u64) -> Option<PacketBatch> {
        let (assembler, ticker) = self.assembler.as_mut()?;
        ticker.poll(at_ns);
        let packet = assembler.flush()?;
        self.hand_to_buffer(packet)
    }

    /// The packets buffer's timer fired at `at`: what it holds goes to the queue.
    pub fn tick_buffer(&mut self, at_ns: u64) -> Option<PacketBatch> {
        self.buffer_ticker.poll(at_ns);
        let batch = self.packets_buffer.flush()?;
        self.buffer_counters.batches_out += 1;
        Some(batch)
    }

    /// The listener stops: as the reference's `Stop`, the assembler is closed first (its packet
    /// goes to the packets buffer, which may fill and hand a batch on), then the packets buffer
    /// (what it holds is handed on). Returns the batches, in the order they were handed on.
    pub fn close(&mut self) -> Vec<PacketBatch> {
        let mut out = Vec::new();
        if let Some(packet) = self.assembler.as_mut().and_then(|(a, _)| a.flush()) {
            out.extend(self.hand_to_buffer(packet));
        }
        if let Some(batch) = self.packets_buffer.flush() {
            self.buffer_counters.batches_out += 1;
            self.buffer_counters.batches_on_close += 1;
            out.push(batch);
        }
        out
    }

    /// (datagrams in the assembler, packets in the packets buffer).
    pub fn held(&self) -> (usize, usize) {
        let in_assembler = self
            .assembler
            .as_ref()
            .map_or(0, |(a, _)| a.datagrams_held());
        (in_assembler, self.packets_buffer.packets_held())
    }

    fn hand_to_buffer(&mut self, packet: Packet) -> Option<PacketBatch> {
        if self.assembler.is_some() {
            self.assembler_counters.packets_out += 1;
        }
        self.buffer_counters.packets_in += 1;
        let batch = self.packets_buffer.append(packet)?;
        self.buffer_counters.batches_out += 1;
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PipelineConfig {
        PipelineConfig {
            buffer_size: 16,
            packet_buffer_size: 2,
            packet_buffer_flush_timeout_ms: 100,
            ..PipelineConfig::default()
        }
    }

    #[test]
    fn udp_packs_then_buffers_unix_buffers_each_datagram() {
        let mut udp = ListenerStage::new(ListenerKind::Udp, &config(), 0);
        assert!(udp.receive(0, 1, b"a:1|c").is_none());
        assert!(udp.receive(1, 1, b"b:1|c").is_none());
        assert_eq!(udp.held(), (2, 0));
        let mut unix = ListenerStage::new(ListenerKind::Unix, &config(), 0);
        assert_eq!(unix.assembler_due_ns(), None);
        assert!(unix.receive(0, 1, b"a:1|c").is_none());
        let full = unix
            .receive(1, 1, b"b:1|c")
            .expect("two packets fill the buffer");
        assert_eq!(full.len(), 2);
        assert_eq!(unix.held(), (0, 0));
    }

    #[test]
    fn close_flushes_the_assembler_into_the_buffer_then_the_buffer() {
        let mut udp = ListenerStage::new(ListenerKind::Udp, &config(), 0);
        // 16-byte packets: each 10-byte datagram leaves the previous one's packet.
        udp.receive(0, 1, b"aaaa:1|c\n\n");
        udp.receive(1, 1, b"bbbb:1|c\n\n");
        assert_eq!(udp.held(), (1, 1));
        let batches = udp.close();
        // The assembler's packet fills the buffer (a batch of 2); nothing is left to flush.
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2]);
        assert_eq!(udp.buffer_counters.batches_on_close, 0);
        assert_eq!(udp.held(), (0, 0));

        let mut unix = ListenerStage::new(ListenerKind::Unix, &config(), 0);
        unix.receive(0, 1, b"x:1|c");
        assert_eq!(unix.close().iter().map(Vec::len).collect::<Vec<_>>(), [1]);
        assert_eq!(unix.buffer_counters.batches_on_close, 1);
    }

    #[test]
    fn truncates_to_the_read_buffer_and_counts_it() {
        let mut unix = ListenerStage::new(ListenerKind::Unix, &config(), 0);
        unix.receive(0, 1, b"0123456789abcdefXYZ");
        let batch = unix.close();
        assert_eq!(batch[0][0].buf, b"0123456789abcdef");
        assert_eq!(unix.listener_counters.truncated_datagrams, 1);
        assert_eq!(unix.listener_counters.bytes, 19);
    }
}
