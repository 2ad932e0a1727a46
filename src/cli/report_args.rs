//! The `--export-*` flags shared by `check` and `sweep`, and what happens around a run: exports
//! rewritten after each scenario, the progress bar, the terminal report and the exit code.

use super::UsageError;
use crate::check::CheckObserver;
use crate::export::{ExportFormat, ExportManager, ExportTarget};
use crate::output::{progress, terminal};
use crate::report::Report;
use clap::Args;

/// `--export-*` flags, shared by `check` and `sweep`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Write the JSON report (schema_version 1) to FILE (`-` = stdout).
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<String>,
    /// Write one CSV row per scenario × setting to FILE (`-` = stdout).
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<String>,
    /// Write a Markdown table to FILE (`-` = stdout).
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<String>,
    /// Write JUnit XML (one test case per scenario × setting) to FILE (`-` = stdout).
    #[arg(long, value_name = "FILE")]
    pub export_junit: Option<String>,
}

impl ExportArgs {
    /// The export manager, with every file target created.
    pub fn manager(&self) -> Result<ExportManager, UsageError> {
        let exports = [
            (ExportFormat::Json, &self.export_json),
            (ExportFormat::Csv, &self.export_csv),
            (ExportFormat::Markdown, &self.export_markdown),
            (ExportFormat::Junit, &self.export_junit),
        ]
        .into_iter()
        .filter_map(|(f, t)| t.as_deref().map(|t| (f, ExportTarget::from(t))))
        .collect();
        ExportManager::new(exports).map_err(|e| UsageError(e.to_string()))
    }

    /// The export flags given `-` (stdout), for [`super::stdout::one_on_stdout`].
    pub fn stdout_flags(&self) -> Vec<&'static str> {
        [
            ("--export-json", &self.export_json),
            ("--export-csv", &self.export_csv),
            ("--export-markdown", &self.export_markdown),
            ("--export-junit", &self.export_junit),
        ]
        .into_iter()
        .filter(|(_, t)| t.as_deref() == Some("-"))
        .map(|(flag, _)| flag)
        .collect()
    }
}

/// Exports rewritten after each scenario and the progress bar.
pub struct Progress {
    pub exports: ExportManager,
    pub bar: indicatif::ProgressBar,
    /// The first export error, reported at the end (the run goes on).
    pub error: Option<crate::export::ExportError>,
    /// An output other than the exports (a sweep's `--plot -`) takes stdout: the terminal
    /// report goes to stderr.
    pub stdout_taken: bool,
}

impl Progress {
    pub fn new(exports: ExportManager, what: &str, quiet: bool) -> Progress {
        Progress {
            exports,
            bar: progress::bar(0, what, quiet),
            error: None,
            stdout_taken: false,
        }
    }
}

impl CheckObserver for Progress {
    fn planned(&mut self, scenarios: usize) {
        self.bar.set_length(scenarios as u64);
    }
    fn datagrams_read(&mut self, datagrams: u64) {
        // The pass over the stream comes first; the scenarios' stops follow it.
        self.bar
            .set_message(format!("{datagrams} datagrams read, scenarios"));
    }
    fn stops_reached(&mut self, scenarios: usize) {
        self.bar.set_position(scenarios as u64);
    }
    fn scenarios_done(&mut self, report: &Report, _finished: usize) {
        self.bar.set_position(report.scenarios.len() as u64);
        if let Err(e) = self.exports.write_partial(report) {
            self.error.get_or_insert(e);
        }
    }
}

/// Writes `body` (the terminal report) and the summary line — to stderr when an export takes
/// stdout — and the final exports; returns the report's exit code, or the export's error.
pub fn finish(
    report: &Report,
    progress: Progress,
    body: Option<String>,
) -> Result<i32, super::error::CliError> {
    progress.bar.finish_and_clear();
    let text = match body {
        Some(body) => format!("{body}\n{}", terminal::summary(report)),
        None => terminal::summary(report),
    };
    if progress.stdout_taken || progress.exports.uses_stdout() {
        eprintln!("{text}");
    } else {
        crate::stdout::print(&format!("{text}\n"));
    }
    let result = match progress.error {
        Some(e) => Err(e),
        None => progress.exports.write_final(report),
    };
    result?;
    Ok(report.exit_code)
}
