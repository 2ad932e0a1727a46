//! What every way of running a check shares: the stops placed on the stream (and a shard's
//! part of them), the report's frame and source, and the survey of a stream read whole.
//! The embedded pass (`run`) and the black-box run (`blackbox`) both build on it.

use super::moment::{self, ResolvedStop, StreamShape};
use super::{shape_with, CheckError, CheckPlan};
use crate::pipeline::PipelineConfig;
use crate::report::{Report, ShardInfo, SourceInfo, ToolInfo, SCHEMA_VERSION};
use crate::source::StreamOpener;

/// The run's stops, placed on the stream, and (with `--shard`) what the report says of the
/// shard: the stops are then only the shard's.
pub(super) fn resolve_all(
    plan: &CheckPlan,
    shape: &StreamShape,
) -> Result<(Vec<ResolvedStop>, Option<ShardInfo>), CheckError> {
    let mut stops = Vec::new();
    for m in &plan.moments {
        stops.extend(moment::resolve(
            m,
            shape,
            plan.config.bucket_seconds,
            plan.seed,
        )?);
    }
    let Some(shard) = plan.shard else {
        return Ok((stops, None));
    };
    let info = ShardInfo {
        index: shard.index,
        count: shard.count,
        moments: stops.len(),
        settings: plan.settings.len(),
    };
    if shard.share(stops.len()) == 0 {
        return Err(CheckError::EmptyShard {
            shard,
            moments: stops.len(),
        });
    }
    let mine = stops
        .into_iter()
        .enumerate()
        .filter(|(i, _)| shard.owns(*i))
        .map(|(_, s)| s)
        .collect();
    Ok((mine, Some(info)))
}

pub(super) fn new_report(source: SourceInfo, shard: Option<ShardInfo>) -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::default(),
        source,
        shard,
        scenarios: Vec::new(),
        exit_code: 0,
    }
}

pub(super) fn source_info(
    opener: &dyn StreamOpener,
    datagrams: u64,
    lines: u64,
    samples: u64,
) -> SourceInfo {
    // The whole source was read: what its reader skipped, and where a truncated file ends.
    let read = opener.read_stats();
    SourceInfo {
        kind: opener.kind().into(),
        description: opener.description(),
        packets: datagrams,
        lines,
        samples,
        truncated_at: read.as_ref().and_then(|r| r.truncated_at),
        read,
    }
}

/// Seconds with millisecond precision, so reports are stable and readable.
pub(super) fn round_ms(ns: u64) -> f64 {
    (ns / 1_000_000) as f64 / 1000.0
}

/// The stream's datagrams, lines and samples, read in full (the socket check sends the
/// stream once per scenario on the real clock; one more read costs nothing beside that).
pub(super) fn survey(
    opener: &dyn StreamOpener,
    config: &PipelineConfig,
) -> Result<(StreamShape, SourceInfo), CheckError> {
    let (mut lines, mut samples) = (0u64, 0u64);
    let shape = shape_with(opener, &mut |d| {
        let (l, s) = crate::verify::ledger::datagram_size(&d.payload, config.buffer_size);
        lines += l;
        samples += s;
    })?;
    let info = source_info(opener, shape.datagrams, lines, samples);
    Ok((shape, info))
}
