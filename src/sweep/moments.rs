//! The stop moments of a sweep: every Δ, N seeded random moments, K phases of every bucket (or
//! of the last one), every N datagrams, or a list from a file. Every moment is one that
//! `check --stop` accepts, so each scenario of a sweep can be re-run on its own.

use crate::check::moment::{Phase, StopMoment, StreamShape};
use crate::pipeline::clock::NANOS_PER_SEC;

/// How the stop moments are spread.
#[derive(Debug, Clone, PartialEq)]
pub enum Spread {
    /// Every Δ seconds of stream time, from the first packet to the last, then `end`.
    Every(f64),
    /// N seeded random moments (`--seed`).
    Random(u32),
    /// K evenly spaced phases of every bucket the stream spans, or of the last one only.
    Phases { k: u32, last_bucket: bool },
    /// After every N datagrams, then `end`.
    PacketsEvery(u64),
    /// The moments of a `--moments FILE`.
    List(Vec<StopMoment>),
}

/// The stop moments of a sweep over a stream of this shape. Moments the stream cannot have
/// (before its first packet or after its last) are left out.
pub fn moments(spread: &Spread, shape: &StreamShape, bucket_seconds: i64) -> Vec<StopMoment> {
    match spread {
        Spread::Every(step) => {
            let span = shape.last_ns.saturating_sub(shape.first_ns) as f64 / NANOS_PER_SEC as f64;
            let n = (span / step).floor() as u64;
            let mut v: Vec<StopMoment> = (0..=n)
                .map(|i| StopMoment::Time(round3(i as f64 * step)))
                .collect();
            v.push(StopMoment::End);
            v
        }
        Spread::Random(n) => vec![StopMoment::Random(*n)],
        Spread::Phases {
            k,
            last_bucket: true,
        } => {
            let bucket_ns = bucket_seconds.max(1) as u64 * NANOS_PER_SEC;
            let last_bucket = shape.last_ns - shape.last_ns % bucket_ns;
            (0..*k)
                .filter(|i| {
                    let at = last_bucket + phase_offset(*i, *k, bucket_ns);
                    at >= shape.first_ns && at <= shape.last_ns
                })
                .map(|i| StopMoment::Phase(Phase::Percent(round3(i as f64 * 100.0 / *k as f64))))
                .collect()
        }
        Spread::Phases {
            k,
            last_bucket: false,
        } => {
            let bucket_ns = bucket_seconds.max(1) as u64 * NANOS_PER_SEC;
            let mut v = Vec::new();
            let mut bucket = shape.first_ns - shape.first_ns % bucket_ns;
            while bucket <= shape.last_ns {
                for i in 0..*k {
                    let at = bucket + phase_offset(i, *k, bucket_ns);
                    if at >= shape.first_ns && at <= shape.last_ns {
                        // Nanoseconds of stream time, written so that `t:` reads them back
                        // to the same nanosecond.
                        v.push(StopMoment::Time(
                            (at - shape.first_ns) as f64 / NANOS_PER_SEC as f64,
                        ));
                    }
                }
                bucket += bucket_ns;
            }
            v
        }
        Spread::PacketsEvery(n) => {
            let n = (*n).max(1);
            let mut v: Vec<StopMoment> = (1..=shape.datagrams / n)
                .map(|i| StopMoment::Packets(i * n))
                .collect();
            if !shape.datagrams.is_multiple_of(n) {
                v.push(StopMoment::End);
            }
            v
        }
        Spread::List(list) => list.clone(),
    }
}

/// The offset of phase `i` of `k` into a bucket, in whole nanoseconds.
fn phase_offset(i: u32, k: u32, bucket_ns: u64) -> u64 {
    (u128::from(bucket_ns) * u128::from(i) / u128::from(k.max(1))) as u64
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A bad line of a `--moments` file.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("line {line}: {error}")]
pub struct MomentsFileError {
    pub line: usize,
    pub error: crate::check::moment::MomentError,
}

/// One moment per line, in `--stop` syntax; blank lines and `#` comments are skipped.
pub fn parse_moments(text: &str) -> Result<Vec<StopMoment>, MomentsFileError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        out.push(
            line.parse()
                .map_err(|error| MomentsFileError { line: i + 1, error })?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    const S: u64 = NANOS_PER_SEC;

    fn shape(first_s: f64, last_s: f64) -> StreamShape {
        StreamShape {
            datagrams: 10,
            first_ns: (first_s * S as f64) as u64,
            last_ns: (last_s * S as f64) as u64,
        }
    }

    #[test]
    fn every_spreads_over_the_stream_and_ends_at_end() {
        let m = moments(&Spread::Every(2.0), &shape(0.0, 5.0), 10);
        assert_eq!(
            m,
            vec![
                StopMoment::Time(0.0),
                StopMoment::Time(2.0),
                StopMoment::Time(4.0),
                StopMoment::End
            ]
        );
    }

    #[test]
    fn phases_cover_every_bucket_inside_the_stream() {
        // The stream runs from 13 s to 31 s: buckets 10, 20 and 30, quarters of each.
        let m = moments(
            &Spread::Phases {
                k: 4,
                last_bucket: false,
            },
            &shape(13.0, 31.0),
            10,
        );
        let t: Vec<f64> = m
            .iter()
            .map(|m| match m {
                StopMoment::Time(t) => *t,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(t, vec![2.0, 4.5, 7.0, 9.5, 12.0, 14.5, 17.0]);
        let last = moments(
            &Spread::Phases {
                k: 4,
                last_bucket: true,
            },
            &shape(13.0, 37.5),
            10,
        );
        assert_eq!(
            last,
            vec![
                StopMoment::Phase(Phase::Percent(0.0)),
                StopMoment::Phase(Phase::Percent(25.0)),
                StopMoment::Phase(Phase::Percent(50.0)),
                StopMoment::Phase(Phase::Percent(75.0)),
            ]
        );
    }

    #[test]
    fn a_phase_as_t_reads_back_to_the_same_nanosecond() {
        let first = 1_700_000_003 * S + 123_456_789;
        let sh = StreamShape {
            datagrams: 1,
            first_ns: first,
            last_ns: first + 3_600 * S,
        };
        let spread = Spread::Phases {
            k: 7,
            last_bucket: false,
        };
        for m in moments(&spread, &sh, 10) {
            let back: StopMoment = m.to_string().parse().unwrap();
            let r = crate::check::moment::resolve(&back, &sh, 10, 0).unwrap();
            let at = r[0].point.at_ns.unwrap();
            let offset = at % (10 * S);
            assert!(
                (0..7).any(|i| phase_offset(i, 7, 10 * S) == offset),
                "{m}: {at}"
            );
        }
    }

    #[test]
    fn packets_every_n_then_end() {
        let sh = shape(0.0, 1.0);
        assert_eq!(
            moments(&Spread::PacketsEvery(4), &sh, 10),
            vec![
                StopMoment::Packets(4),
                StopMoment::Packets(8),
                StopMoment::End
            ]
        );
        assert_eq!(
            moments(&Spread::PacketsEvery(5), &sh, 10),
            vec![StopMoment::Packets(5), StopMoment::Packets(10)]
        );
    }

    #[test]
    fn a_moments_file_names_its_bad_line() {
        let ok = parse_moments("# stops\nend\n\n t:1.5s # mid\npackets:3\n").unwrap();
        assert_eq!(
            ok,
            vec![
                StopMoment::End,
                StopMoment::Time(1.5),
                StopMoment::Packets(3)
            ]
        );
        let e = parse_moments("end\nlater\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e
            .to_string()
            .starts_with("line 2: invalid stop moment 'later'"));
    }
}
