//! `lastbucket sweep`: loss as a function of the stop moment.

use super::check::usage;
use super::report_args::{finish, ExportArgs, Progress};
use super::run_args::RunArgs;
use super::source_args::SourceArgs;
use super::UsageError;
use crate::check::{run_check, shape, CheckError};
use crate::duration::parse_seconds;
use crate::output::terminal;
use crate::sweep::{self, plot, Spread};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("spread").args(["every", "random", "phases"]))]
pub struct SweepArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Stop every Δ of stream time from the first packet to the last (e.g. 1s, 500ms, 2.5).
    #[arg(long, value_name = "DURATION", value_parser = parse_step)]
    pub every: Option<f64>,

    /// N seeded random stop moments (`--seed`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub random: Option<u32>,

    /// K evenly spaced phases of the last bucket (default: 10).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub phases: Option<u32>,

    /// Write an SVG plot of lost samples against the stop moment, one line per setting.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    #[command(flatten)]
    pub run: RunArgs,

    #[command(flatten)]
    pub exports: ExportArgs,

    /// Print only the summary line.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_step(s: &str) -> Result<f64, String> {
    match parse_seconds(s) {
        Some(v) if v > 0.0 => Ok(v),
        _ => Err(format!("invalid duration '{s}' (e.g. 1s, 500ms, 2.5)")),
    }
}

impl SweepArgs {
    fn spread(&self) -> Spread {
        match (self.every, self.random, self.phases) {
            (Some(step), _, _) => Spread::Every(step),
            (_, Some(n), _) => Spread::Random(n),
            (_, _, k) => Spread::Phases(k.unwrap_or(10)),
        }
    }
}

/// A sweep with more stop moments than this is a typo, not a plan.
const MAX_MOMENTS: usize = 100_000;

pub fn run(args: SweepArgs) -> anyhow::Result<i32> {
    let source = match args.source.spec() {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let mut plan = match args.run.plan(Vec::new(), None) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let shape = match shape(&source) {
        Ok(shape) => shape,
        Err(e) => {
            eprintln!("Error: {e}");
            return Ok(crate::exit::INPUT);
        }
    };
    plan.moments = sweep::moments(args.spread(), &shape);
    plan.shape = Some(shape);
    if plan.moments.len() > MAX_MOMENTS {
        return usage(UsageError(format!(
            "--every gives {} stop moments (at most {MAX_MOMENTS}); use a larger step",
            plan.moments.len()
        )));
    }
    let exports = match args.exports.manager() {
        Ok(m) => m,
        Err(e) => return usage(e),
    };
    let mut progress = Progress::new(exports, "sweep", args.quiet);
    let report = match run_check(&plan, &source, &mut progress) {
        Ok(r) => r,
        Err(CheckError::Input(e)) => {
            progress.bar.finish_and_clear();
            eprintln!("Error: {e}");
            return Ok(crate::exit::INPUT);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(path) = &args.plot {
        let title = format!(
            "lost samples by stop moment — {}",
            report.source.description
        );
        if let Err(e) = std::fs::write(path, plot::render(&title, &sweep::lines(&report))) {
            eprintln!("Error: cannot write plot {}: {e}", path.display());
            return Ok(crate::exit::USAGE);
        }
    }
    // The sweep table replaces the per-scenario table; details only for what did not pass.
    let body =
        (!args.quiet).then(|| format!("{}{}", sweep::table(&report), terminal::failures(&report)));
    Ok(finish(&report, progress, body))
}
