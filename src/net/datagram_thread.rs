//! The reader of a datagram listener (UDP, Unix datagram): an OS thread of its own that reads
//! with `recvmmsg` and hands [`ReadBatch`]es to the pipeline task, so reading never waits on
//! parsing (only on a full channel, which is the reference's packets buffer blocking on a full
//! queue) and never competes with the async executor for its thread.
//!
//! The thread waits with `poll` on the socket and on an eventfd, the stop bell: the async side
//! rings it when the stop channel is closed. The stop is looked at before every read, so a busy
//! socket (never empty, never waited on) still stops at once; everything read before the stop is
//! handed on, even if that means waiting for room in the channel. The socket goes back to the
//! caller with whatever the kernel still holds.

use super::batch_read::{BatchPool, MmsgReader, ReadBatch, BATCH_DATAGRAMS, RECV_VLEN};
use super::socket::{DatagramSocket, ListenerStats};
use crate::runtime::{self, first, Receiver, Sender};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a batch that is not full may wait for more datagrams before it is handed on. A
/// hand-on wakes the pipeline task, so handing on every time the socket is momentarily empty
/// (a few datagrams at a time at 150k/s) costs the pipeline more in wake-ups than in parsing;
/// a millisecond is far below the packets buffer's own 100 ms timeout, and every datagram
/// keeps the instant it was read.
const HAND_ON_AFTER: Duration = Duration::from_millis(1);

/// How long the reader lets the socket fill when it is empty and a batch is open.
const SOCKET_FILL: Duration = Duration::from_micros(250);

/// An eventfd that, once rung, stays readable: a `poll` that starts after the ring returns at
/// once, so a ring is never missed.
struct StopBell(OwnedFd);

impl StopBell {
    fn new() -> io::Result<StopBell> {
        // SAFETY: eventfd takes no pointers; a negative result is an error, checked here.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        Ok(StopBell(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`, which lives across the call. A failure could
        // only be a counter overflow, which leaves the eventfd readable anyway.
        let _ = unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

/// Waits until `sock` is readable or the bell rang (interrupted waits just return: the caller
/// looks again).
fn wait(sock: RawFd, bell: &StopBell) {
    let mut fds = [
        libc::pollfd {
            fd: sock,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: bell.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `fds` is a valid array of 2 pollfds for the duration of the call.
    unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
}

/// Where the reader hands its batches.
pub(super) struct Output {
    pub tx: Sender<ReadBatch>,
    pub index: usize,
}

/// Reads `sock` on a thread of its own until `stop` is closed; returns the socket.
pub(super) async fn run(
    sock: DatagramSocket,
    buffer_size: usize,
    out: Output,
    stop: &Receiver<()>,
    stats: Arc<ListenerStats>,
) -> DatagramSocket {
    let bell = match StopBell::new() {
        Ok(b) => Arc::new(b),
        Err(_) => {
            // Nothing can be read without a way to wake the reader: counted, not hidden.
            stats.read_error();
            return sock;
        }
    };
    let (done_tx, done_rx) = runtime::bounded::<()>(1);
    // The socket is handed over once the thread runs: a thread that cannot be started leaves
    // it here, to be returned.
    let (sock_tx, sock_rx) = std::sync::mpsc::sync_channel::<DatagramSocket>(1);
    let thread_bell = bell.clone();
    let thread_stop = stop.clone();
    let thread_stats = stats.clone();
    let Output { tx, index } = out;
    let spawned = std::thread::Builder::new()
        .name(format!("lb-read-{index}"))
        .spawn(move || {
            let sock = sock_rx.recv().ok()?;
            let pool = BatchPool::new(index, buffer_size + 1);
            let mut reader = MmsgReader::new(buffer_size);
            let at = Loop {
                tx: &tx,
                pool: &pool,
                stop: &thread_stop,
                bell: &thread_bell,
                stats: &thread_stats,
            };
            read_loop(&sock, &mut reader, at);
            drop(done_tx);
            Some(sock)
        });
    let handle = match spawned {
        Ok(h) => h,
        Err(_) => {
            // The system refused a thread: counted as a read error, the socket left unread.
            stats.read_error();
            return sock;
        }
    };
    if let Err(back) = sock_tx.send(sock) {
        // Only if the thread is already gone (it panicked): nothing read it.
        stats.read_error();
        return back.0;
    }
    let ring = async {
        let _ = stop.recv().await;
        bell.ring();
        std::future::pending::<()>().await
    };
    // The thread's end closes `done`; the stop only rings the bell and waits for that end.
    first(
        async {
            let _ = done_rx.recv().await;
        },
        ring,
    )
    .await;
    match handle.join() {
        Ok(Some(sock)) => sock,
        // The thread always gets the socket once it was sent (it waits for it first).
        Ok(None) => unreachable!("the reader thread received its socket"),
        // A panic on the reader thread is a bug: it goes on as the panic of this task.
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// What the read loop hands its batches to and looks at.
struct Loop<'a> {
    tx: &'a Sender<ReadBatch>,
    pool: &'a Arc<BatchPool>,
    stop: &'a Receiver<()>,
    bell: &'a StopBell,
    stats: &'a ListenerStats,
}

fn read_loop(sock: &DatagramSocket, reader: &mut MmsgReader, at: Loop<'_>) {
    let Loop {
        tx,
        pool,
        stop,
        bell,
        stats,
    } = at;
    let fd = sock.as_raw_fd();
    let mut batch = pool.take();
    // When the batch's first datagram was read: a batch is handed on once full, or once the
    // socket is empty and it is HAND_ON_AFTER old.
    let mut opened: Option<Instant> = None;
    while !stop.is_closed() {
        let room = (BATCH_DATAGRAMS - batch.len()).min(RECV_VLEN);
        match reader.read_into(fd, &mut batch, room) {
            Ok(c) if c.datagrams > 0 => {
                stats.count_read(c);
                let since = *opened.get_or_insert_with(Instant::now);
                // Fewer than asked: the socket is empty now.
                let empty = c.datagrams < room;
                if (batch.is_full() || (empty && since.elapsed() >= HAND_ON_AFTER))
                    && !hand_on(tx, &mut batch, pool, &mut opened)
                {
                    return;
                }
            }
            Ok(_) => match opened.map(|t| HAND_ON_AFTER.saturating_sub(t.elapsed())) {
                Some(Duration::ZERO) => {
                    if !hand_on(tx, &mut batch, pool, &mut opened) {
                        return;
                    }
                }
                // A batch is open: let the socket fill a little rather than wake for every
                // datagram (a quarter of a millisecond is 40 datagrams at 150k/s, well within
                // even the default socket buffer).
                Some(left) => std::thread::sleep(left.min(SOCKET_FILL)),
                None => wait(fd, bell),
            },
            Err(_) => {
                stats.read_error();
                // A persistent error must not spin.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    if !batch.is_empty() {
        hand_on(tx, &mut batch, pool, &mut opened);
    }
}

/// Sends the batch (waiting for room: what was read is never dropped here) and starts a new
/// one. False when the receiving side is gone.
fn hand_on(
    tx: &Sender<ReadBatch>,
    batch: &mut ReadBatch,
    pool: &Arc<BatchPool>,
    opened: &mut Option<Instant>,
) -> bool {
    *opened = None;
    let full = std::mem::replace(batch, pool.take());
    tx.send_blocking(full).is_ok()
}
