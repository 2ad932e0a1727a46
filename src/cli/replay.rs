//! `lastbucket replay SOURCE --to ADDR`: sends a source to any DogStatsD server.

use super::source_args::SourceArgs;
use crate::replay::{self, Client, Pace, ReplayError, ReplayOptions, ReplayStats};
use crate::server::signals::on_stop_signals;
use crate::server::Address;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

pub fn run(args: ReplayArgs) -> anyhow::Result<i32> {
    let usage = |e: &dyn std::fmt::Display| {
        eprintln!("Error: {e}");
        Ok(crate::exit::USAGE)
    };
    let pace = match args.pace() {
        Ok(p) => p,
        Err(e) => return usage(&e),
    };
    let source = match args.source.spec() {
        Ok(s) => s,
        Err(e) => return usage(&e),
    };
    let mut client = match Client::connect(&args.to) {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let _signals = {
        let stop = stop.clone();
        on_stop_signals(move || stop.store(true, Ordering::Relaxed))?
    };
    let bar = progress_bar();
    let opts = ReplayOptions {
        pace,
        loops: args.loops,
    };
    let result = replay::replay(&source, &mut client, &opts, &stop, &mut |s| {
        bar.set_message(summary(s));
    });
    bar.finish_and_clear();
    match result {
        Ok(stats) => {
            eprintln!("{} to {}", summary(&stats), args.to);
            if stats.send_errors > 0 {
                eprintln!(
                    "{} sends failed (last: {})",
                    stats.send_errors,
                    stats.last_error.as_deref().unwrap_or("?")
                );
            }
            for note in source.read_stats().iter().flat_map(|r| r.summary().notes()) {
                eprintln!("source: {note}");
            }
            if stats.interrupted {
                eprintln!("interrupted after {} complete passes", stats.loops);
            }
            Ok(crate::exit::SUCCESS)
        }
        Err(ReplayError::Source(e)) => {
            eprintln!("Error: {e}");
            Ok(crate::exit::INPUT)
        }
        Err(e) => Err(e.into()),
    }
}

fn summary(s: &ReplayStats) -> String {
    format!(
        "sent {} datagrams ({} bytes) in {:.3} s: {:.0} datagrams/s, {:.2} MB/s",
        s.datagrams,
        s.bytes,
        s.elapsed.as_secs_f64(),
        s.rate(),
        if s.elapsed.is_zero() {
            0.0
        } else {
            s.bytes as f64 / 1e6 / s.elapsed.as_secs_f64()
        }
    )
}

/// A spinner with the running counts; hidden when stderr is not a terminal.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
