//! Splitting a packet into lines and telling the three kinds of line apart.

/// Splits a packet into its lines the way the agent's workers do (`nextMessage`/`ScanLines` in
/// `comp/dogstatsd/server/impl/server.go`): split on `\n`, drop one trailing `\r` from each
/// line, skip lines that are empty after that. A missing final newline is fine, and so is a
/// newline after every datagram (the packet assembler joins UDP datagrams with `\n`, so empty
/// lines are common). Borrows from `packet`; allocates nothing.
///
/// The agent's optional `dogstatsd_eol_required` mode (drop an unterminated last line) is not
/// modelled here; it is off by default for every transport.
pub fn split_lines(packet: &[u8]) -> impl Iterator<Item = &[u8]> {
    packet
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
}

/// The lines of a datagram that do not fit whole in a read buffer of `buffer_size` bytes: the
/// client sent them, the server never reads them as sent (the last of them may reach it cut
/// short, as a different line).
pub fn cut_lines(datagram: &[u8], buffer_size: usize) -> impl Iterator<Item = &[u8]> {
    let start = datagram.as_ptr() as usize;
    // Nothing to scan for the common datagram that fits.
    let scanned = if datagram.len() > buffer_size {
        datagram
    } else {
        &datagram[..0]
    };
    split_lines(scanned)
        .filter(move |line| line.as_ptr() as usize - start + line.len() > buffer_size)
}

/// The three kinds of DogStatsD line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineKind {
    Metric,
    Event,
    ServiceCheck,
}

/// Classifies a line by its prefix, as the agent's `findMessageType` does: `_e{` is an event,
/// `_sc` a service check, anything else (garbage included) a metric.
///
/// The reference tests the 3-byte prefix `_sc`, not `_sc|`: a metric named `_sc…`
/// (`_scheduler.runs:1|c`) is parsed as a service check by the agent and rejected. We follow
/// the reference so such lines are rejected here too.
pub fn classify(line: &[u8]) -> LineKind {
    if line.starts_with(b"_e{") {
        LineKind::Event
    } else if line.starts_with(b"_sc") {
        LineKind::ServiceCheck
    } else {
        LineKind::Metric
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &[u8]) -> Vec<&[u8]> {
        split_lines(p).collect()
    }

    #[test]
    fn splits_drops_cr_and_skips_empty() {
        assert_eq!(lines(b"a:1|c\nb:2|g"), vec![&b"a:1|c"[..], b"b:2|g"]);
        assert_eq!(lines(b"a:1|c\r\nb:2|g\r\n"), vec![&b"a:1|c"[..], b"b:2|g"]);
        assert_eq!(lines(b"\n\na:1|c\n\n\r\n"), vec![&b"a:1|c"[..]]);
        assert_eq!(lines(b"a\r\r\n"), vec![&b"a\r"[..]]); // only one `\r` is dropped
        assert!(lines(b"").is_empty());
        assert!(lines(b"\n\r\n\r").is_empty());
    }

    #[test]
    fn classifies_by_prefix() {
        assert_eq!(classify(b"_e{1,1}:a|b"), LineKind::Event);
        assert_eq!(classify(b"_sc|x|0"), LineKind::ServiceCheck);
        assert_eq!(classify(b"_scheduler:1|c"), LineKind::ServiceCheck);
        assert_eq!(classify(b"_e:1|c"), LineKind::Metric);
        assert_eq!(classify(b"_s"), LineKind::Metric);
        assert_eq!(classify(b"garbage"), LineKind::Metric);
        assert_eq!(classify(b""), LineKind::Metric);
    }
}
