//! A worker: takes a batch of packets, splits each into lines, parses every line, turns metric
//! values into samples (resolving their context) and appends them to its own batcher; events and
//! service checks too. After each batch it flushes its batcher, as the reference's
//! `parsePackets` does, so between batches the batcher holds nothing.

use crate::pipeline::batcher::{BatchSink, Batcher};
use crate::pipeline::clock::secs;
use crate::pipeline::flushed::{EventItem, ServiceCheckItem};
use crate::pipeline::packet::{Packet, Segment};
use crate::pipeline::sample::{Context, ContextCache, Sample, SampleId, SampleValue};
use crate::protocol::{self, Line, MetricValue, RejectReason};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkerCounters {
    pub batches: u64,
    pub packets: u64,
    pub datagrams: u64,
    pub lines: u64,
    pub metric_lines: u64,
    pub samples: u64,
    pub events: u64,
    pub service_checks: u64,
    pub rejected_lines: u64,
    pub rejected_by_reason: BTreeMap<RejectReason, u64>,
}

impl WorkerCounters {
    pub fn add(&mut self, o: &WorkerCounters) {
        self.batches += o.batches;
        self.packets += o.packets;
        self.datagrams += o.datagrams;
        self.lines += o.lines;
        self.metric_lines += o.metric_lines;
        self.samples += o.samples;
        self.events += o.events;
        self.service_checks += o.service_checks;
        self.rejected_lines += o.rejected_lines;
        for (r, n) in &o.rejected_by_reason {
            *self.rejected_by_reason.entry(*r).or_default() += n;
        }
    }
}

#[derive(Debug, Clone)]
pub struct Worker {
    pub batcher: Batcher,
    cache: ContextCache,
    hostname: String,
    pub counters: WorkerCounters,
}

impl Worker {
    pub fn new(batcher: Batcher, hostname: &str) -> Worker {
        Worker {
            batcher,
            cache: ContextCache::default(),
            hostname: hostname.to_string(),
            counters: WorkerCounters::default(),
        }
    }

    /// Parses a batch of packets and flushes the batcher.
    pub fn process_batch(&mut self, batch: Vec<Packet>, sink: &mut dyn BatchSink) {
        self.counters.batches += 1;
        for packet in &batch {
            self.counters.packets += 1;
            for (segment, bytes) in packet.datagrams() {
                self.counters.datagrams += 1;
                self.process_datagram(segment, bytes, sink);
            }
        }
        self.batcher.flush(sink);
    }

    fn process_datagram(&mut self, segment: &Segment, bytes: &[u8], sink: &mut dyn BatchSink) {
        for (line_idx, line) in protocol::split_lines(bytes).enumerate() {
            self.counters.lines += 1;
            match protocol::parse_line(line) {
                Err(reason) => {
                    self.counters.rejected_lines += 1;
                    *self.counters.rejected_by_reason.entry(reason).or_default() += 1;
                }
                Ok(Line::Metric(m)) => {
                    self.counters.metric_lines += 1;
                    let context = self.cache.resolve(m.name, m.raw_tags, &self.hostname);
                    for (value_idx, value) in m.values().enumerate() {
                        self.counters.samples += 1;
                        let value = match value {
                            MetricValue::Number(v) => SampleValue::Number(v),
                            MetricValue::Set(s) => SampleValue::Set(s.into()),
                        };
                        let sample = Sample {
                            key: context.key,
                            context: context.clone(),
                            metric_type: m.metric_type,
                            value,
                            sample_rate: m.sample_rate,
                            arrival_ns: segment.ts_ns,
                            timestamp: m.timestamp,
                            id: SampleId {
                                datagram: segment.datagram,
                                line: line_idx as u32,
                                value: value_idx as u32,
                            },
                        };
                        self.batcher.append_sample(sample, sink);
                    }
                }
                Ok(Line::Event(e)) => {
                    self.counters.events += 1;
                    let ctx =
                        Context::new(e.title, protocol::split_tags(e.raw_tags), &self.hostname)
                            .with_explicit_host(e.hostname);
                    self.batcher.append_event(EventItem {
                        title: protocol::unescape_event_text(e.title).into_owned(),
                        text: protocol::unescape_event_text(e.text).into_owned(),
                        ts: e.timestamp.unwrap_or_else(|| secs(segment.ts_ns)),
                        host: ctx.host,
                        tags: ctx.tags,
                        aggregation_key: e.aggregation_key.map(str::to_string),
                        // The reference's defaults when the line sets none (or an invalid one).
                        priority: Some(e.priority.unwrap_or("normal").to_string()),
                        source_type_name: e.source_type.map(str::to_string),
                        alert_type: Some(e.alert_type.unwrap_or("info").to_string()),
                    });
                }
                Ok(Line::ServiceCheck(c)) => {
                    self.counters.service_checks += 1;
                    let ctx =
                        Context::new(c.name, protocol::split_tags(c.raw_tags), &self.hostname)
                            .with_explicit_host(c.hostname);
                    self.batcher.append_service_check(ServiceCheckItem {
                        check: c.name.to_string(),
                        status: c.status,
                        ts: c.timestamp.unwrap_or_else(|| secs(segment.ts_ns)),
                        host: ctx.host,
                        tags: ctx.tags,
                        message: c.message.map(str::to_string),
                    });
                }
            }
        }
    }
}
