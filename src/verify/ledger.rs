//! The ledger: every sample handed to the pipeline, recorded from the same bytes the listener
//! read, independently of the pipeline. One entry per metric value, event, service check, or
//! rejected line, in arrival order.

use crate::pipeline::clock::secs;
use crate::pipeline::packet::DatagramId;
use crate::pipeline::sample::{Context, ContextCache, SampleId, SampleValue};
use crate::protocol::{self, Line, MetricType, MetricValue};
use std::sync::Arc;

/// What a ledger entry is, for per-type accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    Metric(MetricType),
    Event,
    ServiceCheck,
    /// A rejected line whose type could not be read.
    Invalid,
}

impl EntryType {
    /// The key of `by_type` in reports.
    pub fn name(self) -> &'static str {
        match self {
            EntryType::Metric(t) => t.name(),
            EntryType::Event => "event",
            EntryType::ServiceCheck => "service_check",
            EntryType::Invalid => "invalid",
        }
    }

    /// Every type in report order.
    pub fn all() -> Vec<EntryType> {
        let mut v: Vec<EntryType> = MetricType::ALL
            .iter()
            .map(|t| EntryType::Metric(*t))
            .collect();
        v.extend([
            EntryType::Event,
            EntryType::ServiceCheck,
            EntryType::Invalid,
        ]);
        v
    }
}

/// One metric value as sent.
#[derive(Debug, Clone)]
pub struct MetricEntry {
    pub context: Arc<Context>,
    pub metric_type: MetricType,
    pub value: SampleValue,
    pub sample_rate: f64,
    /// Arrival second: decides the bucket.
    pub arrival_s: i64,
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone)]
pub enum EntryBody {
    Metric(MetricEntry),
    /// An event: the identity it is matched on in the output (title, ts, host, tags).
    Event {
        title: String,
        /// The text as the server unescapes it (`\\n` → newline).
        text: String,
        ts: i64,
        host: String,
        tags: Vec<String>,
    },
    ServiceCheck {
        name: String,
        status: u8,
        /// The `m:` message, empty without one.
        message: String,
        ts: i64,
        host: String,
        tags: Vec<String>,
    },
    Rejected {
        reason: &'static str,
        line: String,
    },
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: SampleId,
    pub entry_type: EntryType,
    pub body: EntryBody,
    /// Sent in a line the listener's read buffer cut off: never read, lost at the socket.
    pub cut: bool,
}

/// Every sample handed to the pipeline.
#[derive(Debug, Default)]
pub struct Ledger {
    pub entries: Vec<Entry>,
    pub datagrams: u64,
    pub lines: u64,
    cache: ContextCache,
}

/// Longest rejected line kept for examples.
const LINE_EXAMPLE_MAX: usize = 200;

impl Ledger {
    /// Records a datagram as the listener reads it: cut to `buffer_size`, as the reference's
    /// read into a buffer of that size cuts it.
    /// Records a datagram handed to a pipeline with `config` (its read buffer and hostname).
    pub fn record_datagram(
        &mut self,
        datagram: DatagramId,
        d: &crate::source::Datagram,
        config: &crate::pipeline::PipelineConfig,
    ) {
        self.record(
            datagram,
            d.ts_ns,
            &d.payload,
            config.buffer_size,
            &config.hostname,
        );
    }

    pub fn record(
        &mut self,
        datagram: DatagramId,
        ts_ns: u64,
        payload: &[u8],
        buffer_size: usize,
        hostname: &str,
    ) {
        self.datagrams += 1;
        let read = &payload[..payload.len().min(buffer_size)];
        let arrival_s = secs(ts_ns);
        let mut read_lines = 0;
        for (line_idx, line) in protocol::split_lines(read).enumerate() {
            self.lines += 1;
            read_lines += 1;
            self.record_line(datagram, line_idx as u32, line, arrival_s, hostname, false);
        }
        for (i, line) in protocol::cut_lines(payload, buffer_size).enumerate() {
            let line_idx = read_lines + i as u32;
            self.record_line(datagram, line_idx, line, arrival_s, hostname, true);
        }
    }

    /// Records the samples of one line (or its rejection); `cut`: a line the read buffer cut
    /// off, sent but never read.
    fn record_line(
        &mut self,
        datagram: DatagramId,
        line_idx: u32,
        line: &[u8],
        arrival_s: i64,
        hostname: &str,
        cut: bool,
    ) {
        let id = |value: usize| SampleId {
            datagram,
            line: line_idx,
            value: value as u32,
        };
        match protocol::parse_line(line) {
            Err(reason) => {
                let text =
                    String::from_utf8_lossy(&line[..line.len().min(LINE_EXAMPLE_MAX)]).into_owned();
                let entry_type = protocol::rejected_line_type(line)
                    .map_or(EntryType::Invalid, EntryType::Metric);
                self.entries.push(Entry {
                    id: id(0),
                    entry_type,
                    body: EntryBody::Rejected {
                        reason: reason.as_str(),
                        line: text,
                    },
                    cut,
                });
            }
            Ok(Line::Metric(m)) => {
                let context = self.cache.resolve(m.name, m.raw_tags, hostname);
                for (i, v) in m.values().enumerate() {
                    let value = match v {
                        MetricValue::Number(n) => SampleValue::Number(n),
                        MetricValue::Set(s) => SampleValue::Set(s.into()),
                    };
                    self.entries.push(Entry {
                        id: id(i),
                        entry_type: EntryType::Metric(m.metric_type),
                        body: EntryBody::Metric(MetricEntry {
                            context: context.clone(),
                            metric_type: m.metric_type,
                            value,
                            sample_rate: m.sample_rate,
                            arrival_s,
                            timestamp: m.timestamp,
                        }),
                        cut,
                    });
                }
            }
            Ok(Line::Event(e)) => {
                let c = Context::new(e.title, protocol::split_tags(e.raw_tags), hostname)
                    .with_explicit_host(e.hostname);
                self.entries.push(Entry {
                    id: id(0),
                    entry_type: EntryType::Event,
                    body: EntryBody::Event {
                        title: protocol::unescape_event_text(e.title).into_owned(),
                        text: protocol::unescape_event_text(e.text).into_owned(),
                        ts: e.timestamp.unwrap_or(arrival_s),
                        host: c.host,
                        tags: c.tags,
                    },
                    cut,
                });
            }
            Ok(Line::ServiceCheck(s)) => {
                let c = Context::new(s.name, protocol::split_tags(s.raw_tags), hostname)
                    .with_explicit_host(s.hostname);
                self.entries.push(Entry {
                    id: id(0),
                    entry_type: EntryType::ServiceCheck,
                    body: EntryBody::ServiceCheck {
                        name: s.name.to_string(),
                        status: s.status,
                        message: s.message.unwrap_or_default().to_string(),
                        ts: s.timestamp.unwrap_or(arrival_s),
                        host: c.host,
                        tags: c.tags,
                    },
                    cut,
                });
            }
        }
    }
}
