//! `check`: runs the embedded pipeline on a stream, stops it at each chosen moment, for each
//! flag setting, and verifies the flushed output against the ledger of what was sent.

pub mod driver;
pub mod matrix;
pub mod moment;
pub mod transport;

use crate::pipeline::clock::{secs, NANOS_PER_SEC};
use crate::pipeline::flushed::{write_jsonl, FlushedItem};
use crate::pipeline::{ListenerKind, PipelineConfig, StopSettings};
use crate::protocol::{self, Line};
use crate::report::{
    HeldAtStop, Report, ScenarioReport, SettingsInfo, SocketInfo, SourceInfo, StopInfo, ToolInfo,
    SCHEMA_VERSION,
};
use crate::source::Datagram;
use crate::source::{StreamError, StreamOpener};
use crate::verify::{self, ledger::Ledger};
use matrix::Expectations;
use moment::{ResolvedStop, StopMoment, StreamShape};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use transport::{run_transport_with, TransportError, TransportOptions};

/// What to run.
#[derive(Debug, Clone)]
pub struct CheckPlan {
    pub config: PipelineConfig,
    pub listener: ListenerKind,
    pub moments: Vec<StopMoment>,
    pub settings: Vec<StopSettings>,
    pub expectations: Expectations,
    pub seed: u64,
    /// Where each scenario's flushed items go (`DIR/<scenario>.jsonl`).
    pub flushed_out: Option<PathBuf>,
    /// Send the stream through a real loopback socket on the real clock instead of handing it
    /// to the pipeline on the virtual clock (`--transport`).
    pub transport: Option<TransportOptions>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Input(StreamError),
    /// The socket of a transport check could not be set up or used.
    #[error("{0}")]
    Transport(String),
    /// A stop moment the stream cannot have (a usage error).
    #[error(transparent)]
    Moment(#[from] moment::MomentError),
    #[error("cannot write flushed output {path}: {source}")]
    FlushedOut {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads the stream once: its shape (to place stop moments) and its size (for the report).
pub fn survey(
    opener: &dyn StreamOpener,
    config: &PipelineConfig,
) -> Result<(StreamShape, SourceInfo), CheckError> {
    let mut shape = StreamShape::default();
    let (mut lines, mut samples) = (0u64, 0u64);
    for d in opener.open().map_err(CheckError::Input)? {
        let d = d.map_err(CheckError::Input)?;
        if shape.datagrams == 0 {
            shape.first_ns = d.ts_ns;
        }
        shape.last_ns = shape.last_ns.max(d.ts_ns);
        shape.datagrams += 1;
        // What the listener reads, and the lines its read buffer cuts off (sent all the same).
        let read = &d.payload[..d.payload.len().min(config.buffer_size)];
        let cut = protocol::cut_lines(&d.payload, config.buffer_size);
        for line in protocol::split_lines(read).chain(cut) {
            lines += 1;
            samples += match protocol::parse_line(line) {
                Ok(Line::Metric(m)) => m.value_count as u64,
                _ => 1,
            };
        }
    }
    // The whole source was read: what its reader skipped, and where a truncated file ends.
    let read = opener.read_stats();
    let info = SourceInfo {
        kind: opener.kind(),
        description: opener.description(),
        packets: shape.datagrams,
        lines,
        samples,
        truncated_at: read.as_ref().and_then(|r| r.truncated_at),
        read,
    };
    Ok((shape, info))
}

/// The name of a scenario: `stop=end flag=on drain=auto`.
pub fn scenario_name(stop: &str, s: &StopSettings) -> String {
    format!(
        "stop={} flag={} drain={}",
        stop,
        if s.flush_incomplete_buckets {
            "on"
        } else {
            "off"
        },
        s.batcher_drain.name()
    )
}

/// Sees a check's progress: exports rewritten after each scenario, the progress bar.
pub trait CheckObserver {
    /// The number of scenarios, once the stream was surveyed.
    fn planned(&mut self, _scenarios: usize) {}
    /// The report so far, after each scenario.
    fn scenario_done(&mut self, _report: &Report) {}
}

/// An observer that ignores everything.
impl CheckObserver for () {}

/// Runs every scenario; `observer` sees the plan and the report after each scenario.
pub fn run_check(
    plan: &CheckPlan,
    opener: &dyn StreamOpener,
    observer: &mut dyn CheckObserver,
) -> Result<Report, CheckError> {
    let (shape, source) = survey(opener, &plan.config)?;
    let mut stops: Vec<ResolvedStop> = Vec::new();
    for m in &plan.moments {
        stops.extend(moment::resolve(
            m,
            &shape,
            plan.config.bucket_seconds,
            plan.seed,
        )?);
    }
    observer.planned(stops.len() * plan.settings.len());
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::default(),
        source,
        scenarios: Vec::new(),
        exit_code: 0,
    };
    if let Some(dir) = &plan.flushed_out {
        std::fs::create_dir_all(dir).map_err(|source| CheckError::FlushedOut {
            path: dir.clone(),
            source,
        })?;
    }
    for stop in &stops {
        for settings in &plan.settings {
            let scenario = run_scenario(plan, opener, stop, *settings, &shape)?;
            report.scenarios.push(scenario);
            report.exit_code = crate::exit::for_report(&report);
            observer.scenario_done(&report);
        }
    }
    Ok(report)
}

fn run_scenario(
    plan: &CheckPlan,
    opener: &dyn StreamOpener,
    stop: &ResolvedStop,
    settings: StopSettings,
    shape: &StreamShape,
) -> Result<ScenarioReport, CheckError> {
    let config = &plan.config;
    let mut ledger = Ledger::default();
    let stream = opener.open().map_err(CheckError::Input)?;
    let mut record = |id, d: &Datagram| ledger.record_datagram(id, d, config);
    let (run, socket) = match plan.transport {
        None => (
            driver::run(
                config,
                settings,
                plan.listener,
                stream,
                stop.point,
                &mut record,
            )
            .map_err(CheckError::Input)?,
            None,
        ),
        Some(opts) => {
            let r = run_transport_with(config, settings, opts, stream, stop.point, &mut record)
                .map_err(|e| match e {
                    TransportError::Source(e) => CheckError::Input(e),
                    other => CheckError::Transport(other.to_string()),
                })?;
            let info = SocketInfo {
                transport: opts.transport.name(),
                address: r.address.clone(),
                sent: r.sent,
                dropped: r.dropped,
                unread_at_stop: r.unread_at_stop,
                kernel_drops: r.kernel_drops,
                unattributed: r.unattributed,
            };
            (r.run, Some((info, r.socket_lost)))
        }
    };
    let name = scenario_name(&stop.spec, &settings);
    if let Some(dir) = &plan.flushed_out {
        write_flushed(dir, &name, &run.flushed)?;
    }
    let no_socket_loss = HashSet::new();
    let socket_lost = socket.as_ref().map_or(&no_socket_loss, |(_, lost)| lost);
    let v = verify::verify(
        &ledger,
        &run.flushed,
        &run.counters,
        &run.losses,
        socket_lost,
        config,
    );
    let expectation = plan.expectations.for_settings(&settings);
    let (verdict, mut reasons) = verify::verdict(&v.counts, &v.accounting_errors, expectation);
    let socket = socket.map(|(info, _)| info);
    if let Some(s) = socket.as_ref().filter(|s| s.unattributed > 0) {
        reasons.push(format!(
            "{} datagrams unattributed: what was read and the kernel's drop counter disagree",
            s.unattributed
        ));
    }
    let bucket_ns = config.bucket_seconds as u64 * NANOS_PER_SEC;
    let stream_time_ns = run.stop_ns.saturating_sub(shape.first_ns);
    Ok(ScenarioReport {
        name,
        stop: StopInfo {
            spec: stop.spec.clone(),
            after_packets: run.delivered,
            stream_time_s: round_ms(stream_time_ns),
            bucket_phase_s: round_ms(run.stop_ns % bucket_ns),
        },
        settings: SettingsInfo {
            flush_incomplete_buckets: settings.flush_incomplete_buckets,
            batcher_drain: settings.batcher_drain.name(),
        },
        expectation,
        counts: v.counts,
        verdict,
        examples: v.examples,
        reasons,
        accounting_errors: v.accounting_errors,
        held_at_stop: HeldAtStop {
            assembler_datagrams: run.held_at_stop.0 as u64,
            packets_buffer_packets: run.held_at_stop.1 as u64,
            queued_batches: run.held_at_stop.2 as u64,
        },
        stage_counters: serde_json::to_value(&run.counters).unwrap_or_default(),
        socket,
    })
}

/// Seconds with millisecond precision, so reports are stable and readable.
fn round_ms(ns: u64) -> f64 {
    (ns / 1_000_000) as f64 / 1000.0
}

/// The file of a scenario's flushed items: its name with spaces as `_`.
pub fn flushed_path(dir: &Path, scenario: &str) -> PathBuf {
    let file: String = scenario
        .chars()
        .map(|c| {
            if c == ' ' || c == '/' || c == '\\' {
                '_'
            } else {
                c
            }
        })
        .collect();
    dir.join(format!("{file}.jsonl"))
}

fn write_flushed(dir: &Path, name: &str, items: &[FlushedItem]) -> Result<(), CheckError> {
    let path = flushed_path(dir, name);
    let f = std::fs::File::create(&path).map_err(|source| CheckError::FlushedOut {
        path: path.clone(),
        source,
    })?;
    write_jsonl(std::io::BufWriter::new(f), items)
        .map_err(|source| CheckError::FlushedOut { path, source })
}

/// Bucket start of a stop time, for reports.
pub fn stop_bucket(stop_ns: u64, bucket_seconds: i64) -> i64 {
    let s = secs(stop_ns);
    s - s.rem_euclid(bucket_seconds)
}
