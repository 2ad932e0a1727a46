//! `lastbucket merge`: the JSON reports of a sweep's shards, put back together.

use super::error::CliError;
use super::report_args::{ExportArgs, Progress};
use super::sweep::{finish_sweep, plot_on_stdout, stdout_flags, write_plot};
use crate::check::CheckObserver;
use crate::duration::parse_seconds;
use crate::report::Report;
use crate::sweep::merge::merge;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The JSON reports (`--export-json`) of `sweep --shard k/n`, one per shard, in any order.
    #[arg(value_name = "REPORT.json", required = true)]
    pub reports: Vec<PathBuf>,

    /// Plot the merged sweep (SVG, or PNG when FILE ends in .png; `-`: SVG to stdout).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// The flush interval the shards ran with, for the plot's flush ticks.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_interval)]
    pub flush_interval: u64,

    #[command(flatten)]
    pub exports: ExportArgs,

    /// Print only the summary line.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_interval(s: &str) -> Result<u64, String> {
    match parse_seconds(s) {
        Some(v) if v >= 1.0 && v.fract() == 0.0 => Ok(v as u64),
        _ => Err(format!(
            "invalid flush interval '{s}' (whole seconds, e.g. 15s)"
        )),
    }
}

pub fn run(args: MergeArgs) -> Result<i32, CliError> {
    super::stdout::one_on_stdout(&stdout_flags(&args.plot, &args.exports))?;
    let exports = args.exports.manager()?;
    let mut shards = Vec::new();
    for path in &args.reports {
        let name = path.display().to_string();
        let bytes =
            std::fs::read(path).map_err(|e| CliError::input(format!("cannot read {name}: {e}")))?;
        let report = serde_json::from_slice::<Report>(&bytes)
            .map_err(|e| CliError::input(format!("{name}: not a lastbucket JSON report ({e})")))?;
        shards.push((name, report));
    }
    let report = merge(shards).map_err(CliError::usage)?;
    if let Some(path) = &args.plot {
        // The bucket is the agent's 10 s: the plot's bucket marks come from the moments'
        // phases, which the shards' reports carry.
        write_plot(path, &report, args.flush_interval, 10)?;
    }
    let mut progress = Progress::new(exports, "merge", true);
    progress.stdout_taken = plot_on_stdout(&args.plot);
    progress.planned(report.scenarios.len());
    finish_sweep(&report, progress, args.quiet)
}
