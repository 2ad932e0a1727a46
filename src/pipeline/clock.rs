//! Time for the pipeline's timers. In `check` the clock is virtual: the arrival time of each
//! packet comes from the source and every timer (assembler and packets-buffer flush, the
//! demultiplexer's flush ticker) fires on that clock, so a stop moment gives the same result on
//! every run. `serve` uses the system clock with the same state machines.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub const NANOS_PER_SEC: u64 = 1_000_000_000;
pub const NANOS_PER_MS: u64 = 1_000_000;

/// The latest instant the virtual clock runs to: `i64::MAX` ns after the epoch (April 2262),
/// the range of Go's `time.UnixNano` that the reference keeps its times in, and the latest
/// arrival a source hands on (one constant, the source's). As much again of the u64 range
/// lies above it, so a timer's next tick (`now` plus a period, which the pipeline's settings
/// bound) never overflows. `check` refuses a stream that arrives later and a stop moment past
/// it.
pub use crate::source::MAX_TS_NS;

/// A source of "now", in nanoseconds since the Unix epoch.
pub trait Clock {
    fn now_ns(&self) -> u64;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }
}

/// A clock moved only by the driver: the arrival time of the packet being delivered.
#[derive(Debug, Default, Clone, Copy)]
pub struct VirtualClock {
    now_ns: u64,
}

impl VirtualClock {
    pub fn new(start_ns: u64) -> VirtualClock {
        VirtualClock { now_ns: start_ns }
    }

    /// Moves the clock forward (never backwards: sources may repeat a timestamp).
    pub fn advance_to(&mut self, ns: u64) {
        self.now_ns = self.now_ns.max(ns);
    }
}

impl Clock for VirtualClock {
    fn now_ns(&self) -> u64 {
        self.now_ns
    }
}

/// A periodic timer like Go's `time.Ticker`: ticks at `start + k·period`, k ≥ 1.
#[derive(Debug, Clone, Copy)]
pub struct Ticker {
    next_ns: u64,
    period_ns: u64,
}

impl Ticker {
    pub fn new(start_ns: u64, period_ns: u64) -> Ticker {
        let period_ns = period_ns.max(1);
        Ticker {
            next_ns: start_ns + period_ns,
            period_ns,
        }
    }

    /// When the next tick is due.
    pub fn next_ns(&self) -> u64 {
        self.next_ns
    }

    /// Consumes, in O(1), every tick before `until` (none if the next is not before it);
    /// returns how many. An idle stage's ticks change nothing but their own phase, so the
    /// virtual clock jumps over them instead of firing each.
    pub fn skip_before(&mut self, until_ns: u64) -> u64 {
        if self.next_ns >= until_ns {
            return 0;
        }
        let k = (until_ns - self.next_ns).div_ceil(self.period_ns);
        self.next_ns += k * self.period_ns;
        k
    }

    pub fn period_ns(&self) -> u64 {
        self.period_ns
    }

    /// Consumes the earliest tick due at or before `now`, returning its time. Call it until it
    /// returns `None`: on the virtual clock an idle server still sees every tick, each at its
    /// own time, as a real idle server would.
    pub fn poll(&mut self, now_ns: u64) -> Option<u64> {
        if now_ns < self.next_ns {
            return None;
        }
        let tick = self.next_ns;
        self.next_ns += self.period_ns;
        Some(tick)
    }
}

/// Maps instants to system-clock nanoseconds from one reading of the system clock, so that
/// stamps are monotonic even if the system clock is stepped while the server runs.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    base: Instant,
    base_ns: u64,
}

impl WallClock {
    pub fn now() -> WallClock {
        WallClock {
            base: Instant::now(),
            base_ns: SystemClock.now_ns(),
        }
    }

    pub fn ns(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.base);
        self.base_ns + d.as_nanos() as u64
    }
}

/// Seconds (floored) of a nanosecond timestamp: the reference buckets on `int64(timestamp)`.
pub fn secs(ns: u64) -> i64 {
    (ns / NANOS_PER_SEC) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticker_ticks_on_period_each_at_its_own_time() {
        let mut t = Ticker::new(1_000, 100);
        assert_eq!(t.poll(1_099), None);
        assert_eq!(t.poll(1_100), Some(1_100));
        assert_eq!(t.poll(1_150), None);
        assert_eq!(t.poll(1_450), Some(1_200));
        assert_eq!(t.poll(1_450), Some(1_300));
        assert_eq!(t.poll(1_450), Some(1_400));
        assert_eq!(t.poll(1_450), None);
        assert_eq!(t.next_ns(), 1_500);
    }

    #[test]
    fn skipping_lands_on_the_grid() {
        let mut t = Ticker::new(1_000, 100);
        assert_eq!(t.skip_before(1_100), 0);
        assert_eq!(t.skip_before(1_101), 1);
        assert_eq!(t.next_ns(), 1_200);
        assert_eq!(t.skip_before(1_000_000_000_000), 9_999_999_988);
        assert_eq!(t.next_ns(), 1_000_000_000_000);
    }

    #[test]
    fn virtual_clock_never_goes_back() {
        let mut c = VirtualClock::new(10);
        c.advance_to(5);
        assert_eq!(c.now_ns(), 10);
        c.advance_to(20);
        assert_eq!(c.now_ns(), 20);
    }
}
