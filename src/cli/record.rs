//! `lastbucket record --listen ADDR -o FILE`: writes what arrives as a capture file.

use super::error::{signals_error, CliError};
use crate::duration::parse_seconds;
use crate::net::signals::on_stop_signals;
use crate::net::{Address, ListenOptions, Listener};
use crate::record::{self, RecordLimits};
use crate::runtime;
use crate::source::{DatagramWriter, OutputFormat};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Where to listen: udp://HOST:PORT, unixgram://PATH or unix://PATH. Port 0 picks a free
    /// port; the bound address is printed on stderr as `listening on ADDR`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Address,

    /// The file to write: a Datadog agent capture file (version 3), zstd-compressed when the
    /// name ends in .zst or .zstd; .pcap, .pcapng, .jsonl and .txt names get those formats.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// capture, capture-zstd, pcap, pcapng, jsonl or text (default: from the file name).
    #[arg(long, value_name = "FORMAT")]
    pub output_format: Option<OutputFormat>,

    /// Stop after this many datagrams.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Stop after this long (`10s`, `500ms`).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,

    /// Read buffer per datagram; longer datagrams are written cut to it and counted.
    #[arg(long, value_name = "BYTES", default_value_t = 65536)]
    pub buffer_size: usize,

    /// SO_RCVBUF of the listening socket (default: the system's).
    #[arg(long, value_name = "BYTES")]
    pub so_rcvbuf: Option<usize>,
}

pub fn run(args: RecordArgs) -> Result<i32, CliError> {
    let usage = |e: &dyn std::fmt::Display| Err(CliError::usage(e));
    let duration = match args.duration.as_deref().map(parse_seconds) {
        None => None,
        Some(Some(s)) => Some(crate::duration::to_duration(s)),
        Some(None) => return usage(&format!("invalid --duration {:?}", args.duration)),
    };
    if args.buffer_size == 0 {
        return usage(&"invalid --buffer-size 0: must be > 0");
    }
    // The listener allocates its read buffer at this size: bounded before it does.
    let max = crate::pipeline::config::limits::MAX_BUFFER_SIZE;
    if args.buffer_size > max {
        return usage(&format!(
            "invalid --buffer-size {}: must be at most {max} (16 MiB)",
            args.buffer_size
        ));
    }
    let format = args
        .output_format
        .or_else(|| OutputFormat::from_path(&args.output))
        .unwrap_or(OutputFormat::Capture { compress: false });
    let opts = ListenOptions {
        buffer_size: args.buffer_size,
        so_rcvbuf: args.so_rcvbuf,
    };
    let listener = match Listener::bind(&args.listen, opts) {
        Ok(l) => l,
        Err(e) => return usage(&e),
    };
    let writer = DatagramWriter::create(&args.output, Some(format)).map_err(CliError::output)?;
    let (stop_tx, stop_rx) = runtime::bounded::<()>(1);
    let _signals = on_stop_signals(move || {
        stop_tx.close();
    })
    .map_err(signals_error)?;
    eprintln!("listening on {}", listener.address());
    let udp = !listener.address().is_unix();
    let limits = RecordLimits {
        count: args.count,
        duration,
    };
    // What can fail once listening is the writing of the file.
    let stats = record::record(listener, writer, args.buffer_size, limits, stop_rx)
        .map_err(CliError::output)?;
    eprint!(
        "{}",
        crate::output::record::summary(&stats, &args.output, format, udp, args.buffer_size)
    );
    Ok(crate::exit::SUCCESS)
}
