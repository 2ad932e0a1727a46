//! What a SOURCE argument names, validated: generated traffic or a file, and the opener that
//! reads it again for each pass.

use super::generate::{self, GeneratorConfig};
use super::stream::{Stream, StreamError, StreamOpener};
use super::{open, InputFormat, OpenOptions, ReadStats, StatsHandle};
use std::path::PathBuf;
use std::sync::Mutex;

/// What SOURCE names.
pub enum SourceSpec {
    Generated(GeneratorConfig),
    File {
        path: PathBuf,
        options: OpenOptions,
        /// The read counters of the last opening, for the report.
        last: Mutex<Option<StatsHandle>>,
    },
}

impl StreamOpener for SourceSpec {
    fn open(&self) -> Result<Stream<'_>, StreamError> {
        match self {
            SourceSpec::Generated(c) => Ok(Box::new(generate::generate(c).map(Ok))),
            SourceSpec::File {
                path,
                options,
                last,
            } => {
                let opened = open(path, options)?;
                if let Ok(mut l) = last.lock() {
                    *l = Some(opened.stats.clone());
                }
                Ok(Box::new(
                    opened.datagrams.map(|d| d.map_err(StreamError::from)),
                ))
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Generated(_) => "generated",
            SourceSpec::File { path, options, .. } => {
                let format = options.format.or_else(|| super::detect_file(path).ok());
                match format {
                    Some(InputFormat::Capture) => "capture",
                    Some(InputFormat::Pcap) | Some(InputFormat::Pcapng) => "pcap",
                    Some(InputFormat::Jsonl) => "jsonl",
                    _ => "text",
                }
            }
        }
    }

    fn read_stats(&self) -> Option<ReadStats> {
        match self {
            SourceSpec::File { last, .. } => last.lock().ok()?.as_ref().map(StatsHandle::snapshot),
            SourceSpec::Generated(_) => None,
        }
    }

    fn description(&self) -> String {
        match self {
            SourceSpec::Generated(c) => c.to_string(),
            SourceSpec::File { path, .. } => path.display().to_string(),
        }
    }
}
