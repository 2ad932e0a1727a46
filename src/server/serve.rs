//! `serve`: the embedded pipeline as a standalone DogStatsD server on the system clock.
//!
//! Listener tasks read the sockets and hand datagrams over a bounded channel to the pipeline
//! task (this thread), which writes flushed items as JSON lines as soon as they are flushed.
//! The pipeline's workers parse on threads of their own ([`crate::pipeline::WorkerThreads`]);
//! its samplers and flushes stay on the pipeline task.
//! Each datagram is tagged with its listener's index in the pipeline, so UDP and Unix listeners
//! mix: each has its own packets buffer, and an assembler for UDP only, as in the reference.
//! The stop, when the stop channel is closed (by a signal handler): the listeners stop reading
//! and drop their end of the channel; the pipeline task hands on what they had read, then the
//! pipeline runs its stop sequence ([`crate::pipeline::stop::stop_sequence`], through
//! [`Pipeline::stop`]) — the same order and code as `check`.

use super::feed::{self, Feed};
use super::forward::{ForwardStats, Forwarder};
use crate::net::batch_read::{ReadBatch, Received};
use crate::net::drops::DropScope;
use crate::net::listener::{Listener, ListenerCounts, ListenerStats};
use crate::net::CHANNEL_CAPACITY;
use crate::pipeline::clock::WallClock;
use crate::pipeline::counters::StageCounters;
use crate::pipeline::flushed::{write_jsonl, FlushedItem};
use crate::pipeline::packet::DatagramId;
use crate::pipeline::{Pipeline, PipelineConfig, StopSettings, WorkerStage};
use crate::runtime::{self, Receiver};
use serde::Serialize;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a server runs.
pub struct ServeOptions {
    pub config: PipelineConfig,
    pub settings: StopSettings,
    /// Where flushed items go, as JSON lines, flushed after each batch.
    pub flushed_out: Box<dyn Write>,
    /// Rewritten (atomically) every `stats_every` while running and once at the end.
    pub stats_json: Option<PathBuf>,
    pub stats_every: Duration,
    /// `--forward-to`: every flush is also posted to an intake, the last one before
    /// [`serve`] returns.
    pub forward: Option<Forwarder>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("no address to listen on")]
    NoListener,
    #[error("cannot start the worker threads: {0}")]
    Workers(io::Error),
    #[error("cannot write flushed items: {0}")]
    FlushedOut(io::Error),
    /// The output failed while serving: the stop sequence ran, and this many flushed items
    /// (forwarded, where `--forward-to` is set) could not be written.
    #[error("cannot write flushed items: {error}; the stop sequence ran, and {unwritten} flushed items could not be written")]
    FlushedOutAfterStop { error: io::Error, unwritten: u64 },
    #[error("cannot write {}: {error}", path.display())]
    Stats { path: PathBuf, error: io::Error },
}

/// Samples and datagrams the pipeline lost, by stage (the socket's are `kernel_drops`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LostSummary {
    /// Datagrams still queued when the workers exited without draining.
    pub queue_datagrams: u64,
    /// Their non-empty lines, and the samples those held (unparseable lines hold none).
    pub queue_lines: u64,
    pub queue_samples: u64,
    /// Samples in buckets still open at the final flush.
    pub open_bucket_samples: u64,
    /// Samples dropped at a sampler's context limit.
    pub context_limit_samples: u64,
}

impl LostSummary {
    pub fn of(c: &StageCounters) -> LostSummary {
        LostSummary {
            queue_datagrams: c.queue.datagrams_dropped,
            queue_lines: c.queue.lines_dropped,
            queue_samples: c.queue.samples_dropped,
            open_bucket_samples: c.open_bucket_samples_dropped,
            context_limit_samples: c.samplers.dropped_context_limit,
        }
    }
}

/// One listener in the stats.
#[derive(Debug, Clone, Serialize)]
pub struct ListenerReport {
    pub address: String,
    #[serde(flatten)]
    pub counts: ListenerCounts,
    pub kernel_drops: Option<u64>,
    pub kernel_drops_scope: Option<DropScope>,
}

/// What `--stats-json` holds: while running (`running: true`) and after the stop.
#[derive(Debug, Clone, Serialize)]
pub struct ServeReport {
    pub running: bool,
    pub settings: StopSettings,
    pub listeners: Vec<ListenerReport>,
    /// Datagrams read by every listener.
    pub datagrams_read: u64,
    /// Datagrams the kernel dropped on the UDP sockets (`None`: not measurable here).
    pub kernel_drops: Option<u64>,
    pub kernel_drops_scope: Option<DropScope>,
    pub stage_counters: StageCounters,
    pub lost: LostSummary,
    /// The reader of the flushed output went away (broken pipe): the server stopped itself, and
    /// what it flushed after that was not written.
    pub flushed_out_closed: bool,
    /// `--forward-to`: payloads posted and failed (final once the server stopped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward: Option<ForwardStats>,
}

struct Watched {
    address: String,
    stats: Arc<ListenerStats>,
    drops: Option<crate::net::drops::DropCounter>,
}

fn listener_reports(watched: &[Watched]) -> Vec<ListenerReport> {
    watched
        .iter()
        .map(|w| ListenerReport {
            address: w.address.clone(),
            counts: w.stats.snapshot(),
            kernel_drops: w.drops.as_ref().and_then(|d| d.seen()),
            kernel_drops_scope: w.drops.as_ref().map(|d| d.scope()),
        })
        .collect()
}

/// Total kernel drops: the sum of per-socket counters; a system-wide counter is counted once.
fn total_drops(listeners: &[ListenerReport]) -> (Option<u64>, Option<DropScope>) {
    let of = |scope| {
        listeners
            .iter()
            .filter(move |l| l.kernel_drops_scope == Some(scope))
            .filter_map(|l| l.kernel_drops)
    };
    let socket: Vec<u64> = of(DropScope::Socket).collect();
    if !socket.is_empty() {
        return (Some(socket.iter().sum()), Some(DropScope::Socket));
    }
    match of(DropScope::System).max() {
        Some(n) => (Some(n), Some(DropScope::System)),
        None => (None, None),
    }
}

struct ServeFeed {
    clock: WallClock,
    next_id: DatagramId,
    out: Box<dyn Write>,
    /// Set when a write of the flushed output failed (its reader went away, the disk is
    /// full, …): nothing more is written.
    out_closed: bool,
    /// The write error that closed the output (a broken pipe is not one: its reader chose to
    /// stop), and the flushed items that could not be written since.
    write_error: Option<(io::Error, u64)>,
    /// The listeners' stop channel, closed here when the output's reader goes away.
    stop: Receiver<()>,
    settings: StopSettings,
    watched: Vec<Watched>,
    stats_json: Option<PathBuf>,
    stats_every: Duration,
    last_stats: Instant,
    forward: Option<Forwarder>,
}

impl ServeFeed {
    fn report<W: WorkerStage>(&self, pipeline: &Pipeline<W>, running: bool) -> ServeReport {
        let listeners = listener_reports(&self.watched);
        let (kernel_drops, kernel_drops_scope) = total_drops(&listeners);
        let mut counters = pipeline.counters();
        // One source of truth: the pipeline's listener stage cannot see the kernel's drops
        // (they happen before a read), so its counter is the sockets' total, the same number
        // as `kernel_drops` (0 when it cannot be measured).
        counters.listener.kernel_dropped = kernel_drops.unwrap_or(0);
        ServeReport {
            running,
            settings: self.settings,
            datagrams_read: listeners.iter().map(|l| l.counts.datagrams).sum(),
            listeners,
            kernel_drops,
            kernel_drops_scope,
            lost: LostSummary::of(&counters),
            stage_counters: counters,
            flushed_out_closed: self.out_closed,
            forward: self.forward.as_ref().map(Forwarder::stats),
        }
    }
}

impl Feed for ServeFeed {
    fn ts_of(&self, at: Instant) -> u64 {
        self.clock.ns(at)
    }

    fn admit(&mut self, _r: &Received<'_>, _ts_ns: u64) -> Option<DatagramId> {
        let id = self.next_id;
        self.next_id += 1;
        Some(id)
    }

    /// A reader of the flushed output that goes away (`serve … | head`) ends the server the
    /// way a signal does: the listeners stop, everything they read goes through the stop
    /// sequence, and the exit is clean; only the writing stops. Other write errors end it.
    fn flushed(&mut self, items: Vec<FlushedItem>) -> io::Result<()> {
        // Forwarded first and whatever happens to the output: the intake is the server's
        // real destination.
        if let Some(f) = &self.forward {
            f.send(&items);
        }
        if self.out_closed {
            if let Some((_, unwritten)) = &mut self.write_error {
                *unwritten += items.len() as u64;
            }
            return Ok(());
        }
        match write_jsonl(&mut self.out, &items) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.out_closed = true;
                eprintln!("note: the flushed output was closed by its reader: stopping");
                self.stop.close();
                Ok(())
            }
            // A full disk or another write error: say so now, stop as a signal does (the
            // stop sequence still runs, and what it flushes is still forwarded), and end with
            // the error and the count of items that were not written.
            Err(e) => {
                eprintln!("Error: cannot write flushed items: {e}: stopping");
                self.out_closed = true;
                self.write_error = Some((e, items.len() as u64));
                self.stop.close();
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// The periodic stats: a failed write is a warning, not a reason to stop serving (the
    /// path was checked writable at start).
    fn tick<W: WorkerStage>(&mut self, pipeline: &Pipeline<W>) -> io::Result<()> {
        // On stdout (`-`) the stats are one document, the final one: none while running.
        if let Some(path) = self.stats_json.as_ref().filter(|p| p.as_os_str() != "-") {
            if self.last_stats.elapsed() >= self.stats_every {
                self.last_stats = Instant::now();
                if let Err(e) = write_stats(path, &self.report(pipeline, true)) {
                    eprintln!("warning: cannot write {}: {e}", path.display());
                }
            }
        }
        Ok(())
    }
}

/// Writes the stats as JSON, atomically (a reader never sees half a file); `-` is stdout.
pub fn write_stats(path: &Path, report: &ServeReport) -> io::Result<()> {
    if path.as_os_str() == "-" {
        let mut json = serde_json::to_vec_pretty(report).map_err(io::Error::other)?;
        json.push(b'\n');
        return crate::stdout::write(&json);
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let json = serde_json::to_vec_pretty(report).map_err(io::Error::other)?;
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

/// Runs a server on `listeners` until `stop` is closed (by the caller, or here when the
/// flushed output's reader goes away), then stops it and returns the final report (also
/// written to `stats_json`).
pub fn serve(
    listeners: Vec<Listener>,
    opts: ServeOptions,
    stop: Receiver<()>,
) -> Result<ServeReport, ServeError> {
    if listeners.is_empty() {
        return Err(ServeError::NoListener);
    }
    // One pipeline listener per socket, in the same order: each datagram is tagged with its
    // listener's index and enters that listener's assembler (UDP) or packets buffer.
    let kinds: Vec<_> = listeners.iter().map(Listener::kind).collect();
    let clock = WallClock::now();
    // Workers on threads of their own, as the reference's: reading never waits on parsing.
    let mut pipeline = Pipeline::with_worker_threads(
        opts.config.clone(),
        opts.settings,
        &kinds,
        clock.ns(Instant::now()),
    )
    .map_err(ServeError::Workers)?
    .keep_agent_bins(opts.forward.is_some());
    let watched: Vec<Watched> = listeners
        .iter()
        .map(|l| Watched {
            address: l.address().to_string(),
            stats: l.stats(),
            drops: l.drops().map(|(d, _)| d),
        })
        .collect();
    let mut feed = ServeFeed {
        clock,
        next_id: 0,
        out: opts.flushed_out,
        out_closed: false,
        write_error: None,
        stop: stop.clone(),
        settings: opts.settings,
        watched,
        stats_json: opts.stats_json,
        stats_every: opts.stats_every,
        last_stats: Instant::now(),
        forward: opts.forward,
    };
    let stats_err = |path: &Path, error| ServeError::Stats {
        path: path.to_path_buf(),
        error,
    };
    runtime::block_on(async {
        let (tx, rx) = runtime::bounded::<ReadBatch>(CHANNEL_CAPACITY);
        let tasks: Vec<_> = listeners
            .into_iter()
            .enumerate()
            .map(|(i, l)| runtime::spawn(l.with_index(i).run(tx.clone(), stop.clone())))
            .collect();
        drop(tx);
        feed::run(&mut pipeline, &rx, &mut feed, feed::TICK)
            .await
            .map_err(ServeError::FlushedOut)?;
        let now = feed.clock.ns(Instant::now());
        pipeline.stop(now);
        let items = pipeline.take_flushed();
        if !items.is_empty() {
            feed.flushed(items).map_err(ServeError::FlushedOut)?;
        }
        let mut stopped = Vec::new();
        for t in tasks {
            stopped.push(t.await);
        }
        // Every flush, the stop sequence's included, is posted before the report is final.
        let forwarded = feed.forward.take().map(Forwarder::finish);
        // Read while the sockets are still open: a closed socket's drop counter is gone.
        let mut report = feed.report(&pipeline, false);
        report.forward = forwarded;
        // Dropping the stopped listeners closes their sockets and removes socket files.
        drop(stopped);
        if let Some(path) = &feed.stats_json {
            write_stats(path, &report).map_err(|e| stats_err(path, e))?;
        }
        if let Some((error, unwritten)) = feed.write_error.take() {
            return Err(ServeError::FlushedOutAfterStop { error, unwritten });
        }
        Ok(report)
    })
}
