//! Sending a source to a DogStatsD server (`lastbucket replay`), and the client socket and
//! pacing that the socket transport of `check` uses too.
//!
//! Pacing is scheduled against one absolute start instant: datagram *i* is due at
//! `start + (ts_i − ts_0) / speed` (or `start + i / rate`), whatever time the previous sends
//! took. Sleeping the gap between consecutive datagrams instead would add every oversleep and
//! every send's duration to the schedule, and a long replay would drift late.

use crate::check::{StreamError, StreamOpener};
use crate::server::address::Address;
use crate::server::frame;
use std::io::{self, Write};
use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A connected client of a DogStatsD server.
pub struct Client {
    address: Address,
    socket: ClientSocket,
}

enum ClientSocket {
    Udp(UdpSocket),
    Unixgram(UnixDatagram),
    Unix(UnixStream),
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot connect to {address}: {error}")]
    Connect { address: Address, error: io::Error },
    #[error("cannot send to {address}: {error}")]
    Send { address: Address, error: io::Error },
    #[error("{0}")]
    Source(StreamError),
}

/// How often a send refused for lack of buffer space (ENOBUFS, EAGAIN) is retried.
const SEND_RETRIES: u32 = 10_000;

impl Client {
    /// Connects to `address`. Unix sockets block on send when the server is slow
    /// (backpressure); UDP never waits for the server.
    pub fn connect(address: &Address) -> Result<Client, ReplayError> {
        let err = |error| ReplayError::Connect {
            address: address.clone(),
            error,
        };
        let socket = match address {
            Address::Udp(a) => {
                let local = if a.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let s = UdpSocket::bind(local).map_err(err)?;
                s.connect(a).map_err(err)?;
                ClientSocket::Udp(s)
            }
            Address::Unixgram(p) => {
                let s = UnixDatagram::unbound().map_err(err)?;
                s.connect(p).map_err(err)?;
                ClientSocket::Unixgram(s)
            }
            Address::Unix(p) => ClientSocket::Unix(UnixStream::connect(p).map_err(err)?),
        };
        Ok(Client {
            address: address.clone(),
            socket,
        })
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// UDP: send errors are the server's problem (nobody listening), not the sender's.
    pub fn is_udp(&self) -> bool {
        matches!(self.socket, ClientSocket::Udp(_))
    }

    /// Sends one datagram (on a Unix stream: one length-prefixed message).
    pub fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut tries = 0;
        loop {
            let r = match &mut self.socket {
                ClientSocket::Udp(s) => s.send(payload).map(drop),
                ClientSocket::Unixgram(s) => s.send(payload).map(drop),
                ClientSocket::Unix(s) => s.write_all(&frame::encode(payload)),
            };
            match r {
                Err(e) if is_no_buffer(&e) && tries < SEND_RETRIES => {
                    tries += 1;
                    std::thread::yield_now();
                }
                other => return other,
            }
        }
    }

    /// Unix stream: tells the server nothing more comes (the stream's end of file).
    pub fn finish(&mut self) -> io::Result<()> {
        match &mut self.socket {
            ClientSocket::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            _ => Ok(()),
        }
    }
}

fn is_no_buffer(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}

/// How fast to send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// The source's own timestamps, divided by `speed` (1 = original cadence).
    Original { speed: f64 },
    /// A fixed number of datagrams per second.
    Rate(f64),
    /// As fast as possible.
    Max,
}

impl Pace {
    /// The source's cadence at `speed`; a speed that is not a finite positive number means
    /// as fast as possible.
    pub fn from_speed(speed: f64) -> Pace {
        if speed.is_finite() && speed > 0.0 {
            Pace::Original { speed }
        } else {
            Pace::Max
        }
    }
}

/// When each datagram is due, against one absolute start instant.
#[derive(Debug, Clone)]
pub struct Schedule {
    pace: Pace,
    start: Instant,
    first_ts: Option<u64>,
    /// Stream time of the start of the current loop, relative to the first loop's start.
    loop_base_ns: u64,
}

impl Schedule {
    pub fn new(pace: Pace, start: Instant) -> Schedule {
        Schedule {
            pace,
            start,
            first_ts: None,
            loop_base_ns: 0,
        }
    }

    /// When datagram number `index` (counted over every loop) with timestamp `ts_ns` is due;
    /// `None`: at once.
    pub fn due(&mut self, index: u64, ts_ns: u64) -> Option<Instant> {
        match self.pace {
            Pace::Max => None,
            Pace::Rate(r) => Some(self.start + seconds(index as f64 / r)),
            Pace::Original { speed } => {
                let first = *self.first_ts.get_or_insert(ts_ns);
                let offset = self.loop_base_ns + ts_ns.saturating_sub(first);
                Some(self.start + seconds(offset as f64 / 1e9 / speed))
            }
        }
    }

    /// The next loop starts `span_ns` of stream time after the previous one started.
    pub fn next_loop(&mut self, span_ns: u64) {
        self.loop_base_ns += span_ns;
    }
}

/// A delay in seconds as a `Duration`, capped at about 30 years: absurd speeds and rates make
/// absurd delays, never a panic.
pub fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.min(1e9)).unwrap_or(Duration::ZERO)
}

/// Sleeps until `due` in short slices, so a stop request is seen quickly; false if stopped.
pub fn wait_until(due: Instant, stop: &AtomicBool) -> bool {
    const SLICE: Duration = Duration::from_millis(50);
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        std::thread::sleep((due - now).min(SLICE));
    }
}

/// A replay's options: pace and number of passes over the source (0 = until stopped).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayOptions {
    pub pace: Pace,
    pub loops: u64,
}

/// What a replay sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayStats {
    pub datagrams: u64,
    pub bytes: u64,
    /// UDP sends the system refused (nobody listening, datagram too long).
    pub send_errors: u64,
    pub last_error: Option<String>,
    /// Complete passes over the source.
    pub loops: u64,
    pub elapsed: Duration,
    /// Stopped by a signal before the end.
    pub interrupted: bool,
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
}

/// Sends the source through `client` `opts.loops` times (0: until `stop`), calling `progress`
/// now and then.
pub fn replay(
    opener: &dyn StreamOpener,
    client: &mut Client,
    opts: &ReplayOptions,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&ReplayStats),
) -> Result<ReplayStats, ReplayError> {
    let start = Instant::now();
    let mut schedule = Schedule::new(opts.pace, start);
    let mut stats = ReplayStats::default();
    let mut index = 0u64;
    'passes: while opts.loops == 0 || stats.loops < opts.loops {
        let (mut first, mut last, mut n) = (None::<u64>, 0u64, 0u64);
        for d in opener.open().map_err(ReplayError::Source)? {
            let d = d.map_err(ReplayError::Source)?;
            let due = schedule.due(index, d.ts_ns);
            if !due.is_none_or(|due| wait_until(due, stop)) || stop.load(Ordering::Relaxed) {
                stats.interrupted = true;
                break 'passes;
            }
            match client.send(&d.payload) {
                Ok(()) => {
                    stats.datagrams += 1;
                    stats.bytes += d.payload.len() as u64;
                }
                Err(e) if client.is_udp() => {
                    stats.send_errors += 1;
                    stats.last_error = Some(e.to_string());
                }
                Err(error) => {
                    return Err(ReplayError::Send {
                        address: client.address().clone(),
                        error,
                    })
                }
            }
            index += 1;
            first.get_or_insert(d.ts_ns);
            last = last.max(d.ts_ns);
            n += 1;
            if index.is_multiple_of(64) {
                stats.elapsed = start.elapsed();
                progress(&stats);
            }
        }
        stats.loops += 1;
        let Some(first) = first else {
            break; // an empty source: nothing to repeat
        };
        // The next pass follows the last datagram after the mean gap between datagrams.
        let span = last.saturating_sub(first);
        let gap = if n > 1 { span / (n - 1) } else { 1_000_000_000 };
        schedule.next_loop(span + gap);
    }
    let _ = client.finish();
    stats.elapsed = start.elapsed();
    progress(&stats);
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_absolute_and_scaled() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Pace::Original { speed: 10.0 }, t0);
        assert_eq!(s.due(0, 5_000_000_000), Some(t0));
        assert_eq!(
            s.due(1, 7_000_000_000),
            Some(t0 + Duration::from_millis(200))
        );
        s.next_loop(3_000_000_000);
        assert_eq!(
            s.due(2, 5_000_000_000),
            Some(t0 + Duration::from_millis(300))
        );
        let mut r = Schedule::new(Pace::Rate(4.0), t0);
        assert_eq!(r.due(2, 0), Some(t0 + Duration::from_millis(500)));
        assert_eq!(Schedule::new(Pace::Max, t0).due(9, 9), None);
        let mut tiny = Schedule::new(Pace::Rate(1e-300), t0);
        assert!(tiny.due(5, 0).is_some(), "no overflow panic");
    }

    #[test]
    fn odd_speeds_mean_as_fast_as_possible() {
        assert_eq!(Pace::from_speed(0.0), Pace::Max);
        assert_eq!(Pace::from_speed(-1.0), Pace::Max);
        assert_eq!(Pace::from_speed(f64::INFINITY), Pace::Max);
        assert_eq!(Pace::from_speed(f64::NAN), Pace::Max);
        assert_eq!(Pace::from_speed(2.0), Pace::Original { speed: 2.0 });
    }

    #[test]
    fn wait_until_returns_false_when_stopped() {
        let stop = AtomicBool::new(true);
        assert!(!wait_until(Instant::now() + Duration::from_secs(60), &stop));
        let go = AtomicBool::new(false);
        assert!(wait_until(Instant::now(), &go));
    }
}
