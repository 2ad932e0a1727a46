//! What `lastbucket record` says on stderr when it stops: what it wrote where, kernel drops,
//! and what it did not write whole.

use super::serve::kernel_drops_text;
use crate::record::RecordStats;
use crate::source::OutputFormat;
use std::fmt::Write;
use std::path::Path;

/// The summary of a recording into `output` as `format`; `udp` for a UDP listener (the only
/// kind whose kernel drops mean loss), `buffer_size` the read buffer datagrams were cut to.
pub fn summary(
    stats: &RecordStats,
    output: &Path,
    format: OutputFormat,
    udp: bool,
    buffer_size: usize,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "wrote {} datagrams ({} bytes) to {} as {format}; kernel drops: {}",
        stats.datagrams,
        stats.bytes,
        output.display(),
        kernel_drops_text(udp, stats.kernel_drops, stats.kernel_drops_scope)
    );
    if stats.not_written > 0 {
        let _ = writeln!(
            o,
            "{} more datagrams arrived after the count and were not written",
            stats.not_written
        );
    }
    if stats.truncated > 0 {
        let _ = writeln!(
            o,
            "{} datagrams were longer than --buffer-size {buffer_size} and were cut",
            stats.truncated
        );
    }
    o
}
