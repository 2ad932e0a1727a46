//! The datagram/line parser: any bytes split into lines, each line parsed. Never a panic; a
//! parse agrees with the line's classification; a parsed metric's values and tags iterate.
#![no_main]

use lastbucket::protocol::{
    classify, cut_lines, parse_line, rejected_line_type, split_lines, unescape_event_text, Line,
    LineKind,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a read-buffer size for `cut_lines` (the lines a short buffer cuts).
    let (buffer_size, packet) = match data.split_first() {
        Some((b, rest)) => (usize::from(*b) * 4, rest),
        None => (0, data),
    };
    for line in split_lines(packet) {
        assert!(!line.is_empty() && !line.contains(&b'\n'));
        let kind = classify(line);
        match parse_line(line) {
            Ok(Line::Metric(m)) => {
                assert_eq!(kind, LineKind::Metric);
                assert!(m.values().count() >= 1, "a metric line without a value");
                for _ in m.values() {}
                for _ in m.tags() {}
            }
            Ok(Line::Event(e)) => {
                assert_eq!(kind, LineKind::Event);
                let _ = unescape_event_text(e.title);
                let _ = unescape_event_text(e.text);
            }
            Ok(Line::ServiceCheck(_)) => assert_eq!(kind, LineKind::ServiceCheck),
            Err(reason) => {
                let _ = reason.as_str();
                let _ = rejected_line_type(line);
            }
        }
    }
    let total = split_lines(packet).count();
    assert!(cut_lines(packet, buffer_size).count() <= total);
});
