//! Which sent datagram is this? The transport check sends a stream through a real socket and
//! must know, for every datagram sent, whether it was read (and under which id it entered the
//! pipeline) or lost in the socket.
//!
//! The sender records each datagram (id = send order) before it sends it, so by the time the
//! receiver reads a payload its record is available. Loopback delivers one sender's datagrams
//! in order and loses them only as a whole, so the datagram read is the first pending one with
//! the same bytes; every pending datagram before it was dropped (a gap). Two identical payloads
//! can swap roles around a gap, which changes nothing a verifier can see: same bytes, same
//! samples. A payload that matches nothing sent (another process writing to the socket) is
//! counted as foreign and kept out of the pipeline.
//!
//! The sender ends the stream with an end marker (a payload no DogStatsD client sends, with a
//! per-run nonce): when it is read, every datagram still pending was dropped.

use crate::net::listener::Received;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

/// A datagram as the sender recorded it before sending it.
#[derive(Debug, Clone)]
pub struct SentEntry {
    pub id: u64,
    pub payload: Vec<u8>,
}

/// What became of a sent datagram, reported to the sender in id order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Read and handed to the pipeline at `ts_ns`.
    Read { id: u64, ts_ns: u64 },
    /// Dropped by the kernel before it could be read.
    Dropped { id: u64 },
    /// Still in the socket when the listener stopped: never read.
    Unread { id: u64 },
}

/// What a payload read from the socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    Sent(u64),
    /// The end marker number `seq`.
    Marker(u64),
    Foreign,
}

/// The end-of-stream marker of one run.
#[derive(Debug, Clone)]
pub struct Marker {
    prefix: Vec<u8>,
}

impl Marker {
    pub fn new() -> Marker {
        let nonce: u64 = rand::random();
        Marker {
            prefix: format!("\n#lastbucket end of stream {nonce:016x} ").into_bytes(),
        }
    }

    /// The payload of marker number `seq` (UDP may need several tries).
    pub fn payload(&self, seq: u64) -> Vec<u8> {
        let mut p = self.prefix.clone();
        p.extend_from_slice(seq.to_string().as_bytes());
        p
    }

    fn parse(&self, payload: &[u8]) -> Option<u64> {
        let rest = payload.strip_prefix(self.prefix.as_slice())?;
        std::str::from_utf8(rest).ok()?.parse().ok()
    }
}

impl Default for Marker {
    fn default() -> Self {
        Marker::new()
    }
}

/// Counts of what the matcher saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchCounts {
    pub read: u64,
    /// Gaps: datagrams the kernel dropped.
    pub dropped: u64,
    pub unread: u64,
    pub foreign: u64,
    /// Marker number first read, if any.
    pub marker: Option<u64>,
}

/// Matches payloads read against the datagrams sent.
pub struct Matcher {
    sent: mpsc::Receiver<SentEntry>,
    pending: VecDeque<SentEntry>,
    fates: mpsc::Sender<Fate>,
    marker: Marker,
    marker_seen: Arc<AtomicBool>,
    counts: MatchCounts,
}

impl Matcher {
    pub fn new(
        sent: mpsc::Receiver<SentEntry>,
        fates: mpsc::Sender<Fate>,
        marker: Marker,
        marker_seen: Arc<AtomicBool>,
    ) -> Matcher {
        Matcher {
            sent,
            pending: VecDeque::new(),
            fates,
            marker,
            marker_seen,
            counts: MatchCounts::default(),
        }
    }

    pub fn counts(&self) -> MatchCounts {
        self.counts
    }

    pub fn marker_seen(&self) -> bool {
        self.counts.marker.is_some()
    }

    /// A payload read while listening, to enter the pipeline at `ts_ns`.
    pub fn read(&mut self, r: &Received<'_>, ts_ns: u64) -> Matched {
        self.resolve(r, |id| Fate::Read { id, ts_ns })
    }

    /// A payload found in the socket after the listener stopped.
    pub fn unread(&mut self, r: &Received<'_>) -> Matched {
        self.resolve(r, |id| Fate::Unread { id })
    }

    fn resolve(&mut self, r: &Received<'_>, fate: impl Fn(u64) -> Fate) -> Matched {
        if let Some(seq) = self.marker.parse(r.payload) {
            if self.counts.marker.is_none() {
                self.end_of_stream(seq);
            }
            return Matched::Marker(seq);
        }
        let Some(i) = self.locate(r) else {
            self.counts.foreign += 1;
            return Matched::Foreign;
        };
        for _ in 0..i {
            self.drop_front();
        }
        #[allow(clippy::expect_used)] // proven: located
        let e = self.pending.pop_front().expect("located");
        match fate(e.id) {
            Fate::Read { .. } => self.counts.read += 1,
            _ => self.counts.unread += 1,
        }
        let _ = self.fates.send(fate(e.id));
        Matched::Sent(e.id)
    }

    /// Index in `pending` of the first datagram with these bytes, pulling sent records in as
    /// needed.
    fn locate(&mut self, r: &Received<'_>) -> Option<usize> {
        let same = |e: &SentEntry| {
            if r.truncated {
                e.payload.len() >= r.payload.len() && e.payload.starts_with(r.payload)
            } else {
                e.payload == r.payload
            }
        };
        if let Some(i) = self.pending.iter().position(same) {
            return Some(i);
        }
        while let Ok(e) = self.sent.try_recv() {
            let hit = same(&e);
            self.pending.push_back(e);
            if hit {
                return Some(self.pending.len() - 1);
            }
        }
        None
    }

    fn drop_front(&mut self) {
        if let Some(e) = self.pending.pop_front() {
            self.counts.dropped += 1;
            let _ = self.fates.send(Fate::Dropped { id: e.id });
        }
    }

    /// The marker is sent after every datagram: whatever is still pending was dropped.
    fn end_of_stream(&mut self, seq: u64) {
        while let Ok(e) = self.sent.try_recv() {
            self.pending.push_back(e);
        }
        while !self.pending.is_empty() {
            self.drop_front();
        }
        self.counts.marker = Some(seq);
        self.marker_seen.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn rec(p: &[u8]) -> Received<'_> {
        Received {
            payload: p,
            at: Instant::now(),
            truncated: false,
            listener: 0,
        }
    }

    #[test]
    fn gaps_are_drops_and_the_marker_ends_the_stream() {
        let (stx, srx) = mpsc::channel();
        let (ftx, frx) = mpsc::channel();
        let marker = Marker::new();
        let seen = Arc::new(AtomicBool::new(false));
        let mut m = Matcher::new(srx, ftx, marker.clone(), seen.clone());
        for (id, p) in ["a", "b", "c", "a", "d"].iter().enumerate() {
            stx.send(SentEntry {
                id: id as u64,
                payload: p.as_bytes().to_vec(),
            })
            .unwrap();
        }
        assert_eq!(m.read(&rec(b"a"), 10), Matched::Sent(0));
        assert_eq!(m.read(&rec(b"c"), 11), Matched::Sent(2));
        assert_eq!(m.read(&rec(b"zzz"), 12), Matched::Foreign);
        assert_eq!(m.unread(&rec(b"a")), Matched::Sent(3));
        assert!(!seen.load(Ordering::Acquire));
        assert_eq!(m.read(&rec(&marker.payload(2)), 13), Matched::Marker(2));
        assert!(seen.load(Ordering::Acquire));
        let fates: Vec<Fate> = frx.try_iter().collect();
        assert_eq!(
            fates,
            vec![
                Fate::Read { id: 0, ts_ns: 10 },
                Fate::Dropped { id: 1 },
                Fate::Read { id: 2, ts_ns: 11 },
                Fate::Unread { id: 3 },
                Fate::Dropped { id: 4 },
            ]
        );
        let c = m.counts();
        assert_eq!((c.read, c.dropped, c.unread, c.foreign), (2, 2, 1, 1));
        assert_eq!(c.marker, Some(2));
    }

    #[test]
    fn a_truncated_read_matches_by_prefix() {
        let (stx, srx) = mpsc::channel();
        let (ftx, _frx) = mpsc::channel();
        let mut m = Matcher::new(srx, ftx, Marker::new(), Arc::default());
        stx.send(SentEntry {
            id: 0,
            payload: b"abcdef".to_vec(),
        })
        .unwrap();
        let mut r = rec(b"abc");
        r.truncated = true;
        assert_eq!(m.read(&r, 1), Matched::Sent(0));
    }
}
