//! The settings matrix and pipeline settings shared by `check` and `sweep`, and the plan they
//! become.

use super::config_arg::read_config_file;
use super::stop_args;
use super::UsageError;
use crate::check::matrix::{self, Expectations, FlagChoice};
use crate::check::moment::StopMoment;
use crate::check::transport::{Transport, TransportOptions};
use crate::check::CheckPlan;
use crate::pipeline::{BatcherDrain, ListenerKind, PipelineConfig};
use clap::Args;
use std::path::PathBuf;

/// The settings matrix and the pipeline settings, shared by `check` and `sweep`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// `dogstatsd_flush_incomplete_buckets` settings to run [default: both, or the setting of
    /// the --config file when it has that key].
    #[arg(long, value_name = "on|off|both", value_parser = stop_args::flag_choice())]
    pub flush_incomplete_buckets: Option<FlagChoice>,

    /// auto: workers drain their queue on stop when the flag is on (current reference);
    /// never: the behaviour before that change.
    #[arg(long, default_value = "auto", value_parser = stop_args::drain())]
    pub batcher_drain: BatcherDrain,

    /// Run the three-way matrix: off, on with the old (never) drain, on.
    #[arg(long, conflicts_with_all = ["flush_incomplete_buckets", "batcher_drain"])]
    pub legacy: bool,

    /// Expectation override: zero-loss|strict|loss|any for every setting, or off=…, on=…,
    /// on-never=…. strict is zero-loss with the socket stage counted too (--transport).
    #[arg(long, value_name = "EXPECTATION")]
    pub expect: Vec<String>,

    /// Seed of random stop moments.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Pipeline settings file: TOML, JSON, or the agent's datadog.yaml / dogstatsd.yaml (its
    /// key names are accepted; in YAML the agent's keys lastbucket does not model are ignored).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Number of workers (default: the reference's max(2, cores - 2)).
    #[arg(long)]
    pub workers: Option<usize>,

    /// Number of time-sampler shards (`dogstatsd_pipeline_count`).
    #[arg(long)]
    pub pipeline_count: Option<usize>,

    /// Virtual time a batch waits in the queue before a worker takes it (ms).
    #[arg(long, value_name = "MS")]
    pub queue_latency_ms: Option<u64>,

    /// Send the stream through a real loopback socket into the pipeline on the real clock:
    /// udp, unixgram or unix (stream). The `socket` stage then counts kernel drops and what
    /// was unread at the stop.
    #[arg(long, value_name = "udp|unixgram|unix")]
    pub transport: Option<Transport>,

    /// With --transport or --server-cmd: stream time runs this many times faster than wall time
    /// (0 = as fast as the sender can go).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,

    /// With --transport: SO_RCVBUF of the receiving socket in bytes (default: the system's).
    #[arg(long, value_name = "BYTES", requires = "transport")]
    pub so_rcvbuf: Option<usize>,

    /// Listener kind of the embedded pipeline: udp packs datagrams into packets, unix does not.
    /// (With --transport the transport decides.)
    #[arg(long, default_value = "udp", value_parser = ["udp", "unix"], conflicts_with = "transport")]
    pub listener: String,

    #[command(flatten)]
    pub server: super::server_args::ServerArgs,

    /// Threads that run the scenarios (their stop sequences and verifications) [default: the
    /// number of cores]. Reports are the same whatever it is.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

impl RunArgs {
    /// The pipeline settings, and the flag setting the config file asks for, if any.
    fn pipeline_config(&self) -> Result<(PipelineConfig, Option<bool>), UsageError> {
        let (mut config, file_flag) = match &self.config {
            Some(path) => {
                let file = read_config_file(path)?;
                (file.pipeline, file.flush_incomplete_buckets)
            }
            None => (PipelineConfig::default(), None),
        };
        if let Some(w) = self.workers {
            config.workers = w;
        }
        if let Some(p) = self.pipeline_count {
            config.pipeline_count = p;
        }
        if let Some(l) = self.queue_latency_ms {
            config.queue_latency_ms = l;
        }
        config.validate().map_err(|e| UsageError(e.to_string()))?;
        Ok((config, file_flag))
    }

    fn transport_options(&self) -> Result<Option<TransportOptions>, UsageError> {
        if !(self.speed.is_finite() && self.speed >= 0.0) {
            return Err(UsageError(format!(
                "invalid --speed {}: must be a number >= 0",
                self.speed
            )));
        }
        Ok(self.transport.map(|transport| TransportOptions {
            transport,
            speed: self.speed,
            so_rcvbuf: self.so_rcvbuf,
        }))
    }

    /// The black-box options; the settings that cannot be seen from outside are refused.
    fn server_options(
        &self,
        drain: BatcherDrain,
    ) -> Result<Option<crate::check::blackbox::BlackboxOptions>, UsageError> {
        if self.server.server_cmd.is_none() {
            if self.speed != 1.0 && self.transport.is_none() {
                return Err(UsageError(
                    "--speed needs --transport or --server-cmd".into(),
                ));
            }
            return Ok(None);
        }
        if drain == BatcherDrain::Never {
            return Err(UsageError(
                "--batcher-drain never cannot be set on an external server: it is the embedded \
                 pipeline's model of an old agent (with --server-cmd, run that agent instead)"
                    .into(),
            ));
        }
        self.server.options(self.speed)
    }

    /// The plan of a run at these moments.
    pub fn plan(
        &self,
        moments: Vec<StopMoment>,
        flushed_out: Option<std::path::PathBuf>,
    ) -> Result<CheckPlan, UsageError> {
        let drain = self.batcher_drain;
        let (config, file_flag) = self.pipeline_config()?;
        let flag = (self.flush_incomplete_buckets)
            .or(file_flag.map(FlagChoice::from))
            .unwrap_or(FlagChoice::Both);
        Ok(CheckPlan {
            config,
            listener: if self.listener == "unix" {
                ListenerKind::Unix
            } else {
                ListenerKind::Udp
            },
            moments,
            settings: matrix::settings(flag, drain, self.legacy),
            expectations: Expectations::parse(&self.expect).map_err(UsageError)?,
            seed: self.seed,
            flushed_out,
            transport: self.transport_options()?,
            server: self.server_options(drain)?,
            jobs: match self.jobs {
                Some(0) => return Err(UsageError("--jobs must be at least 1".into())),
                Some(n) => n,
                None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
            shape: None,
            shard: None,
        })
    }
}
