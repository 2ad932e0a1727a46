//! `inspect`: what a source holds — datagrams, lines, per-type counts, contexts, time span,
//! rejected lines with reasons, largest datagram. The JSON shape is fixed by cli.md; the text
//! and the JSON the user sees are [`crate::output::inspect`].

use crate::pipeline::sample::Context;
use crate::protocol::{self, Line, MetricType};
use crate::source::{Stream, StreamError};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rejection {
    pub reason: &'static str,
    pub count: u64,
    /// The first line rejected for this reason (cut to 200 bytes).
    pub example: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Inspection {
    pub datagrams: u64,
    pub bytes: u64,
    /// Non-empty lines.
    pub lines: u64,
    pub rejected: u64,
    /// Well-formed metric lines by type code.
    pub metrics_by_type: BTreeMap<&'static str, u64>,
    /// Metric values (each value of a multi-value line counts).
    pub samples: u64,
    /// Metric values by type code: what `check` counts as sent per type.
    pub samples_by_type: BTreeMap<&'static str, u64>,
    pub events: u64,
    pub service_checks: u64,
    pub contexts: u64,
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
    pub rejections: Vec<Rejection>,
    pub largest_datagram: u64,
    /// Datagrams longer than the server's read buffer (8192 bytes by default).
    pub oversize_datagrams: u64,
}

/// Reads the whole stream; `buffer_size` is the read buffer of the server being modelled.
pub fn inspect(stream: Stream<'_>, buffer_size: usize) -> Result<Inspection, StreamError> {
    let mut r = Inspection::default();
    for t in MetricType::ALL {
        r.metrics_by_type.insert(t.code(), 0);
        r.samples_by_type.insert(t.code(), 0);
    }
    let mut contexts: HashSet<u64> = HashSet::new();
    let mut rejections: BTreeMap<&'static str, Rejection> = BTreeMap::new();
    for d in stream {
        let d = d?;
        if r.datagrams == 0 {
            r.first_ts_ns = d.ts_ns;
        }
        r.datagrams += 1;
        r.last_ts_ns = r.last_ts_ns.max(d.ts_ns);
        r.bytes += d.payload.len() as u64;
        r.largest_datagram = r.largest_datagram.max(d.payload.len() as u64);
        if d.payload.len() > buffer_size {
            r.oversize_datagrams += 1;
        }
        for line in protocol::split_lines(&d.payload) {
            r.lines += 1;
            match protocol::parse_line(line) {
                Ok(Line::Metric(m)) => {
                    *r.metrics_by_type.entry(m.metric_type.code()).or_default() += 1;
                    r.samples += m.value_count as u64;
                    *r.samples_by_type.entry(m.metric_type.code()).or_default() +=
                        m.value_count as u64;
                    contexts.insert(Context::new(m.name, m.tags(), "").key);
                }
                Ok(Line::Event(_)) => r.events += 1,
                Ok(Line::ServiceCheck(_)) => r.service_checks += 1,
                Err(reason) => {
                    r.rejected += 1;
                    rejections
                        .entry(reason.as_str())
                        .or_insert_with(|| Rejection {
                            reason: reason.as_str(),
                            count: 0,
                            example: String::from_utf8_lossy(&line[..line.len().min(200)])
                                .into_owned(),
                        })
                        .count += 1;
                }
            }
        }
    }
    r.contexts = contexts.len() as u64;
    r.rejections = rejections.into_values().collect();
    Ok(r)
}
