//! Sending a source to a DogStatsD server (`lastbucket replay`), and the client socket and
//! pacing that the socket transport of `check` uses too.
//!
//! When the server goes away mid-replay, the replay behaves like a DogStatsD client: over the
//! datagram transports (udp, unixgram) a refused send is counted and the replay goes on — a
//! server restart must not stop the client — and a Unix datagram socket is connected again as
//! soon as a server is back at its path. A Unix stream whose server closed it ends the replay:
//! the length framing cannot be resumed mid-stream and what the server had not read is gone, so
//! the stream is not reconnected. In every case the caller gets what was sent.

pub mod progress;
pub mod schedule;

use crate::net::Client;
pub use schedule::{loop_length_ns, wait_until, Pace, Schedule};

use crate::source::{StreamError, StreamOpener};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the progress callback is called.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// A replay's options: pace and number of passes over the source (0 = until stopped).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayOptions {
    pub pace: Pace,
    pub loops: u64,
}

/// What a replay sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayStats {
    /// Datagrams the system accepted (over UDP this says nothing of the server reading them).
    pub datagrams: u64,
    pub bytes: u64,
    /// Datagrams whose send was refused (server gone, datagram too long): not delivered.
    pub failed: u64,
    pub last_error: Option<String>,
    /// Times a Unix datagram socket was connected again to a server back at its path.
    pub reconnects: u64,
    /// Complete passes over the source.
    pub loops: u64,
    pub elapsed: Duration,
    /// Stream time of the latest datagram attempted, counted over every pass.
    pub stream_ns: u64,
}

impl ReplayStats {
    /// Datagrams per second achieved.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.datagrams as f64 / s
        } else {
            0.0
        }
    }

    /// Datagrams whose send was attempted, delivered or not.
    pub fn attempted(&self) -> u64 {
        self.datagrams + self.failed
    }
}

/// Why a replay ended.
#[derive(Debug)]
pub enum End {
    /// Every pass was sent.
    Complete,
    /// Stopped by a signal before the end.
    Interrupted,
    /// The server closed the Unix stream (the error of the failed write).
    Closed(io::Error),
    /// The source could not be read further.
    Source(StreamError),
}

/// What a replay sent, and why it ended.
#[derive(Debug)]
pub struct Outcome {
    pub stats: ReplayStats,
    pub end: End,
}

/// Sends the source through `client` `opts.loops` times (0: until `stop`), calling `progress`
/// now and then; stops early when `stop` is set, the source fails, or the server closes a Unix
/// stream.
pub fn replay(
    opener: &dyn StreamOpener,
    client: &mut Client,
    opts: &ReplayOptions,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&ReplayStats),
) -> Outcome {
    let start = Instant::now();
    let mut stats = ReplayStats::default();
    let end = send_passes(opener, client, opts, stop, &mut stats, start, progress);
    let _ = client.finish();
    stats.elapsed = start.elapsed();
    progress(&stats);
    Outcome { stats, end }
}

fn send_passes(
    opener: &dyn StreamOpener,
    client: &mut Client,
    opts: &ReplayOptions,
    stop: &AtomicBool,
    stats: &mut ReplayStats,
    start: Instant,
    progress: &mut dyn FnMut(&ReplayStats),
) -> End {
    let mut schedule = Schedule::new(opts.pace, start);
    let mut last_progress = start;
    let mut index = 0u64;
    while opts.loops == 0 || stats.loops < opts.loops {
        let (mut first, mut last, mut n) = (None::<u64>, 0u64, 0u64);
        let datagrams = match opener.open() {
            Ok(d) => d,
            Err(e) => return End::Source(e),
        };
        for d in datagrams {
            let d = match d {
                Ok(d) => d,
                Err(e) => return End::Source(e),
            };
            let due = schedule.due(index, d.ts_ns);
            if !due.is_none_or(|due| wait_until(due, stop)) || stop.load(Ordering::Relaxed) {
                return End::Interrupted;
            }
            if let Err(end) = deliver(client, &d.payload, stop, stats) {
                return end;
            }
            index += 1;
            stats.stream_ns = stats.stream_ns.max(schedule.offset_ns(d.ts_ns));
            first.get_or_insert(d.ts_ns);
            last = last.max(d.ts_ns);
            n += 1;
            let now = Instant::now();
            if now - last_progress >= PROGRESS_EVERY {
                last_progress = now;
                stats.elapsed = now - start;
                progress(stats);
            }
        }
        stats.loops += 1;
        let Some(first) = first else {
            break; // an empty source: nothing to repeat
        };
        schedule.next_loop(loop_length_ns(first, last, n));
    }
    End::Complete
}

/// Sends one datagram and counts it as sent or failed. A Unix datagram socket whose server is
/// gone is connected again to its path, and the datagram sent once more, so a restarted server
/// gets the traffic again. Err: the replay ends (stopped while a Unix server made it wait, or
/// the server closed the Unix stream).
fn deliver(
    client: &mut Client,
    payload: &[u8],
    stop: &AtomicBool,
    stats: &mut ReplayStats,
) -> Result<(), End> {
    let mut result = client.send_unless(payload, stop);
    if let Err(e) = &result {
        if crate::net::client::peer_gone(e) {
            match client.reconnect() {
                Some(Ok(())) => {
                    stats.reconnects += 1;
                    result = client.send_unless(payload, stop);
                }
                Some(Err(again)) => {
                    result = Err(io::Error::new(
                        again.kind(),
                        format!("{e}; reconnecting: {again}"),
                    ))
                }
                None => {}
            }
        }
    }
    match result {
        Ok(true) => {
            stats.datagrams += 1;
            stats.bytes += payload.len() as u64;
            Ok(())
        }
        Ok(false) => Err(End::Interrupted),
        Err(e) => {
            stats.failed += 1;
            stats.last_error = Some(e.to_string());
            if client.is_stream() {
                Err(End::Closed(e))
            } else {
                Ok(())
            }
        }
    }
}
