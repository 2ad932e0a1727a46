//! The range of arrival times `check` can run: a stream must stay within the virtual clock's
//! range ([`MAX_TS_NS`]). Readers accept any u64 of nanoseconds (a JSON line may say
//! anything), so the check refuses, as an input error naming the datagram, what its clock
//! cannot run, instead of overflowing a timer.

use crate::pipeline::clock::MAX_TS_NS;
use crate::source::{Stream, StreamError};

/// A datagram that arrives past the clock's range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "datagram {index} (0-based) arrives at {ts_ns} ns, past the latest time the check's clock \
     runs to ({MAX_TS_NS} ns after the epoch, in 2262)"
)]
pub struct OutOfClockRange {
    pub index: u64,
    pub ts_ns: u64,
}

/// `stream`, ending with an [`OutOfClockRange`] error at the first datagram past the range.
pub fn within_clock_range(stream: Stream<'_>) -> Stream<'_> {
    let mut index = 0u64;
    let mut failed = false;
    Box::new(stream.map_while(move |d| {
        if failed {
            return None;
        }
        let checked = d.and_then(|d| {
            if d.ts_ns > MAX_TS_NS {
                Err(StreamError::from(OutOfClockRange {
                    index,
                    ts_ns: d.ts_ns,
                }))
            } else {
                Ok(d)
            }
        });
        failed = checked.is_err();
        index += 1;
        Some(checked)
    }))
}
