//! Server and destination addresses as users write them: `udp://host:port`,
//! `unixgram://path` (Unix datagram socket), `unix://path` (Unix stream socket, each message
//! prefixed by its 4-byte little-endian length).

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;

/// Where a DogStatsD server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    Udp(SocketAddr),
    Unixgram(PathBuf),
    Unix(PathBuf),
}

/// An address that cannot be used; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("invalid address {0:?}: expected udp://HOST:PORT, unixgram://PATH or unix://PATH")]
    MissingScheme(String),
    #[error(
        "invalid address {input:?}: unknown scheme {scheme:?} (expected udp, unixgram or unix)"
    )]
    UnknownScheme { input: String, scheme: String },
    #[error("invalid address {input:?}: {why}")]
    BadUdp { input: String, why: String },
    #[error("invalid address {0:?}: the socket path is empty")]
    EmptyPath(String),
}

impl Address {
    /// The scheme: `udp`, `unixgram` or `unix`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Address::Udp(_) => "udp",
            Address::Unixgram(_) => "unixgram",
            Address::Unix(_) => "unix",
        }
    }

    /// True for the Unix socket kinds (their datagrams are not packed by the assembler).
    pub fn is_unix(&self) -> bool {
        !matches!(self, Address::Udp(_))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Udp(a) => write!(f, "udp://{a}"),
            Address::Unixgram(p) => write!(f, "unixgram://{}", p.display()),
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

impl FromStr for Address {
    type Err = AddressError;

    /// Parses an address; a UDP host name is resolved (the first address wins), so
    /// `udp://localhost:8125` works.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = input
            .split_once("://")
            .ok_or_else(|| AddressError::MissingScheme(input.to_string()))?;
        let path = || {
            if rest.is_empty() {
                Err(AddressError::EmptyPath(input.to_string()))
            } else {
                Ok(PathBuf::from(rest))
            }
        };
        match scheme {
            "udp" => parse_udp(input, rest).map(Address::Udp),
            "unixgram" => path().map(Address::Unixgram),
            "unix" => path().map(Address::Unix),
            other => Err(AddressError::UnknownScheme {
                input: input.to_string(),
                scheme: other.to_string(),
            }),
        }
    }
}

fn parse_udp(input: &str, rest: &str) -> Result<SocketAddr, AddressError> {
    let bad = |why: &str| AddressError::BadUdp {
        input: input.to_string(),
        why: why.to_string(),
    };
    if let Ok(a) = rest.parse::<SocketAddr>() {
        return Ok(a);
    }
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| bad("expected HOST:PORT"))?;
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    port.parse::<u16>()
        .map_err(|_| bad("the port must be a number from 0 to 65535"))?;
    rest.to_socket_addrs()
        .map_err(|e| bad(&format!("cannot resolve host {host:?}: {e}")))?
        .next()
        .ok_or_else(|| bad(&format!("host {host:?} has no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scheme_and_prints_it_back() {
        for s in [
            "udp://127.0.0.1:8125",
            "udp://[::1]:0",
            "unixgram:///tmp/dsd.sock",
            "unix://rel/dsd.sock",
        ] {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        let a: Address = "udp://localhost:8125".parse().unwrap();
        assert!(matches!(a, Address::Udp(sa) if sa.port() == 8125 && sa.ip().is_loopback()));
    }

    #[test]
    fn rejects_bad_addresses_with_a_reason() {
        let err = |s: &str| s.parse::<Address>().unwrap_err();
        assert!(matches!(
            err("127.0.0.1:8125"),
            AddressError::MissingScheme(_)
        ));
        assert!(matches!(
            err("tcp://h:1"),
            AddressError::UnknownScheme { .. }
        ));
        assert!(matches!(err("udp://h"), AddressError::BadUdp { .. }));
        assert!(matches!(err("udp://:8125"), AddressError::BadUdp { .. }));
        assert!(matches!(
            err("udp://127.0.0.1:99999"),
            AddressError::BadUdp { .. }
        ));
        assert!(matches!(err("unix://"), AddressError::EmptyPath(_)));
        assert!(err("udp://h").to_string().contains("udp://h"));
    }
}
