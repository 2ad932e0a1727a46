//! The SOURCE argument shared by the commands that read traffic, and the opener it becomes.

use crate::source::generate::{self, GeneratorConfig};
use crate::source::SourceSpec;
use crate::source::{InputFormat, OpenOptions, PortFilter};
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

    /// Force the input format instead of detecting it: capture, pcap, pcapng, jsonl, text.
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<InputFormat>,

    /// pcap/pcapng: the DogStatsD UDP port, or `any`.
    #[arg(long, default_value = "8125")]
    pub port: PortFilter,

    /// Keep what was read of a truncated file (the report says how far it was read).
    #[arg(long)]
    pub allow_truncated: bool,

    /// Text sources: datagrams per second of stream time (default: all at t=0).
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
}

impl SourceArgs {
    /// Validates the arguments into a source (configuration errors are usage errors).
    pub fn spec(&self) -> Result<SourceSpec, super::UsageError> {
        let usage = |e: generate::GenerateError| super::UsageError(e.to_string());
        if let Some(path) = &self.generator {
            return Ok(SourceSpec::Generated(
                GeneratorConfig::from_file(path).map_err(usage)?,
            ));
        }
        if let Some(r) = self.rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(super::UsageError(format!(
                    "invalid --rate {r}: must be > 0"
                )));
            }
        }
        match self.source.as_deref() {
            None => Ok(SourceSpec::Generated(GeneratorConfig::default())),
            Some(s) if s.starts_with("gen:") => Ok(SourceSpec::Generated(
                GeneratorConfig::from_spec(s).map_err(usage)?,
            )),
            Some(path) => Ok(SourceSpec::File {
                path: PathBuf::from(path),
                options: OpenOptions {
                    format: self.input_format,
                    port: self.port,
                    allow_truncated: self.allow_truncated,
                    text_rate: self.rate,
                },
                last: Default::default(),
            }),
        }
    }
}
