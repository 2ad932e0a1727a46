//! The ledger's hot path allocates nothing per line once it knows the contexts: recording a
//! datagram (its bytes go into a reused buffer), parsing its lines (borrowed), finding each
//! context (one hash, one comparison) and folding each sample into its bucket's expectation.
//! A counting global allocator proves it. It counts on the test's own thread only: the test
//! harness allocates on its threads meanwhile (a global count once saw 4 of those).

use lastbucket::pipeline::PipelineConfig;
use lastbucket::verify::ledger::Ledger;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Allocations on this thread (a const-initialised `Cell`: reading it allocates nothing).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down has no counter left; nothing to count there.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(|c| c.get())
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A datagram of counters, gauges, distributions and a multi-value line, over a few contexts.
fn datagram(i: u64) -> Vec<u8> {
    format!(
        "req.count:{}|c|#env:prod,svc:a\nreq.count:2|c|@0.5|#svc:a,env:prod\nmem.used:{}.5|g|#host:h{}\nlat:{}:{}:3|d|#env:prod\ncpu:0.{}|g\n",
        i % 7,
        i,
        i % 3,
        i % 100,
        i % 13,
        i % 9
    )
    .into_bytes()
}

#[test]
fn folding_a_datagram_allocates_nothing_per_line_once_the_contexts_are_known() {
    let config = PipelineConfig::default();
    let mut ledger = Ledger::new(&config);
    let start = 1_700_000_000_000_000_000u64;
    let payloads: Vec<Vec<u8>> = (0..2_000).map(datagram).collect();
    // Warm up: every context, the bucket's groups, the reused buffers.
    for (i, p) in payloads.iter().take(100).enumerate() {
        ledger.record(i as u64, start + i as u64 * 1_000, p);
        ledger.parsed(i as u64).unwrap();
    }
    let before = allocations();
    let mut lines = 0;
    for (i, p) in payloads.iter().enumerate().skip(100) {
        // All in the same 10 s bucket: 1 µs apart.
        ledger.record(i as u64, start + i as u64 * 1_000, p);
        ledger.parsed(i as u64).unwrap();
        lines += 5;
    }
    let allocations = allocations() - before;
    assert_eq!(
        allocations, 0,
        "{allocations} allocations for {lines} lines"
    );
}
