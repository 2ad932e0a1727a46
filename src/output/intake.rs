//! The summary `lastbucket intake` prints when it stops: payloads and items by endpoint,
//! unknown endpoints, and every payload that could not be decoded.

use crate::intake::Received;
use std::fmt::Write;

/// The summary, one line per fact, for stderr.
pub fn summary(r: &Received) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "stopped: {} payloads, {} items, {} unknown-endpoint requests, {} errors",
        r.payload_total(),
        r.item_total(),
        r.unknown_total(),
        r.errors.len()
    );
    for (path, c) in &r.payloads {
        let _ = writeln!(
            out,
            "  {path:<22} payloads={} items={}",
            c.payloads, c.items
        );
    }
    for (path, n) in &r.unknown {
        let _ = writeln!(out, "  unknown endpoint {path} requests={n}");
    }
    if r.without_api_key > 0 {
        let _ = writeln!(
            out,
            "  requests without a DD-API-KEY header: {}",
            r.without_api_key
        );
    }
    for e in &r.errors {
        let _ = writeln!(out, "  error: {e}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::decode_error::{DecodeError, Within};
    use crate::intake::EndpointCounts;

    #[test]
    fn the_summary_names_endpoints_unknowns_and_errors() {
        let mut r = Received::default();
        r.payloads.insert(
            "/api/v2/series".into(),
            EndpointCounts {
                payloads: 2,
                items: 5,
            },
        );
        r.unknown.insert("/api/v2/logs".into(), 1);
        r.errors.push(DecodeError::new(
            "/api/beta/sketches",
            7,
            Within::Decoded,
            "invalid protobuf: truncated",
        ));
        let s = summary(&r);
        assert!(
            s.starts_with("stopped: 2 payloads, 5 items, 1 unknown-endpoint requests, 1 errors"),
            "{s}"
        );
        assert!(
            s.contains("/api/v2/series         payloads=2 items=5"),
            "{s}"
        );
        assert!(
            s.contains("unknown endpoint /api/v2/logs requests=1"),
            "{s}"
        );
        assert!(s.contains("error: /api/beta/sketches: invalid protobuf: truncated (at byte 7 of the decompressed body)"), "{s}");
    }
}
