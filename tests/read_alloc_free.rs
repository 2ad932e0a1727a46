//! The read path allocates nothing per datagram: a `recvmmsg` read into a pooled batch, the
//! consumer's walk over it, and the drop that gives its buffer back. A counting global
//! allocator, counting on this test's thread only (the harness's own threads allocate as they
//! please), proves it over thousands of datagrams once the pool holds its batch.

use lastbucket::net::batch_read::{BatchPool, MmsgReader, BATCH_DATAGRAMS};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counted() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn reading_batches_allocates_nothing_per_datagram() {
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.connect(rx.local_addr().unwrap()).unwrap();
    let payloads: Vec<Vec<u8>> = (0..16)
        .map(|i| format!("req.count:{i}|c|#env:prod,svc:a\nlat:{i}|d").into_bytes())
        .collect();
    let mut reader = MmsgReader::new(8192);
    let pool = BatchPool::new(0, 8193);
    let fd = rx.as_raw_fd();

    // One round: 16 datagrams sent, read into a batch from the pool, walked, dropped.
    let round = |reader: &mut MmsgReader| -> (usize, usize) {
        for p in &payloads {
            tx.send(p).unwrap();
        }
        let mut batch = pool.take();
        while batch.len() < payloads.len() {
            reader.read_into(fd, &mut batch, 32).unwrap();
        }
        let bytes = batch.iter().map(|r| r.payload.len()).sum();
        (batch.len(), bytes)
    };
    // Warm up: the pool's one batch is made here.
    round(&mut reader);

    COUNTING.with(|c| c.set(true));
    let mut datagrams = 0;
    for _ in 0..500 {
        datagrams += round(&mut reader).0;
    }
    COUNTING.with(|c| c.set(false));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(datagrams, 500 * payloads.len());
    assert_eq!(
        allocations, 0,
        "{allocations} allocations for {datagrams} datagrams"
    );
    assert_eq!(pool.created(), 1, "one batch, reused every round");
    assert!(payloads.len() <= BATCH_DATAGRAMS);
}
