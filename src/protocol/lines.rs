//! STUB
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind { Metric, Event, ServiceCheck }
pub fn split_lines(packet: &[u8]) -> impl Iterator<Item = &[u8]> {
    packet.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).filter(|l| !l.is_empty())
}
pub fn classify(line: &[u8]) -> LineKind {
    if line.starts_with(b"_e{") { LineKind::Event } else if line.starts_with(b"_sc|") { LineKind::ServiceCheck } else { LineKind::Metric }
}
