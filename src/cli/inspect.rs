//! `lastbucket inspect SOURCE`.

use super::error::CliError;
use super::source_args::SourceArgs;
use crate::output::stdout::print;
use crate::source::StreamOpener;
use clap::Args;
use std::fmt::Write;

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
    let capture = stats.as_ref().and_then(|s| s.capture.clone());
    if args.format == "json" {
        let mut v = serde_json::to_value(&inspection).map_err(CliError::output)?;
        if let Some(obj) = v.as_object_mut() {
            if let Some(c) = &capture {
                obj.insert("capture".into(), capture_json(c));
            }
            if let Some(r) = &stats {
                obj.insert(
                    "read".into(),
                    serde_json::to_value(r).map_err(CliError::output)?,
                );
            }
        }
        let json = serde_json::to_string_pretty(&v).map_err(CliError::output)?;
        print(&format!("{json}\n"));
    } else {
        let mut text = crate::inspect::render(&inspection, &spec.description());
        for note in stats.iter().flat_map(|r| r.notes()) {
            let _ = writeln!(text, "note            {note}");
        }
        if let Some(c) = &capture {
            let _ = writeln!(
                text,
                "capture         version {}{}, tagger state {} bytes",
                c.version,
                if c.compressed { " (zstd)" } else { "" },
                c.tagger_state_len
            );
            if let Some(state) = &c.tagger_state {
                for (entity, e) in &state.state {
                    let _ = writeln!(text, "  entity        {entity}: {e:?}");
                }
                for (pid, entity) in &state.pid_map {
                    let _ = writeln!(text, "  pid           {pid} -> {entity}");
                }
            }
        }
        print(&text);
    }
    Ok(crate::exit::SUCCESS)
}

fn capture_json(c: &crate::source::CaptureInfo) -> serde_json::Value {
    let (entities, pids): (Vec<String>, serde_json::Map<String, serde_json::Value>) =
        match &c.tagger_state {
            Some(s) => (
                s.state.keys().cloned().collect(),
                s.pid_map
                    .iter()
                    .map(|(p, e)| (p.to_string(), serde_json::json!(e)))
                    .collect(),
            ),
            None => (Vec::new(), serde_json::Map::new()),
        };
    serde_json::json!({
        "version": c.version,
        "compressed": c.compressed,
        "tagger_state_bytes": c.tagger_state_len,
        "tagger_entities": entities,
        "tagger_pid_map": pids,
    })
}
