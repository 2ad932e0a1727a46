//! What the listeners and their reader threads share: the datagram socket of either family and
//! the listener counters. Its own file so that `listener` (which starts the reader threads) and
//! `datagram_thread` (which reads and counts) both import it instead of each other.

use super::batch_read::ReadCounts;
use crate::runtime::{UdpSocket, UnixDatagram};
use serde::Serialize;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of a listener, readable while it runs.
#[derive(Debug, Default)]
pub struct ListenerStats {
    datagrams: AtomicU64,
    bytes: AtomicU64,
    truncated: AtomicU64,
    connections: AtomicU64,
    bad_messages: AtomicU64,
    read_errors: AtomicU64,
}

/// A snapshot of [`ListenerStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListenerCounts {
    /// Datagrams (stream: messages) read.
    pub datagrams: u64,
    /// Bytes read: a truncated UDP or Unix datagram counts the `buffer_size + 1` bytes read,
    /// its true length being unknown.
    pub bytes: u64,
    /// Datagrams longer than the read buffer.
    pub truncated: u64,
    /// Unix stream: connections accepted.
    pub connections: u64,
    /// Unix stream: connections closed for an impossible length prefix.
    pub bad_messages: u64,
    pub read_errors: u64,
}

impl ListenerStats {
    pub fn snapshot(&self) -> ListenerCounts {
        ListenerCounts {
            datagrams: self.datagrams.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            truncated: self.truncated.load(Relaxed),
            connections: self.connections.load(Relaxed),
            bad_messages: self.bad_messages.load(Relaxed),
            read_errors: self.read_errors.load(Relaxed),
        }
    }

    pub(super) fn count(&self, n: usize, truncated: bool) {
        self.count_read(ReadCounts {
            datagrams: 1,
            bytes: n,
            truncated: truncated as usize,
        });
    }

    /// One read call's datagrams, counted at once (three atomics per call, not per datagram).
    pub(super) fn count_read(&self, c: ReadCounts) {
        self.datagrams.fetch_add(c.datagrams as u64, Relaxed);
        self.bytes.fetch_add(c.bytes as u64, Relaxed);
        if c.truncated > 0 {
            self.truncated.fetch_add(c.truncated as u64, Relaxed);
        }
    }

    pub(super) fn read_error(&self) {
        self.read_errors.fetch_add(1, Relaxed);
    }

    pub(super) fn connection(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    pub(super) fn bad_message(&self) {
        self.bad_messages.fetch_add(1, Relaxed);
    }
}

/// A datagram socket of either family.
pub enum DatagramSocket {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

impl DatagramSocket {
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            DatagramSocket::Udp(s) => s.recv(buf).await,
            DatagramSocket::Unix(s) => s.recv(buf).await,
        }
    }
}

impl AsRawFd for DatagramSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            DatagramSocket::Udp(s) => s.as_raw_fd(),
            DatagramSocket::Unix(s) => s.as_raw_fd(),
        }
    }
}
