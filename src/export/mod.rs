//! Report exports: JSON, CSV, Markdown and JUnit, each a small module behind one private trait.
//!
//! As in hyperfine, file targets are created up front (an unwritable path fails before any work)
//! and rewritten after every scenario, so partial results survive a crash or a Ctrl-C; `-` means
//! stdout, written once at the end so the stream stays one parseable document.

mod csv;
mod json;
mod junit;
mod markdown;

use crate::report::Report;
use std::path::PathBuf;

/// One export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
    Markdown,
    Junit,
}

impl ExportFormat {
    fn exporter(self) -> Box<dyn Exporter> {
        match self {
            ExportFormat::Json => Box::new(json::JsonExporter),
            ExportFormat::Csv => Box::new(csv::CsvExporter),
            ExportFormat::Markdown => Box::new(markdown::MarkdownExporter),
            ExportFormat::Junit => Box::new(junit::JunitExporter),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Json => "JSON",
            ExportFormat::Csv => "CSV",
            ExportFormat::Markdown => "Markdown",
            ExportFormat::Junit => "JUnit",
        }
    }
}

/// Renders a whole report in one format.
trait Exporter {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ExportError>;
}

/// Where an export goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    Stdout,
    File(PathBuf),
}

impl From<&str> for ExportTarget {
    fn from(s: &str) -> Self {
        if s == "-" {
            ExportTarget::Stdout
        } else {
            ExportTarget::File(PathBuf::from(s))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {format} export {path}: {source}")]
    Io {
        format: &'static str,
        path: String,
        source: std::io::Error,
    },
    /// Two exports would interleave on stdout: one parseable document at a time.
    #[error("the {0} exports both go to stdout (`-`): give one of them a file")]
    TwoOnStdout(String),
    #[error("cannot serialize the {format} export: {message}")]
    Serialize {
        format: &'static str,
        message: String,
    },
}

impl ExportError {
    /// The file that could not be written, if the error is about one.
    pub fn path(&self) -> Option<&str> {
        match self {
            ExportError::Io { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// The exports asked for on the command line.
#[derive(Debug, Default)]
pub struct ExportManager {
    exports: Vec<(ExportFormat, ExportTarget)>,
}

impl ExportManager {
    /// Creates every file target now, so a bad path fails before the run.
    pub fn new(exports: Vec<(ExportFormat, ExportTarget)>) -> Result<Self, ExportError> {
        let stdout: Vec<&'static str> = exports
            .iter()
            .filter(|(_, t)| *t == ExportTarget::Stdout)
            .map(|(f, _)| f.name())
            .collect();
        if stdout.len() > 1 {
            return Err(ExportError::TwoOnStdout(stdout.join(" and ")));
        }
        for (format, target) in &exports {
            if let ExportTarget::File(path) = target {
                std::fs::File::create(path).map_err(|source| io_error(*format, path, source))?;
            }
        }
        Ok(ExportManager { exports })
    }

    /// Whether some export writes to stdout (the terminal report then goes to stderr).
    pub fn uses_stdout(&self) -> bool {
        self.exports.iter().any(|(_, t)| *t == ExportTarget::Stdout)
    }

    /// The files the exports are written to (for hints that point to them; stdout is not one).
    pub fn written_files(&self) -> Vec<String> {
        self.exports
            .iter()
            .filter_map(|(_, t)| match t {
                ExportTarget::File(p) => Some(p.display().to_string()),
                ExportTarget::Stdout => None,
            })
            .collect()
    }

    /// Rewrites the file targets with the report so far (after each scenario).
    pub fn write_partial(&self, report: &Report) -> Result<(), ExportError> {
        self.write(report, false)
    }

    /// Writes every target, stdout included (at the end of the run).
    pub fn write_final(&self, report: &Report) -> Result<(), ExportError> {
        self.write(report, true)
    }

    fn write(&self, report: &Report, include_stdout: bool) -> Result<(), ExportError> {
        for (format, target) in &self.exports {
            match target {
                ExportTarget::File(path) => {
                    let bytes = format.exporter().serialize(report)?;
                    std::fs::write(path, bytes).map_err(|e| io_error(*format, path, e))?;
                }
                ExportTarget::Stdout if include_stdout => {
                    let bytes = format.exporter().serialize(report)?;
                    crate::stdout::write(&bytes)
                        .map_err(|e| io_error(*format, &PathBuf::from("-"), e))?;
                }
                ExportTarget::Stdout => {}
            }
        }
        Ok(())
    }
}

fn io_error(format: ExportFormat, path: &std::path::Path, source: std::io::Error) -> ExportError {
    ExportError::Io {
        format: format.name(),
        path: path.display().to_string(),
        source,
    }
}

/// Renders one format to bytes (tests and callers that want the text).
pub fn render(format: ExportFormat, report: &Report) -> Result<Vec<u8>, ExportError> {
    format.exporter().serialize(report)
}

/// Samples a scenario lost at one stage (0 when the stage lost none).
fn lost_at(s: &crate::report::ScenarioReport, stage: crate::report::Stage) -> u64 {
    s.counts
        .lost_by_stage
        .get(stage.name())
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod test_report;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_created_up_front_and_rewritten_after_each_scenario() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let m = ExportManager::new(vec![
            (ExportFormat::Csv, ExportTarget::File(path.clone())),
            (ExportFormat::Json, ExportTarget::Stdout),
        ])
        .unwrap();
        assert!(m.uses_stdout());
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        let mut r = test_report::report();
        let last = r.scenarios.pop().unwrap();
        m.write_partial(&r).unwrap();
        let rows = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
        assert_eq!(rows(&path), 2);
        r.scenarios.push(last);
        m.write_partial(&r).unwrap();
        assert_eq!(rows(&path), 3);
    }

    #[test]
    fn an_unwritable_path_fails_at_once() {
        let e = ExportManager::new(vec![(
            ExportFormat::Json,
            ExportTarget::File("/nonexistent-dir/r.json".into()),
        )])
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/r.json"), "{e}");
    }
}
