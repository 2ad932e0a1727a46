//! The black-box flags of `check` and `sweep`: the server under test as a child process
//! (`shared/design/blackbox.md`).

use super::UsageError;
use crate::check::blackbox::BlackboxOptions;
use crate::net::address::Address;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Check an external DogStatsD server instead of the embedded pipeline: each scenario runs
    /// `sh -c CMD` with DD_DD_URL (the built-in intake), DD_API_KEY, DD_HOSTNAME,
    /// DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS and the listen address (DD_DOGSTATSD_PORT +
    /// DD_BIND_HOST, DD_DOGSTATSD_SOCKET or DD_DOGSTATSD_STREAM_SOCKET) set; {intake}, {addr},
    /// {socket}, {port} and {flag} in CMD are replaced too.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["transport", "legacy"])]
    pub server_cmd: Option<String>,

    /// Where the server must listen: udp://HOST:PORT (port 0: a free port per scenario),
    /// unixgram://PATH or unix://PATH.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "udp://127.0.0.1:0",
        requires = "server_cmd"
    )]
    pub server_addr: Address,

    /// How long the server may take to listen, and to exit after the stop signal (then it is
    /// killed with SIGKILL, which fails the scenario).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        requires = "server_cmd"
    )]
    pub server_timeout: String,

    /// The signal that stops the server at the stop moment: TERM, INT, HUP, QUIT, USR1, USR2
    /// (with or without SIG), or a number.
    #[arg(
        long,
        value_name = "SIGNAL",
        default_value = "TERM",
        requires = "server_cmd"
    )]
    pub stop_signal: String,

    /// Keep the server's stderr in FILE (appended; its last lines are shown when it fails).
    #[arg(long, value_name = "FILE", requires = "server_cmd")]
    pub server_log: Option<PathBuf>,
}

/// A signal by name or number.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    let name = s.trim().to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    Ok(match name {
        "TERM" => libc::SIGTERM,
        "INT" => libc::SIGINT,
        "HUP" => libc::SIGHUP,
        "QUIT" => libc::SIGQUIT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "KILL" => libc::SIGKILL,
        n => match n.parse::<i32>() {
            Ok(v) if (1..=64).contains(&v) => v,
            _ => {
                return Err(format!(
                    "invalid --stop-signal {s:?}: expected TERM, INT, HUP, QUIT, USR1, USR2, KILL or 1-64"
                ))
            }
        },
    })
}

impl ServerArgs {
    /// The options, when --server-cmd is given.
    pub fn options(&self, speed: f64) -> Result<Option<BlackboxOptions>, UsageError> {
        let Some(cmd) = &self.server_cmd else {
            return Ok(None);
        };
        if cmd.trim().is_empty() {
            return Err(UsageError("--server-cmd is empty".into()));
        }
        let timeout = crate::duration::parse_ns(&self.server_timeout)
            .map_err(|e| UsageError(format!("invalid --server-timeout: {e}")))?;
        if timeout == 0 {
            return Err(UsageError("--server-timeout must be more than 0".into()));
        }
        Ok(Some(BlackboxOptions {
            command: cmd.clone(),
            address: self.server_addr.clone(),
            timeout: Duration::from_nanos(timeout),
            stop_signal: parse_signal(&self.stop_signal).map_err(UsageError)?,
            speed,
            log: self.server_log.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("TERM"), Ok(libc::SIGTERM));
        assert_eq!(parse_signal("sigint"), Ok(libc::SIGINT));
        assert_eq!(parse_signal("10"), Ok(10));
        assert!(parse_signal("TERMINATE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
