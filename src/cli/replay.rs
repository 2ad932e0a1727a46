//! `lastbucket replay SOURCE --to ADDR`: sends a source to any DogStatsD server.

use super::error::{signals_error, CliError};
use super::source_args::SourceArgs;
use crate::net::signals::on_stop_signals;
use crate::net::Address;
use crate::net::Client;
use crate::output::{self, progress::replay_bar};
use crate::replay::progress::{bar_length, position, Extent};
use crate::replay::{self, End, Pace, ReplayOptions};
use crate::source::StreamOpener;
use clap::Args;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, Args)]
#[command(mut_arg("rate", |a| a.help(
    "Send this many datagrams per second, whatever the source's timestamps (text sources: \
     also their stream time)"
)))]
pub struct ReplayArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// The server: udp://HOST:PORT, unixgram://PATH or unix://PATH (stream, 4-byte
    /// little-endian length before each message).
    #[arg(long, value_name = "ADDR")]
    pub to: Address,

    /// Speed factor over the source's own cadence (2 = twice as fast). Default 1.
    #[arg(long, conflicts_with_all = ["rate", "max"])]
    pub speed: Option<f64>,

    /// As fast as possible.
    #[arg(long, conflicts_with = "rate")]
    pub max: bool,

    /// Passes over the source; 0 = until interrupted (SIGINT/SIGTERM).
    #[arg(long, default_value_t = 1)]
    pub loops: u64,
}

impl ReplayArgs {
    fn pace(&self) -> Result<Pace, String> {
        if self.max {
            return Ok(Pace::Max);
        }
        if let Some(r) = self.source.rate {
            return Ok(Pace::Rate(r));
        }
        match self.speed {
            Some(s) if !(s.is_finite() && s > 0.0) => {
                Err(format!("invalid --speed {s}: must be > 0 (or use --max)"))
            }
            Some(s) => Ok(Pace::Original { speed: s }),
            None => Ok(Pace::Original { speed: 1.0 }),
        }
    }
}

pub fn run(args: ReplayArgs) -> Result<i32, CliError> {
    let pace = args.pace().map_err(CliError::usage)?;
    let source = args.source.spec()?;
    // Nothing listening at start is a configuration error (the wrong path, a server not
    // started); a server going away later is a delivery failure (exit 1).
    let mut client = Client::connect(&args.to).map_err(CliError::usage)?;
    let stop = Arc::new(AtomicBool::new(false));
    let _signals = {
        let stop = stop.clone();
        on_stop_signals(move || stop.store(true, Ordering::Relaxed)).map_err(signals_error)?
    };
    // The pre-pass that gives the bar its length costs a read of the source: only for a bar
    // that will be seen, of a replay that ends.
    let length = (std::io::stderr().is_terminal() && args.loops > 0)
        .then(|| Extent::measure(&source))
        .flatten()
        .and_then(|e| bar_length(pace, &e, args.loops));
    let bar = replay_bar(length);
    let opts = ReplayOptions {
        pace,
        loops: args.loops,
    };
    let outcome = replay::replay(&source, &mut client, &opts, &stop, &mut |s| {
        if let Some(l) = length {
            bar.set_position(position(l.measure, s));
        }
        bar.set_message(output::replay::running(s));
    });
    bar.finish_and_clear();

    eprint!(
        "{}",
        output::replay::ended(&outcome, &args.to, source.read_stats().as_ref())
    );
    Ok(match outcome.end {
        End::Source(e) => return Err(CliError::input(e)),
        End::Closed(_) => crate::exit::UNDELIVERED,
        End::Interrupted | End::Complete if outcome.stats.failed > 0 => crate::exit::UNDELIVERED,
        End::Interrupted | End::Complete => crate::exit::SUCCESS,
    })
}
