//! How a check runs: place the stop moments, make one pass over the stream that forks at
//! each stop ([`super::driver`]), run each fork's stop sequences on `jobs` threads, and put the
//! scenarios' reports together in the order they were asked for. With `--transport` every
//! scenario sends the stream through a real socket on the real clock instead, one at a time.

use super::clock_range::within_clock_range;
use super::driver::{self, Fork, Outcome, StopPoint};
use super::flushed_out::FlushedFile;
use super::moment::{self, ResolvedStop, StopMoment, StreamShape};
use super::scenarios::{new_report, resolve_all, round_ms, source_info, survey};
use super::transport::{run_transport_with, TransportError, TransportOptions};
use super::{scenario_name, shape, CheckError, CheckObserver, CheckPlan};
use crate::pipeline::clock::NANOS_PER_SEC;
use crate::pipeline::flushed::FlushedItem;
use crate::pipeline::StopSettings;
use crate::report::{HeldAtStop, Report, ScenarioReport, SettingsInfo, SocketInfo, StopInfo};
use crate::source::{Datagram, StreamOpener};
use crate::verify::{self, Verifier};
use std::cell::RefCell;
use std::sync::{mpsc, Mutex};

/// Runs every scenario; `observer` sees the plan and the report after each scenario.
pub fn run_check(
    plan: &CheckPlan,
    opener: &dyn StreamOpener,
    observer: &mut dyn CheckObserver,
) -> Result<Report, CheckError> {
    if let Some(dir) = &plan.flushed_out {
        super::flushed_out::create_dir(dir)?;
    }
    if let Some(opts) = &plan.server {
        return super::blackbox::run_blackbox(plan, opts, opener, observer);
    }
    match plan.transport {
        Some(opts) => run_over_sockets(plan, opts, opener, observer),
        None => run_virtual(plan, opener, observer),
    }
}

/// What placing the moments needs of the stream before the pass: `phase:` and `random:` need
/// its span (a pass over its timestamps), `t:` its first timestamp; `end` and `packets:N`
/// nothing (`packets:N` is checked against the stream's length after the pass). The count of
/// a shape without the span is left at 0: nothing reads it.
fn shape_for(plan: &CheckPlan, opener: &dyn StreamOpener) -> Result<StreamShape, CheckError> {
    if let Some(shape) = plan.shape {
        return Ok(shape);
    }
    let moments = &plan.moments;
    let span = moments
        .iter()
        .any(|m| matches!(m, StopMoment::Phase(_) | StopMoment::Random(_)));
    if span {
        return shape(opener);
    }
    let mut s = StreamShape::default();
    if moments.iter().any(|m| matches!(m, StopMoment::Time(_))) {
        if let Some(d) = within_clock_range(opener.open().map_err(CheckError::Input)?).next() {
            s.first_ns = d.map_err(CheckError::Input)?.ts_ns;
        }
    }
    Ok(s)
}

/// A fork with the files of its scenarios, for a thread that runs its stop sequences.
struct Job {
    fork: Fork,
    files: Vec<Option<FlushedFile>>,
}

type JobResult = Vec<(usize, Result<Outcome, CheckError>)>;

/// Runs a fork's stop sequence once per setting; the results are indexed by scenario.
fn run_job(plan: &CheckPlan, job: Job) -> JobResult {
    let n = plan.settings.len();
    let Job { fork, files } = job;
    files
        .into_iter()
        .zip(&plan.settings)
        .enumerate()
        .map(|(s, (mut file, settings))| {
            let mut failed = None;
            let outcome = fork.stop(&plan.config, plan.listener, *settings, &mut |items| {
                if let (Some(f), None) = (file.as_mut(), &failed) {
                    failed = f.write(items).err();
                }
            });
            let result = match (failed, file.map(FlushedFile::finish)) {
                (Some(e), _) | (None, Some(Err(e))) => Err(e),
                _ => Ok(outcome),
            };
            (fork.stop * n + s, result)
        })
        .collect()
}

/// Items the pass flushed before a stop, written to the files of that stop's scenarios (a
/// fork takes its stop's files with it).
struct SharedFiles<'a> {
    files: &'a RefCell<Vec<Vec<Option<FlushedFile>>>>,
    error: Option<CheckError>,
}

impl driver::FlushedSink for SharedFiles<'_> {
    fn shared(&mut self, forked: &[bool], items: &[FlushedItem]) {
        if self.error.is_some() {
            return;
        }
        let mut files = self.files.borrow_mut();
        for (stop, files) in files.iter_mut().enumerate() {
            if forked[stop] {
                continue;
            }
            for f in files.iter_mut().flatten() {
                if let Err(e) = f.write(items) {
                    self.error.get_or_insert(e);
                }
            }
        }
    }
}

fn run_virtual(
    plan: &CheckPlan,
    opener: &dyn StreamOpener,
    observer: &mut dyn CheckObserver,
) -> Result<Report, CheckError> {
    let shape = shape_for(plan, opener)?;
    let (stops, shard) = resolve_all(plan, &shape)?;
    let n_settings = plan.settings.len();
    observer.planned(stops.len() * n_settings);
    let mut files: Vec<Vec<Option<FlushedFile>>> = Vec::new();
    for stop in &stops {
        let mut per_stop = Vec::new();
        for settings in &plan.settings {
            per_stop.push(match &plan.flushed_out {
                Some(dir) => Some(FlushedFile::create(
                    dir,
                    &scenario_name(&stop.spec, settings),
                )?),
                None => None,
            });
        }
        files.push(per_stop);
    }
    let files = RefCell::new(files);
    let points: Vec<StopPoint> = stops.iter().map(|s| s.point).collect();
    let mut outcomes: Vec<Option<Result<Outcome, CheckError>>> =
        (0..stops.len() * n_settings).map(|_| None).collect();
    let stream = within_clock_range(opener.open().map_err(CheckError::Input)?);
    let jobs = plan.jobs.max(1);
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(jobs);
    let job_rx = Mutex::new(job_rx);
    let (result_tx, result_rx) = mpsc::channel::<JobResult>();
    let summary = std::thread::scope(|scope| -> Result<driver::StreamSummary, CheckError> {
        // The pass is one of the jobs; with one job it runs the stop sequences itself, as it
        // meets the stops.
        let threads = jobs - 1;
        for _ in 0..threads {
            let (job_rx, result_tx) = (&job_rx, result_tx.clone());
            scope.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                if result_tx.send(run_job(plan, job)).is_err() {
                    return;
                }
            });
        }
        drop(result_tx);
        let mut inline: Vec<JobResult> = Vec::new();
        let observer = RefCell::new(&mut *observer);
        let mut on_fork = |fork: Fork| {
            observer
                .borrow_mut()
                .stops_reached((fork.stop + 1) * n_settings);
            let files = std::mem::take(&mut files.borrow_mut()[fork.stop]);
            let job = Job { fork, files };
            if threads == 0 {
                inline.push(run_job(plan, job));
            } else if let Err(mpsc::SendError(job)) = job_tx.send(job) {
                inline.push(run_job(plan, job));
            }
        };
        let mut shared = SharedFiles {
            files: &files,
            error: None,
        };
        let pass = driver::pass(
            &plan.config,
            plan.listener,
            stream,
            &points,
            &mut shared,
            &mut on_fork,
            &mut |n| observer.borrow_mut().datagrams_read(n),
        );
        drop(job_tx);
        // The pass is done: this thread takes its share of the forks still queued.
        while let Some(job) = job_rx.lock().ok().and_then(|rx| rx.recv().ok()) {
            inline.push(run_job(plan, job));
        }
        for r in inline.into_iter().chain(result_rx.iter()) {
            for (i, outcome) in r {
                outcomes[i] = Some(outcome);
            }
        }
        if let Some(e) = shared.error.take() {
            return Err(e);
        }
        pass.map_err(CheckError::Input)
    })?;
    let whole = StreamShape {
        datagrams: summary.datagrams,
        first_ns: summary.first_ns,
        last_ns: summary.last_ns,
    };
    moment::check_inside(&plan.moments, &stops, &whole)?;
    let first_ns = summary.first_ns;
    let mut report = new_report(
        source_info(opener, summary.datagrams, summary.lines, summary.samples),
        shard,
    );
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let Some(outcome) = outcome else {
            continue;
        };
        let stop = &stops[i / n_settings];
        let settings = plan.settings[i % n_settings];
        let scenario = scenario_report(plan, stop, settings, first_ns, outcome?, None);
        report.scenarios.push(scenario);
    }
    report.exit_code = crate::exit::for_report(&report);
    observer.scenarios_done(&report, report.scenarios.len());
    Ok(report)
}

/// The report of one scenario.
fn scenario_report(
    plan: &CheckPlan,
    stop: &ResolvedStop,
    settings: StopSettings,
    first_ns: u64,
    outcome: Outcome,
    socket: Option<SocketInfo>,
) -> ScenarioReport {
    let expectation = plan.expectations.for_settings(&settings);
    let v = outcome.verification;
    let (verdict, mut reasons) = verify::verdict(&v.counts, &v.accounting_errors, expectation);
    if let Some(s) = socket.as_ref().filter(|s| s.unattributed > 0) {
        reasons.push(format!(
            "{} datagrams unattributed: what was read and the kernel's drop counter disagree",
            s.unattributed
        ));
    }
    let bucket_ns = plan.config.bucket_seconds as u64 * NANOS_PER_SEC;
    let stream_time_ns = outcome.stop_ns.saturating_sub(first_ns);
    ScenarioReport {
        name: scenario_name(&stop.spec, &settings),
        stop: StopInfo {
            spec: stop.spec.clone(),
            after_packets: outcome.delivered,
            stream_time_s: round_ms(stream_time_ns),
            bucket_phase_s: round_ms(outcome.stop_ns % bucket_ns),
        },
        settings: SettingsInfo {
            flush_incomplete_buckets: settings.flush_incomplete_buckets,
            batcher_drain: settings.batcher_drain.name().into(),
        },
        expectation,
        counts: v.counts,
        verdict,
        examples: v.examples,
        reasons,
        accounting_errors: v.accounting_errors,
        held_at_stop: HeldAtStop {
            assembler_datagrams: outcome.held_at_stop.0 as u64,
            packets_buffer_packets: outcome.held_at_stop.1 as u64,
            queued_batches: outcome.held_at_stop.2 as u64,
        },
        stage_counters: serde_json::to_value(&outcome.counters).unwrap_or_default(),
        socket,
        server: None,
    }
}

/// `--transport`: each scenario sends the stream through a real socket into a pipeline on the
/// real clock; the verifier follows what that pipeline did.
fn run_over_sockets(
    plan: &CheckPlan,
    opts: TransportOptions,
    opener: &dyn StreamOpener,
    observer: &mut dyn CheckObserver,
) -> Result<Report, CheckError> {
    let (shape, source) = survey(opener, &plan.config)?;
    let (stops, shard) = resolve_all(plan, &shape)?;
    moment::check_inside(&plan.moments, &stops, &shape)?;
    observer.planned(stops.len() * plan.settings.len());
    let mut report = new_report(source, shard);
    for stop in &stops {
        for settings in &plan.settings {
            let config = &plan.config;
            let mut verifier = Verifier::new(config);
            let stream = within_clock_range(opener.open().map_err(CheckError::Input)?);
            let mut record = |id, d: &Datagram| verifier.sent(id, d.ts_ns, &d.payload);
            let r = run_transport_with(config, *settings, opts, stream, stop.point, &mut record)
                .map_err(|e| match e {
                    TransportError::Source(e) => CheckError::Input(e),
                    other => CheckError::Transport(other.to_string()),
                })?;
            let run = r.run;
            verifier.follow_all(&run.events);
            let name = scenario_name(&stop.spec, settings);
            if let Some(dir) = &plan.flushed_out {
                let mut f = FlushedFile::create(dir, &name)?;
                for e in &run.events {
                    if let crate::pipeline::Event::Flush(flush) = e {
                        f.write(&flush.items)?;
                    }
                }
                f.finish()?;
            }
            let verification = verifier.finish(&run.counters, &run.losses, &r.socket_lost);
            let socket = SocketInfo {
                transport: opts.transport.name().into(),
                address: r.address.clone(),
                sent: r.sent,
                dropped: r.dropped,
                unread_at_stop: r.unread_at_stop,
                kernel_drops: r.kernel_drops,
                unattributed: r.unattributed,
            };
            let outcome = Outcome {
                verification,
                counters: run.counters,
                delivered: run.delivered,
                stop_ns: run.stop_ns,
                held_at_stop: run.held_at_stop,
                clock_steps: 0,
            };
            let scenario =
                scenario_report(plan, stop, *settings, shape.first_ns, outcome, Some(socket));
            report.scenarios.push(scenario);
            report.exit_code = crate::exit::for_report(&report);
            observer.scenarios_done(&report, 1);
        }
    }
    Ok(report)
}
