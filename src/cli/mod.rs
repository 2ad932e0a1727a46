//! The command line: what the user typed ("low" arguments, validated without I/O) turned into
//! the real objects each command needs ("high" arguments), one file per command.

pub mod check;
pub mod completions;
pub mod config_arg;
pub mod error;
pub mod generate;
pub mod inspect;
pub mod intake;
pub mod merge;
pub mod record;
pub mod replay;
pub mod report_args;
pub mod run_args;
pub mod serve;
pub mod server_args;
pub mod source_args;
pub mod stdout;
pub mod stop_args;
pub mod sweep;

use clap::{Parser, Subcommand};

/// Does every DogStatsD sample a server received make it into the flushed output when the
/// server stops?
#[derive(Debug, Parser)]
#[command(name = "lastbucket", version, about, after_help = crate::exit::TABLE, after_long_help = crate::exit::TABLE)]
pub struct Cli {
    /// When to use colors: auto (terminal and no NO_COLOR), always, never.
    #[arg(long, global = true, default_value = "auto", value_name = "WHEN")]
    pub color: crate::output::color::ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded pipeline on SOURCE, stop it at the chosen moments, and verify the flushed
    /// output against what was sent, with `flush_incomplete_buckets` off and on.
    #[command(after_help = crate::exit::TABLE)]
    Check(check::CheckArgs),
    /// Many stop moments over the stream (every Δ, N random points, or every bucket phase), per
    /// flag setting: loss as a function of the stop moment, as a table, exports and an SVG plot.
    #[command(after_help = crate::exit::TABLE)]
    Sweep(sweep::SweepArgs),
    /// Put the JSON reports of a sweep's shards (`sweep --shard k/n`) back together into the
    /// report the unsharded sweep gives: the same scenarios, verdicts and exit code.
    #[command(after_help = crate::exit::TABLE)]
    Merge(merge::MergeArgs),
    /// Datagrams, lines, per-type counts, contexts, time span and rejected lines of a source.
    Inspect(inspect::InspectArgs),
    /// Write a seeded generated stream as a capture file, pcap, JSON lines or text.
    #[command(after_help = crate::source::generate::keys_help())]
    Generate(generate::GenerateArgs),
    /// Send SOURCE to any DogStatsD server at its own cadence, a speed factor, a fixed rate, or
    /// as fast as possible.
    #[command(after_help = crate::exit::REPLAY_TABLE)]
    Replay(replay::ReplayArgs),
    /// Listen on a socket and write what arrives as a Datadog agent capture file.
    Record(record::RecordArgs),
    /// Run the pipeline as a standalone DogStatsD server; SIGTERM/SIGINT run the stop sequence.
    Serve(serve::ServeArgs),
    /// Run the built-in Datadog intake: decode what a server posts (v2 series and sketches,
    /// v1 series, service checks, events), write it as JSON lines, and on SIGTERM/SIGINT print
    /// payloads by endpoint, unknown endpoints and decode errors.
    #[command(after_help = intake::EXIT_CODES)]
    Intake(intake::IntakeArgs),
    /// Print the shell completion script for SHELL (e.g. `lastbucket completions bash >
    /// /etc/bash_completion.d/lastbucket`).
    Completions(completions::CompletionsArgs),
    /// Print the man page, roff (`lastbucket man > lastbucket.1`).
    Man,
}

/// A user error the command line reports with exit code 2 (a [`error::CliError`] of class
/// usage, through `?`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs the parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<i32, error::CliError> {
    cli.color.apply();
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Record(args) => record::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Intake(args) => intake::run(args),
        Command::Completions(args) => completions::run_completions(args),
        Command::Man => completions::run_man(),
    }
}
