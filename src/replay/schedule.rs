//! Pacing, scheduled against one absolute start instant: datagram *i* is due at
//! `start + (ts_i − ts_0) / speed` (or `start + i / rate`), whatever time the previous sends
//! took. Sleeping the gap between consecutive datagrams instead would add every oversleep and
//! every send's duration to the schedule, and a long replay would drift late.

use crate::duration::to_duration;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How fast to send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// The source's own timestamps, divided by `speed` (1 = original cadence).
    Original { speed: f64 },
    /// A fixed number of datagrams per second.
    Rate(f64),
    /// As fast as possible.
    Max,
}

impl Pace {
    /// The source's cadence at `speed`; a speed that is not a finite positive number means
    /// as fast as possible.
    pub fn from_speed(speed: f64) -> Pace {
        if speed.is_finite() && speed > 0.0 {
            Pace::Original { speed }
        } else {
            Pace::Max
        }
    }
}

/// When each datagram is due, against one absolute start instant.
#[derive(Debug, Clone)]
pub struct Schedule {
    pace: Pace,
    start: Instant,
    first_ts: Option<u64>,
    /// Stream time of the start of the current loop, relative to the first loop's start.
    loop_base_ns: u64,
}

impl Schedule {
    pub fn new(pace: Pace, start: Instant) -> Schedule {
        Schedule {
            pace,
            start,
            first_ts: None,
            loop_base_ns: 0,
        }
    }

    /// Stream time of a datagram stamped `ts_ns` in the current loop, counted from the first
    /// datagram of the first loop (loops follow each other, see [`loop_length_ns`]).
    pub fn offset_ns(&mut self, ts_ns: u64) -> u64 {
        let first = *self.first_ts.get_or_insert(ts_ns);
        self.loop_base_ns + ts_ns.saturating_sub(first)
    }

    /// When datagram number `index` (counted over every loop) with timestamp `ts_ns` is due;
    /// `None`: at once.
    pub fn due(&mut self, index: u64, ts_ns: u64) -> Option<Instant> {
        let offset = self.offset_ns(ts_ns);
        match self.pace {
            Pace::Max => None,
            Pace::Rate(r) => Some(self.start + to_duration(index as f64 / r)),
            Pace::Original { speed } => Some(self.start + to_duration(offset as f64 / 1e9 / speed)),
        }
    }

    /// The next loop starts `span_ns` of stream time after the previous one started.
    pub fn next_loop(&mut self, span_ns: u64) {
        self.loop_base_ns += span_ns;
    }
}

/// The stream time one pass takes, from its first datagram to the next pass's first: its span
/// (`first_ns` to `last_ns`) plus the mean gap between its `count` datagrams (1 s for a single
/// datagram), so the seam between passes looks like the rest of the stream.
pub fn loop_length_ns(first_ns: u64, last_ns: u64, count: u64) -> u64 {
    let span = last_ns.saturating_sub(first_ns);
    let gap = if count > 1 {
        span / (count - 1)
    } else {
        1_000_000_000
    };
    span.saturating_add(gap)
}

/// Sleeps until `due` in short slices, so a stop request is seen quickly; false if stopped.
pub fn wait_until(due: Instant, stop: &AtomicBool) -> bool {
    const SLICE: Duration = Duration::from_millis(50);
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        std::thread::sleep((due - now).min(SLICE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_absolute_and_scaled() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Pace::Original { speed: 10.0 }, t0);
        assert_eq!(s.due(0, 5_000_000_000), Some(t0));
        assert_eq!(
            s.due(1, 7_000_000_000),
            Some(t0 + Duration::from_millis(200))
        );
        s.next_loop(3_000_000_000);
        assert_eq!(
            s.due(2, 5_000_000_000),
            Some(t0 + Duration::from_millis(300))
        );
        assert_eq!(s.offset_ns(7_000_000_000), 5_000_000_000);
        let mut r = Schedule::new(Pace::Rate(4.0), t0);
        assert_eq!(r.due(2, 0), Some(t0 + Duration::from_millis(500)));
        assert_eq!(Schedule::new(Pace::Max, t0).due(9, 9), None);
        let mut tiny = Schedule::new(Pace::Rate(1e-300), t0);
        assert!(tiny.due(5, 0).is_some(), "no overflow panic");
    }

    #[test]
    fn a_loop_lasts_its_span_plus_the_mean_gap() {
        assert_eq!(loop_length_ns(10, 40, 4), 40);
        assert_eq!(loop_length_ns(7, 7, 1), 1_000_000_000);
        assert_eq!(loop_length_ns(7, 7, 5), 0, "every datagram at one instant");
        assert_eq!(
            loop_length_ns(0, u64::MAX, 1),
            u64::MAX,
            "no overflow panic"
        );
    }

    #[test]
    fn odd_speeds_mean_as_fast_as_possible() {
        assert_eq!(Pace::from_speed(0.0), Pace::Max);
        assert_eq!(Pace::from_speed(-1.0), Pace::Max);
        assert_eq!(Pace::from_speed(f64::INFINITY), Pace::Max);
        assert_eq!(Pace::from_speed(f64::NAN), Pace::Max);
        assert_eq!(Pace::from_speed(2.0), Pace::Original { speed: 2.0 });
    }

    #[test]
    fn wait_until_returns_false_when_stopped() {
        let stop = AtomicBool::new(true);
        assert!(!wait_until(Instant::now() + Duration::from_secs(60), &stop));
        let go = AtomicBool::new(false);
        assert!(wait_until(Instant::now(), &go));
    }
}
