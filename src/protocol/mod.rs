//! The DogStatsD wire format: splitting packets into lines and parsing each line into borrowed,
//! typed items (metric samples, events, service checks) or a typed rejection.
//!
//! Everything here borrows from the packet (zero-copy): parsing a line allocates nothing, so the
//! workers' hot path stays allocation-free. Owned copies are made later, only where a sample is
//! kept (the samplers' context table).

mod event;
mod lines;
mod metric;
mod number;
mod reject;
mod service_check;
mod types;

pub use event::{parse_event, unescape_event_text};
pub use lines::{classify, cut_lines, split_lines, LineKind};
pub use metric::parse_metric;
pub use reject::{rejected_line_type, RejectReason};
pub use service_check::parse_service_check;
pub use types::*;

/// Parses one line (already split off its packet, without `\n`/trailing `\r`).
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, RejectReason> {
    match classify(line) {
        LineKind::Event => parse_event(line).map(Line::Event),
        LineKind::ServiceCheck => parse_service_check(line).map(Line::ServiceCheck),
        LineKind::Metric => parse_metric(line).map(Line::Metric),
    }
}
