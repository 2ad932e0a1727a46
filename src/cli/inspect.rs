//! `lastbucket inspect SOURCE`.

use super::error::CliError;
use super::source_args::SourceArgs;
use crate::output::inspect;
use crate::source::StreamOpener;
use crate::stdout::print;
use clap::Args;

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Output format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,

    /// Read buffer of the server being modelled: longer datagrams are counted as oversize.
    #[arg(long, default_value_t = 8192)]
    pub buffer_size: usize,
}

pub fn run(args: InspectArgs) -> Result<i32, CliError> {
    let spec = args.source.spec()?;
    let stream = spec.open().map_err(CliError::input)?;
    let inspection = crate::inspect::inspect(stream, args.buffer_size).map_err(CliError::input)?;
    let stats = spec.read_stats();
    if args.format == "json" {
        let json = inspect::json(&inspection, stats.as_ref()).map_err(CliError::output)?;
        print(&format!("{json}\n"));
    } else {
        print(&inspect::text(
            &inspection,
            &spec.description(),
            stats.as_ref(),
        ));
    }
    Ok(crate::exit::SUCCESS)
}
