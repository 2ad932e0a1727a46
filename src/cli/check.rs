//! `lastbucket check`.

use super::source_args::SourceArgs;
use super::{ColorArg, UsageError};
use crate::check::matrix::{self, Expectations, FlagChoice};
use crate::check::moment::StopMoment;
use crate::check::{run_check, CheckError, CheckPlan};
use crate::pipeline::{BatcherDrain, ListenerKind, PipelineConfig};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// When to stop (repeatable, each its own scenario): end, packets:N, t:12.5s, phase:7.5s,
    /// phase:75%, random:N.
    #[arg(long = "stop", value_name = "MOMENT", default_value = "end")]
    pub stops: Vec<StopMoment>,

    /// `dogstatsd_flush_incomplete_buckets` settings to run.
    #[arg(long, value_enum, default_value = "both")]
    pub flush_incomplete_buckets: FlagChoice,

    /// auto: workers drain their queue on stop when the flag is on (current reference);
    /// never: the behaviour before that change.
    #[arg(long, default_value = "auto", value_parser = ["auto", "never"])]
    pub batcher_drain: String,

    /// Run the three-way matrix: off, on with the old (never) drain, on.
    #[arg(long)]
    pub legacy: bool,

    /// Expectation override: zero-loss|loss|any for every setting, or off=…, on=…, on-never=….
    #[arg(long, value_name = "EXPECTATION")]
    pub expect: Vec<String>,

    /// Seed of random stop moments.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Pipeline settings file (TOML or JSON; the agent's key names are accepted).
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

    /// Listener kind of the embedded pipeline: udp packs datagrams into packets, unix does not.
    #[arg(long, default_value = "udp", value_parser = ["udp", "unix"])]
    pub listener: String,

    /// Write each scenario's flushed items as JSON lines into DIR.
    #[arg(long, value_name = "DIR")]
    pub flushed_out: Option<PathBuf>,

    /// Print only the summary line.
    #[arg(long, short)]
    pub quiet: bool,
}

impl CheckArgs {
    fn pipeline_config(&self) -> Result<PipelineConfig, UsageError> {
        let mut config = match &self.config {
            Some(path) => load_config(path)?,
            None => PipelineConfig::default(),
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
        Ok(config)
    }

    fn plan(&self) -> Result<CheckPlan, UsageError> {
        let drain: BatcherDrain = self.batcher_drain.parse().map_err(UsageError)?;
        Ok(CheckPlan {
            config: self.pipeline_config()?,
            listener: if self.listener == "unix" {
                ListenerKind::Unix
            } else {
                ListenerKind::Udp
            },
            moments: self.stops.clone(),
            settings: matrix::settings(self.flush_incomplete_buckets, drain, self.legacy),
            expectations: Expectations::parse(&self.expect).map_err(UsageError)?,
            seed: self.seed,
            flushed_out: self.flushed_out.clone(),
        })
    }
}

/// Reads a pipeline settings file, TOML or JSON by its first non-blank byte.
pub fn load_config(path: &std::path::Path) -> Result<PipelineConfig, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    let parsed = if text.trim_start().starts_with('{') {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        toml::from_str(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| UsageError(format!("invalid pipeline config {}: {e}", path.display())))
}

pub fn run(args: CheckArgs, _color: ColorArg) -> anyhow::Result<i32> {
    let plan = match args.plan() {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let source = match args.source.spec() {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let report = match run_check(&plan, &source, &mut |_| {}) {
        Ok(mut r) => {
            r.source.truncated_at = source.read_stats().and_then(|s| s.truncated_at);
            r
        }
        Err(CheckError::Input(e)) => {
            eprintln!("Error: {e}");
            return Ok(crate::exit::INPUT);
        }
        Err(e) => return Err(e.into()),
    };
    for s in &report.scenarios {
        println!(
            "{:<40} sent={} rejected={} flushed={} lost={} {:?} -> {}",
            s.name,
            s.counts.sent,
            s.counts.rejected,
            s.counts.flushed,
            s.counts.lost,
            s.counts.lost_by_stage,
            s.verdict.name()
        );
        for r in s.reasons.iter().chain(&s.accounting_errors) {
            println!("    {r}");
        }
    }
    Ok(report.exit_code)
}

fn usage(e: UsageError) -> anyhow::Result<i32> {
    eprintln!("Error: {e}");
    Ok(crate::exit::USAGE)
}
