//! `lastbucket check`.

use super::error::CliError;
use super::report_args::{finish, ExportArgs, Progress};
use super::run_args::RunArgs;
use super::source_args::SourceArgs;
use crate::check::moment::StopMoment;
use crate::check::run_check;
use crate::output::terminal;
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

    #[command(flatten)]
    pub run: RunArgs,

    /// Write each scenario's flushed items as JSON lines into DIR.
    #[arg(long, value_name = "DIR")]
    pub flushed_out: Option<PathBuf>,

    #[command(flatten)]
    pub exports: ExportArgs,

    /// Print only the summary line.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: CheckArgs) -> Result<i32, CliError> {
    let plan = args
        .run
        .plan(args.stops.clone(), args.flushed_out.clone())?;
    let source = args.source.spec()?;
    let exports = args.exports.manager()?;
    let mut progress = Progress::new(exports, "check", args.quiet);
    let report = run_check(&plan, &source, &mut progress).map_err(|e| {
        progress.bar.finish_and_clear();
        CliError::from(e)
    })?;
    let body = (!args.quiet).then(|| terminal::render(&report));
    finish(&report, progress, body)
}
