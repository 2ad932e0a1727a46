//! `lastbucket intake`: the built-in Datadog intake on its own, for a server run by hand
//! (`DD_DD_URL=http://127.0.0.1:PORT`). It decodes what is posted, writes the items as JSON lines
//! as they arrive, and prints a summary on SIGTERM/SIGINT.

use super::error::{signals_error, CliError};
use crate::intake::Intake;
use crate::net::signals::on_stop_signals;
use crate::pipeline::flushed::{write_jsonl, FlushedItem};
use clap::Args;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// The exit codes of `intake`.
pub const EXIT_CODES: &str = "Exit codes:
  0  stopped by SIGTERM/SIGINT, every payload decoded
  2  usage error (bad address, unwritable --out)
  3  some payload could not be decoded (listed in the summary), or --out could not be written";

#[derive(Debug, Args)]
pub struct IntakeArgs {
    /// Where to listen: 127.0.0.1:PORT (loopback only; port 0 picks a free port). The address
    /// is printed on stderr as `listening on http://ADDR`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// Where the decoded items go, as JSON lines (the format of `check --flushed-out`), as they
    /// arrive (`-`: stdout). Without it, only the summary is printed.
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
}

/// How often the loop looks at the stop flag while no payload arrives.
const POLL: Duration = Duration::from_millis(50);

fn write_items(out: &mut Option<Box<dyn Write>>, items: &[FlushedItem]) -> io::Result<()> {
    match out {
        Some(w) => write_jsonl(w, items),
        None => Ok(()),
    }
}

pub fn run(args: IntakeArgs) -> Result<i32, CliError> {
    let mut out: Option<Box<dyn Write>> = match args.out.as_deref() {
        None => None,
        Some("-") => Some(Box::new(io::stdout())),
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some(Box::new(BufWriter::new(f))),
            Err(e) => return Err(CliError::output(format!("cannot create {path}: {e}"))),
        },
    };
    let (tx, rx) = channel();
    let intake = Intake::start_streaming(args.listen, tx).map_err(CliError::usage)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Installed before the address is printed: whoever reads it may signal at once.
    let _signals =
        on_stop_signals(move || flag.store(true, Ordering::SeqCst)).map_err(signals_error)?;
    eprintln!("listening on {}", intake.url());
    let mut write_error = None;
    while !stop.load(Ordering::SeqCst) {
        match rx.recv_timeout(POLL) {
            Ok(items) => {
                if let Err(e) = write_items(&mut out, &items) {
                    write_error = Some(e);
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let received = intake.stop();
    // What arrived between the last look and the stop.
    for items in rx.try_iter() {
        if write_error.is_none() {
            if let Err(e) = write_items(&mut out, &items) {
                write_error = Some(e);
            }
        }
    }
    eprint!("{}", crate::output::intake::summary(&received));
    if let Some(e) = write_error {
        return Err(CliError::output(format!(
            "cannot write the decoded items: {e}"
        )));
    }
    Ok(if received.errors.is_empty() {
        crate::exit::SUCCESS
    } else {
        crate::exit::INPUT
    })
}
