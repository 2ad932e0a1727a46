//! Settings of the embedded pipeline, with the reference agent's defaults and key names.
//!
//! Every size of the reference is configurable so that a user can mirror their agent's
//! `datadog.yaml`; a config file may use the agent's own key names (`dogstatsd_queue_size`, …).

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

/// A configuration value out of range.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid pipeline setting {key} = {value}: {why}")]
pub struct ConfigError {
    pub key: &'static str,
    pub value: String,
    pub why: &'static str,
}

/// Upper bounds of the settings. The reference sets none, but a value past them is a typo,
/// not a mirrored agent config: sizes past them would preallocate more memory than a machine
/// has (a batch, a packets buffer, a worker each allocate their size up front), and periods
/// past them would overflow the virtual clock's nanoseconds (each is far beyond what any
/// agent runs with, and leaves the clock's range, [`super::clock::MAX_TS_NS`], room for
/// every timer's next tick).
pub mod limits {
    /// `buffer_size`: 16 MiB (a UDP datagram is at most 64 KiB).
    pub const BUFFER_SIZE: usize = 1 << 24;
    /// `packet_buffer_size` and `batch_size`.
    pub const BATCH: usize = 1 << 20;
    /// `queue_size`, in batches.
    pub const QUEUE_SIZE: usize = 1 << 20;
    /// `workers` and `pipeline_count`.
    pub const THREADS: usize = 1024;
    /// Every period and delay (flush timeout, flush interval, bucket, queue latency): a year.
    pub const PERIOD_S: u64 = 365 * 86_400;
    /// `expiry_seconds`: a century.
    pub const EXPIRY_S: i64 = 100 * 365 * 86_400;
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
        let at_most = |v: u64, max: u64, key: &'static str, why: &'static str| {
            check(v <= max, key, v.to_string(), why)
        };
        at_most(
            self.buffer_size as u64,
            limits::BUFFER_SIZE as u64,
            "buffer_size",
            "must be at most 16 MiB",
        )?;
        for (v, key) in [
            (self.packet_buffer_size, "packet_buffer_size"),
            (self.batch_size, "batch_size"),
        ] {
            at_most(
                v as u64,
                limits::BATCH as u64,
                key,
                "must be at most 1048576",
            )?;
        }
        at_most(
            self.queue_size as u64,
            limits::QUEUE_SIZE as u64,
            "queue_size",
            "must be at most 1048576",
        )?;
        for (v, key) in [
            (self.workers, "workers"),
            (self.pipeline_count, "pipeline_count"),
        ] {
            at_most(
                v as u64,
                limits::THREADS as u64,
                key,
                "must be at most 1024",
            )?;
        }
        let year_ms = limits::PERIOD_S * 1000;
        for (v, max, key) in [
            (
                self.packet_buffer_flush_timeout_ms,
                year_ms,
                "packet_buffer_flush_timeout_ms",
            ),
            (self.queue_latency_ms, year_ms, "queue_latency_ms"),
            (self.flush_interval_s, limits::PERIOD_S, "flush_interval_s"),
            (
                self.bucket_seconds.max(0) as u64,
                limits::PERIOD_S,
                "bucket_seconds",
            ),
        ] {
            at_most(v, max, key, "must be at most a year")?;
        }
        check(
            self.expiry_seconds <= limits::EXPIRY_S,
            "expiry_seconds",
            self.expiry_seconds.to_string(),
            "must be at most a century",
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
