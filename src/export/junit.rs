//! JUnit XML: one test case per scenario × setting, a failure for a violated expectation or an
//! accounting error, so CI systems (GitLab, Jenkins, GitHub actions) show each as a test.

use super::{ExportError, Exporter};
use crate::report::{Report, Verdict};
use std::fmt::Write;

pub struct JunitExporter;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // Characters XML 1.0 cannot carry.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

impl Exporter for JunitExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let count = |v: Verdict| report.scenarios.iter().filter(|s| s.verdict == v).count();
        let failures = count(Verdict::Fail) + count(Verdict::Vacuous);
        let errors = count(Verdict::AccountingError);
        let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            o,
            "<testsuites name=\"lastbucket\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">",
            report.scenarios.len()
        );
        let _ = writeln!(
            o,
            "  <testsuite name=\"lastbucket check {}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">",
            esc(&report.source.description),
            report.scenarios.len()
        );
        for s in &report.scenarios {
            let c = &s.counts;
            let _ = write!(
                o,
                "    <testcase classname=\"lastbucket.{}\" name=\"{}\"",
                esc(&s.stop.spec),
                esc(&s.name)
            );
            let summary = format!(
                "expected {}: sent {}, rejected {}, flushed {}, lost {} {:?}, surplus {}, duplicates {}",
                s.expectation.name(),
                c.sent,
                c.rejected,
                c.flushed,
                c.lost,
                c.lost_by_stage,
                c.surplus,
                c.duplicates
            );
            let detail = s
                .reasons
                .iter()
                .chain(&s.accounting_errors)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n");
            match s.verdict {
                Verdict::Pass => o.push_str(" />\n"),
                Verdict::Fail | Verdict::Vacuous => {
                    let _ = write!(
                        o,
                        ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>\n",
                        s.verdict.name(),
                        esc(&summary),
                        esc(&detail)
                    );
                }
                Verdict::AccountingError => {
                    let _ = write!(
                        o,
                        ">\n      <error type=\"accounting_error\" message=\"{}\">{}</error>\n    </testcase>\n",
                        esc(&summary),
                        esc(&detail)
                    );
                }
            }
        }
        o.push_str("  </testsuite>\n</testsuites>\n");
        Ok(o.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_testcase_per_scenario_and_a_failure_for_the_failed_one() {
        let r = super::super::test_report::report();
        let text = String::from_utf8(JunitExporter.serialize(&r).unwrap()).unwrap();
        assert_eq!(text.matches("<testcase ").count(), r.scenarios.len());
        assert_eq!(text.matches("<failure ").count(), 1);
        assert!(text.contains("failures=\"1\""));
        assert!(!text.contains("<&"));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;?");
    }
}
