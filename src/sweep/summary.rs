//! What a sweep's report says, read per setting: the table of loss by moment, the summary of
//! each setting (moments with loss, the worst one and its stages), and the plot's lines.

use super::plot::{Line, Plot};
use crate::report::{Report, ScenarioReport};
use std::fmt::Write;

/// The settings of a scenario as a short label: `flag=on drain=auto`.
pub fn setting_label(s: &ScenarioReport) -> String {
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

/// The scenarios of each setting, in the report's order of settings and moments.
fn by_setting(report: &Report) -> Vec<(String, Vec<&ScenarioReport>)> {
    let mut out: Vec<(String, Vec<&ScenarioReport>)> = Vec::new();
    for s in &report.scenarios {
        let label = setting_label(s);
        match out.iter_mut().find(|l| l.0 == label) {
            Some(l) => l.1.push(s),
            None => out.push((label, vec![s])),
        }
    }
    out
}

/// The plot of a sweep's report: one line per setting, the bucket starts the moments fall in
/// (a moment's stream time less its phase), and the flush ticks every `flush_interval_s`
/// from the first packet (where the pipeline's flush timer starts).
pub fn plot_of(report: &Report, title: &str, flush_interval_s: u64, bucket_s: i64) -> Plot {
    let lines = by_setting(report)
        .into_iter()
        .map(|(label, scenarios)| {
            let mut points: Vec<(f64, u64)> = scenarios
                .iter()
                .map(|s| (s.stop.stream_time_s, s.counts.lost))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Line { label, points }
        })
        .collect();
    let (lo, hi) = report
        .scenarios
        .iter()
        .map(|s| s.stop.stream_time_s)
        .fold((f64::MAX, f64::MIN), |(a, b), t| (a.min(t), b.max(t)));
    let mut buckets: Vec<f64> = Vec::new();
    if let Some(s) = report.scenarios.first() {
        // Bucket starts are a whole number of buckets from any moment's bucket start.
        let origin = s.stop.stream_time_s - s.stop.bucket_phase_s;
        let b = bucket_s.max(1) as f64;
        let mut t = origin - ((origin - lo) / b).ceil() * b;
        while t <= hi {
            if t >= lo {
                buckets.push((t * 1000.0).round() / 1000.0);
            }
            t += b;
        }
    }
    let f = flush_interval_s.max(1) as f64;
    let ticks = (1..)
        .map(|k| k as f64 * f)
        .skip_while(|t| *t < lo)
        .take_while(|t| *t <= hi)
        .collect();
    Plot {
        title: title.to_string(),
        lines,
        buckets,
        ticks,
        stream_samples: report.source.samples,
    }
}

/// The sweep table: one row per stop moment, lost samples (and fraction) per setting.
pub fn table(report: &Report) -> String {
    let settings = by_setting(report);
    let mut out = String::new();
    let _ = write!(out, "{:<28} {:>9}", "stop", "time (s)");
    for (label, _) in &settings {
        let _ = write!(out, "  {label:>24}");
    }
    out.push('\n');
    let moments = settings.first().map_or(0, |s| s.1.len());
    for m in 0..moments {
        let first = settings[0].1[m];
        let _ = write!(
            out,
            "{:<28} {:>9.3}",
            first.stop.spec, first.stop.stream_time_s
        );
        for (_, scenarios) in &settings {
            let cell = scenarios.get(m).map(|s| lost_cell(s)).unwrap_or_default();
            let _ = write!(out, "  {cell:>24}");
        }
        out.push('\n');
    }
    out
}

fn lost_cell(s: &ScenarioReport) -> String {
    let frac = if s.counts.sent > 0 {
        s.counts.lost as f64 / s.counts.sent as f64 * 100.0
    } else {
        0.0
    };
    format!("{} ({frac:.2}%)", s.counts.lost)
}

/// Per setting: moments checked, moments with loss, the worst moment with its loss by stage,
/// and the loss summed over all moments.
pub fn settings_summary(report: &Report) -> String {
    let mut out = String::new();
    for (label, scenarios) in by_setting(report) {
        let with_loss = scenarios.iter().filter(|s| s.counts.lost > 0).count();
        let total: u64 = scenarios.iter().map(|s| s.counts.lost).sum();
        let moments = scenarios.len();
        let _ = write!(
            out,
            "{label}: {moments} moment{}, {with_loss} with loss",
            if moments == 1 { "" } else { "s" }
        );
        // The first of the worst, so that ties name the earliest moment.
        let worst = scenarios
            .iter()
            .copied()
            .filter(|s| s.counts.lost > 0)
            .fold(None::<&ScenarioReport>, |w, s| match w {
                Some(w) if w.counts.lost >= s.counts.lost => Some(w),
                _ => Some(s),
            });
        if let Some(w) = worst {
            let stages: Vec<String> = w
                .counts
                .lost_by_stage
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(stage, n)| format!("{stage} {n}"))
                .collect();
            let _ = write!(
                out,
                "; worst {} ({:.3} s): {} lost ({}); {total} lost over all moments",
                w.stop.spec,
                w.stop.stream_time_s,
                w.counts.lost,
                stages.join(", ")
            );
        }
        out.push('\n');
    }
    out
}
