//! The client socket of a DogStatsD server, shared by `replay` and the socket transport of
//! `check`.

use crate::net::address::Address;
use crate::net::frame;
use std::io::{self, Write};
use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A connected client of a DogStatsD server.
pub struct Client {
    address: Address,
    socket: ClientSocket,
}

enum ClientSocket {
    Udp(UdpSocket),
    Unixgram(UnixDatagram),
    Unix(UnixStream),
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {address}: {error}")]
    Connect { address: Address, error: io::Error },
}

/// How long a Unix send blocked by a slow server waits before it looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// How often a send refused for lack of buffer space (ENOBUFS, EAGAIN) is retried.
const SEND_RETRIES: u32 = 10_000;

impl Client {
    /// Connects to `address`. Unix sockets block on send when the server is slow
    /// (backpressure); UDP never waits for the server.
    pub fn connect(address: &Address) -> Result<Client, ClientError> {
        let err = |error| ClientError::Connect {
            address: address.clone(),
            error,
        };
        let socket = match address {
            Address::Udp(a) => {
                let local = if a.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let s = UdpSocket::bind(local).map_err(err)?;
                s.connect(a).map_err(err)?;
                ClientSocket::Udp(s)
            }
            Address::Unixgram(p) => {
                let s = UnixDatagram::unbound().map_err(err)?;
                s.connect(p).map_err(err)?;
                s.set_write_timeout(Some(STOP_CHECK)).map_err(err)?;
                ClientSocket::Unixgram(s)
            }
            Address::Unix(p) => {
                let s = UnixStream::connect(p).map_err(err)?;
                s.set_write_timeout(Some(STOP_CHECK)).map_err(err)?;
                ClientSocket::Unix(s)
            }
        };
        Ok(Client {
            address: address.clone(),
            socket,
        })
    }

    /// The socket's descriptor (the black-box check asks the kernel how much of what it sent
    /// the server has not read yet).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match &self.socket {
            ClientSocket::Udp(s) => s.as_raw_fd(),
            ClientSocket::Unixgram(s) => s.as_raw_fd(),
            ClientSocket::Unix(s) => s.as_raw_fd(),
        }
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// UDP: send errors are the server's problem (nobody listening), not the sender's.
    pub fn is_udp(&self) -> bool {
        matches!(self.socket, ClientSocket::Udp(_))
    }

    /// A Unix stream: once a write failed, the framing is lost and the stream is done.
    pub fn is_stream(&self) -> bool {
        matches!(self.socket, ClientSocket::Unix(_))
    }

    /// Sends one datagram (on a Unix stream: one length-prefixed message), waiting as long as a
    /// Unix server is too slow to take it.
    pub fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send_unless(payload, &AtomicBool::new(false)).map(drop)
    }

    /// [`Client::send`], given up when `stop` is set while a Unix server makes it wait:
    /// `Ok(false)` then, and the datagram was not sent (on a stream: maybe part of its message).
    /// Signal handlers restart interrupted system calls (SA_RESTART), so a send blocked on a
    /// server that stopped reading would not see a SIGINT: Unix sends wake up every
    /// [`STOP_CHECK`] (a send timeout) to look at `stop`.
    pub fn send_unless(&mut self, payload: &[u8], stop: &AtomicBool) -> io::Result<bool> {
        let framed;
        let bytes = match self.socket {
            ClientSocket::Unix(_) => {
                framed = frame::encode(payload);
                &framed[..]
            }
            _ => payload,
        };
        let mut written = 0;
        let mut tries = 0;
        loop {
            let r = match &mut self.socket {
                ClientSocket::Udp(s) => s.send(bytes),
                ClientSocket::Unixgram(s) => s.send(bytes),
                // A stream write may take part of the message; the rest follows.
                ClientSocket::Unix(s) => match s.write(&bytes[written..]) {
                    Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) if written + n < bytes.len() => {
                        written += n;
                        Err(io::ErrorKind::Interrupted.into())
                    }
                    other => other,
                },
            };
            match r {
                Ok(_) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A Unix send timed out: the server is slow, wait on (backpressure).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !self.is_udp() => {}
                Err(e) if is_no_buffer(&e) && tries < SEND_RETRIES => {
                    tries += 1;
                    std::thread::yield_now();
                }
                Err(e) => return Err(e),
            }
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
        }
    }

    /// Unix datagram: connects the socket again to the server's path, for a server that was
    /// restarted (a new socket at the same path); `None` for the other transports. A UDP socket
    /// needs nothing (its next send reaches whoever listens then), a stream is not resumed.
    pub fn reconnect(&mut self) -> Option<io::Result<()>> {
        match (&self.socket, &self.address) {
            (ClientSocket::Unixgram(s), Address::Unixgram(p)) => Some(s.connect(p)),
            _ => None,
        }
    }

    /// Unix stream: tells the server nothing more comes (the stream's end of file).
    pub fn finish(&mut self) -> io::Result<()> {
        match &mut self.socket {
            ClientSocket::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            _ => Ok(()),
        }
    }
}

fn is_no_buffer(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}

/// A send error meaning the server's socket is gone (closed, removed), which a reconnection
/// may cure once a server is back at the path.
pub fn peer_gone(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | NotConnected | NotFound | ConnectionReset
    )
}
