//! The JSON report: schema_version 1 of cli.md, a contract CI scripts read.

use super::{ExportError, Exporter};
use crate::report::Report;

pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError> {
        let mut bytes = serde_json::to_vec_pretty(report).map_err(|e| ExportError::Serialize {
            format: "JSON",
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_schema_version_and_the_counts() {
        let r = super::super::test_report::report();
        let v: serde_json::Value =
            serde_json::from_slice(&JsonExporter.serialize(&r).unwrap()).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(
            v["scenarios"][0]["counts"]["lost_by_stage"]["open_bucket"],
            7
        );
        assert_eq!(v["scenarios"][1]["verdict"], "fail");
    }
}
