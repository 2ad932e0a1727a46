//! The receiving side of the transport check: a real listener and the pipeline task on one
//! thread, stopped the way the module [`super::transport`] describes, then the socket drained
//! up to the sender's end marker to learn what was left unread.

use super::matcher::{MatchCounts, Matched, Matcher};
use super::RunResult;
use super::StreamClock;
use crate::net::batch_read::{ReadBatch, Received};
use crate::net::drops::DropScope;
use crate::net::frame::FrameReader;
use crate::net::listener::{Leftover, Listener};
use crate::net::CHANNEL_CAPACITY;
use crate::pipeline::flushed::FlushedItem;
use crate::pipeline::packet::DatagramId;
use crate::pipeline::Event;
use crate::pipeline::{ListenerKind, Pipeline, PipelineConfig, StopSettings};
use crate::runtime::{self, first, sleep_until, Receiver, Sender};
use crate::server::feed::{self, Feed};
use std::io;
use std::time::{Duration, Instant};

/// Everything the receiver thread owns.
pub(super) struct Receiving {
    pub(super) listener: Listener,
    pub(super) kind: ListenerKind,
    pub(super) config: PipelineConfig,
    pub(super) settings: StopSettings,
    pub(super) clock: StreamClock,
    /// `Some(at)`: stop at stream time `at`; `None`: stop when the end marker is read.
    pub(super) mode: Option<u64>,
    pub(super) matcher: Matcher,
    /// Closed when the sender has sent its last datagram.
    pub(super) done: Receiver<()>,
    /// Closed when the sender failed: stop and do not wait for the end marker.
    pub(super) abort: Receiver<()>,
}

pub(super) struct ReceiverOutcome {
    pub(super) run: RunResult,
    pub(super) counts: MatchCounts,
    pub(super) kernel_drops: Option<u64>,
}

struct TransportFeed<'m> {
    clock: StreamClock,
    matcher: &'m mut Matcher,
    /// Closed when the end marker is read (stop `end`).
    stop_on_marker: Option<Sender<()>>,
    events: Vec<Event>,
}

impl Feed for TransportFeed<'_> {
    fn ts_of(&self, at: Instant) -> u64 {
        self.clock.ts(at)
    }

    fn admit(&mut self, r: &Received<'_>, ts_ns: u64) -> Option<DatagramId> {
        match self.matcher.read(r, ts_ns) {
            Matched::Sent(id) => Some(id),
            Matched::Marker(_) => {
                if let Some(stop) = &self.stop_on_marker {
                    stop.close();
                }
                None
            }
            Matched::Foreign => None,
        }
    }

    fn flushed(&mut self, _items: Vec<FlushedItem>) -> io::Result<()> {
        Ok(())
    }

    /// Everything the pipeline did, for the verifier to follow after the run.
    fn events(&mut self, events: Vec<Event>) -> io::Result<()> {
        self.events.extend(events);
        Ok(())
    }
}

pub(super) async fn receive(r: Receiving) -> ReceiverOutcome {
    let Receiving {
        listener,
        kind,
        config,
        settings,
        clock,
        mode,
        mut matcher,
        done,
        abort,
    } = r;
    let buffer_size = config.buffer_size;
    let drops = listener
        .drops()
        .filter(|(_, scope)| *scope == DropScope::Socket)
        .map(|(d, _)| d);
    let (tx, rx) = runtime::bounded::<ReadBatch>(CHANNEL_CAPACITY);
    let (stop_tx, stop_rx) = runtime::bounded::<()>(1);
    let listening = runtime::spawn(listener.run(tx, stop_rx.clone()));
    let controller = runtime::spawn(control(
        mode,
        clock,
        done,
        abort.clone(),
        stop_tx.clone(),
        stop_rx,
    ));

    let mut pipeline = Pipeline::new(config, settings, kind, clock.first_ts).trace(true);
    let mut feed = TransportFeed {
        clock,
        matcher: &mut matcher,
        stop_on_marker: mode.is_none().then(|| stop_tx.clone()),
        events: Vec::new(),
    };
    // The feed's only error would come from `flushed`, which cannot fail here.
    let delivered = feed::run(&mut pipeline, &rx, &mut feed, feed::TICK)
        .await
        .unwrap_or_default();
    let mut events = std::mem::take(&mut feed.events);
    // The listener has stopped and everything it read is in the pipeline: stop it now.
    let stop_ns = clock.ts(Instant::now()).max(pipeline.now_ns());
    pipeline.advance(stop_ns);
    events.extend(pipeline.take_events());
    let held_at_stop = pipeline.held_before_queue();
    pipeline.stop(stop_ns);
    events.extend(pipeline.take_events());

    let mut stopped = listening.await;
    if !matcher.marker_seen() {
        drain(&mut stopped.leftover, &mut matcher, buffer_size, &abort).await;
    }
    controller.await;
    // Read while the socket is still open: a closed socket's drop counter is gone.
    let kernel_drops = drops.and_then(|d| d.seen());
    drop(stopped);
    let mut counters = pipeline.counters();
    counters.listener.kernel_dropped = kernel_drops.unwrap_or(0);
    ReceiverOutcome {
        run: RunResult {
            events,
            counters,
            losses: pipeline.losses(),
            delivered,
            stop_ns,
            held_at_stop,
        },
        counts: matcher.counts(),
        kernel_drops,
    }
}

/// Resolves when the channel is closed.
async fn closed(ch: &Receiver<()>) {
    let _ = ch.recv().await;
}

/// Decides when the listener stops: at the wall instant of `at` (as fast as possible: when
/// the sender is done), or on an abort; with no `at`, the feed stops it on the end marker.
/// Returns once the stop channel is closed, whoever closed it.
async fn control(
    mode: Option<u64>,
    clock: StreamClock,
    done: Receiver<()>,
    abort: Receiver<()>,
    stop: Sender<()>,
    stop_seen: Receiver<()>,
) {
    let trigger = async {
        match mode {
            None => std::future::pending::<()>().await,
            Some(at) => match clock.due(at) {
                Some(due) => sleep_until(due).await,
                None => closed(&done).await,
            },
        }
    };
    let must_stop = first(first(trigger, closed(&abort)), async {
        closed(&stop_seen).await;
    });
    must_stop.await;
    stop.close();
}

/// Reads what the stopped listener left in its socket, up to the end marker, without
/// delivering it: the matcher records those datagrams as unread.
async fn drain(
    leftover: &mut Leftover,
    matcher: &mut Matcher,
    buffer_size: usize,
    abort: &Receiver<()>,
) {
    fn received(payload: &[u8], buffer_size: usize) -> Received<'_> {
        Received {
            truncated: payload.len() > buffer_size,
            payload,
            at: Instant::now(),
            listener: 0,
        }
    }
    match leftover {
        Leftover::Datagram(sock) => {
            let mut buf = vec![0u8; buffer_size + 1];
            while !matcher.marker_seen() {
                let read = first(async { Some(sock.recv(&mut buf).await) }, async {
                    closed(abort).await;
                    None
                });
                match read.await {
                    Some(Ok(n)) => {
                        matcher.unread(&received(&buf[..n], buffer_size));
                    }
                    Some(Err(_)) => runtime::sleep(Duration::from_millis(1)).await,
                    None => return,
                }
            }
        }
        Leftover::Stream {
            listener,
            connections,
        } => {
            if connections.is_empty() {
                let accepted = first(async { listener.accept().await.ok() }, async {
                    closed(abort).await;
                    None
                });
                match accepted.await {
                    Some((s, _)) => connections.push(FrameReader::new(s)),
                    None => return,
                }
            }
            for c in connections.iter_mut() {
                loop {
                    while let Ok(Some(mut frame)) = c.next_frame() {
                        frame.truncate(buffer_size + 1);
                        matcher.unread(&received(&frame, buffer_size));
                        if matcher.marker_seen() {
                            return;
                        }
                    }
                    if c.is_eof() {
                        break;
                    }
                    let filled = first(async { c.fill().await.ok() }, async {
                        closed(abort).await;
                        None
                    });
                    if filled.await.is_none() {
                        return;
                    }
                }
            }
        }
    }
}
