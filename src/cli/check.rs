//! `lastbucket check`.

use super::report_args::{finish, ExportArgs, Progress};
use super::run_args::RunArgs;
use super::source_args::SourceArgs;
use super::UsageError;
use crate::check::moment::StopMoment;
use crate::check::{run_check, CheckError};
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

pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let plan = match args.run.plan(args.stops.clone(), args.flushed_out.clone()) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let source = match args.source.spec() {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let exports = match args.exports.manager() {
        Ok(m) => m,
        Err(e) => return usage(e),
    };
    let mut progress = Progress::new(exports, "check", args.quiet);
    let report = match run_check(&plan, &source, &mut progress) {
        Ok(r) => r,
        Err(CheckError::Input(e)) => {
            progress.bar.finish_and_clear();
            eprintln!("Error: {e}");
            return Ok(crate::exit::INPUT);
        }
        Err(e) => return Err(e.into()),
    };
    let body = (!args.quiet).then(|| terminal::render(&report));
    Ok(finish(&report, progress, body))
}

pub fn usage(e: UsageError) -> anyhow::Result<i32> {
    eprintln!("Error: {e}");
    Ok(crate::exit::USAGE)
}
