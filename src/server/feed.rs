//! The pipeline task: the one owner of the [`Pipeline`] on real sockets. It takes what the
//! listeners read from their channel, stamps it with the pipeline clock, hands it to the
//! pipeline, and moves the pipeline's clock on a short tick so that the 100 ms packets-buffer
//! timeout and the 15 s flush fire on real time even when no datagram arrives.
//!
//! It returns when the channel is closed and empty: the listeners (the channel's only senders)
//! have stopped and everything they read has been handed to the pipeline. Only then may the
//! caller run the pipeline's stop sequence — producers stop before consumers, so nothing read
//! is left behind in the channel.

use crate::net::batch_read::{ReadBatch, Received};
use crate::pipeline::flushed::FlushedItem;
use crate::pipeline::packet::DatagramId;
use crate::pipeline::{Event, Pipeline, WorkerStage};
use crate::runtime::{first, sleep_until, Receiver};
use std::io;
use std::pin::pin;
use std::time::{Duration, Instant};

/// How often the pipeline's timers are moved when the channel is idle.
pub const TICK: Duration = Duration::from_millis(10);

/// Most datagrams taken from the channel between two looks at the clock (whole read batches
/// are taken, so a look may come up to one batch later).
const BATCH: usize = 256;

/// What a driver decides around the pipeline task.
pub trait Feed {
    /// Pipeline time (ns since the epoch) of an instant.
    fn ts_of(&self, at: Instant) -> u64;
    /// The id under which a datagram read at `ts_ns` enters the pipeline, or `None` to leave it
    /// out (it is not part of the stream).
    fn admit(&mut self, r: &Received<'_>, ts_ns: u64) -> Option<DatagramId>;
    /// Items the pipeline has just flushed.
    fn flushed(&mut self, items: Vec<FlushedItem>) -> io::Result<()>;

    /// What the pipeline did since the last call (a traced pipeline records its parses too):
    /// by default, only its flushed items matter.
    fn events(&mut self, events: Vec<Event>) -> io::Result<()> {
        let mut items = Vec::new();
        for e in events {
            if let Event::Flush(f) = e {
                items.extend(f.items);
            }
        }
        if items.is_empty() {
            Ok(())
        } else {
            self.flushed(items)
        }
    }
    /// Called on every tick after the timers have run.
    fn tick<W: WorkerStage>(&mut self, _pipeline: &Pipeline<W>) -> io::Result<()> {
        Ok(())
    }
}

/// Feeds `pipeline` from `rx` until the channel is closed and empty; returns the number of
/// datagrams handed to the pipeline.
pub async fn run<W: WorkerStage, F: Feed>(
    pipeline: &mut Pipeline<W>,
    rx: &Receiver<ReadBatch>,
    feed: &mut F,
    tick: Duration,
) -> io::Result<u64> {
    let mut delivered = 0u64;
    loop {
        // One timer per tick, however many batches arrive before it: a timer made for every
        // wait would cost the reactor more than a batch of datagrams costs the pipeline.
        let mut timer = pin!(sleep_until(Instant::now() + tick));
        loop {
            let got = first(async { Some(rx.recv().await) }, async {
                timer.as_mut().await;
                None
            })
            .await;
            match got {
                Some(Err(_closed)) => return Ok(delivered),
                Some(Ok(batch)) => {
                    let mut taken = batch.len();
                    delivered += deliver_batch(pipeline, batch, feed)?;
                    while taken < BATCH {
                        match rx.try_recv() {
                            Ok(batch) => {
                                taken += batch.len();
                                delivered += deliver_batch(pipeline, batch, feed)?;
                            }
                            Err(_) => break,
                        }
                    }
                }
                None => break,
            }
        }
        pipeline.advance(feed.ts_of(Instant::now()));
        emit(pipeline, feed)?;
        feed.tick(pipeline)?;
    }
}

/// Hands a read batch over, datagram by datagram; dropping it gives its buffers back to its
/// reader.
fn deliver_batch<W: WorkerStage, F: Feed>(
    pipeline: &mut Pipeline<W>,
    batch: ReadBatch,
    feed: &mut F,
) -> io::Result<u64> {
    let mut n = 0;
    for r in batch.iter() {
        n += deliver(pipeline, &r, feed)?;
    }
    Ok(n)
}

/// Hands one datagram over. Its time never goes back before the pipeline's clock: a datagram
/// that waited in the channel while a tick moved the clock enters at the clock's time, like a
/// late read.
fn deliver<W: WorkerStage, F: Feed>(
    pipeline: &mut Pipeline<W>,
    r: &Received<'_>,
    feed: &mut F,
) -> io::Result<u64> {
    let ts = feed.ts_of(r.at).max(pipeline.now_ns());
    let Some(id) = feed.admit(r, ts) else {
        return Ok(0);
    };
    pipeline
        .deliver(r.listener, id, ts, r.payload)
        .map_err(io::Error::other)?;
    emit(pipeline, feed)?;
    Ok(1)
}

fn emit<W: WorkerStage, F: Feed>(pipeline: &mut Pipeline<W>, feed: &mut F) -> io::Result<()> {
    let events = pipeline.take_events();
    if events.is_empty() {
        Ok(())
    } else {
        feed.events(events)
    }
}
