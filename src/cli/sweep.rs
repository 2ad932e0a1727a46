//! `lastbucket sweep`: loss as a function of the stop moment.

use super::error::CliError;
use super::report_args::{finish, ExportArgs, Progress};
use super::run_args::RunArgs;
use super::source_args::SourceArgs;
use super::UsageError;
use crate::check::shard::Shard;
use crate::check::{run_check, shape};
use crate::duration::parse_seconds;
use crate::output::terminal;
use crate::report::Report;
use crate::sweep::{self, plot, Spread};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("spread").args(["every", "random", "phases", "packets_every", "moments"]))]
pub struct SweepArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Stop every Δ of stream time from the first packet to the last, then at the end (e.g.
    /// 1s, 500ms, 2.5).
    #[arg(long, value_name = "DURATION", value_parser = parse_step)]
    pub every: Option<f64>,

    /// N seeded random stop moments over the stream (`--seed`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub random: Option<u32>,

    /// K evenly spaced phases of every bucket the stream spans (of the last bucket only with
    /// `--last-bucket`). The default spread: 10 phases.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub phases: Option<u32>,

    /// With `--phases` (or the default spread): the phases of the last bucket only.
    #[arg(long)]
    pub last_bucket: bool,

    /// Stop after every N datagrams, then at the end.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub packets_every: Option<u64>,

    /// Stop moments from FILE, one per line in `--stop` syntax (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    pub moments: Option<PathBuf>,

    /// Run only part k of n of the moments (a deterministic partition, for the jobs of a CI
    /// matrix); `lastbucket merge` puts the parts' JSON reports back together.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,

    /// Plot lost samples against the stop moment, one line per setting: SVG, or PNG when
    /// FILE ends in .png (`-`: SVG to stdout).
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
    fn spread(&self) -> Result<Spread, UsageError> {
        let other = self.every.is_some()
            || self.random.is_some()
            || self.packets_every.is_some()
            || self.moments.is_some();
        if self.last_bucket && other {
            return Err(UsageError(
                "--last-bucket goes with --phases (or the default spread)".into(),
            ));
        }
        Ok(if let Some(step) = self.every {
            Spread::Every(step)
        } else if let Some(n) = self.random {
            Spread::Random(n)
        } else if let Some(n) = self.packets_every {
            Spread::PacketsEvery(n)
        } else if let Some(path) = &self.moments {
            Spread::List(read_moments(path)?)
        } else {
            Spread::Phases {
                k: self.phases.unwrap_or(10),
                last_bucket: self.last_bucket,
            }
        })
    }
}

fn read_moments(path: &Path) -> Result<Vec<crate::check::moment::StopMoment>, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read --moments {}: {e}", path.display())))?;
    let list = sweep::parse_moments(&text)
        .map_err(|e| UsageError(format!("--moments {}: {e}", path.display())))?;
    if list.is_empty() {
        return Err(UsageError(format!(
            "--moments {}: no stop moment in the file",
            path.display()
        )));
    }
    Ok(list)
}

/// A sweep with more stop moments than this is a typo, not a plan.
const MAX_MOMENTS: usize = 100_000;

pub fn run(args: SweepArgs) -> Result<i32, CliError> {
    let source = args.source.spec()?;
    let mut plan = args.run.plan(Vec::new(), None)?;
    let spread = args.spread()?;
    super::stdout::one_on_stdout(&stdout_flags(&args.plot, &args.exports))?;
    let exports = args.exports.manager()?;
    let shape = shape(&source).map_err(CliError::input)?;
    plan.moments = sweep::moments(&spread, &shape, plan.config.bucket_seconds);
    plan.shape = Some(shape);
    plan.shard = args.shard;
    if plan.moments.is_empty() {
        return Err(CliError::usage(
            "no stop moment falls inside the stream (it is empty, or shorter than the spread)",
        ));
    }
    if plan.moments.len() > MAX_MOMENTS {
        return Err(CliError::usage(format!(
            "the spread gives {} stop moments (at most {MAX_MOMENTS}); use a larger step",
            plan.moments.len()
        )));
    }
    let mut progress = Progress::new(exports, "sweep", args.quiet);
    progress.stdout_taken = plot_on_stdout(&args.plot);
    let report = run_check(&plan, &source, &mut progress).map_err(|e| {
        progress.bar.finish_and_clear();
        CliError::from(e)
    })?;
    if let Some(path) = &args.plot {
        let c = &plan.config;
        write_plot(path, &report, c.flush_interval_s, c.bucket_seconds).inspect_err(|_| {
            progress.bar.finish_and_clear();
        })?;
    }
    finish_sweep(&report, progress, args.quiet)
}

/// The flags of a sweep or merge that send their output to stdout.
pub fn stdout_flags(plot: &Option<PathBuf>, exports: &ExportArgs) -> Vec<&'static str> {
    plot_on_stdout(plot)
        .then_some("--plot")
        .into_iter()
        .chain(exports.stdout_flags())
        .collect()
}

/// Whether `--plot -` sends the plot to stdout (the terminal report then goes to stderr).
pub fn plot_on_stdout(plot: &Option<PathBuf>) -> bool {
    plot.as_ref().is_some_and(|p| p.as_os_str() == "-")
}

/// Draws the plot of a sweep's report.
pub fn write_plot(
    path: &Path,
    report: &Report,
    flush_interval_s: u64,
    bucket_s: i64,
) -> Result<(), CliError> {
    let title = format!("lost samples by stop moment: {}", report.source.description);
    let plot = sweep::plot_of(report, &title, flush_interval_s, bucket_s);
    plot::write(path, &plot).map_err(CliError::output)
}

/// The sweep table (in place of the per-scenario table), the summary of each setting, and
/// the details of what did not pass; then the exports and the exit code.
pub fn finish_sweep(report: &Report, progress: Progress, quiet: bool) -> Result<i32, CliError> {
    // Hints point only to exports that were written: not to one whose write failed.
    let failed = progress.error.as_ref().and_then(|e| e.path());
    let exported: Vec<String> = (progress.exports.written_files().into_iter())
        .filter(|f| Some(f.as_str()) != failed)
        .collect();
    let body = (!quiet).then(|| {
        format!(
            "{}\n{}{}",
            sweep::table(report),
            sweep::settings_summary(report),
            terminal::failures(report, &exported)
        )
    });
    finish(report, progress, body)
}
