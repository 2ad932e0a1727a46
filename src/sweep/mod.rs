//! `sweep`: loss as a function of the stop moment — many stop moments over one stream, per flag
//! setting, as a table, the usual exports, and an SVG plot.

pub mod plot;

use crate::check::moment::{Phase, StopMoment, StreamShape};
use crate::pipeline::clock::NANOS_PER_SEC;
use crate::report::Report;
use std::fmt::Write;

/// How the stop moments are spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spread {
    /// Every Δ seconds of stream time, from the first packet to the last.
    Every(f64),
    /// N seeded random moments.
    Random(u32),
    /// K evenly spaced phases of the last bucket.
    Phases(u32),
}

/// The stop moments of a sweep over a stream of this shape.
pub fn moments(spread: Spread, shape: &StreamShape) -> Vec<StopMoment> {
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
        Spread::Random(n) => vec![StopMoment::Random(n)],
        Spread::Phases(k) => (0..k)
            .map(|i| StopMoment::Phase(Phase::Percent(round3(i as f64 * 100.0 / k as f64))))
            .collect(),
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The settings of a scenario as a short label: `flag=on drain=auto`.
pub fn setting_label(s: &crate::report::ScenarioReport) -> String {
    format!(
        "flag={} drain={}",
        if s.settings.flush_incomplete_buckets {
            "on"
        } else {
            "off"
        },
        s.settings.batcher_drain
    )
}

/// One plot line per setting, in the report's order.
pub fn lines(report: &Report) -> Vec<plot::Line> {
    let mut out: Vec<plot::Line> = Vec::new();
    for s in &report.scenarios {
        let label = setting_label(s);
        let point = (s.stop.stream_time_s, s.counts.lost, s.counts.sent);
        match out.iter_mut().find(|l| l.label == label) {
            Some(l) => l.points.push(point),
            None => out.push(plot::Line {
                label,
                points: vec![point],
            }),
        }
    }
    for l in &mut out {
        l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// The sweep table: one row per stop moment, lost samples (and fraction) per setting.
pub fn table(report: &Report) -> String {
    let lines = lines(report);
    let mut rows: Vec<(String, f64)> = Vec::new();
    for s in &report.scenarios {
        if !rows.iter().any(|r| r.0 == s.stop.spec) {
            rows.push((s.stop.spec.clone(), s.stop.stream_time_s));
        }
    }
    let mut out = String::new();
    let _ = write!(out, "{:<28} {:>9}", "stop", "time (s)");
    for l in &lines {
        let _ = write!(out, "  {:>24}", l.label);
    }
    out.push('\n');
    for (spec, t) in rows {
        let _ = write!(out, "{:<28} {:>9.3}", spec, t);
        for l in &lines {
            let cell = report
                .scenarios
                .iter()
                .find(|s| s.stop.spec == spec && setting_label(s) == l.label)
                .map(|s| {
                    let frac = if s.counts.sent > 0 {
                        s.counts.lost as f64 / s.counts.sent as f64 * 100.0
                    } else {
                        0.0
                    };
                    format!("{} ({:.2}%)", s.counts.lost, frac)
                })
                .unwrap_or_default();
            let _ = write!(out, "  {:>24}", cell);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spreads_over_the_stream_and_ends_at_end() {
        let shape = StreamShape {
            datagrams: 3,
            first_ns: 0,
            last_ns: 5 * NANOS_PER_SEC + 1,
        };
        let m = moments(Spread::Every(2.0), &shape);
        assert_eq!(
            m,
            vec![
                StopMoment::Time(0.0),
                StopMoment::Time(2.0),
                StopMoment::Time(4.0),
                StopMoment::End
            ]
        );
        let p = moments(Spread::Phases(4), &shape);
        assert_eq!(p.len(), 4);
        assert_eq!(p[1], StopMoment::Phase(Phase::Percent(25.0)));
    }
}
