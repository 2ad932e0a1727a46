//! `lastbucket record`: listens on a socket and writes what arrives, one record per datagram
//! with its arrival time, as a Datadog agent capture file (or any format lastbucket writes).
//!
//! The writer flushes after every record, so a recorder that is killed leaves a file that reads
//! back up to its last complete record (see [`crate::source::CaptureWriter`]).

use crate::net::batch_read::ReadBatch;
use crate::net::drops::DropScope;
use crate::net::listener::{Listener, ListenerCounts};
use crate::net::CHANNEL_CAPACITY;
use crate::pipeline::clock::WallClock;
use crate::runtime::{self, first, sleep_until, Receiver};
use crate::source::{Datagram, DatagramWriter, SourceError};
use std::time::{Duration, Instant};

/// When a recording ends (besides the stop channel being closed by a signal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordLimits {
    /// After this many datagrams are written.
    pub count: Option<u64>,
    /// After this long.
    pub duration: Option<Duration>,
}

/// What a recording wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordStats {
    pub datagrams: u64,
    pub bytes: u64,
    /// Datagrams longer than the read buffer, written cut to it.
    pub truncated: u64,
    /// Datagrams read after the count was reached (not written).
    pub not_written: u64,
    pub listener: ListenerCounts,
    pub kernel_drops: Option<u64>,
    pub kernel_drops_scope: Option<DropScope>,
}

/// Records from `listener` into `writer` until a limit is reached or `stop` is closed; then
/// completes the file.
pub fn record(
    listener: Listener,
    mut writer: DatagramWriter,
    buffer_size: usize,
    limits: RecordLimits,
    stop: Receiver<()>,
) -> Result<RecordStats, SourceError> {
    let clock = WallClock::now();
    let drops = listener.drops();
    let listener_stats = listener.stats();
    let deadline = limits.duration.map(|d| Instant::now() + d);
    let mut stats = RecordStats::default();
    let result = runtime::block_on(async {
        let (tx, rx) = runtime::bounded::<ReadBatch>(CHANNEL_CAPACITY);
        let (stop_listener, listener_stop) = runtime::bounded::<()>(1);
        let task = runtime::spawn(listener.run(tx, listener_stop));
        if limits.count == Some(0) {
            stop_listener.close();
        }
        let mut stopping = false;
        loop {
            // Looked at on every datagram: the race below favours the channel, which a busy
            // socket never leaves empty.
            if !stopping && (stop.is_closed() || deadline.is_some_and(|d| Instant::now() >= d)) {
                stop_listener.close();
                stopping = true;
            }
            let next = if stopping {
                Some(rx.recv().await)
            } else {
                let limit = async {
                    match deadline {
                        Some(d) => sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                let stopped = first(limit, async {
                    let _ = stop.recv().await;
                });
                first(async { Some(rx.recv().await) }, async {
                    stopped.await;
                    None
                })
                .await
            };
            match next {
                // The listener has stopped and everything it read has been taken.
                Some(Err(_)) => break,
                Some(Ok(batch)) => {
                    for r in batch.iter() {
                        if limits.count.is_some_and(|c| stats.datagrams >= c) {
                            stats.not_written += 1;
                            continue;
                        }
                        let mut payload = r.payload;
                        if r.truncated {
                            payload = &payload[..buffer_size.min(payload.len())];
                            stats.truncated += 1;
                        }
                        stats.bytes += payload.len() as u64;
                        writer.write(&Datagram {
                            ts_ns: clock.ns(r.at),
                            payload: payload.to_vec(),
                        })?;
                        stats.datagrams += 1;
                        if limits.count.is_some_and(|c| stats.datagrams >= c) {
                            stop_listener.close();
                            stopping = true;
                        }
                    }
                }
                None => {
                    stop_listener.close();
                    stopping = true;
                }
            }
        }
        // The socket stays open until its drop counter is read.
        let stopped = task.await;
        if let Some((d, scope)) = &drops {
            stats.kernel_drops = d.seen();
            stats.kernel_drops_scope = Some(*scope);
        }
        drop(stopped);
        Ok::<_, SourceError>(())
    });
    // Complete the file even when a write failed midway, so what was written stays readable.
    let finished = writer.finish();
    result?;
    finished?;
    stats.listener = listener_stats.snapshot();
    Ok(stats)
}
