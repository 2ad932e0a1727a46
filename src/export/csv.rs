//! CSV: a header and one row per scenario × setting, the lost samples split by stage.

use super::{lost_at, ExportError, Exporter};
use crate::report::Report;

pub struct CsvExporter;

fn err(e: impl std::fmt::Display) -> ExportError {
    ExportError::Serialize {
        format: "CSV",
        message: e.to_string(),
    }
}

impl Exporter for CsvExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut w = ::csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> = [
            "scenario",
            "stop",
            "after_packets",
            "stream_time_s",
            "flush_incomplete_buckets",
            "batcher_drain",
            "expectation",
            "sent",
            "rejected",
            "flushed",
            "lost",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        header.extend(
            crate::report::stages_of(report)
                .iter()
                .map(|s| format!("lost_{}", s.name())),
        );
        header.extend(["surplus", "duplicates", "verdict"].map(String::from));
        w.write_record(&header).map_err(err)?;
        for s in &report.scenarios {
            let c = &s.counts;
            let mut row = vec![
                s.name.clone(),
                s.stop.spec.clone(),
                s.stop.after_packets.to_string(),
                s.stop.stream_time_s.to_string(),
                s.settings.flush_incomplete_buckets.to_string(),
                s.settings.batcher_drain.to_string(),
                s.expectation.name().to_string(),
                c.sent.to_string(),
                c.rejected.to_string(),
                c.flushed.to_string(),
                c.lost.to_string(),
            ];
            row.extend(
                crate::report::stages_of(report)
                    .iter()
                    .map(|st| lost_at(s, *st).to_string()),
            );
            row.extend([
                c.surplus.to_string(),
                c.duplicates.to_string(),
                s.verdict.name().to_string(),
            ]);
            w.write_record(&row).map_err(err)?;
        }
        w.into_inner().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_one_row_per_scenario() {
        let r = super::super::test_report::report();
        let bytes = CsvExporter.serialize(&r).unwrap();
        let mut rd = ::csv::Reader::from_reader(bytes.as_slice());
        let header = rd.headers().unwrap().clone();
        assert_eq!(&header[0], "scenario");
        let rows: Vec<_> = rd.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), r.scenarios.len());
        let col = header.iter().position(|h| h == "lost_open_bucket").unwrap();
        assert_eq!(&rows[0][col], "7");
    }
}
