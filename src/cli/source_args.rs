//! The SOURCE argument shared by the commands that read traffic, and the opener it becomes.

use crate::check::{Stream, StreamError, StreamOpener};
use crate::source::generate::{self, GeneratorConfig};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// A capture file (.dog, raw or zstd), pcap/pcapng, JSON lines, text, or `gen:key=value,...`
    /// for generated traffic. Without it: the built-in default generated workload.
    pub source: Option<String>,

    /// Generator settings from a TOML or JSON file (unknown keys rejected).
    #[arg(long, value_name = "FILE", conflicts_with = "source")]
    pub generator: Option<PathBuf>,
}

/// What SOURCE names.
pub enum SourceSpec {
    Generated(GeneratorConfig),
}

impl SourceArgs {
    /// Validates the arguments into a source (configuration errors are usage errors).
    pub fn spec(&self) -> Result<SourceSpec, super::UsageError> {
        let usage = |e: generate::GenerateError| super::UsageError(e.to_string());
        if let Some(path) = &self.generator {
            return Ok(SourceSpec::Generated(GeneratorConfig::from_file(path).map_err(usage)?));
        }
        match self.source.as_deref() {
            None => Ok(SourceSpec::Generated(GeneratorConfig::default())),
            Some(s) if s.starts_with("gen:") => Ok(SourceSpec::Generated(GeneratorConfig::from_spec(s).map_err(usage)?)),
            Some(other) => Err(super::UsageError(format!("file sources are not supported yet: {other}"))),
        }
    }
}

impl StreamOpener for SourceSpec {
    fn open(&self) -> Result<Stream<'_>, StreamError> {
        match self {
            SourceSpec::Generated(c) => Ok(Box::new(generate::generate(c).map(Ok))),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Generated(_) => "generated",
        }
    }

    fn description(&self) -> String {
        match self {
            SourceSpec::Generated(c) => c.to_string(),
        }
    }
}
