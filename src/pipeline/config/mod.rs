//! Settings of the embedded pipeline, with the reference agent's defaults and key names.
//!
//! Every size of the reference is configurable so that a user can mirror their agent's
//! `datadog.yaml`; a config file may use the agent's own key names (`dogstatsd_queue_size`, …).
//! Reading such a file is [`file`]; which keys it may carry, [`agent_keys`]; the agent's YAML,
//! [`yaml`]; its Go duration values, [`go_duration`].

pub mod agent_keys;
pub mod file;
pub mod go_duration;
pub mod yaml;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Whether workers drain what is still queued for them on stop (when the flag is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BatcherDrain {
    /// The current reference: with `flush_incomplete_buckets` on, workers parse what is still
    /// queued and flush their batchers before they exit.
    #[default]
    Auto,
    /// The reference before the change "flush worker batchers on stop": workers exit at once,
    /// everything still queued is dropped (the worst case Go's select allows).
    Never,
}

impl BatcherDrain {
    pub fn name(self) -> &'static str {
        match self {
            BatcherDrain::Auto => "auto",
            BatcherDrain::Never => "never",
        }
    }
}

impl FromStr for BatcherDrain {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(BatcherDrain::Auto),
            "never" => Ok(BatcherDrain::Never),
            other => Err(format!(
                "invalid batcher drain '{other}' (expected auto or never)"
            )),
        }
    }
}

impl fmt::Display for BatcherDrain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The settings that decide what happens on stop: the subject of the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct StopSettings {
    /// `dogstatsd_flush_incomplete_buckets`.
    pub flush_incomplete_buckets: bool,
    pub batcher_drain: BatcherDrain,
}

impl StopSettings {
    /// Whether workers drain the queue on stop: only with the flag on and `auto`.
    pub fn workers_drain(&self) -> bool {
        self.flush_incomplete_buckets && self.batcher_drain == BatcherDrain::Auto
    }
}

/// Sizes, counts and intervals of the pipeline (the agent's keys as aliases).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Read buffer of a listener; longer datagrams are truncated (`dogstatsd_buffer_size`).
    #[serde(alias = "dogstatsd_buffer_size")]
    pub buffer_size: usize,
    /// Packets per batch handed to the queue (`dogstatsd_packet_buffer_size`).
    #[serde(alias = "dogstatsd_packet_buffer_size")]
    pub packet_buffer_size: usize,
    /// Flush period of the packet assembler and the packets buffer, in ms
    /// (`dogstatsd_packet_buffer_flush_timeout`).
    #[serde(alias = "dogstatsd_packet_buffer_flush_timeout_ms")]
    pub packet_buffer_flush_timeout_ms: u64,
    /// Capacity of the queue, in batches (`dogstatsd_queue_size`).
    #[serde(alias = "dogstatsd_queue_size")]
    pub queue_size: usize,
    /// Number of workers; 0 means the reference default `max(2, cores − 2)`
    /// (`dogstatsd_workers_count`).
    #[serde(alias = "dogstatsd_workers_count")]
    pub workers: usize,
    /// Number of time-sampler shards (`dogstatsd_pipeline_count`).
    #[serde(alias = "dogstatsd_pipeline_count")]
    pub pipeline_count: usize,
    /// Samples per batcher batch before it is handed to its sampler shard.
    pub batch_size: usize,
    /// Width of a bucket in seconds (the reference: 10).
    pub bucket_seconds: i64,
    /// Period of the demultiplexer's flush, in seconds (the reference: 15).
    pub flush_interval_s: u64,
    /// How long counters keep being flushed as 0 after their last sample (`dogstatsd_expiry_seconds`).
    #[serde(alias = "dogstatsd_expiry_seconds")]
    pub expiry_seconds: i64,
    /// `histogram_aggregates`.
    pub histogram_aggregates: Vec<String>,
    /// `histogram_percentiles` (as written in the agent's config: `"0.95"`).
    pub histogram_percentiles: Vec<String>,
    /// Maximum contexts per sampler shard; 0 is unlimited (the reference default).
    #[serde(alias = "dogstatsd_context_limit")]
    pub context_limit: usize,
    /// `dogstatsd_no_aggregation_pipeline`: timestamped samples bypass aggregation.
    #[serde(alias = "dogstatsd_no_aggregation_pipeline")]
    pub no_aggregation_pipeline: bool,
    /// Hostname given to samples without a `host:` tag.
    pub hostname: String,
    /// Virtual time a batch waits in the queue before a worker takes it, in ms. 0 (default):
    /// workers keep up, so at stop the queue holds exactly what the listener stop flushed into it.
    pub queue_latency_ms: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            buffer_size: 8192,
            packet_buffer_size: 32,
            packet_buffer_flush_timeout_ms: 100,
            queue_size: 1024,
            workers: 0,
            pipeline_count: 1,
            batch_size: 32,
            bucket_seconds: 10,
            flush_interval_s: 15,
            expiry_seconds: 300,
            histogram_aggregates: ["max", "median", "avg", "count"].map(String::from).to_vec(),
            histogram_percentiles: vec!["0.95".to_string()],
            context_limit: 0,
            no_aggregation_pipeline: true,
            hostname: String::new(),
            queue_latency_ms: 0,
        }
    }
}

/// Upper bounds of the settings. Every one is far above what a real agent runs with, and each
/// keeps a preallocation or a nanosecond product from being sized by an untrusted file: the
/// packets buffer and the batchers preallocate `packet_buffer_size` and
/// `workers × pipeline_count × batch_size` slots, listeners a `buffer_size` read buffer, and
/// the timers multiply their periods into u64 nanoseconds on a clock near 1.7e18.
pub mod limits {
    /// 16 MiB: larger than any datagram a capture record can hold.
    pub const MAX_BUFFER_SIZE: usize = 16 << 20;
    pub const MAX_PACKET_BUFFER_SIZE: usize = 65_536;
    pub const MAX_QUEUE_SIZE: usize = 1 << 20;
    pub const MAX_WORKERS: usize = 1_024;
    pub const MAX_PIPELINE_COUNT: usize = 1_024;
    pub const MAX_BATCH_SIZE: usize = 65_536;
    /// Sample slots the batchers preallocate: `workers × pipeline_count × batch_size`.
    pub const MAX_BATCH_SLOTS: usize = 1 << 22;
    /// One day, for every period and latency in milliseconds.
    pub const MAX_MS: u64 = 86_400_000;
    /// One day, for the bucket width and the flush interval.
    pub const MAX_PERIOD_S: u64 = 86_400;
    /// A year of counter expiry.
    pub const MAX_EXPIRY_S: i64 = 366 * 86_400;
}

/// A configuration value out of range.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid pipeline setting {key} = {value}: {why}")]
pub struct ConfigError {
    pub key: &'static str,
    pub value: String,
    pub why: &'static str,
}

impl PipelineConfig {
    /// Workers actually used: the reference default is `max(2, cores − 2)`.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        cores.saturating_sub(2).max(2)
    }

    /// Percentiles as the reference keeps them: integers 1..=100 (`"0.95"` → 95), sorted.
    pub fn percentiles(&self) -> Vec<u32> {
        let mut out: Vec<u32> = self
            .histogram_percentiles
            .iter()
            .filter_map(|p| p.trim().parse::<f64>().ok())
            .map(|p| (p * 100.0 + 1e-9).floor() as i64)
            .filter(|p| (1..=100).contains(p))
            .map(|p| p as u32)
            .collect();
        out.sort_unstable();
        out
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, key: &'static str, value: String, why: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError { key, value, why })
            }
        };
        check(
            self.buffer_size > 0,
            "buffer_size",
            self.buffer_size.to_string(),
            "must be > 0",
        )?;
        check(
            self.packet_buffer_size > 0,
            "packet_buffer_size",
            self.packet_buffer_size.to_string(),
            "must be > 0",
        )?;
        check(
            self.packet_buffer_flush_timeout_ms > 0,
            "packet_buffer_flush_timeout_ms",
            self.packet_buffer_flush_timeout_ms.to_string(),
            "must be > 0",
        )?;
        check(
            self.queue_size > 0,
            "queue_size",
            self.queue_size.to_string(),
            "must be > 0",
        )?;
        check(
            self.pipeline_count > 0,
            "pipeline_count",
            self.pipeline_count.to_string(),
            "must be > 0",
        )?;
        check(
            self.batch_size > 0,
            "batch_size",
            self.batch_size.to_string(),
            "must be > 0",
        )?;
        check(
            self.bucket_seconds > 0,
            "bucket_seconds",
            self.bucket_seconds.to_string(),
            "must be > 0",
        )?;
        check(
            self.flush_interval_s > 0,
            "flush_interval_s",
            self.flush_interval_s.to_string(),
            "must be > 0",
        )?;
        check(
            self.expiry_seconds >= 0,
            "expiry_seconds",
            self.expiry_seconds.to_string(),
            "must be >= 0",
        )?;
        use limits::*;
        let at_most = |v: u64, max: u64, key: &'static str, why: &'static str| {
            check(v <= max, key, v.to_string(), why)
        };
        at_most(
            self.buffer_size as u64,
            MAX_BUFFER_SIZE as u64,
            "buffer_size",
            "must be at most 16777216 (16 MiB)",
        )?;
        at_most(
            self.packet_buffer_size as u64,
            MAX_PACKET_BUFFER_SIZE as u64,
            "packet_buffer_size",
            "must be at most 65536",
        )?;
        at_most(
            self.queue_size as u64,
            MAX_QUEUE_SIZE as u64,
            "queue_size",
            "must be at most 1048576",
        )?;
        at_most(
            self.workers as u64,
            MAX_WORKERS as u64,
            "workers",
            "must be at most 1024",
        )?;
        at_most(
            self.pipeline_count as u64,
            MAX_PIPELINE_COUNT as u64,
            "pipeline_count",
            "must be at most 1024",
        )?;
        at_most(
            self.batch_size as u64,
            MAX_BATCH_SIZE as u64,
            "batch_size",
            "must be at most 65536",
        )?;
        // Each bound above is at most 2^16, so the product fits u64.
        let slots =
            self.workers.max(1) as u64 * self.pipeline_count as u64 * self.batch_size as u64;
        check(
            slots <= MAX_BATCH_SLOTS as u64,
            "batch_size",
            format!(
                "{} (with {} workers and {} pipelines: {slots} batcher slots)",
                self.batch_size, self.workers, self.pipeline_count
            ),
            "workers × pipeline_count × batch_size must be at most 4194304",
        )?;
        at_most(
            self.packet_buffer_flush_timeout_ms,
            MAX_MS,
            "packet_buffer_flush_timeout_ms",
            "must be at most 86400000 (one day)",
        )?;
        at_most(
            self.queue_latency_ms,
            MAX_MS,
            "queue_latency_ms",
            "must be at most 86400000 (one day)",
        )?;
        at_most(
            self.bucket_seconds.max(0) as u64,
            MAX_PERIOD_S,
            "bucket_seconds",
            "must be at most 86400 (one day)",
        )?;
        at_most(
            self.flush_interval_s,
            MAX_PERIOD_S,
            "flush_interval_s",
            "must be at most 86400 (one day)",
        )?;
        at_most(
            self.expiry_seconds.max(0) as u64,
            MAX_EXPIRY_S as u64,
            "expiry_seconds",
            "must be at most 31622400 (366 days)",
        )?;
        for a in &self.histogram_aggregates {
            check(
                matches!(
                    a.as_str(),
                    "max" | "min" | "median" | "avg" | "sum" | "count"
                ),
                "histogram_aggregates",
                a.clone(),
                "expected max, min, median, avg, sum or count",
            )?;
        }
        for p in &self.histogram_percentiles {
            let ok = p.trim().parse::<f64>().is_ok_and(|v| v > 0.0 && v <= 1.0);
            check(
                ok,
                "histogram_percentiles",
                p.clone(),
                "expected a number in (0, 1]",
            )?;
        }
        Ok(())
    }
}
