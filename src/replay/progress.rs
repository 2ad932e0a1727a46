//! What the progress bar of a replay measures and how long it is. The length needs the
//! source's datagram count and time span, which only a pass over the source tells: the command
//! line does that pre-pass only when a bar will be seen (stderr is a terminal) and the replay
//! has an end (`--loops` > 0). Without a length the bar is a spinner.

use super::schedule::{loop_length_ns, Pace};
use super::ReplayStats;
use crate::source::StreamOpener;

/// What the bar counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Stream time replayed, in nanoseconds: a replay at the source's cadence moves through
    /// time at a steady pace, whatever the bursts of datagrams.
    StreamTime,
    /// Datagrams attempted (sent or failed): `--rate` and `--max` move through datagrams.
    Datagrams,
}

/// A bar's unit and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarLength {
    pub measure: Measure,
    pub total: u64,
}

/// A source's datagram count and the timestamps of its first and latest datagram, as the
/// replay sees them (first in order; latest by timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub datagrams: u64,
    pub first_ns: u64,
    pub last_ns: u64,
}

impl Extent {
    /// Reads the whole source once; `None` for an empty or unreadable source (the replay itself
    /// reports a read error, at the point where it meets it).
    pub fn measure(opener: &dyn StreamOpener) -> Option<Extent> {
        let mut extent: Option<Extent> = None;
        for d in opener.open().ok()? {
            let ts = d.ok()?.ts_ns;
            let e = extent.get_or_insert(Extent {
                datagrams: 0,
                first_ns: ts,
                last_ns: ts,
            });
            e.datagrams += 1;
            e.last_ns = e.last_ns.max(ts);
        }
        extent
    }
}

/// The bar of `loops` passes over a source of `extent` at `pace`; `None` (a spinner) when the
/// replay has no end (`loops` = 0) or nothing to measure.
pub fn bar_length(pace: Pace, extent: &Extent, loops: u64) -> Option<BarLength> {
    if loops == 0 || extent.datagrams == 0 {
        return None;
    }
    let datagrams = BarLength {
        measure: Measure::Datagrams,
        total: extent.datagrams.saturating_mul(loops),
    };
    if !matches!(pace, Pace::Original { .. }) {
        return Some(datagrams);
    }
    // Every pass but the last lasts its loop length; the last ends at its latest datagram.
    let span = extent.last_ns.saturating_sub(extent.first_ns);
    let passes =
        loop_length_ns(extent.first_ns, extent.last_ns, extent.datagrams).saturating_mul(loops - 1);
    let total = passes.saturating_add(span);
    if total == 0 {
        // Every datagram at one instant: stream time does not move, datagrams do.
        return Some(datagrams);
    }
    Some(BarLength {
        measure: Measure::StreamTime,
        total,
    })
}

/// Where a replay is on a bar of `measure`.
pub fn position(measure: Measure, stats: &ReplayStats) -> u64 {
    match measure {
        Measure::StreamTime => stats.stream_ns,
        Measure::Datagrams => stats.attempted(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn extent(datagrams: u64, first_s: u64, last_s: u64) -> Extent {
        Extent {
            datagrams,
            first_ns: first_s * S,
            last_ns: last_s * S,
        }
    }

    #[test]
    fn paced_replays_measure_stream_time_over_every_loop() {
        let e = extent(11, 100, 110); // 10 s, 1 s between datagrams
        let one = bar_length(Pace::Original { speed: 1.0 }, &e, 1).unwrap();
        assert_eq!(one.measure, Measure::StreamTime);
        assert_eq!(one.total, 10 * S);
        // Passes follow each other after the mean gap: 11 s per pass, 10 s for the last.
        let three = bar_length(Pace::Original { speed: 4.0 }, &e, 3).unwrap();
        assert_eq!(three.total, 32 * S);
    }

    #[test]
    fn rate_and_max_measure_datagrams_over_every_loop() {
        let e = extent(50, 0, 49);
        for pace in [Pace::Rate(500.0), Pace::Max] {
            let b = bar_length(pace, &e, 2).unwrap();
            assert_eq!(
                b,
                BarLength {
                    measure: Measure::Datagrams,
                    total: 100
                }
            );
        }
    }

    #[test]
    fn endless_or_empty_replays_have_no_length() {
        let pace = Pace::Original { speed: 1.0 };
        assert_eq!(bar_length(pace, &extent(50, 0, 49), 0), None);
        assert_eq!(bar_length(Pace::Max, &extent(0, 0, 0), 3), None);
    }

    #[test]
    fn a_source_without_time_span_counts_datagrams() {
        let pace = Pace::Original { speed: 1.0 };
        let b = bar_length(pace, &extent(5, 7, 7), 2).unwrap();
        assert_eq!(b.measure, Measure::Datagrams);
        assert_eq!(b.total, 10);
        // A single datagram per pass: passes are 1 s apart in stream time.
        let b = bar_length(pace, &extent(1, 7, 7), 3).unwrap();
        assert_eq!(b.measure, Measure::StreamTime);
        assert_eq!(b.total, 2 * S);
    }

    #[test]
    fn huge_counts_saturate() {
        let b = bar_length(Pace::Max, &extent(u64::MAX / 2, 0, 1), 3).unwrap();
        assert_eq!(b.total, u64::MAX);
    }

    /// A source of datagrams stamped `ts` (seconds); `Err` makes the source fail there.
    struct Stamps(Vec<Result<u64, ()>>);

    impl StreamOpener for Stamps {
        fn open(&self) -> Result<crate::source::Stream<'_>, crate::source::StreamError> {
            Ok(Box::new(self.0.iter().map(|t| match t {
                Ok(t) => Ok(crate::source::Datagram {
                    ts_ns: t * S,
                    payload: b"a:1|c".to_vec(),
                }),
                Err(()) => Err("bad".into()),
            })))
        }
        fn kind(&self) -> &'static str {
            "text"
        }
        fn description(&self) -> String {
            "stamps".into()
        }
    }

    #[test]
    fn the_pre_pass_counts_datagrams_and_the_latest_stamp() {
        let out_of_order = Stamps(vec![Ok(5), Ok(9), Ok(7)]);
        assert_eq!(Extent::measure(&out_of_order), Some(extent(3, 5, 9)));
        assert_eq!(Extent::measure(&Stamps(vec![])), None);
        assert_eq!(Extent::measure(&Stamps(vec![Ok(1), Err(())])), None);
    }

    #[test]
    fn the_position_follows_the_measure() {
        let stats = ReplayStats {
            datagrams: 7,
            failed: 2,
            stream_ns: 42,
            ..ReplayStats::default()
        };
        assert_eq!(position(Measure::Datagrams, &stats), 9);
        assert_eq!(position(Measure::StreamTime, &stats), 42);
    }
}
