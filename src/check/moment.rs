//! Stop moments (`--stop`): when in the stream the stop sequence runs. Each resolves, against
//! the stream's shape, to a [`StopPoint`] on the virtual clock.

use super::driver::StopPoint;
use crate::duration::parse_seconds;
use crate::pipeline::clock::{MAX_TS_NS, NANOS_PER_SEC};
use rand::{Rng, SeedableRng};
use std::fmt;
use std::str::FromStr;

/// A stop moment as the user wrote it.
#[derive(Debug, Clone, PartialEq)]
pub enum StopMoment {
    /// After the last datagram.
    End,
    /// After the Nth packet.
    Packets(u64),
    /// At a stream time after the first packet, in seconds.
    Time(f64),
    /// At an offset into the bucket where the stream ends.
    Phase(Phase),
    /// N seeded random moments over the stream.
    Random(u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    Seconds(f64),
    Percent(f64),
}

/// A bad `--stop` value.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid stop moment '{input}': {why} (expected end, packets:N, t:12.5s, phase:7.5s, phase:75% or random:N)")]
pub struct MomentError {
    pub input: String,
    pub why: String,
}

impl FromStr for StopMoment {
    type Err = MomentError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |why: &str| MomentError {
            input: input.to_string(),
            why: why.to_string(),
        };
        let (kind, arg) = input.split_once(':').unwrap_or((input, ""));
        match kind.trim() {
            "end" if arg.is_empty() => Ok(StopMoment::End),
            "packets" => arg
                .trim()
                .parse()
                .map(StopMoment::Packets)
                .map_err(|_| err("packets takes a whole number")),
            "t" => parse_seconds(arg)
                .map(StopMoment::Time)
                .ok_or_else(|| err("t takes a duration like 12.5s")),
            "phase" => {
                if let Some(p) = arg.trim().strip_suffix('%') {
                    match p.trim().parse::<f64>() {
                        Ok(v) if (0.0..100.0).contains(&v) => {
                            Ok(StopMoment::Phase(Phase::Percent(v)))
                        }
                        _ => Err(err("a phase percentage is in [0, 100)")),
                    }
                } else {
                    parse_seconds(arg)
                        .map(|s| StopMoment::Phase(Phase::Seconds(s)))
                        .ok_or_else(|| err("phase takes a duration like 7.5s or a percentage"))
                }
            }
            "random" => match arg.trim().parse::<u32>() {
                Ok(n) if n > 0 => Ok(StopMoment::Random(n)),
                _ => Err(err("random takes a count > 0")),
            },
            _ => Err(err("unknown kind")),
        }
    }
}

impl fmt::Display for StopMoment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopMoment::End => write!(f, "end"),
            StopMoment::Packets(n) => write!(f, "packets:{n}"),
            StopMoment::Time(t) => write!(f, "t:{t}s"),
            StopMoment::Phase(Phase::Seconds(s)) => write!(f, "phase:{s}s"),
            StopMoment::Phase(Phase::Percent(p)) => write!(f, "phase:{p}%"),
            StopMoment::Random(n) => write!(f, "random:{n}"),
        }
    }
}

/// The shape of a stream, read in a first pass: enough to place every stop moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamShape {
    pub datagrams: u64,
    pub first_ns: u64,
    pub last_ns: u64,
}

/// A stop moment placed on the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedStop {
    /// The spec as shown in reports (`random:3` resolves to `random#1(t:12.345s)`, …).
    pub spec: String,
    pub point: StopPoint,
}

/// Stop moments the stream cannot have are errors rather than scenarios named for what they
/// did not do: a `packets:N` past its last packet, a `t:` or `phase:` past its last timestamp.
/// Checked once the stream's length and span are known (after `check`'s pass, which is what
/// reads them).
pub fn check_inside(
    moments: &[StopMoment],
    stops: &[ResolvedStop],
    shape: &StreamShape,
) -> Result<(), MomentError> {
    let datagrams = shape.datagrams;
    for m in moments {
        if let StopMoment::Packets(n) = m {
            if *n > datagrams {
                return Err(MomentError {
                    input: m.to_string(),
                    why: format!(
                        "the stream has only {datagrams} packets (use end to stop after the last)"
                    ),
                });
            }
        }
    }
    for stop in stops {
        if let Some(at) = stop.point.at_ns.filter(|at| *at > shape.last_ns) {
            let s = |ns: u64| ns.saturating_sub(shape.first_ns) as f64 / NANOS_PER_SEC as f64;
            return Err(MomentError {
                input: stop.spec.clone(),
                why: format!(
                    "it falls {:.3} s into the stream, which ends at {:.3} s (use end to stop \
                     after the last datagram)",
                    s(at),
                    s(shape.last_ns)
                ),
            });
        }
    }
    Ok(())
}

/// Places a moment on the stream. `bucket_seconds` sizes the phase; `seed` fixes random moments.
/// A phase past the bucket is an error; whether the stream has the moment is checked by
/// [`check_inside`].
pub fn resolve(
    moment: &StopMoment,
    shape: &StreamShape,
    bucket_seconds: i64,
    seed: u64,
) -> Result<Vec<ResolvedStop>, MomentError> {
    let err = |why: String| MomentError {
        input: moment.to_string(),
        why,
    };
    if let StopMoment::Phase(Phase::Seconds(s)) = moment {
        if *s >= bucket_seconds as f64 {
            return Err(err(format!(
                "a phase is an offset into a {bucket_seconds} s bucket"
            )));
        }
    }
    if let StopMoment::Time(t) = moment {
        // The clock cannot run there (an arrival that late is refused too).
        let past = shape
            .first_ns
            .checked_add(time_offset_ns(*t))
            .is_none_or(|at| at > MAX_TS_NS);
        if past {
            return Err(err(
                "past the latest time the check's clock runs to (in 2262)".into(),
            ));
        }
    }
    Ok(place(moment, shape, bucket_seconds, seed))
}

/// `t:` seconds in nanoseconds (a float past u64 saturates; `resolve` refuses it).
fn time_offset_ns(t: f64) -> u64 {
    (t * NANOS_PER_SEC as f64).round() as u64
}

fn place(
    moment: &StopMoment,
    shape: &StreamShape,
    bucket_seconds: i64,
    seed: u64,
) -> Vec<ResolvedStop> {
    let all = u64::MAX;
    let at = |ns: u64| StopPoint {
        max_datagrams: all,
        at_ns: Some(ns),
    };
    match moment {
        StopMoment::End => vec![ResolvedStop {
            spec: "end".into(),
            point: StopPoint {
                max_datagrams: all,
                at_ns: None,
            },
        }],
        StopMoment::Packets(n) => vec![ResolvedStop {
            spec: moment.to_string(),
            point: StopPoint {
                max_datagrams: *n,
                at_ns: None,
            },
        }],
        StopMoment::Time(t) => {
            vec![ResolvedStop {
                spec: moment.to_string(),
                point: at(shape.first_ns.saturating_add(time_offset_ns(*t))),
            }]
        }
        StopMoment::Phase(p) => {
            let bucket_ns = bucket_seconds as u64 * NANOS_PER_SEC;
            let last_bucket = shape.last_ns - shape.last_ns % bucket_ns;
            let offset = match p {
                Phase::Seconds(s) => (s * NANOS_PER_SEC as f64).round() as u64,
                Phase::Percent(pct) => (pct / 100.0 * bucket_ns as f64).round() as u64,
            };
            vec![ResolvedStop {
                spec: moment.to_string(),
                point: at(last_bucket + offset),
            }]
        }
        StopMoment::Random(n) => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let span = shape.last_ns.saturating_sub(shape.first_ns);
            let mut points: Vec<u64> = (0..*n)
                .map(|_| {
                    shape.first_ns
                        + if span == 0 {
                            0
                        } else {
                            rng.random_range(0..=span)
                        }
                })
                .collect();
            points.sort_unstable();
            points
                .into_iter()
                .enumerate()
                .map(|(i, ns)| ResolvedStop {
                    // Whole milliseconds, cut as the report's stream_time_s is.
                    spec: format!(
                        "random#{}(t:{:.3}s)",
                        i + 1,
                        ((ns - shape.first_ns) / 1_000_000) as f64 / 1000.0
                    ),
                    point: at(ns),
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!("end".parse::<StopMoment>().unwrap(), StopMoment::End);
        assert_eq!(
            "packets:12".parse::<StopMoment>().unwrap(),
            StopMoment::Packets(12)
        );
        assert_eq!(
            "t:12.5s".parse::<StopMoment>().unwrap(),
            StopMoment::Time(12.5)
        );
        assert_eq!(
            "t:1500ms".parse::<StopMoment>().unwrap(),
            StopMoment::Time(1.5)
        );
        assert_eq!(
            "phase:7.5s".parse::<StopMoment>().unwrap(),
            StopMoment::Phase(Phase::Seconds(7.5))
        );
        assert_eq!(
            "phase:75%".parse::<StopMoment>().unwrap(),
            StopMoment::Phase(Phase::Percent(75.0))
        );
        assert_eq!(
            "random:3".parse::<StopMoment>().unwrap(),
            StopMoment::Random(3)
        );
        for bad in [
            "",
            "later",
            "packets:x",
            "t:-1s",
            "phase:120%",
            "random:0",
            "end:1",
        ] {
            assert!(bad.parse::<StopMoment>().is_err(), "{bad}");
        }
    }

    #[test]
    fn phase_is_placed_in_the_last_bucket() {
        let s = NANOS_PER_SEC;
        let shape = StreamShape {
            datagrams: 10,
            first_ns: 1_700_000_000 * s,
            last_ns: 1_700_000_047 * s + s / 2,
        };
        let r = resolve(&StopMoment::Phase(Phase::Seconds(7.5)), &shape, 10, 0).unwrap();
        assert_eq!(r[0].point.at_ns, Some(1_700_000_047 * s + s / 2));
        let r = resolve(&StopMoment::Phase(Phase::Percent(20.0)), &shape, 10, 0).unwrap();
        assert_eq!(r[0].point.at_ns, Some(1_700_000_042 * s));
        let e = resolve(&StopMoment::Phase(Phase::Seconds(10.0)), &shape, 10, 0).unwrap_err();
        assert!(e.to_string().contains("10 s bucket"), "{e}");
    }

    #[test]
    fn moments_past_the_end_are_refused() {
        let shape = StreamShape {
            datagrams: 10,
            first_ns: 0,
            last_ns: 5 * NANOS_PER_SEC,
        };
        let stops = |m: &StopMoment| resolve(m, &shape, 10, 0).unwrap();
        let ok = [StopMoment::Packets(10), StopMoment::Time(5.0)];
        let all: Vec<ResolvedStop> = ok.iter().flat_map(stops).collect();
        assert!(check_inside(&ok, &all, &shape).is_ok());
        let e = check_inside(&[StopMoment::Packets(11)], &[], &shape).unwrap_err();
        assert!(e.to_string().contains("only 10 packets"), "{e}");
        for late in [
            StopMoment::Time(5.5),
            StopMoment::Phase(Phase::Percent(60.0)),
        ] {
            let e = check_inside(std::slice::from_ref(&late), &stops(&late), &shape).unwrap_err();
            assert!(e.to_string().contains("which ends at 5.000 s"), "{e}");
        }
    }

    #[test]
    fn random_moments_are_seeded_and_inside_the_stream() {
        let shape = StreamShape {
            datagrams: 10,
            first_ns: 1_000,
            last_ns: 9_000_000_000,
        };
        let a = resolve(&StopMoment::Random(5), &shape, 10, 7).unwrap();
        let b = resolve(&StopMoment::Random(5), &shape, 10, 7).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 5);
        assert!(a
            .iter()
            .all(|r| r.point.at_ns.unwrap() >= 1_000 && r.point.at_ns.unwrap() <= 9_000_000_000));
        assert_ne!(a, resolve(&StopMoment::Random(5), &shape, 10, 8).unwrap());
    }
}
