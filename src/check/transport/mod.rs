//! `check --transport udp|unixgram|unix`: the same check as the virtual driver, but the stream
//! goes through a real socket on loopback and the pipeline runs on the real clock, so the
//! kernel's socket buffer is part of what is measured.
//!
//! Three parts. The sender (the calling thread, which owns the stream and the ledger callback)
//! sends each datagram at its stream time ÷ speed. The receiver thread runs a real listener and
//! the pipeline task; pipeline time is stream time, `first_ts + (now − wall_start) × speed`, so
//! buckets stay comparable with the source. The [`Matcher`] tells which sent datagram each read
//! is, so socket loss is known by identity.
//!
//! The stop: with `at_ns`, at the wall instant of that stream time, the listener stops reading
//! (a real stop: what is still in the kernel's buffer is never read); the pipeline task hands on
//! what was read; then [`Pipeline::stop`](crate::pipeline::Pipeline::stop) runs the stop
//! sequence. The socket is then drained, without delivering, up to the sender's end marker, to
//! learn which datagrams were left unread. Without `at_ns` (the stop `end`, or after
//! `max_datagrams`), the stop comes when the listener has read the end marker: after the last
//! datagram sent was read or dropped, as in `check`, where `end` means after the last packet
//! was handed over.

use crate::net::address::Address;
use crate::net::listener::{ListenError, ListenOptions, Listener};
pub mod matcher;
mod receiver;

use crate::check::driver::StopPoint;
use crate::net::{Client, ClientError};
use crate::pipeline::counters::{Losses, StageCounters};
use crate::pipeline::packet::DatagramId;
use crate::pipeline::{Event, Pipeline};
use crate::pipeline::{ListenerKind, PipelineConfig, StopSettings};
use crate::runtime;
use crate::source::Datagram;
use matcher::{Fate, Marker, Matcher, SentEntry};
use receiver::Receiving;
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The socket a transport check goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Unixgram,
    Unix,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Unixgram => "unixgram",
            Transport::Unix => "unix",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "udp" => Ok(Transport::Udp),
            "unixgram" => Ok(Transport::Unixgram),
            "unix" => Ok(Transport::Unix),
            o => Err(format!(
                "invalid transport '{o}' (expected udp, unixgram or unix)"
            )),
        }
    }
}

/// What the pipeline of one transport run did.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Everything it did, in order (parses and flushes), for a verifier to follow.
    pub events: Vec<Event>,
    pub counters: StageCounters,
    pub losses: Losses,
    /// Datagrams read.
    pub delivered: u64,
    /// Stream time of the stop.
    pub stop_ns: u64,
    /// (datagrams in the assembler, packets in the packets buffer, batches queued) just before
    /// the stop sequence ran.
    pub held_at_stop: (usize, usize, usize),
}

impl RunResult {
    /// Every item flushed, in order.
    pub fn flushed(&self) -> Vec<crate::pipeline::flushed::FlushedItem> {
        let mut items = Vec::new();
        for e in &self.events {
            if let Event::Flush(f) = e {
                items.extend(f.items.iter().cloned());
            }
        }
        items
    }
}

/// Socket settings of a transport check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransportOptions {
    pub transport: Transport,
    /// Stream time ÷ speed; not a finite positive number: as fast as possible.
    pub speed: f64,
    /// `SO_RCVBUF` of the receiving socket (default: the system's).
    pub so_rcvbuf: Option<usize>,
}

/// What a transport run produced.
#[derive(Debug, Clone)]
pub struct TransportResult {
    /// The pipeline's run, as the virtual driver returns it (`delivered`: datagrams read).
    pub run: RunResult,
    /// Datagrams sent but never read: dropped by the kernel, or still unread at the stop.
    pub socket_lost: HashSet<DatagramId>,
    /// The receiving socket's kernel drop counter over the run (UDP, where the system exposes
    /// it per socket; it also counts dropped end markers). `None`: not available.
    pub kernel_drops: Option<u64>,
    /// Datagrams whose fate could not be told exactly: reads that match nothing sent, and any
    /// disagreement between the gaps seen and the kernel drop counter.
    pub unattributed: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Of `socket_lost`: gaps in what was read (dropped by the kernel).
    pub dropped: u64,
    /// Of `socket_lost`: still in the socket when the listener stopped.
    pub unread_at_stop: u64,
    /// The receiving address.
    pub address: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError<E> {
    /// The stream failed (unreadable, corrupt, truncated source).
    #[error("{0}")]
    Source(E),
    #[error(transparent)]
    Listen(ListenError),
    #[error(transparent)]
    Connect(ClientError),
    #[error("sending datagram {id} over {transport}: {error}")]
    Send {
        transport: Transport,
        id: u64,
        error: io::Error,
    },
    #[error("sending the end-of-stream marker over {transport}: {error}")]
    SendEnd {
        transport: Transport,
        error: io::Error,
    },
    #[error("the receiver did not read the end of the stream over {0} within {1:?}")]
    NoEnd(Transport, Duration),
    #[error("the receiver thread failed: {0}")]
    Receiver(String),
}

/// [`run_transport_with`] with the system's socket buffer size.
pub fn run_transport<I, E>(
    config: &PipelineConfig,
    settings: StopSettings,
    transport: Transport,
    datagrams: I,
    stop: StopPoint,
    speed: f64,
    on_deliver: &mut dyn FnMut(u64, &Datagram),
) -> Result<TransportResult, TransportError<E>>
where
    I: IntoIterator<Item = Result<Datagram, E>>,
{
    let opts = TransportOptions {
        transport,
        speed,
        so_rcvbuf: None,
    };
    run_transport_with(config, settings, opts, datagrams, stop, on_deliver)
}

/// Sends `datagrams` through a real socket into a pipeline on the real clock and stops it at
/// `stop` (see the module documentation). `on_deliver(id, d)` is called, in id (send) order,
/// for every datagram sent: with the time the pipeline used for the ones read, with the send
/// time for the ones lost in the socket (listed in `socket_lost`).
pub fn run_transport_with<I, E>(
    config: &PipelineConfig,
    settings: StopSettings,
    opts: TransportOptions,
    datagrams: I,
    stop: StopPoint,
    on_deliver: &mut dyn FnMut(u64, &Datagram),
) -> Result<TransportResult, TransportError<E>>
where
    I: IntoIterator<Item = Result<Datagram, E>>,
{
    let mut iter = datagrams.into_iter();
    let in_stop = |d: &Datagram| stop.at_ns.is_none_or(|at| d.ts_ns <= at);
    let first = match (stop.max_datagrams > 0).then(|| iter.next()).flatten() {
        Some(Err(e)) => return Err(TransportError::Source(e)),
        Some(Ok(d)) if in_stop(&d) => d,
        _ => return Ok(nothing_sent(config, settings, opts.transport, stop)),
    };
    let address = receiving_address(opts.transport);
    let listen = ListenOptions {
        buffer_size: config.buffer_size,
        so_rcvbuf: opts.so_rcvbuf,
    };
    let listener = Listener::bind(&address, listen).map_err(TransportError::Listen)?;
    let address = listener.address().clone();
    let mut client = Client::connect(&address).map_err(TransportError::Connect)?;

    let speed = (opts.speed.is_finite() && opts.speed > 0.0).then_some(opts.speed);
    let clock = StreamClock {
        first_ts: first.ts_ns,
        wall_start: Instant::now(),
        speed,
    };
    let (sent_tx, sent_rx) = mpsc::channel();
    let (fate_tx, fate_rx) = mpsc::channel();
    let (done_tx, done_rx) = runtime::bounded::<()>(1);
    let (abort_tx, abort_rx) = runtime::bounded::<()>(1);
    let marker = Marker::new();
    let marker_seen = Arc::new(AtomicBool::new(false));
    let receiving = Receiving {
        kind: listener.kind(),
        listener,
        config: config.clone(),
        settings,
        clock,
        mode: stop.at_ns,
        matcher: Matcher::new(sent_rx, fate_tx, marker.clone(), marker_seen.clone()),
        done: done_rx,
        abort: abort_rx,
    };
    let receiver = std::thread::Builder::new()
        .name("lastbucket-receiver".into())
        .spawn(move || runtime::block_on(receiver::receive(receiving)))
        .map_err(|e| TransportError::Receiver(e.to_string()))?;

    let mut ledger = Ledgered {
        pending: VecDeque::new(),
        socket_lost: HashSet::new(),
        on_deliver,
        out_of_order: 0,
    };
    let mut failure = None;
    let mut refused = 0u64;
    let mut id = 0u64;
    let mut next = Some(first);
    while let Some(d) = next.take() {
        if let Some(due) = clock.due(d.ts_ns) {
            sleep_until_std(due);
        }
        for f in fate_rx.try_iter() {
            ledger.apply(f);
        }
        let _ = sent_tx.send(SentEntry {
            id,
            payload: d.payload.clone(),
        });
        let send_ts = clock.ts(Instant::now());
        match client.send(&d.payload) {
            Ok(()) => {}
            // Too long for a UDP datagram: sent by the client, lost before any socket buffer.
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => refused += 1,
            Err(error) => {
                failure = Some(TransportError::Send {
                    transport: opts.transport,
                    id,
                    error,
                });
            }
        }
        ledger.pending.push_back((
            id,
            Datagram {
                ts_ns: send_ts,
                ..d
            },
        ));
        id += 1;
        if failure.is_some() || id >= stop.max_datagrams {
            break;
        }
        next = match iter.next() {
            Some(Ok(d)) if in_stop(&d) => Some(d),
            Some(Err(e)) => {
                failure = Some(TransportError::Source(e));
                None
            }
            _ => None,
        };
    }
    let sent = id;
    done_tx.close();
    let mut markers = 0;
    if failure.is_none() {
        let end = send_end(
            opts.transport,
            &mut client,
            &marker,
            &marker_seen,
            &fate_rx,
            &mut ledger,
        );
        match end {
            Ok(n) => markers = n,
            Err(e) => failure = Some(e),
        }
    }
    drop(client);
    if failure.is_some() {
        abort_tx.close();
    }
    for f in fate_rx.iter() {
        ledger.apply(f);
    }
    let outcome = receiver
        .join()
        .map_err(|_| TransportError::Receiver("panicked".into()))?;
    if let Some(e) = failure {
        return Err(e);
    }

    let counts = outcome.counts;
    let mut unattributed = counts.foreign + ledger.out_of_order;
    for (id, d) in std::mem::take(&mut ledger.pending) {
        // Never reported by the receiver: lost, but not by a known cause.
        (ledger.on_deliver)(id, &d);
        ledger.socket_lost.insert(id);
        unattributed += 1;
    }
    if let Some(k) = outcome.kernel_drops {
        // Gaps are kernel drops, except sends refused before any buffer; the counter also
        // counts end markers dropped (at most all but the one read).
        let low = counts.dropped.saturating_sub(refused);
        let high = low + markers.saturating_sub(1);
        unattributed += low.saturating_sub(k) + k.saturating_sub(high);
    }
    Ok(TransportResult {
        run: outcome.run,
        socket_lost: ledger.socket_lost,
        kernel_drops: outcome.kernel_drops,
        unattributed,
        sent,
        dropped: counts.dropped,
        unread_at_stop: counts.unread,
        address: address.to_string(),
    })
}

/// Nothing to send before the stop point: the virtual driver's result for an empty stream.
fn nothing_sent(
    config: &PipelineConfig,
    settings: StopSettings,
    transport: Transport,
    stop: StopPoint,
) -> TransportResult {
    let kind = match transport {
        Transport::Udp => ListenerKind::Udp,
        _ => ListenerKind::Unix,
    };
    let start = stop.at_ns.unwrap_or(0);
    let mut p = Pipeline::new(config.clone(), settings, kind, start).trace(true);
    p.stop(start);
    let run = RunResult {
        events: p.take_events(),
        counters: p.counters(),
        losses: p.losses(),
        delivered: 0,
        stop_ns: start,
        held_at_stop: (0, 0, 0),
    };
    TransportResult {
        run,
        socket_lost: HashSet::new(),
        kernel_drops: None,
        unattributed: 0,
        sent: 0,
        dropped: 0,
        unread_at_stop: 0,
        address: String::new(),
    }
}

/// Loopback UDP on a free port, or a fresh socket path in the temporary directory.
fn receiving_address(transport: Transport) -> Address {
    let path = || -> PathBuf {
        let name = format!(
            "lastbucket-{}-{:08x}.sock",
            std::process::id(),
            rand::random::<u32>()
        );
        let dir = std::env::temp_dir();
        // Unix socket paths are limited to about 100 bytes.
        if dir.as_os_str().len() > 80 {
            PathBuf::from("/tmp").join(name)
        } else {
            dir.join(name)
        }
    };
    match transport {
        Transport::Udp => Address::Udp(([127, 0, 0, 1], 0).into()),
        Transport::Unixgram => Address::Unixgram(path()),
        Transport::Unix => Address::Unix(path()),
    }
}

/// Stream time on the real clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct StreamClock {
    pub(super) first_ts: u64,
    wall_start: Instant,
    /// `None`: as fast as possible (pipeline time then runs at the real clock's pace).
    speed: Option<f64>,
}

impl StreamClock {
    /// Stream time of an instant: `first_ts + (at − wall_start) × speed`.
    pub(super) fn ts(&self, at: Instant) -> u64 {
        let elapsed = at.saturating_duration_since(self.wall_start).as_nanos() as f64;
        // Float-to-integer casts saturate; so does the sum.
        self.first_ts
            .saturating_add((elapsed * self.speed.unwrap_or(1.0)) as u64)
    }

    /// The instant stream time `ts` is due (`None`: at once).
    pub(super) fn due(&self, ts: u64) -> Option<Instant> {
        let s = self.speed?;
        let offset = ts.saturating_sub(self.first_ts) as f64 / 1e9 / s;
        Some(self.wall_start + crate::duration::to_duration(offset))
    }
}

fn sleep_until_std(due: Instant) {
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

/// The sender's side of the ledger: datagrams sent whose fate is not known yet, in id order.
struct Ledgered<'a> {
    pending: VecDeque<(u64, Datagram)>,
    socket_lost: HashSet<DatagramId>,
    on_deliver: &'a mut dyn FnMut(u64, &Datagram),
    out_of_order: u64,
}

impl Ledgered<'_> {
    fn apply(&mut self, fate: Fate) {
        let (id, read_ts) = match fate {
            Fate::Read { id, ts_ns } => (id, Some(ts_ns)),
            Fate::Dropped { id } | Fate::Unread { id } => (id, None),
        };
        // Fates come in id order; anything else would be a matcher bug, kept visible.
        let Some(pos) = self.pending.iter().position(|(i, _)| *i == id) else {
            self.out_of_order += 1;
            return;
        };
        if pos != 0 {
            self.out_of_order += 1;
        }
        #[allow(clippy::expect_used)] // proven: position found
        let (_, mut d) = self.pending.remove(pos).expect("position found");
        match read_ts {
            Some(ts) => d.ts_ns = ts,
            None => {
                self.socket_lost.insert(id);
            }
        }
        (self.on_deliver)(id, &d);
    }
}

/// How long the sender waits for its end marker to be read.
const END_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a UDP end marker is given before it is sent again (it may have been dropped).
const MARKER_RETRY: Duration = Duration::from_millis(5);

/// Sends the end marker (again and again on UDP, until it is read); returns how many were sent.
fn send_end<E>(
    transport: Transport,
    client: &mut Client,
    marker: &Marker,
    seen: &AtomicBool,
    fates: &mpsc::Receiver<Fate>,
    ledger: &mut Ledgered<'_>,
) -> Result<u64, TransportError<E>> {
    let deadline = Instant::now() + END_TIMEOUT;
    let mut seq = 0;
    loop {
        match client.send(&marker.payload(seq)) {
            Ok(()) => {}
            Err(_) if client.is_udp() => {}
            Err(error) => return Err(TransportError::SendEnd { transport, error }),
        }
        seq += 1;
        if !client.is_udp() {
            return Ok(seq);
        }
        let retry = Instant::now() + MARKER_RETRY;
        while !seen.load(Ordering::Acquire) && Instant::now() < retry {
            if let Ok(f) = fates.recv_timeout(Duration::from_millis(1)) {
                ledger.apply(f);
            }
        }
        if seen.load(Ordering::Acquire) {
            return Ok(seq);
        }
        if Instant::now() > deadline {
            return Err(TransportError::NoEnd(transport, END_TIMEOUT));
        }
    }
}
