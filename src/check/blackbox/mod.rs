//! `check --server-cmd CMD`: the black-box mode (`shared/design/blackbox.md`). Each scenario
//! starts the built-in intake and the server under test as a child process, waits until the
//! server listens, sends the stream on the real clock, stops the server at the stop moment with
//! the stop signal, and judges what it posted with [`oracle::BlackboxOracle`].
//!
//! Bucket alignment: at `--speed 1` the first datagram is sent at the same phase of the wall
//! clock's bucket as the stream's first timestamp, so the server's buckets are the stream's and
//! the embedded `check` of the same stream predicts the same loss. At other speeds, a stream
//! whose sending fits in one bucket (with a second to spare) waits for a bucket it fits in, so
//! a short burst is not cut by a bucket boundary.

pub mod oracle;
pub mod ready;
pub mod server_process;

use super::moment::{self, ResolvedStop};
use super::scenarios::{new_report, resolve_all, round_ms, survey};
use super::{scenario_name, CheckError, CheckObserver, CheckPlan};
use crate::intake::Intake;
use crate::net::address::Address;
use crate::net::Client;
use crate::pipeline::StopSettings;
use crate::report::{
    HeldAtStop, Report, ScenarioReport, ServerInfo, SettingsInfo, SocketInfo, StopInfo, Verdict,
};
use crate::source::StreamOpener;
use server_process::{Exit, ServerProcess};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How the server under test is run.
#[derive(Debug, Clone, PartialEq)]
pub struct BlackboxOptions {
    /// The shell command (placeholders `{intake}`, `{addr}`, `{socket}`, `{port}`, `{flag}`).
    pub command: String,
    /// Where it must listen: `udp://H:P` (port 0: a free port per scenario), `unixgram://PATH`,
    /// `unix://PATH`.
    pub address: Address,
    /// For listening, and for exiting after the stop signal.
    pub timeout: Duration,
    pub stop_signal: i32,
    /// Stream time ÷ speed; 0: as fast as possible.
    pub speed: f64,
    /// Where the server's stderr is kept.
    pub log: Option<PathBuf>,
}

/// How long `end` waits for the server to read what is still in its UDP receive queue.
const DRAIN_WAIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(10);

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The scenario's address: a free port for `udp://H:0`; a stale socket file removed.
fn scenario_address(addr: &Address) -> Result<Address, CheckError> {
    match addr {
        Address::Udp(a) if a.port() == 0 => {
            let port = ready::free_udp_port(*a)
                .map_err(|e| CheckError::Transport(format!("cannot find a free UDP port: {e}")))?;
            Ok(Address::Udp(std::net::SocketAddr::new(a.ip(), port)))
        }
        Address::Unixgram(p) | Address::Unix(p) => {
            use std::os::unix::fs::FileTypeExt;
            if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = std::fs::remove_file(p);
            }
            Ok(addr.clone())
        }
        other => Ok(other.clone()),
    }
}

/// The variables of blackbox.md, for this scenario.
fn server_env(intake: &str, addr: &Address, flag: bool) -> Vec<(String, String)> {
    let mut env = vec![
        ("DD_DD_URL".to_string(), intake.to_string()),
        (
            "DD_API_KEY".into(),
            "lastbucket0000000000000000000000".into(),
        ),
        (
            "DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS".into(),
            flag.to_string(),
        ),
    ];
    if std::env::var_os("DD_HOSTNAME").is_none() {
        env.push(("DD_HOSTNAME".into(), "lastbucket".into()));
    }
    match addr {
        Address::Udp(a) => {
            env.push(("DD_DOGSTATSD_PORT".into(), a.port().to_string()));
            env.push(("DD_BIND_HOST".into(), a.ip().to_string()));
            env.push(("DD_DOGSTATSD_NON_LOCAL_TRAFFIC".into(), "false".into()));
        }
        Address::Unixgram(p) => env.push(("DD_DOGSTATSD_SOCKET".into(), p.display().to_string())),
        Address::Unix(p) => {
            env.push(("DD_DOGSTATSD_STREAM_SOCKET".into(), p.display().to_string()))
        }
    }
    env
}

/// CMD with its placeholders replaced.
pub fn expand(cmd: &str, intake: &str, addr: &Address, flag: bool) -> String {
    let (socket, port) = match addr {
        Address::Udp(a) => (String::new(), a.port().to_string()),
        Address::Unixgram(p) | Address::Unix(p) => (p.display().to_string(), String::new()),
    };
    cmd.replace("{intake}", intake)
        .replace("{addr}", &addr.to_string())
        .replace("{socket}", &socket)
        .replace("{port}", &port)
        .replace("{flag}", if flag { "true" } else { "false" })
}

/// Waits until the server accepts traffic at `addr`; an exit before that, or the timeout, is an
/// error naming the last lines of its stderr.
fn wait_listening(
    server: &mut ServerProcess,
    addr: &Address,
    timeout: Duration,
) -> Result<(), CheckError> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready::accepts(addr) {
            return Ok(());
        }
        if !server.running() {
            // Give the stderr reader a moment to take the last lines.
            std::thread::sleep(Duration::from_millis(50));
            let exit = server
                .exited()
                .map_or("no status".into(), |e| e.to_string());
            return Err(CheckError::Server(format!(
                "the server exited ({exit}) before it listened on {addr}; the last lines of its stderr:\n{}",
                server.tail_text()
            )));
        }
        if Instant::now() >= deadline {
            return Err(CheckError::Server(format!(
                "the server did not listen on {addr} within {:?}; the last lines of its stderr:\n{}",
                timeout,
                server.tail_text()
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// Waits, before the first datagram, for a wall-clock bucket that suits the stream (see the
/// module documentation).
fn align(first_ns: u64, span_ns: u64, speed: f64, interval: i64) {
    let bucket = interval.max(1) as u64 * 1_000_000_000;
    let now = wall_ns();
    let phase = now % bucket;
    let wait = if speed == 1.0 {
        let want = first_ns % bucket;
        (want + bucket - phase) % bucket
    } else {
        let send = if speed > 0.0 {
            (span_ns as f64 / speed) as u64
        } else {
            0
        };
        let spare = 1_000_000_000 + oracle::SPILL_MARGIN_NS;
        if send + spare < bucket && bucket - phase < send + spare {
            bucket - phase + 50_000_000
        } else {
            0
        }
    };
    std::thread::sleep(Duration::from_nanos(wait));
}

/// One scenario, start to end.
struct Scenario<'a> {
    plan: &'a CheckPlan,
    opts: &'a BlackboxOptions,
    stop: &'a ResolvedStop,
    settings: StopSettings,
    first_ns: u64,
    span_ns: u64,
    samples_per_datagram: f64,
}

impl Scenario<'_> {
    fn run(&self, opener: &dyn StreamOpener) -> Result<ScenarioReport, CheckError> {
        let flag = self.settings.flush_incomplete_buckets;
        let intake = Intake::start(([127, 0, 0, 1], 0).into())
            .map_err(|e| CheckError::Server(format!("cannot start the intake: {e}")))?;
        let url = intake.url();
        let addr = scenario_address(&self.opts.address)?;
        let cmd = expand(&self.opts.command, &url, &addr, flag);
        let mut server =
            ServerProcess::spawn(&cmd, &server_env(&url, &addr, flag), self.opts.log.as_ref())
                .map_err(|e| CheckError::Server(e.to_string()))?;
        wait_listening(&mut server, &addr, self.opts.timeout)?;
        let inode = match &addr {
            Address::Udp(a) => ready::udp_port_row(a.port()),
            _ => None,
        };
        let mut client = Client::connect(&addr).map_err(|e| {
            CheckError::Server(format!("cannot connect to the server at {addr}: {e}"))
        })?;
        let hostname = std::env::var("DD_HOSTNAME").unwrap_or_else(|_| "lastbucket".into());
        let mut oracle = oracle::BlackboxOracle::new(self.plan.config.bucket_seconds, &hostname);

        let speed = self.opts.speed;
        align(
            self.first_ns,
            self.span_ns,
            speed,
            self.plan.config.bucket_seconds,
        );
        let start = Instant::now();
        let due = |ts: u64| -> Option<Instant> {
            (speed > 0.0).then(|| {
                start
                    + crate::duration::to_duration(
                        ts.saturating_sub(self.first_ns) as f64 / 1e9 / speed,
                    )
            })
        };
        let point = self.stop.point;
        let mut sent = 0u64;
        let mut last_ts = self.first_ns;
        let mut first_wall = None;
        let mut refused = 0u64;
        let mut send_error = None;
        let mut crashed = None;
        for d in opener.open().map_err(CheckError::Input)? {
            let d = d.map_err(CheckError::Input)?;
            if sent >= point.max_datagrams || point.at_ns.is_some_and(|at| d.ts_ns > at) {
                break;
            }
            if let Some(at) = due(d.ts_ns) {
                sleep_until(at);
            }
            // A server that died mid-stream: stop sending (now and then, a wait(2) each).
            if sent.is_multiple_of(64) {
                if let Some(exit) = server.exited() {
                    crashed = Some(exit);
                    break;
                }
            }
            let now = wall_ns();
            first_wall.get_or_insert(now);
            oracle.sent(now, &d.payload);
            sent += 1;
            last_ts = d.ts_ns;
            match client.send(&d.payload) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => refused += 1,
                Err(e) => {
                    send_error = Some(format!("sending datagram {} to {addr}: {e}", sent - 1));
                    break;
                }
            }
        }
        // The stop moment on the real clock.
        if let Some(at) = point.at_ns.and_then(due) {
            sleep_until(at);
        } else {
            // `end`: after the server read what the kernel holds for it, as far as the kernel
            // tells (a UDP socket's receive queue; what a Unix peer has not consumed).
            let deadline = Instant::now() + DRAIN_WAIT;
            let fd = client.raw_fd();
            let unread = || match (&inode, addr.is_unix()) {
                (Some(row), _) => ready::udp_inode_row(row.inode).is_some_and(|r| r.rx_queue > 0),
                (None, true) => ready::unread_by_peer(fd).is_some_and(|n| n > 0),
                _ => false,
            };
            while Instant::now() < deadline && unread() {
                std::thread::sleep(POLL);
            }
        }
        let _ = client.finish();
        let stop_wall = wall_ns();
        let drops = inode.and_then(|row| {
            ready::udp_inode_row(row.inode).map(|r| r.drops.saturating_sub(row.drops))
        });
        let crashed = crashed.or_else(|| server.exited());
        if crashed.is_none() {
            server.signal(self.opts.stop_signal);
        }
        let exit = server.wait(self.opts.timeout);
        // The socket file the server left behind (the next scenario would remove it anyway).
        let _ = scenario_address(&addr);
        let received = intake.stop();
        let judged = oracle.judge(
            &received.items,
            drops.unwrap_or(0),
            self.samples_per_datagram,
        );
        let mut counts = judged.tally.counts();
        counts
            .lost_by_stage
            .entry(crate::report::Stage::Server.name().into())
            .or_insert(0);
        let expectation = self.plan.expectations.for_settings(&self.settings);
        let mut accounting = Vec::new();
        if !counts.identity_holds() {
            accounting.push(
                "the accounting identity sent = rejected + flushed + lost does not hold".into(),
            );
        }
        let (mut verdict, mut reasons) = crate::verify::verdict(&counts, &accounting, expectation);
        let mut fail = |why: String, reasons: &mut Vec<String>| {
            reasons.push(why);
            if matches!(verdict, Verdict::Pass | Verdict::Vacuous) {
                verdict = Verdict::Fail;
            }
        };
        if judged.disagreement_count > 0 {
            reasons.push(format!(
                "{} windows posted with values that disagree with what was sent (counted lost at server)",
                judged.disagreement_count
            ));
        }
        if let Some(e) = send_error {
            fail(e, &mut reasons);
        }
        if let Some(c) = &crashed {
            fail(
                format!("the server exited ({c}) before the stop signal"),
                &mut reasons,
            );
        } else if exit.killed {
            fail(
                format!(
                    "the server did not exit within {:?} of the stop signal and was killed",
                    self.opts.timeout
                ),
                &mut reasons,
            );
        } else if !exit.clean_after(self.opts.stop_signal) {
            fail(format!("the server exited with {exit}"), &mut reasons);
        }
        let bucket_ns = self.plan.config.bucket_seconds.max(1) as u64 * 1_000_000_000;
        if counts.compared > 0 && received.payload_total() == 0 {
            // With the flag off and everything sent in the bucket still open at the stop, a
            // correct server posts nothing; otherwise nothing posted cannot be told from a
            // server that never reached the intake, and is never a pass.
            let open_start = stop_wall - stop_wall % bucket_ns;
            let closed_before = first_wall.is_some_and(|w| w < open_start);
            if flag || closed_before {
                fail(
                    "the server posted nothing to the intake: that cannot be told from a server \
                     that never reached it, and is never a pass"
                        .into(),
                    &mut reasons,
                );
            } else {
                reasons.push(
                    "the server posted nothing: everything was sent in the bucket open at the stop"
                        .into(),
                );
            }
        }
        if !received.errors.is_empty() {
            fail(
                format!("{} payloads could not be decoded", received.errors.len()),
                &mut reasons,
            );
        }
        let name = scenario_name(&self.stop.spec, &self.settings);
        if let Some(dir) = &self.plan.flushed_out {
            let mut f = super::flushed_out::FlushedFile::create(dir, &name)?;
            f.write(&received.items)?;
            f.finish()?;
        }
        let stream_ns = point.at_ns.unwrap_or(last_ts).saturating_sub(self.first_ns);
        Ok(ScenarioReport {
            name,
            stop: StopInfo {
                spec: self.stop.spec.clone(),
                after_packets: sent,
                stream_time_s: round_ms(stream_ns),
                bucket_phase_s: round_ms(stop_wall % bucket_ns),
            },
            settings: SettingsInfo {
                flush_incomplete_buckets: flag,
                batcher_drain: self.settings.batcher_drain.name().into(),
            },
            expectation,
            counts,
            verdict,
            examples: judged.tally.examples(),
            reasons,
            accounting_errors: accounting,
            held_at_stop: HeldAtStop::default(),
            stage_counters: serde_json::Value::Null,
            socket: Some(SocketInfo {
                transport: addr.scheme().into(),
                address: addr.to_string(),
                sent,
                dropped: drops.unwrap_or(0),
                unread_at_stop: 0,
                kernel_drops: drops,
                unattributed: refused,
            }),
            server: Some(server_info(&cmd, &addr, &exit, &received, &judged, &server)),
        })
    }
}

fn server_info(
    cmd: &str,
    addr: &Address,
    exit: &Exit,
    received: &crate::intake::Received,
    judged: &oracle::Judged,
    server: &ServerProcess,
) -> ServerInfo {
    ServerInfo {
        command: cmd.to_string(),
        address: addr.to_string(),
        exit_code: exit.code,
        exit_signal: exit.signal,
        killed: exit.killed,
        payloads: received.payload_total(),
        items: received.item_total(),
        foreign: judged.foreign,
        unknown_endpoint_requests: received.unknown_total(),
        decode_errors: received.errors.iter().map(|e| e.to_string()).collect(),
        disagreements: judged.disagreements.clone(),
        stderr_tail: server.stderr_tail(),
    }
}

fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// Every scenario of the plan against the external server, one after the other.
pub fn run_blackbox(
    plan: &CheckPlan,
    opts: &BlackboxOptions,
    opener: &dyn StreamOpener,
    observer: &mut dyn CheckObserver,
) -> Result<Report, CheckError> {
    server_process::become_subreaper();
    let (shape, source) = survey(opener, &plan.config)?;
    let (stops, shard) = resolve_all(plan, &shape)?;
    moment::check_inside(&plan.moments, &stops, &shape)?;
    observer.planned(stops.len() * plan.settings.len());
    let mut report = new_report(source, shard);
    let samples_per_datagram = if shape.datagrams > 0 {
        report.source.samples as f64 / shape.datagrams as f64
    } else {
        0.0
    };
    for stop in &stops {
        for settings in &plan.settings {
            let scenario = Scenario {
                plan,
                opts,
                stop,
                settings: *settings,
                first_ns: shape.first_ns,
                span_ns: shape.last_ns.saturating_sub(shape.first_ns),
                samples_per_datagram,
            };
            report.scenarios.push(scenario.run(opener)?);
            report.exit_code = crate::exit::for_report(&report);
            observer.scenarios_done(&report, 1);
        }
    }
    Ok(report)
}
