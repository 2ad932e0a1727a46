//! The settings matrix of a check: which `flush_incomplete_buckets` / batcher-drain settings
//! run, and what each is expected to show.

use crate::pipeline::{BatcherDrain, StopSettings};
use crate::report::Expectation;

/// `--flush-incomplete-buckets on|off|both`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagChoice {
    On,
    Off,
    Both,
}

impl From<bool> for FlagChoice {
    /// One setting (a config file's, or `serve`'s).
    fn from(on: bool) -> Self {
        if on {
            FlagChoice::On
        } else {
            FlagChoice::Off
        }
    }
}

/// The settings to run, in report order: off first, then on.
pub fn settings(flag: FlagChoice, drain: BatcherDrain, legacy: bool) -> Vec<StopSettings> {
    let s = |on: bool, d: BatcherDrain| StopSettings {
        flush_incomplete_buckets: on,
        batcher_drain: d,
    };
    if legacy {
        // The three behaviours of the reference's history: off, on before the change "flush
        // worker batchers on stop", on after it.
        return vec![
            s(false, BatcherDrain::Auto),
            s(true, BatcherDrain::Never),
            s(true, BatcherDrain::Auto),
        ];
    }
    match flag {
        FlagChoice::On => vec![s(true, drain)],
        FlagChoice::Off => vec![s(false, drain)],
        FlagChoice::Both => vec![s(false, drain), s(true, drain)],
    }
}

/// Overrides of the default expectation: `--expect zero-loss` (every setting) or
/// `--expect off=loss`, `--expect on=any`, `--expect on-never=loss`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    all: Option<Expectation>,
    off: Option<Expectation>,
    on: Option<Expectation>,
    on_never: Option<Expectation>,
}

impl Expectations {
    pub fn parse(values: &[String]) -> Result<Expectations, String> {
        let mut e = Expectations::default();
        for v in values {
            match v.split_once('=') {
                None => e.all = Some(v.parse()?),
                Some((k, x)) => {
                    let x: Expectation = x.parse()?;
                    match k {
                        "off" => e.off = Some(x),
                        "on" => e.on = Some(x),
                        "on-never" => e.on_never = Some(x),
                        o => {
                            return Err(format!(
                                "invalid expectation key '{o}' (expected off, on or on-never)"
                            ))
                        }
                    }
                }
            }
        }
        Ok(e)
    }

    /// Default: with the flag on, zero loss of every sample that entered the pipeline (whatever
    /// the drain: `never` reproduces a bug the flag is meant to be free of); with it off, loss
    /// is allowed and reported.
    pub fn for_settings(&self, s: &StopSettings) -> Expectation {
        let specific = match (s.flush_incomplete_buckets, s.batcher_drain) {
            (false, _) => self.off,
            (true, BatcherDrain::Never) => self.on_never.or(self.on),
            (true, BatcherDrain::Auto) => self.on,
        };
        specific
            .or(self.all)
            .unwrap_or(if s.flush_incomplete_buckets {
                Expectation::ZeroLoss
            } else {
                Expectation::Any
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_is_the_three_way_matrix() {
        let m = settings(FlagChoice::On, BatcherDrain::Auto, true);
        assert_eq!(m.len(), 3);
        assert!(!m[0].flush_incomplete_buckets);
        assert_eq!(m[1].batcher_drain, BatcherDrain::Never);
    }

    #[test]
    fn expectations_default_and_override() {
        let on = StopSettings {
            flush_incomplete_buckets: true,
            batcher_drain: BatcherDrain::Auto,
        };
        let off = StopSettings {
            flush_incomplete_buckets: false,
            batcher_drain: BatcherDrain::Auto,
        };
        let never = StopSettings {
            flush_incomplete_buckets: true,
            batcher_drain: BatcherDrain::Never,
        };
        let d = Expectations::default();
        assert_eq!(d.for_settings(&on), Expectation::ZeroLoss);
        assert_eq!(d.for_settings(&off), Expectation::Any);
        let e = Expectations::parse(&["off=loss".into(), "on-never=any".into()]).unwrap();
        assert_eq!(e.for_settings(&off), Expectation::Loss);
        assert_eq!(e.for_settings(&never), Expectation::Any);
        assert_eq!(e.for_settings(&on), Expectation::ZeroLoss);
        assert!(Expectations::parse(&["sideways".into()]).is_err());
        assert!(Expectations::parse(&["up=loss".into()]).is_err());
    }
}
