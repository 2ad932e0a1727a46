//! The agent's `DD_` variables that `serve` honours when its own flags are not given, so that
//! `lastbucket serve` starts like the agent's DogStatsD under a harness that configures servers
//! by environment (blackbox.md):
//! - `DD_DOGSTATSD_SOCKET` → `unixgram://PATH`; `DD_DOGSTATSD_STREAM_SOCKET` → `unix://PATH`;
//! - `DD_DOGSTATSD_PORT` (+ `DD_BIND_HOST`, default `localhost`) → `udp://HOST:PORT`; port 0
//!   means no UDP listener, as in the agent;
//! - `DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS` → the flag (`true`/`false`, also `1`/`0`,
//!   `on`/`off`, `yes`/`no`);
//! - `DD_DD_URL` → `--forward-to` (read by clap), `DD_API_KEY` → the `DD-API-KEY` header,
//!   `DD_HOSTNAME` → the events payload's host.
//!
//! `DD_DOGSTATSD_NON_LOCAL_TRAFFIC` is not honoured: lastbucket serves on the address it is
//! given, and the harness binds loopback.
//!
//! It lives with the server, not the command line: these are what a server reads the way the
//! agent does, and no clap flag parses them (the variables come in through a lookup function,
//! so tests pass their own environment).

use crate::net::{Address, AddressError};

/// A `DD_` variable whose value the agent would not accept either.
#[derive(Debug, thiserror::Error)]
pub enum AgentEnvError {
    #[error("invalid DD_DOGSTATSD_PORT {0:?}: expected a port from 0 to 65535")]
    Port(String),
    #[error("from DD_BIND_HOST/DD_DOGSTATSD_PORT: {0}")]
    Address(AddressError),
    #[error("invalid DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS {0:?}: expected true or false")]
    Flag(String),
}

/// The listen addresses the variables ask for (empty when none is set).
pub fn listen_addresses(
    var: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Address>, AgentEnvError> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let mut out = Vec::new();
    if let Some(port) = set("DD_DOGSTATSD_PORT") {
        let port: u16 = port
            .trim()
            .parse()
            .map_err(|_| AgentEnvError::Port(port.clone()))?;
        if port != 0 {
            let host = set("DD_BIND_HOST").unwrap_or_else(|| "localhost".into());
            let host = host.trim();
            let spec = if host.contains(':') && !host.starts_with('[') {
                format!("udp://[{host}]:{port}")
            } else {
                format!("udp://{host}:{port}")
            };
            out.push(spec.parse::<Address>().map_err(AgentEnvError::Address)?);
        }
    }
    if let Some(path) = set("DD_DOGSTATSD_SOCKET") {
        out.push(Address::Unixgram(path.into()));
    }
    if let Some(path) = set("DD_DOGSTATSD_STREAM_SOCKET") {
        out.push(Address::Unix(path.into()));
    }
    Ok(out)
}

/// `DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS`, when set.
pub fn flush_incomplete_buckets(
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<bool>, AgentEnvError> {
    let Some(v) = var("DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS").filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Ok(Some(true)),
        "false" | "0" | "off" | "no" => Ok(Some(false)),
        _ => Err(AgentEnvError::Flag(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn variables_become_listen_addresses() {
        let a = listen_addresses(env(&[
            ("DD_DOGSTATSD_PORT", "8125"),
            ("DD_BIND_HOST", "127.0.0.1"),
            ("DD_DOGSTATSD_SOCKET", "/tmp/d.sock"),
            ("DD_DOGSTATSD_STREAM_SOCKET", "/tmp/s.sock"),
        ]))
        .unwrap();
        let shown: Vec<String> = a.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "udp://127.0.0.1:8125",
                "unixgram:///tmp/d.sock",
                "unix:///tmp/s.sock"
            ]
        );
        assert!(listen_addresses(env(&[("DD_DOGSTATSD_PORT", "0")]))
            .unwrap()
            .is_empty());
        assert!(listen_addresses(env(&[("DD_DOGSTATSD_PORT", "x")])).is_err());
        assert!(listen_addresses(env(&[])).unwrap().is_empty());
    }

    #[test]
    fn the_flag_reads_the_agents_booleans() {
        let f = |v| flush_incomplete_buckets(env(&[("DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS", v)]));
        assert_eq!(f("true").unwrap(), Some(true));
        assert_eq!(f("FALSE").unwrap(), Some(false));
        assert!(f("maybe").is_err());
        assert_eq!(flush_incomplete_buckets(env(&[])).unwrap(), None);
    }
}
