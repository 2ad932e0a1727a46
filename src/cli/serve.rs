//! `lastbucket serve`: the embedded pipeline as a standalone DogStatsD server.

use super::config_arg::read_config_file;
use super::error::{serve_error, signals_error, CliError};
use super::stop_args;
use super::UsageError;
use crate::duration::parse_seconds;
use crate::net::signals::on_stop_signals;
use crate::net::{Address, ListenOptions, Listener};
use crate::pipeline::{BatcherDrain, PipelineConfig, StopSettings};
use crate::runtime;
use crate::server::agent_env;
use crate::server::forward::{self, ForwardConfig, Forwarder};
use crate::server::serve::{self, ServeOptions};
use clap::Args;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen (repeatable): udp://HOST:PORT, unixgram://PATH, or unix://PATH (stream,
    /// 4-byte little-endian length before each message). Port 0 picks a free port; the bound
    /// addresses are printed on stderr as `listening on ADDR`. Without it, the agent's
    /// variables say where: DD_DOGSTATSD_PORT (+ DD_BIND_HOST, default localhost; 0: no UDP),
    /// DD_DOGSTATSD_SOCKET (unixgram), DD_DOGSTATSD_STREAM_SOCKET (unix stream).
    #[arg(long = "listen", value_name = "ADDR")]
    pub listen: Vec<Address>,

    /// `dogstatsd_flush_incomplete_buckets`: flush the open bucket on stop (the agent's default
    /// is off). Without it: DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS=true|false, else off.
    #[arg(long, value_name = "on|off", value_parser = stop_args::on_off())]
    pub flush_incomplete_buckets: Option<bool>,

    /// Also post every flush to a Datadog intake at URL (http://127.0.0.1:PORT, loopback only),
    /// in the agent's format: v2 series and sketches as zstd protobuf, events and service checks
    /// as the agent's JSON; DD_API_KEY is sent as the DD-API-KEY header. The last flush is
    /// posted before serve exits; failed posts are shown and counted in the stats.
    #[arg(long, value_name = "URL", env = "DD_DD_URL")]
    pub forward_to: Option<String>,

    /// auto: workers drain their queue on stop when the flag is on (current reference);
    /// never: the behaviour before that change.
    #[arg(long, default_value = "auto", value_parser = stop_args::drain())]
    pub batcher_drain: BatcherDrain,

    /// Where the flushed items go, as JSON lines, as soon as they are flushed (`-`: stdout).
    /// When its reader goes away (`serve … | head`), the server stops as on SIGTERM and exits 0.
    #[arg(long, value_name = "FILE", default_value = "-")]
    pub flushed_out: String,

    /// Period of the aggregator's flush, in whole seconds (`15s`).
    #[arg(long, value_name = "DURATION")]
    pub flush_interval: Option<String>,

    /// Stage counters, datagrams read and kernel drops as JSON: rewritten while running, and
    /// final after the stop (`-`: the final stats only, to stdout; `--flushed-out` then needs
    /// a file, stdout being its default).
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,

    /// Pipeline settings file: TOML, JSON, or the agent's datadog.yaml / dogstatsd.yaml (its
    /// key names are accepted; in YAML the agent's keys lastbucket does not model are ignored).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Number of workers (default: the reference's max(2, cores - 2)).
    #[arg(long)]
    pub workers: Option<usize>,

    /// Read buffer per datagram (`dogstatsd_buffer_size`, default 8192); longer datagrams are
    /// truncated and counted.
    #[arg(long, value_name = "BYTES")]
    pub buffer_size: Option<usize>,

    /// SO_RCVBUF of the listening sockets (default: the system's).
    #[arg(long, value_name = "BYTES")]
    pub so_rcvbuf: Option<usize>,

    /// Sockets (each with its reader thread and packets buffer) per UDP address, sharing its
    /// port with SO_REUSEPORT; the kernel spreads senders over them. Unix addresses get one.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub readers: u16,
}

/// How often `--stats-json` is rewritten while the server runs.
const STATS_EVERY: Duration = Duration::from_millis(200);

impl ServeArgs {
    /// The pipeline's settings, and the flag when the `--config` file sets it.
    fn config(&self) -> Result<(PipelineConfig, Option<bool>), UsageError> {
        let (mut config, file_flag) = match &self.config {
            Some(path) => {
                let file = read_config_file(path)?;
                (file.pipeline, file.flush_incomplete_buckets)
            }
            None => (PipelineConfig::default(), None),
        };
        if let Some(w) = self.workers {
            config.workers = w;
        }
        if let Some(b) = self.buffer_size {
            config.buffer_size = b;
        }
        if let Some(s) = &self.flush_interval {
            config.flush_interval_s = whole_seconds(s).ok_or_else(|| {
                UsageError(format!(
                    "invalid --flush-interval {s:?}: expected whole seconds >= 1, like 15s"
                ))
            })?;
        }
        config.validate().map_err(|e| UsageError(e.to_string()))?;
        Ok((config, file_flag))
    }

    /// The flag, as the agent resolves it: the command line, then the `DD_` variable (which
    /// overrides the agent's file), then the `--config` file, then off.
    fn settings(&self, file_flag: Option<bool>) -> Result<StopSettings, UsageError> {
        let flag = match self.flush_incomplete_buckets {
            Some(on) => on,
            None => agent_env::flush_incomplete_buckets(env_var)
                .map_err(|e| UsageError(e.to_string()))?
                .or(file_flag)
                .unwrap_or(false),
        };
        Ok(StopSettings {
            flush_incomplete_buckets: flag,
            batcher_drain: self.batcher_drain,
        })
    }
}

/// A variable of the process environment (unset or not UTF-8: none).
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The listen addresses: the flags, else the agent's variables.
fn listen_addresses(args: &ServeArgs) -> Result<Vec<Address>, UsageError> {
    if !args.listen.is_empty() {
        return Ok(args.listen.clone());
    }
    let from_env = agent_env::listen_addresses(env_var).map_err(|e| UsageError(e.to_string()))?;
    if from_env.is_empty() {
        return Err(UsageError(
            "no address to listen on: give --listen ADDR, or set DD_DOGSTATSD_PORT, \
             DD_DOGSTATSD_SOCKET or DD_DOGSTATSD_STREAM_SOCKET"
                .into(),
        ));
    }
    Ok(from_env)
}

/// The forwarder's settings, from `--forward-to` (or DD_DD_URL), DD_API_KEY and DD_HOSTNAME.
fn forward_config(args: &ServeArgs) -> Result<Option<ForwardConfig>, UsageError> {
    let Some(url) = args.forward_to.as_deref().filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    let url = forward::parse_url(url.trim()).map_err(|e| UsageError(e.to_string()))?;
    Ok(Some(ForwardConfig {
        url,
        api_key: env_var("DD_API_KEY").filter(|k| !k.is_empty()),
        hostname: env_var("DD_HOSTNAME").unwrap_or_default(),
    }))
}

fn whole_seconds(s: &str) -> Option<u64> {
    let v = parse_seconds(s)?;
    (v >= 1.0 && v.fract() == 0.0).then_some(v as u64)
}

pub fn run(args: ServeArgs) -> Result<i32, CliError> {
    let (config, file_flag) = args.config()?;
    let settings = args.settings(file_flag)?;
    let opts = ListenOptions {
        buffer_size: config.buffer_size,
        so_rcvbuf: args.so_rcvbuf,
    };
    let addresses = listen_addresses(&args)?;
    let forward_config = forward_config(&args)?;
    let stats_to_stdout = args
        .stats_json
        .as_ref()
        .is_some_and(|p| p.as_os_str() == "-");
    let on_stdout = [
        (args.flushed_out == "-").then_some("--flushed-out"),
        stats_to_stdout.then_some("--stats-json"),
    ];
    super::stdout::one_on_stdout(&on_stdout.into_iter().flatten().collect::<Vec<_>>())
        .map_err(|e| CliError::usage(format!("{e} (stdout is --flushed-out's default)")))?;
    let flushed_out: Box<dyn Write> = if args.flushed_out == "-" {
        Box::new(io::stdout())
    } else {
        match std::fs::File::create(&args.flushed_out) {
            Ok(f) => Box::new(BufWriter::new(f)),
            Err(e) => {
                return Err(CliError::output(format!(
                    "cannot create {}: {e}",
                    args.flushed_out
                )))
            }
        }
    };
    if let Some(p) = args.stats_json.as_ref().filter(|_| !stats_to_stdout) {
        // Fail before serving if the path is not writable.
        if let Err(e) = std::fs::File::create(p) {
            return Err(CliError::output(format!(
                "cannot create {}: {e}",
                p.display()
            )));
        }
    }
    let (stop_tx, stop_rx) = runtime::bounded::<()>(1);
    // Installed before binding: a client may signal as soon as a socket exists (a unix socket
    // file appears at bind), and a stop before serving starts is still a clean stop.
    let _signals = on_stop_signals(move || {
        stop_tx.close();
    })
    .map_err(signals_error)?;
    let mut listeners = Vec::new();
    for a in &addresses {
        listeners.extend(
            Listener::bind_readers(a, opts, usize::from(args.readers)).map_err(CliError::usage)?,
        );
    }
    // Once per address: the readers of one address are listed together.
    let mut printed: Option<&Address> = None;
    for l in &listeners {
        if printed != Some(l.address()) {
            eprintln!("listening on {}", l.address());
            printed = Some(l.address());
        }
    }
    if let Some(f) = &forward_config {
        eprintln!("forwarding to {}", f.url);
    }
    let forward = forward_config.map(Forwarder::start);
    let report = serve::serve(
        listeners,
        ServeOptions {
            config,
            settings,
            flushed_out,
            stats_json: args.stats_json.clone(),
            stats_every: STATS_EVERY,
            forward,
        },
        stop_rx,
    )
    .map_err(serve_error)?;
    eprint!("{}", crate::output::serve::summary(&report));
    Ok(crate::exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_interval_is_whole_seconds() {
        assert_eq!(whole_seconds("15s"), Some(15));
        assert_eq!(whole_seconds("2"), Some(2));
        assert_eq!(whole_seconds("1500ms"), None);
        assert_eq!(whole_seconds("0s"), None);
        assert_eq!(whole_seconds("x"), None);
    }
}
