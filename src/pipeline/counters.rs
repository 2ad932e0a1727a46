//! Stage counters: for each stage what it received, passed on and dropped. The verifier uses
//! them to attribute loss to a stage; [`StageCounters::check`] says whether they add up.
//!
//! The struct's serde form is the one definition of what the counters are called: the JSON
//! report's `stage_counters` and `serve --stats-json` are that form, and every rendering for
//! people is read from it too ([`StageCounters::rows`], [`flow`]), so a counter added to a
//! stage's struct is shown everywhere without a line anywhere else.

use crate::pipeline::batcher::BatcherCounters;
use crate::pipeline::no_aggregation::NoAggCounters;
use crate::pipeline::packet::{DatagramId, Packet};
use crate::pipeline::sample::SampleId;
use crate::pipeline::sampler::{DroppedBucket, SamplerCounters};
use crate::pipeline::worker::WorkerCounters;
use crate::protocol::{self, Line};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListenerCounters {
    pub datagrams: u64,
    pub bytes: u64,
    /// Datagrams longer than the read buffer, cut to `buffer_size` as the reference's read is.
    pub truncated_datagrams: u64,
    /// Datagrams the kernel dropped before they were read (real sockets only).
    pub kernel_dropped: u64,
}

impl ListenerCounters {
    pub fn add(&mut self, o: &ListenerCounters) {
        self.datagrams += o.datagrams;
        self.bytes += o.bytes;
        self.truncated_datagrams += o.truncated_datagrams;
        self.kernel_dropped += o.kernel_dropped;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AssemblerCounters {
    pub datagrams_in: u64,
    pub packets_out: u64,
}

impl AssemblerCounters {
    pub fn add(&mut self, o: &AssemblerCounters) {
        self.datagrams_in += o.datagrams_in;
        self.packets_out += o.packets_out;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PacketsBufferCounters {
    pub packets_in: u64,
    pub batches_out: u64,
    /// Batches handed over when the listener stopped.
    pub batches_on_close: u64,
}

impl PacketsBufferCounters {
    pub fn add(&mut self, o: &PacketsBufferCounters) {
        self.packets_in += o.packets_in;
        self.batches_out += o.batches_out;
        self.batches_on_close += o.batches_on_close;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounters {
    pub batches_in: u64,
    pub batches_out: u64,
    /// Batches taken by workers draining on stop.
    pub batches_drained: u64,
    pub batches_dropped: u64,
    pub packets_dropped: u64,
    pub datagrams_dropped: u64,
    /// Non-empty lines of the dropped datagrams, as the workers would have split them.
    pub lines_dropped: u64,
    /// Samples of the dropped lines: each metric value, each event, each service check.
    pub samples_dropped: u64,
    /// Dropped lines that do not parse (counted in `lines_dropped`, not in `samples_dropped`).
    pub rejected_lines_dropped: u64,
}

impl QueueCounters {
    /// Counts a batch dropped at stop in every unit the report uses, splitting and parsing its
    /// lines as a worker would have; nothing of it reaches a sampler.
    pub fn count_dropped(&mut self, batch: &[Packet]) {
        self.batches_dropped += 1;
        for packet in batch {
            self.packets_dropped += 1;
            for (_, bytes) in packet.datagrams() {
                self.datagrams_dropped += 1;
                for line in protocol::split_lines(bytes) {
                    self.lines_dropped += 1;
                    match protocol::parse_line(line) {
                        Ok(Line::Metric(m)) => self.samples_dropped += m.values().count() as u64,
                        Ok(Line::Event(_) | Line::ServiceCheck(_)) => self.samples_dropped += 1,
                        Err(_) => self.rejected_lines_dropped += 1,
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlushCounters {
    pub flushes: u64,
    pub series_points: u64,
    pub sketch_points: u64,
    pub events: u64,
    pub service_checks: u64,
}

/// Every stage's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StageCounters {
    pub listener: ListenerCounters,
    pub assembler: AssemblerCounters,
    pub packets_buffer: PacketsBufferCounters,
    pub queue: QueueCounters,
    pub workers: WorkerCounters,
    pub batcher: BatcherCounters,
    pub no_aggregation: NoAggCounters,
    pub samplers: SamplerCounters,
    /// Samples in buckets still open at the final flush and dropped with them.
    pub open_bucket_samples_dropped: u64,
    pub flush: FlushCounters,
}

/// Which items each stage dropped, by identity, so the verifier can predict the flushed output
/// given exactly those losses.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Losses {
    /// Datagrams whose packets were still queued when the workers exited.
    pub queue: Vec<DatagramId>,
    /// Buckets not flushed at stop.
    pub open_buckets: Vec<DroppedBucket>,
    pub context_limit: Vec<SampleId>,
    /// Samples the samplers refused for a NaN or infinite value.
    pub non_finite: Vec<SampleId>,
    /// Timestamped samples of a type the no-aggregation path does not support.
    pub unsupported_timestamped: Vec<SampleId>,
}

impl StageCounters {
    /// The conservation laws between stages; each broken law is described.
    pub fn check(&self) -> Vec<String> {
        let mut broken = Vec::new();
        let mut law = |ok: bool, what: String| {
            if !ok {
                broken.push(what);
            }
        };
        let q = &self.queue;
        law(
            q.batches_in == q.batches_out + q.batches_drained + q.batches_dropped,
            format!(
                "queue: {} batches in != {} out + {} drained + {} dropped",
                q.batches_in, q.batches_out, q.batches_drained, q.batches_dropped
            ),
        );
        law(
            self.workers.datagrams + q.datagrams_dropped == self.listener.datagrams,
            format!(
                "workers parsed {} datagrams + {} dropped in queue != {} read",
                self.workers.datagrams, q.datagrams_dropped, self.listener.datagrams
            ),
        );
        law(
            self.batcher.samples_in == self.workers.samples,
            format!(
                "batcher got {} samples, workers made {}",
                self.batcher.samples_in, self.workers.samples
            ),
        );
        law(
            self.batcher.samples_in == self.batcher.samples_out,
            format!(
                "batcher: {} in, {} out",
                self.batcher.samples_in, self.batcher.samples_out
            ),
        );
        law(
            self.batcher.samples_out == self.samplers.samples_in + self.no_aggregation.samples_in,
            format!(
                "batcher handed {} samples, samplers got {} and no-aggregation {}",
                self.batcher.samples_out, self.samplers.samples_in, self.no_aggregation.samples_in
            ),
        );
        law(
            self.samplers.samples_in
                == self.samplers.aggregated
                    + self.samplers.dropped_context_limit
                    + self.samplers.dropped_non_finite,
            format!(
                "samplers: {} in != {} aggregated + {} over the context limit + {} non-finite",
                self.samplers.samples_in,
                self.samplers.aggregated,
                self.samplers.dropped_context_limit,
                self.samplers.dropped_non_finite
            ),
        );
        broken
    }
}

/// One stage's counters, as every rendering for people lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRow {
    /// The stage's key in the serde form (`packets_buffer`), or the key of a counter that
    /// stands alone at the top (`open_bucket_samples_dropped`).
    pub stage: String,
    /// The stage's counters in the order of its fields, named as in the serde form; a table of
    /// counters (`rejected_by_reason`) gives `table.key`. A counter that stands alone is one
    /// counter with an empty name.
    pub counters: Vec<(String, u64)>,
}

impl StageCounters {
    /// Every stage's counters in the order of the fields (the order a datagram meets the
    /// stages), read from the serde form: a field added to any stage's struct is a row here.
    pub fn rows(&self) -> Vec<StageRow> {
        // serde_json writes the fields in their order (its `Value` would sort the keys), and
        // `Ordered` reads them back in it. Neither can fail on this struct (every key is a
        // string); the test below holds that every counter of the serde form is in a row.
        let ordered =
            serde_json::to_string(self).and_then(|text| serde_json::from_str::<Ordered>(&text));
        let Ok(Ordered::Table(stages)) = ordered else {
            return Vec::new();
        };
        stages
            .into_iter()
            .map(|(stage, value)| {
                let mut counters = Vec::new();
                flatten(String::new(), value, &mut counters);
                StageRow { stage, counters }
            })
            .collect()
    }
}

/// The counters under `value`, named by their path below the stage (`table.key`).
fn flatten(name: String, value: Ordered, out: &mut Vec<(String, u64)>) {
    match value {
        Ordered::Count(n) => out.push((name, n)),
        Ordered::Table(entries) => {
            for (key, value) in entries {
                let path = if name.is_empty() {
                    key
                } else {
                    format!("{name}.{key}")
                };
                flatten(path, value, out);
            }
        }
        Ordered::Other => {}
    }
}

/// A JSON value read with its keys in the order they were written: counters, tables of them,
/// and anything else (which no row shows).
enum Ordered {
    Count(u64),
    Table(Vec<(String, Ordered)>),
    Other,
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stage counters")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Ordered, E> {
        Ok(Ordered::Count(n))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, Ordered>()? {
            entries.push(entry);
        }
        Ok(Ordered::Table(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Ordered::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Ordered, E> {
        Ok(Ordered::Other)
    }
}

/// The flow of datagrams through the stages, as the terminal report's stage table shows it: a
/// column's label and the counters it sums, each a stage and a counter of the serde form.
pub const FLOW: [(&str, &[(&str, &str)]); 9] = [
    ("datagrams", &[("listener", "datagrams")]),
    ("packets", &[("packets_buffer", "packets_in")]),
    ("batches", &[("queue", "batches_in")]),
    ("queue dropped", &[("queue", "samples_dropped")]),
    ("lines parsed", &[("workers", "lines")]),
    ("metric samples", &[("workers", "samples")]),
    ("rejected", &[("workers", "rejected_lines")]),
    (
        "to samplers",
        &[("samplers", "samples_in"), ("no_aggregation", "samples_in")],
    ),
    (
        "flushed points",
        &[("flush", "series_points"), ("flush", "sketch_points")],
    ),
];

/// The [`FLOW`] columns of stage counters in their serde form (a report's `stage_counters`,
/// which a merged report read back from JSON holds too): each label and its sum.
pub fn flow(counters: &serde_json::Value) -> impl Iterator<Item = (&'static str, u64)> + '_ {
    FLOW.iter().map(|(label, sources)| {
        let sum = sources
            .iter()
            .filter_map(|(stage, counter)| counters.get(stage)?.get(counter)?.as_u64())
            .sum();
        (*label, sum)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_batch_counts_lines_and_samples_as_workers_split_them() {
        let mut packed = Packet::single(0, 1, b"a:1:2:3|h\r\n\nb:1|c\n");
        packed.push(1, 1, b"_e{1,1}:t|x\n_sc|check|0");
        let batch = vec![
            packed,
            Packet::single(2, 1, b"not a metric\ns:u1|s\n\n"),
            Packet::single(3, 1, b""),
        ];
        let mut q = QueueCounters::default();
        q.count_dropped(&batch);
        assert_eq!(
            (q.batches_dropped, q.packets_dropped, q.datagrams_dropped),
            (1, 3, 4)
        );
        // Lines: a, b, the event, the service check, the bad line, s (empty ones skipped).
        assert_eq!(q.lines_dropped, 6);
        // Samples: 3 values of a, b, the event, the service check, one set value.
        assert_eq!(q.samples_dropped, 7);
        assert_eq!(q.rejected_lines_dropped, 1);
    }

    /// Every counter of the serde form, and nothing else, is in a row, in the fields' order.
    #[test]
    fn rows_are_the_serde_form_in_field_order() {
        let mut c = StageCounters::default();
        c.queue.batches_in = 3;
        c.open_bucket_samples_dropped = 5;
        c.workers
            .rejected_by_reason
            .insert(crate::protocol::RejectReason::EmptyName, 2);
        let rows = c.rows();
        let stages: Vec<&str> = rows.iter().map(|r| r.stage.as_str()).collect();
        assert_eq!(
            stages,
            [
                "listener",
                "assembler",
                "packets_buffer",
                "queue",
                "workers",
                "batcher",
                "no_aggregation",
                "samplers",
                "open_bucket_samples_dropped",
                "flush"
            ]
        );
        let mut leaves = Vec::new();
        fn leaves_of(path: String, v: &serde_json::Value, out: &mut Vec<(String, u64)>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, v) in m {
                        let p = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        leaves_of(p, v, out);
                    }
                }
                other => out.push((path, other.as_u64().expect("every counter is a u64"))),
            }
        }
        leaves_of(
            String::new(),
            &serde_json::to_value(&c).unwrap(),
            &mut leaves,
        );
        let mut from_rows: Vec<(String, u64)> = rows
            .iter()
            .flat_map(|r| {
                r.counters.iter().map(|(name, n)| match name.as_str() {
                    "" => (r.stage.clone(), *n),
                    _ => (format!("{}.{name}", r.stage), *n),
                })
            })
            .collect();
        leaves.sort();
        from_rows.sort();
        assert_eq!(from_rows, leaves);
        let queue = &rows[3].counters;
        assert_eq!(queue[0], ("batches_in".to_string(), 3));
        assert_eq!(queue[1].0, "batches_out");
        assert!(rows[4]
            .counters
            .contains(&("rejected_by_reason.empty_name".to_string(), 2)));
        assert_eq!(rows[8].counters, [(String::new(), 5)]);
    }

    /// Every counter the terminal's stage table sums is one of the serde form.
    #[test]
    fn flow_names_counters_that_exist() {
        let c = serde_json::to_value(StageCounters::default()).unwrap();
        for (label, sources) in FLOW {
            for (stage, counter) in sources {
                assert!(
                    c.get(stage).and_then(|s| s.get(counter)).is_some(),
                    "{label}: no counter {stage}.{counter}"
                );
            }
        }
        let mut c = StageCounters::default();
        c.flush.series_points = 2;
        c.flush.sketch_points = 3;
        let flushed = flow(&serde_json::to_value(&c).unwrap()).last();
        assert_eq!(flushed, Some(("flushed points", 5)));
    }
}
