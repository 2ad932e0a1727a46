//! The three listeners of the reference (UDP, Unix datagram, Unix stream with length-prefixed
//! messages). They read datagrams and hand them, stamped with the read instant, in batches
//! ([`ReadBatch`]) to one bounded channel. Datagram sockets are read with `recvmmsg` on a
//! thread of their own ([`super::datagram_thread`]); Unix streams are read in 64 KiB chunks by
//! async tasks. Nothing is allocated per datagram: batch buffers come back to their reader
//! when the consumer drops them.
//!
//! Reads go into a buffer of `buffer_size + 1` bytes: a datagram longer than `buffer_size` fills
//! it, is counted as truncated here, and is handed on as those `buffer_size + 1` bytes so the
//! pipeline counts and cuts it exactly as the reference's read into `dogstatsd_buffer_size`
//! cuts it. A listener stops when its stop channel is closed; it returns its socket with
//! whatever the kernel still holds, unread, so a caller can count (drain) it.

use super::address::Address;
pub use super::batch_read::Received;
use super::batch_read::{BatchPool, ReadBatch};
use super::datagram_thread::{self, Output};
use super::drops::{DropCounter, DropScope};
use super::frame::FrameReader;
pub use super::socket::{DatagramSocket, ListenerCounts, ListenerStats};
use crate::pipeline::ListenerKind;
use crate::runtime::{self, first, Receiver, Sender, UdpSocket, UnixDatagram, UnixListener};
use socket2::{Domain, SockAddr, Socket, Type};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Capacity of the channel between the listeners and the pipeline task, in batches of up to
/// [`super::batch_read::BATCH_DATAGRAMS`] datagrams and [`super::batch_read::BATCH_BYTES`]
/// bytes (under load: up to 16k datagrams, 4 MiB).
pub const CHANNEL_CAPACITY: usize = 64;

/// Socket settings of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOptions {
    /// Read buffer size (`dogstatsd_buffer_size`); longer datagrams are truncated.
    pub buffer_size: usize,
    /// `SO_RCVBUF` to ask for (the kernel doubles it and caps it at `rmem_max`).
    pub so_rcvbuf: Option<usize>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            buffer_size: 8192,
            so_rcvbuf: None,
        }
    }
}

/// Why a listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {address}: {error}")]
    Bind { address: Address, error: io::Error },
    #[error("cannot listen on {address}: {} exists and is not a socket", path.display())]
    PathInUse { address: Address, path: PathBuf },
    #[error("invalid read buffer size {0}: expected 1 to {MAX_BUFFER_SIZE} bytes")]
    BufferSize(usize),
}

/// Largest read buffer accepted: beyond any datagram a socket can carry.
pub const MAX_BUFFER_SIZE: usize = 64 << 20;

/// Removes a Unix socket file when the listener is gone.
#[derive(Debug)]
pub struct SocketPath(PathBuf);

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

enum BoundSocket {
    Datagram(DatagramSocket),
    Stream(UnixListener),
}

/// A bound listener, not yet reading.
pub struct Listener {
    address: Address,
    socket: BoundSocket,
    opts: ListenOptions,
    stats: Arc<ListenerStats>,
    drops: Option<DropCounter>,
    path: Option<SocketPath>,
    index: usize,
}

/// What a stopped listener leaves: its socket, with whatever the kernel still holds unread.
pub enum Leftover {
    Datagram(DatagramSocket),
    /// The listening socket (connections not accepted yet) and the open connections.
    Stream {
        listener: UnixListener,
        connections: Vec<FrameReader>,
    },
}

/// A listener after its stop.
pub struct Stopped {
    pub address: Address,
    pub stats: Arc<ListenerStats>,
    pub drops: Option<DropCounter>,
    pub leftover: Leftover,
    /// Removes the socket file when dropped.
    pub path: Option<SocketPath>,
}

impl Listener {
    /// Binds `address` (port 0 picks a free port; an existing socket file is replaced, as the
    /// agent does).
    pub fn bind(address: &Address, opts: ListenOptions) -> Result<Listener, ListenError> {
        Listener::bind_one(address, opts, false)
    }

    /// `readers` listeners on one address, each with its own socket and reader thread. On a
    /// UDP address the sockets share the port with `SO_REUSEPORT`, and the kernel spreads the
    /// senders over them (by the hash of the sender's address and port: one sender socket
    /// always reaches the same reader); port 0 picks one free port for all of them. A Unix
    /// socket path can be bound once only: a Unix address always gets one listener.
    pub fn bind_readers(
        address: &Address,
        opts: ListenOptions,
        readers: usize,
    ) -> Result<Vec<Listener>, ListenError> {
        if readers <= 1 || !matches!(address, Address::Udp(_)) {
            return Ok(vec![Listener::bind(address, opts)?]);
        }
        let first = Listener::bind_one(address, opts, true)?;
        let bound = first.address.clone();
        let mut all = vec![first];
        for _ in 1..readers {
            all.push(Listener::bind_one(&bound, opts, true)?);
        }
        Ok(all)
    }

    fn bind_one(
        address: &Address,
        opts: ListenOptions,
        reuse_port: bool,
    ) -> Result<Listener, ListenError> {
        if !(1..=MAX_BUFFER_SIZE).contains(&opts.buffer_size) {
            return Err(ListenError::BufferSize(opts.buffer_size));
        }
        let err = |error| ListenError::Bind {
            address: address.clone(),
            error,
        };
        let (bound, socket, path) = match address {
            Address::Udp(addr) => {
                let s = new_socket(Domain::for_address(*addr), Type::DGRAM, opts).map_err(err)?;
                if reuse_port {
                    s.set_reuse_port(true).map_err(err)?;
                }
                s.bind(&(*addr).into()).map_err(err)?;
                let std_sock: std::net::UdpSocket = s.into();
                let local = std_sock.local_addr().map_err(err)?;
                let sock = BoundSocket::Datagram(DatagramSocket::Udp(UdpSocket::from(std_sock)));
                (Address::Udp(local), sock, None)
            }
            Address::Unixgram(path) | Address::Unix(path) => {
                prepare_path(address, path)?;
                let stream = matches!(address, Address::Unix(_));
                let ty = if stream { Type::STREAM } else { Type::DGRAM };
                let s = new_socket(Domain::UNIX, ty, opts).map_err(err)?;
                s.bind(&SockAddr::unix(path).map_err(err)?).map_err(err)?;
                let guard = SocketPath(path.clone());
                let sock = if stream {
                    s.listen(1024).map_err(err)?;
                    let l: std::os::unix::net::UnixListener = s.into();
                    BoundSocket::Stream(UnixListener::from(l))
                } else {
                    let d: std::os::unix::net::UnixDatagram = s.into();
                    BoundSocket::Datagram(DatagramSocket::Unix(UnixDatagram::from(d)))
                };
                (address.clone(), sock, Some(guard))
            }
        };
        let drops = match &socket {
            BoundSocket::Datagram(DatagramSocket::Udp(s)) => {
                DropCounter::for_udp_socket(s.as_raw_fd())
            }
            _ => None,
        };
        Ok(Listener {
            address: bound,
            socket,
            opts,
            stats: Arc::default(),
            drops,
            path,
            index: 0,
        })
    }

    /// Tags what this listener reads with pipeline listener index `index` (0 by default), so
    /// that several listeners can share one channel and each feed its own packets buffer.
    pub fn with_index(mut self, index: usize) -> Listener {
        self.index = index;
        self
    }

    /// The address actually bound (with the port the system picked for port 0).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// How the pipeline treats this listener's datagrams.
    pub fn kind(&self) -> ListenerKind {
        if self.address.is_unix() {
            ListenerKind::Unix
        } else {
            ListenerKind::Udp
        }
    }

    pub fn stats(&self) -> Arc<ListenerStats> {
        self.stats.clone()
    }

    /// The kernel drop counter of a UDP listener, and whether it is the socket's own.
    pub fn drops(&self) -> Option<(DropCounter, DropScope)> {
        self.drops.clone().map(|d| {
            let s = d.scope();
            (d, s)
        })
    }

    /// Reads until `stop` is closed, handing every datagram read to `tx`, in batches. A
    /// datagram read is always handed on, even when the stop comes while `tx` is full.
    pub async fn run(self, tx: Sender<ReadBatch>, stop: Receiver<()>) -> Stopped {
        let Listener {
            address,
            socket,
            opts,
            stats,
            drops,
            path,
            index,
        } = self;
        let leftover = match socket {
            BoundSocket::Datagram(sock) => {
                let out = Output { tx, index };
                let sock =
                    datagram_thread::run(sock, opts.buffer_size, out, &stop, stats.clone()).await;
                Leftover::Datagram(sock)
            }
            BoundSocket::Stream(listener) => {
                let to = Tagged { tx: &tx, index };
                let connections = accept_loop(&listener, opts, to, &stop, &stats).await;
                Leftover::Stream {
                    listener,
                    connections,
                }
            }
        };
        Stopped {
            address,
            stats,
            drops,
            leftover,
            path,
        }
    }
}

fn new_socket(domain: Domain, ty: Type, opts: ListenOptions) -> io::Result<Socket> {
    let s = Socket::new(domain, ty, None)?;
    if let Some(n) = opts.so_rcvbuf {
        s.set_recv_buffer_size(n)?;
    }
    Ok(s)
}

/// A stale socket file is removed (the agent does the same); anything else is refused.
fn prepare_path(address: &Address, path: &Path) -> Result<(), ListenError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(|error| ListenError::Bind {
                address: address.clone(),
                error,
            })
        }
        Ok(_) => Err(ListenError::PathInUse {
            address: address.clone(),
            path: path.to_path_buf(),
        }),
        Err(_) => Ok(()),
    }
}

/// Resolves to `None` when the stop channel is closed.
async fn stopped<T>(stop: &Receiver<()>) -> Option<T> {
    let _ = stop.recv().await;
    None
}

/// A read error is counted; a short pause keeps a persistent error from spinning.
async fn read_error(stats: &ListenerStats) {
    stats.read_error();
    runtime::sleep(Duration::from_millis(1)).await;
}

/// Where a listener hands what it reads: the channel, and the index to tag it with.
#[derive(Clone, Copy)]
struct Tagged<'a> {
    tx: &'a Sender<ReadBatch>,
    index: usize,
}

async fn accept_loop(
    listener: &UnixListener,
    opts: ListenOptions,
    to: Tagged<'_>,
    stop: &Receiver<()>,
    stats: &Arc<ListenerStats>,
) -> Vec<FrameReader> {
    let mut tasks = Vec::new();
    while !stop.is_closed() {
        match first(async { Some(listener.accept().await) }, stopped(stop)).await {
            None => break,
            Some(Ok((stream, _))) => {
                stats.connection();
                if let Some(n) = opts.so_rcvbuf {
                    // SAFETY: `stream` owns the fd and outlives this borrow.
                    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(stream.as_raw_fd()) };
                    let _ = socket2::SockRef::from(&fd).set_recv_buffer_size(n);
                }
                let conn = connection(
                    FrameReader::new(stream),
                    opts.buffer_size,
                    (to.tx.clone(), to.index),
                    stop.clone(),
                    stats.clone(),
                );
                tasks.push(runtime::spawn(conn));
            }
            Some(Err(_)) => read_error(stats).await,
        }
    }
    let mut open = Vec::new();
    for t in tasks {
        open.extend(t.await);
    }
    open
}

/// Reads one connection until the stop (returns it, with its unread bytes) or its end.
async fn connection(
    mut reader: FrameReader,
    buffer_size: usize,
    (tx, index): (Sender<ReadBatch>, usize),
    stop: Receiver<()>,
    stats: Arc<ListenerStats>,
) -> Option<FrameReader> {
    let pool = BatchPool::new(index, buffer_size + 1);
    loop {
        // The messages of one chunk read, in batches, stamped with one instant.
        let at = Instant::now();
        let mut batch = pool.take();
        loop {
            match reader.next_frame_slice() {
                Ok(Some(payload)) => {
                    let truncated = payload.len() > buffer_size;
                    stats.count(payload.len(), truncated);
                    batch.push(
                        &payload[..payload.len().min(buffer_size + 1)],
                        truncated,
                        at,
                    );
                    if batch.is_full() {
                        let full = std::mem::replace(&mut batch, pool.take());
                        if tx.send(full).await.is_err() {
                            return None;
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    stats.bad_message();
                    // What came before the bad prefix was read: it is handed on.
                    if !batch.is_empty() {
                        let _ = tx.send(batch).await;
                    }
                    return None;
                }
            }
        }
        if !batch.is_empty() && tx.send(batch).await.is_err() {
            return None;
        }
        if reader.is_eof() {
            return None;
        }
        if stop.is_closed() {
            return Some(reader);
        }
        match first(async { Some(reader.fill().await) }, stopped(&stop)).await {
            None => return Some(reader),
            Some(Ok(_)) => {}
            Some(Err(_)) => {
                stats.read_error();
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{block_on, bounded};
    use std::io::Write;

    /// The next `n` datagrams handed on, whatever batches they came in.
    async fn take(rx: &Receiver<ReadBatch>, n: usize) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        while out.len() < n {
            let batch = rx.recv().await.unwrap();
            out.extend(batch.iter().map(|r| (r.payload.to_vec(), r.truncated)));
        }
        out
    }

    fn options(buffer_size: usize) -> ListenOptions {
        ListenOptions {
            buffer_size,
            so_rcvbuf: None,
        }
    }

    #[test]
    fn oversize_datagrams_are_cut_one_byte_past_the_buffer_and_counted() {
        let l = Listener::bind(&"udp://127.0.0.1:0".parse().unwrap(), options(8)).unwrap();
        let Address::Udp(to) = l.address().clone() else {
            panic!("udp")
        };
        assert_ne!(to.port(), 0, "the bound port is reported");
        let stats = l.stats();
        let (tx, rx) = bounded(16);
        let (stop_tx, stop_rx) = bounded(1);
        block_on(async {
            let task = runtime::spawn(l.run(tx, stop_rx));
            let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            c.send_to(b"short", to).unwrap();
            c.send_to(b"0123456789abcdef", to).unwrap();
            let got = take(&rx, 2).await;
            assert_eq!(
                got,
                [(b"short".to_vec(), false), (b"012345678".to_vec(), true)]
            );
            stop_tx.close();
            let _stopped = task.await;
            assert!(
                rx.recv().await.is_err(),
                "the channel closes with the listener"
            );
        });
        let s = stats.snapshot();
        assert_eq!((s.datagrams, s.bytes, s.truncated), (2, 5 + 9, 1));
    }

    #[test]
    fn a_stopped_stream_listener_keeps_the_unread_part_of_its_connection() {
        let dir = std::env::temp_dir().join(format!("lb-listener-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let l = Listener::bind(&Address::Unix(path.clone()), options(4)).unwrap();
        let stats = l.stats();
        let (tx, rx) = bounded(16);
        let (stop_tx, stop_rx) = bounded(1);
        block_on(async {
            let task = runtime::spawn(l.run(tx, stop_rx));
            let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
            let mut bytes = super::super::frame::encode(b"a:1|c");
            bytes.extend(super::super::frame::encode(b"ok"));
            bytes.extend(&[9, 0, 0, 0, b'x']); // a message cut short
            c.write_all(&bytes).unwrap();
            let got = take(&rx, 2).await;
            assert_eq!(got, [(b"a:1|c".to_vec(), true), (b"ok".to_vec(), false)]);
            // The partial message (read or still in the socket) is never handed on.
            stop_tx.close();
            let stopped = task.await;
            let Leftover::Stream { connections, .. } = &stopped.leftover else {
                panic!("stream")
            };
            assert_eq!(connections.len(), 1);
            assert!(rx.recv().await.is_err());
            drop(stopped);
            assert!(!path.exists(), "the socket file goes with the listener");
        });
        assert_eq!(stats.snapshot().connections, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_regular_file_is_not_replaced() {
        let dir = std::env::temp_dir().join(format!("lb-listener-f-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plain");
        std::fs::write(&path, "x").unwrap();
        let err = Listener::bind(&Address::Unixgram(path.clone()), options(8))
            .err()
            .expect("refused");
        assert!(matches!(err, ListenError::PathInUse { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
