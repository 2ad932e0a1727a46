//! `check`: runs the embedded pipeline on a stream, stops it at each chosen moment, for each
//! flag setting, and verifies the flushed output against the ledger of what was sent.

pub mod blackbox;
pub mod clock_range;
pub mod driver;
pub mod matrix;
pub mod moment;
pub mod shard;
pub mod transport;

mod flushed_out;
mod run;
mod scenarios;

use crate::pipeline::clock::secs;
use crate::pipeline::{ListenerKind, PipelineConfig, StopSettings};
use crate::report::Report;
use crate::source::{StreamError, StreamOpener};
use matrix::Expectations;
use moment::{StopMoment, StreamShape};
use std::path::PathBuf;
use transport::TransportOptions;

pub use flushed_out::flushed_path;
pub use run::run_check;

/// What to run.
#[derive(Debug, Clone)]
pub struct CheckPlan {
    pub config: PipelineConfig,
    pub listener: ListenerKind,
    pub moments: Vec<StopMoment>,
    pub settings: Vec<StopSettings>,
    pub expectations: Expectations,
    pub seed: u64,
    /// Where each scenario's flushed items go (`DIR/<scenario>.jsonl`).
    pub flushed_out: Option<PathBuf>,
    /// Send the stream through a real loopback socket on the real clock instead of handing it
    /// to the pipeline on the virtual clock (`--transport`).
    pub transport: Option<TransportOptions>,
    /// Check an external server started as a child process instead (`--server-cmd`).
    pub server: Option<blackbox::BlackboxOptions>,
    /// Threads that run the scenarios' stop sequences and verifications (≥ 1). Reports do
    /// not depend on it.
    pub jobs: usize,
    /// The stream's shape, when the caller has read it already (`sweep` places its moments
    /// with it): `check` then does not read the timestamps again.
    pub shape: Option<StreamShape>,
    /// Run only this part of the stop moments (`--shard k/n`).
    pub shard: Option<shard::Shard>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Input(StreamError),
    /// The socket of a transport check could not be set up or used.
    #[error("{0}")]
    Transport(String),
    /// The external server could not be started, never listened, or the intake failed.
    #[error("{0}")]
    Server(String),
    /// A stop moment the stream cannot have (a usage error).
    #[error(transparent)]
    Moment(#[from] moment::MomentError),
    /// A shard with no moment of its own (a usage error).
    #[error("shard {shard} has no stop moment: the run has only {moments}")]
    EmptyShard { shard: shard::Shard, moments: usize },
    /// (`error`, not `source`: the message says it already, and a source would say it twice.)
    #[error("cannot write flushed output {path}: {error}")]
    FlushedOut {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// The stream's datagram count and time span, from its timestamps alone (no line is parsed):
/// what placing `phase:` and `random:` moments, and a sweep's moments, needs before the pass.
pub fn shape(opener: &dyn StreamOpener) -> Result<StreamShape, CheckError> {
    shape_with(opener, &mut |_| {})
}

/// [`shape`], with `each` seeing every datagram on the way.
pub fn shape_with(
    opener: &dyn StreamOpener,
    each: &mut dyn FnMut(&crate::source::Datagram),
) -> Result<StreamShape, CheckError> {
    let mut shape = StreamShape::default();
    for d in clock_range::within_clock_range(opener.open().map_err(CheckError::Input)?) {
        let d = d.map_err(CheckError::Input)?;
        if shape.datagrams == 0 {
            shape.first_ns = d.ts_ns;
        }
        shape.last_ns = shape.last_ns.max(d.ts_ns);
        shape.datagrams += 1;
        each(&d);
    }
    Ok(shape)
}

/// The name of a scenario: `stop=end flag=on drain=auto`.
pub fn scenario_name(stop: &str, s: &StopSettings) -> String {
    format!(
        "stop={} flag={} drain={}",
        stop,
        if s.flush_incomplete_buckets {
            "on"
        } else {
            "off"
        },
        s.batcher_drain.name()
    )
}

/// Sees a check's progress: exports rewritten as scenarios finish, the progress bar.
pub trait CheckObserver {
    /// The number of scenarios, once the stream was surveyed.
    fn planned(&mut self, _scenarios: usize) {}
    /// The report so far, once `finished` more scenarios are in it (the scenarios of one pass
    /// come in together, after it; a socket check's one at a time).
    fn scenarios_done(&mut self, _report: &Report, _finished: usize) {}
    /// Datagrams the pass has read so far (now and then).
    fn datagrams_read(&mut self, _datagrams: u64) {}
    /// The pass has reached the stops of this many scenarios (a sweep's progress over its
    /// moments: their stop sequences run beside the pass, and finish after it).
    fn stops_reached(&mut self, _scenarios: usize) {}
}

/// An observer that ignores everything.
impl CheckObserver for () {}

/// Bucket start of a stop time, for reports.
pub fn stop_bucket(stop_ns: u64, bucket_seconds: i64) -> i64 {
    let s = secs(stop_ns);
    s - s.rem_euclid(bucket_seconds)
}
