//! The async runtime, in one place: the only module that names async-std, so that the server
//! side could move to another executor (smol, …) by rewriting this file alone.
//!
//! What the rest of the crate needs is small: spawn a task, block on a future, bounded and
//! unbounded channels, a timer, the socket types, and a biased "first of two" combinator whose
//! ordering the listeners rely on (see [`first`]).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

pub use async_std::channel::{bounded, unbounded, Receiver, RecvError, Sender, TryRecvError};
pub use async_std::io::ReadExt;
pub use async_std::net::UdpSocket;
pub use async_std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
pub use async_std::task::JoinHandle;

/// Runs `future` as a task on the executor's thread pool.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    async_std::task::spawn(future)
}

/// Runs `future` on the current thread until it completes (the future need not be `Send`, so
/// the pipeline and caller-provided callbacks can stay on the calling thread).
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

/// Waits for `d`.
pub async fn sleep(d: Duration) {
    async_std::task::sleep(d).await
}

/// Waits until `deadline` (returns at once if it has passed).
pub async fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        sleep(deadline - now).await
    }
}

/// Waits for whichever of `a` and `b` completes first and drops the other.
///
/// Biased: `a` is polled first at every wake-up, and `b` is polled only when `a` is pending.
/// The listeners race a socket read (`a`) against the stop signal (`b`): because readiness-based
/// reads consume a datagram only in the poll that returns it, a read that completes is always
/// returned, never dropped in favour of the stop — no datagram is read and then lost.
pub async fn first<T>(a: impl Future<Output = T>, b: impl Future<Output = T>) -> T {
    let mut a = pin!(a);
    let mut b = pin!(b);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(v);
        }
        b.as_mut().poll(cx)
    })
    .await
}

/// Polls `future` once and returns its output if it is ready right away. Socket reads try the
/// system call on their first poll, so this is a non-blocking read.
pub fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    match pin!(future).poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

fn noop_waker() -> Waker {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(|_| RAW, |_| {}, |_| {}, |_| {});
    const RAW: RawWaker = RawWaker::new(std::ptr::null(), &VTABLE);
    // SAFETY: every function of the vtable ignores the (null) data pointer.
    unsafe { Waker::from_raw(RAW) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_prefers_the_left_future_when_both_are_ready() {
        let v = block_on(first(async { 1 }, async { 2 }));
        assert_eq!(v, 1);
        let v = block_on(first(std::future::pending(), async { 2 }));
        assert_eq!(v, 2);
    }

    #[test]
    fn now_or_never_does_not_wait() {
        assert_eq!(now_or_never(async { 3 }), Some(3));
        assert_eq!(now_or_never(std::future::pending::<u8>()), None);
    }

    #[test]
    fn closed_channel_ends_receivers() {
        let (tx, rx) = bounded::<u8>(1);
        block_on(async {
            tx.send(7).await.unwrap();
            tx.close();
            assert_eq!(rx.recv().await, Ok(7));
            assert!(rx.recv().await.is_err());
        });
    }
}
