//! The report model: one stream of scenario results that every reporter (terminal, JSON, CSV,
//! Markdown, JUnit) renders, so they never disagree. Field names follow the JSON report schema
//! of cli.md (`schema_version` 1): a contract CI scripts read — add fields, never rename.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

pub const SCHEMA_VERSION: u32 = 1;

/// A name in a report: a `&'static str` when the run made it, an owned string when the
/// report was read back from JSON (`merge`).
pub type Name = Cow<'static, str>;

/// Stages a sample can be lost at, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Never read from the socket (kernel drops, unread at stop).
    Socket,
    /// Read, still queued when the workers exited.
    Queue,
    /// Parsed, not handed to a sampler.
    Batcher,
    /// In a bucket that was not flushed.
    OpenBucket,
    /// Dropped at a sampler's context limit.
    ContextLimit,
    /// Lost inside an external server (`check --server-cmd`): sent, not lost in a socket
    /// lastbucket could see into, and not in what the server posted. Not in [`Stage::ALL`]
    /// (the embedded pipeline's stages, the columns of every export): black-box reports add it.
    Server,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Socket,
        Stage::Queue,
        Stage::Batcher,
        Stage::OpenBucket,
        Stage::ContextLimit,
    ];

    /// Every stage, the external server's too.
    pub const EVERY: [Stage; 6] = [
        Stage::Socket,
        Stage::Queue,
        Stage::Batcher,
        Stage::OpenBucket,
        Stage::ContextLimit,
        Stage::Server,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Socket => "socket",
            Stage::Queue => "queue",
            Stage::Batcher => "batcher",
            Stage::OpenBucket => "open_bucket",
            Stage::ContextLimit => "context_limit",
            Stage::Server => "server",
        }
    }
}

/// The stages a report's exports show as columns: the embedded pipeline's, and `server` too
/// when some scenario checked an external server.
pub fn stages_of(report: &Report) -> &'static [Stage] {
    if report.scenarios.iter().any(|s| s.server.is_some()) {
        &Stage::EVERY
    } else {
        &Stage::ALL
    }
}

/// What a scenario is expected to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expectation {
    /// No loss of what entered the pipeline (socket loss is reported, not held against it).
    #[serde(rename = "zero-loss")]
    ZeroLoss,
    /// No loss at any stage, the socket included: for a transport check whose load the
    /// receiver must keep up with.
    #[serde(rename = "strict")]
    Strict,
    #[serde(rename = "loss")]
    Loss,
    #[serde(rename = "any")]
    Any,
}

impl Expectation {
    pub fn name(self) -> &'static str {
        match self {
            Expectation::ZeroLoss => "zero-loss",
            Expectation::Strict => "strict",
            Expectation::Loss => "loss",
            Expectation::Any => "any",
        }
    }
}

impl std::str::FromStr for Expectation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zero-loss" => Ok(Expectation::ZeroLoss),
            "strict" => Ok(Expectation::Strict),
            "loss" => Ok(Expectation::Loss),
            "any" => Ok(Expectation::Any),
            o => Err(format!(
                "invalid expectation '{o}' (expected zero-loss, strict, loss or any)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Vacuous,
    AccountingError,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Vacuous => "vacuous",
            Verdict::AccountingError => "accounting_error",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCounts {
    pub sent: u64,
    pub rejected: u64,
    pub flushed: u64,
    pub lost: u64,
    /// The loss of this type split by stage (stages without loss left out).
    pub lost_by_stage: BTreeMap<Name, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub sent: u64,
    pub rejected: u64,
    pub flushed: u64,
    pub lost: u64,
    pub surplus: u64,
    pub duplicates: u64,
    pub lost_by_stage: BTreeMap<Name, u64>,
    pub by_type: BTreeMap<Name, TypeCounts>,
    /// Rejections by reason.
    pub rejected_by_reason: BTreeMap<Name, u64>,
    /// Zero points of live counters (the reference zero-fills them; not surplus).
    pub zero_fill_points: u64,
    /// Well-formed samples that entered the pipeline (not lost at the socket): what the
    /// verdict is about. None at all makes the run vacuous, whatever became of the rest.
    pub compared: u64,
}

impl Counts {
    /// `sent = rejected + flushed + lost` and `lost = Σ lost_by_stage`, overall and per type.
    pub fn identity_holds(&self) -> bool {
        let by_stage: u64 = self.lost_by_stage.values().sum();
        self.sent == self.rejected + self.flushed + self.lost
            && self.lost == by_stage
            && self.by_type.values().all(|t| {
                t.sent == t.rejected + t.flushed + t.lost
                    && t.lost == t.lost_by_stage.values().sum::<u64>()
            })
            && self.by_type.values().map(|t| t.sent).sum::<u64>() == self.sent
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopInfo {
    pub spec: String,
    pub after_packets: u64,
    pub stream_time_s: f64,
    /// Seconds into the bucket the stop fell in.
    pub bucket_phase_s: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsInfo {
    pub flush_incomplete_buckets: bool,
    pub batcher_drain: Name,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LostExample {
    pub metric: String,
    #[serde(rename = "type")]
    pub metric_type: Name,
    pub tags: Vec<String>,
    pub bucket: i64,
    pub stage: Name,
    pub value: serde_json::Value,
}

/// What was held in the stages before the queue at the stop moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldAtStop {
    pub assembler_datagrams: u64,
    pub packets_buffer_packets: u64,
    pub queued_batches: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub name: String,
    pub stop: StopInfo,
    pub settings: SettingsInfo,
    pub expectation: Expectation,
    pub counts: Counts,
    pub verdict: Verdict,
    pub examples: Vec<LostExample>,
    /// Why the verdict is what it is, in a sentence or two.
    pub reasons: Vec<String>,
    /// Disagreements the reported losses do not explain (accounting errors), capped.
    pub accounting_errors: Vec<String>,
    pub held_at_stop: HeldAtStop,
    /// The pipeline's own stage counters.
    pub stage_counters: serde_json::Value,
    /// What crossed the socket, for `check --transport`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<SocketInfo>,
    /// The external server of a `check --server-cmd` scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerInfo>,
}

/// The server process of a black-box scenario and what it posted to the intake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub command: String,
    pub address: String,
    /// Its exit code, if it exited by itself; the signal that ended it otherwise.
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    /// It did not exit within `--server-timeout` of the stop signal and was SIGKILLed.
    pub killed: bool,
    /// Payloads decoded by the intake, and the items they held.
    pub payloads: u64,
    pub items: u64,
    /// Points and items it posted for names never sent (its own telemetry): not surplus.
    pub foreign: u64,
    /// Requests to endpoints the intake does not know, and bodies it could not decode.
    pub unknown_endpoint_requests: u64,
    pub decode_errors: Vec<String>,
    /// Samples counted lost because the server posted values that disagree with what was sent
    /// (the rest of the `server` loss is what it posted nothing for).
    pub disagreements: Vec<String>,
    /// The last lines of its stderr.
    pub stderr_tail: Vec<String>,
}

/// The socket of a `check --transport` scenario: what the kernel dropped, what was still
/// unread at the stop (both lost at the `socket` stage), and what could not be attributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketInfo {
    pub transport: Name,
    pub address: String,
    /// Datagrams sent into the socket.
    pub sent: u64,
    /// Datagrams the kernel dropped (gaps in what was read).
    pub dropped: u64,
    /// Datagrams still in the socket when the listener stopped.
    pub unread_at_stop: u64,
    /// The socket's own kernel drop counter over the run, where the system exposes it.
    pub kernel_drops: Option<u64>,
    /// Datagrams whose fate could not be told exactly.
    pub unattributed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub kind: Name,
    pub description: String,
    pub packets: u64,
    pub lines: u64,
    pub samples: u64,
    /// For a truncated file read with `--allow-truncated`: the byte offset where the readable
    /// part ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_at: Option<u64>,
    /// For a file source: how far it was read and what the reader skipped, with reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<crate::source::ReadStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: Name,
    pub version: Name,
}

impl Default for ToolInfo {
    fn default() -> Self {
        ToolInfo {
            name: "lastbucket".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// The part of a sharded run a report holds (`--shard k/n`): enough for `merge` to put the
/// scenarios of every part back in the order of the unsharded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    /// Stop moments of the whole run, every shard's.
    pub moments: usize,
    /// Settings per moment: each moment gives this many scenarios, one after the other.
    pub settings: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: ToolInfo,
    pub source: SourceInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    pub scenarios: Vec<ScenarioReport>,
    pub exit_code: i32,
}
