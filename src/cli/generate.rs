//! `lastbucket generate -o FILE`: the seeded generator written to any writable format.

use super::error::CliError;
use crate::source::generate::{self, GeneratorConfig};
use crate::source::{write_datagrams, OutputFormat};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Generator settings (`gen:seed=7,contexts=1000,...`); default: the built-in default
    /// workload.
    #[arg(value_name = "gen:SETTINGS")]
    pub spec: Option<String>,

    /// Generator settings from a TOML or JSON file (unknown keys rejected).
    #[arg(long, value_name = "FILE", conflicts_with = "spec")]
    pub generator: Option<PathBuf>,

    /// The file to write (`-` = stdout, JSON lines unless --output-format says otherwise); its
    /// format comes from the name (.dog, .dog.zst/.zstd, .pcap, .pcapng, .jsonl, .txt) unless
    /// --output-format says otherwise. Text keeps only the lines (a warning says so).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// capture, capture-zstd, pcap, pcapng, jsonl or text.
    #[arg(long, value_name = "FORMAT")]
    pub output_format: Option<OutputFormat>,
}

pub fn run(args: GenerateArgs) -> Result<i32, CliError> {
    let config = match (&args.spec, &args.generator) {
        (Some(s), _) if !s.starts_with("gen:") => {
            return Err(CliError::usage(format!(
                "generate takes generator settings (gen:...), not a file: {s}"
            )));
        }
        (Some(s), _) => GeneratorConfig::from_spec(s),
        (None, Some(path)) => GeneratorConfig::from_file(path),
        (None, None) => Ok(GeneratorConfig::default()),
    };
    let config = config.map_err(CliError::usage)?;
    let to_stdout = args.output.as_os_str() == "-";
    // Standard output has no name to tell a format by: JSON lines, which keep every datagram
    // and its arrival time.
    let format = args
        .output_format
        .or(to_stdout.then_some(OutputFormat::Jsonl));
    if format.is_none() && OutputFormat::from_path(&args.output).is_none() {
        return Err(CliError::usage(format!(
            "cannot tell the format of {} from its name; use --output-format",
            args.output.display()
        )));
    }
    if format.or_else(|| OutputFormat::from_path(&args.output)) == Some(OutputFormat::Text) {
        eprintln!(
            "warning: text keeps the lines only: datagram boundaries and arrival times are lost, \
             so reading {} back (with --rate) is another stream and may give another verdict; \
             use .jsonl, .dog or .pcap to keep them",
            args.output.display()
        );
    }
    let mut bytes = 0u64;
    let stream = generate::generate(&config).inspect(|d| bytes += d.payload.len() as u64);
    let n = write_datagrams(&args.output, format, stream).map_err(CliError::output)?;
    eprintln!(
        "wrote {n} datagrams ({bytes} bytes) to {}",
        args.output.display()
    );
    Ok(crate::exit::SUCCESS)
}
