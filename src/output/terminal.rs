//! The terminal report: a table of scenarios × settings (sent, rejected, flushed, lost by stage,
//! surplus, verdict), then for each scenario with loss or a failure its reasons and up to ten
//! example lost samples with context and bucket, then a one-line summary.

use crate::pipeline::counters::{flow, FLOW};
use crate::report::{Report, ScenarioReport, Verdict};
use colored::{ColoredString, Colorize};
use std::fmt::Write;

/// Examples shown per scenario.
pub const MAX_EXAMPLES: usize = 10;

fn verdict(v: Verdict) -> ColoredString {
    let s = v.name().to_uppercase();
    match v {
        Verdict::Pass => s.green().bold(),
        Verdict::Fail => s.red().bold(),
        Verdict::Vacuous => s.yellow().bold(),
        Verdict::AccountingError => s.red().bold().underline(),
    }
}

/// `queue 12, open_bucket 880`, or `-` without loss.
pub fn by_stage(s: &ScenarioReport) -> String {
    let parts: Vec<String> = s
        .counts
        .lost_by_stage
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// The whole report (without the summary line).
pub fn render(report: &Report) -> String {
    let mut o = String::new();
    let src = &report.source;
    let _ = writeln!(
        o,
        "{} {} ({}): {} datagrams, {} lines, {} samples",
        "Source".bold(),
        src.description,
        src.kind,
        src.packets,
        src.lines,
        src.samples,
    );
    for note in src.read.iter().flat_map(|r| r.notes()) {
        let _ = writeln!(o, "  {}", note.yellow());
    }
    o.push('\n');
    let header = [
        "scenario",
        "sent",
        "rejected",
        "flushed",
        "lost",
        "lost by stage",
        "surplus",
        "dup",
        "expected",
        "verdict",
    ];
    let rows: Vec<[String; 10]> = report
        .scenarios
        .iter()
        .map(|s| {
            let c = &s.counts;
            [
                s.name.clone(),
                c.sent.to_string(),
                c.rejected.to_string(),
                c.flushed.to_string(),
                c.lost.to_string(),
                by_stage(s),
                c.surplus.to_string(),
                c.duplicates.to_string(),
                s.expectation.name().to_string(),
                s.verdict.name().to_uppercase(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Text columns left-aligned, numbers right-aligned.
    let left = |i: usize| matches!(i, 0 | 5 | 8 | 9);
    let pad = |i: usize, cell: &str| {
        if left(i) {
            format!("{cell:<w$}", w = widths[i])
        } else {
            format!("{cell:>w$}", w = widths[i])
        }
    };
    let head: Vec<String> = header.iter().enumerate().map(|(i, h)| pad(i, h)).collect();
    let _ = writeln!(o, "{}", head.join("  ").trim_end().bold());
    for (r, s) in rows.iter().zip(&report.scenarios) {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| match i {
                // Color after padding: escape codes must not count as width.
                4 if s.counts.lost > 0 => pad(i, c).yellow().to_string(),
                // The last column needs no padding.
                9 => verdict(s.verdict).to_string(),
                _ => pad(i, c),
            })
            .collect();
        let _ = writeln!(o, "{}", cells.join("  ").trim_end());
    }
    o.push('\n');
    // An external server's stages cannot be seen: no table of zeros for it.
    if report.scenarios.iter().any(|s| !s.stage_counters.is_null()) {
        o.push_str(&stage_table(report));
    }
    for s in &report.scenarios {
        details(&mut o, s);
    }
    o
}

/// The pipeline's own stage counters, one row per scenario, in the order a datagram meets the
/// stages: what each stage received and handed on, and what the queue dropped at the stop (the
/// columns are [`FLOW`]).
fn stage_table(report: &Report) -> String {
    let mut header = vec!["stage counters"];
    header.extend(FLOW.iter().map(|(label, _)| *label));
    let rows: Vec<Vec<String>> = report
        .scenarios
        .iter()
        .map(|s| {
            let mut row = vec![s.name.clone()];
            row.extend(flow(&s.stage_counters).map(|(_, sum)| sum.to_string()));
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| match i {
                0 => format!("{c:<w$}", w = widths[0]),
                _ => format!("{c:>w$}", w = widths[i]),
            })
            .collect();
        padded.join("  ")
    };
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}",
        line(header.iter().map(|h| h.to_string()).collect()).dimmed()
    );
    for r in rows {
        let _ = writeln!(o, "{}", line(r).dimmed());
    }
    o
}

/// Reasons and example lost samples of a scenario that lost something or did not pass.
fn details(o: &mut String, s: &ScenarioReport) {
    if s.counts.lost == 0 && s.verdict == Verdict::Pass && s.counts.surplus == 0 {
        return;
    }
    let _ = writeln!(o, "\n{} {}", s.name.bold(), verdict(s.verdict));
    for r in &s.reasons {
        let _ = writeln!(o, "  {r}");
    }
    if let Some(k) = &s.socket {
        let _ = writeln!(
            o,
            "  socket {}: {} datagrams sent, {} dropped by the kernel (its counter: {}), {} unread at stop, {} unattributed",
            k.address,
            k.sent,
            k.dropped,
            k.kernel_drops.map_or("n/a".into(), |d| d.to_string()),
            k.unread_at_stop,
            k.unattributed
        );
    }
    if let Some(v) = &s.server {
        let exit = match (v.exit_code, v.exit_signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => "unknown exit".into(),
        };
        let _ = writeln!(
            o,
            "  server {}: {exit}{}, {} payloads with {} items posted ({} of its own), {} unknown-endpoint requests, {} undecodable",
            v.address,
            if v.killed { " (killed)" } else { "" },
            v.payloads,
            v.items,
            v.foreign,
            v.unknown_endpoint_requests,
            v.decode_errors.len()
        );
        for d in v.disagreements.iter().take(MAX_EXAMPLES) {
            let _ = writeln!(o, "  posted value disagrees: {d}");
        }
        if v.killed || v.exit_code != Some(0) {
            for l in &v.stderr_tail {
                let _ = writeln!(o, "  | {l}");
            }
        }
    }
    for e in s.accounting_errors.iter().take(MAX_EXAMPLES) {
        let _ = writeln!(o, "  {} {e}", "accounting error:".red());
    }
    if !s.examples.is_empty() {
        let _ = writeln!(
            o,
            "  example lost samples ({} of {}):",
            s.examples.len().min(MAX_EXAMPLES),
            s.counts.lost
        );
        for e in s.examples.iter().take(MAX_EXAMPLES) {
            let tags = if e.tags.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", e.tags.join(","))
            };
            let _ = writeln!(
                o,
                "    {:<13} bucket {}  {:<12} {}{}  value {}",
                e.stage, e.bucket, e.metric_type, e.metric, tags, e.value
            );
        }
    }
}

/// Failed scenarios a sweep details before it only counts the rest.
pub const MAX_FAILURE_DETAILS: usize = 3;

/// Details of the first scenarios that did not pass (a sweep can fail at every moment); the
/// hint for the rest points to the export files written, or says how to write one.
pub fn failures(report: &Report, export_files: &[String]) -> String {
    let mut o = String::new();
    let failed: Vec<_> = report
        .scenarios
        .iter()
        .filter(|s| s.verdict != Verdict::Pass)
        .collect();
    for s in failed.iter().take(MAX_FAILURE_DETAILS) {
        details(&mut o, s);
    }
    if failed.len() > MAX_FAILURE_DETAILS {
        let more = failed.len() - MAX_FAILURE_DETAILS;
        let hint = if export_files.is_empty() {
            "--export-json FILE has them all".to_string()
        } else {
            format!("see {}", export_files.join(", "))
        };
        let _ = writeln!(
            o,
            "\n… and {more} more {} that did not pass ({hint})",
            plural(more, "scenario")
        );
    }
    o
}

/// `2 scenarios: 2 passed — exit 0`.
pub fn summary(report: &Report) -> String {
    let count = |v: Verdict| report.scenarios.iter().filter(|s| s.verdict == v).count();
    let mut parts = vec![format!("{} passed", count(Verdict::Pass))];
    for (v, label) in [
        (Verdict::Fail, "failed"),
        (Verdict::Vacuous, "vacuous"),
        (Verdict::AccountingError, "accounting errors"),
    ] {
        if count(v) > 0 {
            parts.push(format!("{} {label}", count(v)));
        }
    }
    let line = format!(
        "{}: {} — exit {}",
        plural(report.scenarios.len(), "scenario"),
        parts.join(", "),
        report.exit_code
    );
    if report.exit_code == crate::exit::SUCCESS {
        line.green().to_string()
    } else {
        line.red().to_string()
    }
}

/// `1 scenario`, `2 scenarios`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}
