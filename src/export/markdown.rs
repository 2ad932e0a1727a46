//! Markdown: a table per run, for pull-request comments and job summaries.

use super::{lost_at, ExportError, Exporter};
use crate::report::Report;
use std::fmt::Write;

pub struct MarkdownExporter;

/// Table cells must not break the row.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

impl Exporter for MarkdownExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut o = String::new();
        let src = &report.source;
        let _ = writeln!(o, "## lastbucket check\n");
        let _ = writeln!(
            o,
            "Source: {} `{}` — {} datagrams, {} lines, {} samples\n",
            src.kind,
            cell(&src.description),
            src.packets,
            src.lines,
            src.samples
        );
        o.push_str("| scenario | sent | rejected | flushed | lost |");
        let stages = crate::report::stages_of(report);
        for s in stages {
            let _ = write!(o, " {} |", s.name());
        }
        o.push_str(" surplus | duplicates | expectation | verdict |\n|---|");
        for _ in 0..(4 + stages.len() + 4) {
            o.push_str("---:|");
        }
        o.push('\n');
        for s in &report.scenarios {
            let c = &s.counts;
            let _ = write!(
                o,
                "| {} | {} | {} | {} | {} |",
                cell(&s.name),
                c.sent,
                c.rejected,
                c.flushed,
                c.lost
            );
            for st in stages {
                let _ = write!(o, " {} |", lost_at(s, *st));
            }
            let _ = writeln!(
                o,
                " {} | {} | {} | **{}** |",
                c.surplus,
                c.duplicates,
                s.expectation.name(),
                s.verdict.name()
            );
        }
        let _ = writeln!(o, "\nExit code: {}", report.exit_code);
        Ok(o.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_table_with_a_row_per_scenario() {
        let r = super::super::test_report::report();
        let text = String::from_utf8(MarkdownExporter.serialize(&r).unwrap()).unwrap();
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 2 + r.scenarios.len());
        let columns = rows[0].matches('|').count();
        assert!(rows.iter().all(|r| r.matches('|').count() == columns));
        assert!(rows[1].starts_with("|---|"));
        assert!(text.contains("**fail**"));
    }
}
