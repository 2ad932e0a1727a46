//! One way to do each thing across commands (issue "One-way architecture and a consistent
//! CLI"): the flag from a `--config` file in `serve`, outputs that cannot be written, `-` as
//! stdout, stop moments the stream cannot have, and the words of the summary.

mod common;
use common::lastbucket;
use predicates::prelude::*;
use predicates::str::contains;
use std::time::{Duration, Instant};

/// The stop settings a running `serve` reports in its `--stats-json`, then SIGTERM.
fn serve_settings(extra: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    let stats = dir.path().join("stats.json");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lastbucket"));
    cmd.arg("serve")
        .arg("--listen")
        .arg(format!("unixgram://{}", sock.display()))
        .arg("--stats-json")
        .arg(&stats)
        .args(extra)
        .env_remove("DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS")
        .envs(env.iter().copied())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let settings = loop {
        let read = std::fs::read_to_string(&stats)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        if let Some(v) = read {
            break v["settings"].clone();
        }
        assert!(Instant::now() < deadline, "serve wrote no stats");
        assert!(child.try_wait().unwrap().is_none(), "serve exited");
        std::thread::sleep(Duration::from_millis(20));
    };
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    settings
}

#[test]
fn serve_takes_the_flag_from_its_config_file_below_the_agent_variable_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let on = dir.path().join("on.toml");
    std::fs::write(&on, "dogstatsd_flush_incomplete_buckets = true\n").unwrap();
    let on = on.to_str().unwrap();
    let flag = |v: serde_json::Value| v["flush_incomplete_buckets"].as_bool().unwrap();
    assert!(!flag(serve_settings(&[], &[])));
    assert!(flag(serve_settings(&["--config", on], &[])));
    let env_off = [("DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS", "false")];
    assert!(!flag(serve_settings(&["--config", on], &env_off)));
    assert!(!flag(serve_settings(
        &["--config", on, "--flush-incomplete-buckets", "off"],
        &[]
    )));
}

#[test]
fn an_output_that_cannot_be_written_is_exit_2_in_every_command() {
    let missing = "/nonexistent-lastbucket-dir";
    lastbucket()
        .args(["check", "gen:duration=2", "--export-json"])
        .arg(format!("{missing}/r.json"))
        .assert()
        .code(2)
        .stderr(contains(missing));
    lastbucket()
        .args(["generate", "gen:duration=2", "-o"])
        .arg(format!("{missing}/g.dog"))
        .assert()
        .code(2)
        .stderr(contains(missing));
    lastbucket()
        .args([
            "sweep",
            "gen:duration=12",
            "--every",
            "5s",
            "--quiet",
            "--plot",
        ])
        .arg(format!("{missing}/p.svg"))
        .assert()
        .code(2)
        .stderr(contains(missing));
}

#[test]
fn flushed_out_does_not_make_missing_parents() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("no/such/dir");
    lastbucket()
        .args(["check", "gen:duration=2", "--quiet", "--flushed-out"])
        .arg(&target)
        .assert()
        .code(2)
        .stderr(contains(format!(
            "the folder {} does not exist",
            dir.path().join("no/such").display()
        )));
    assert!(!dir.path().join("no").exists());
    // A new folder whose parent exists is made.
    let fresh = dir.path().join("fresh");
    lastbucket()
        .args(["check", "gen:duration=2", "--quiet", "--flushed-out"])
        .arg(&fresh)
        .assert()
        .code(0);
    assert!(fresh.is_dir());
}

#[test]
fn dash_is_stdout_for_generate_and_two_on_stdout_are_refused() {
    let out = lastbucket()
        .args(["generate", "gen:seed=3,duration=3", "-o", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("same.jsonl");
    lastbucket()
        .args(["generate", "gen:seed=3,duration=3", "-o"])
        .arg(&file)
        .assert()
        .code(0);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        out.stdout,
        "stdout is the file"
    );
    lastbucket()
        .args([
            "check",
            "gen:duration=2",
            "--export-json",
            "-",
            "--export-csv",
            "-",
        ])
        .assert()
        .code(2)
        .stderr(contains("JSON and CSV exports both go to stdout"));
}

#[test]
fn text_output_warns_that_it_drops_datagrams_and_times() {
    let dir = tempfile::tempdir().unwrap();
    lastbucket()
        .args(["generate", "gen:duration=2", "-o"])
        .arg(dir.path().join("g.txt"))
        .assert()
        .code(0)
        .stderr(contains("datagram boundaries and arrival times are lost"));
    lastbucket()
        .args(["generate", "gen:duration=2", "-o"])
        .arg(dir.path().join("g.jsonl"))
        .assert()
        .code(0)
        .stderr(contains("warning").not());
}

#[test]
fn stop_moments_past_the_stream_are_usage_errors() {
    // The stream spans 0 to 9.99 s.
    for stop in ["t:12s", "phase:9.995s", "packets:100000"] {
        lastbucket()
            .args(["check", "gen:duration=10", "--stop", stop, "--quiet"])
            .assert()
            .code(2)
            .stderr(contains(format!("invalid stop moment '{stop}'")));
    }
    lastbucket()
        .args(["check", "gen:duration=10", "--stop", "t:9.5s", "--quiet"])
        .assert()
        .code(0);
}

#[test]
fn one_scenario_is_one_scenario() {
    lastbucket()
        .args([
            "check",
            "gen:duration=2",
            "--flush-incomplete-buckets",
            "on",
        ])
        .assert()
        .code(0)
        .stdout(contains("1 scenario: 1 passed"));
}

#[test]
fn dash_is_stdout_for_a_sweep_plot_and_for_serve_stats() {
    let out = lastbucket()
        .args(["sweep", "gen:duration=12", "--every", "5s", "--quiet"])
        .args(["--plot", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.starts_with(b"<svg"), "the plot is stdout");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("scenarios:"),
        "the summary moves to stderr"
    );
    lastbucket()
        .args(["sweep", "gen:duration=12", "--every", "5s", "--quiet"])
        .args(["--plot", "-", "--export-json", "-"])
        .assert()
        .code(2)
        .stderr(contains("--plot and --export-json both go to stdout"));
    lastbucket()
        .args([
            "serve",
            "--listen",
            "udp://127.0.0.1:0",
            "--stats-json",
            "-",
        ])
        .assert()
        .code(2)
        .stderr(contains("--flushed-out and --stats-json both go to stdout"));

    // `--stats-json -` alone on stdout: the final stats, one JSON document, after SIGTERM.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_lastbucket"))
        .arg("serve")
        .arg("--listen")
        .arg(format!("unixgram://{}", sock.display()))
        .args(["--flush-incomplete-buckets", "on", "--stats-json", "-"])
        .arg("--flushed-out")
        .arg(dir.path().join("flushed.jsonl"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
    while client.send_to(b"dash.stats:1|c", &sock).is_err() {
        assert!(Instant::now() < deadline, "serve never bound its socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    // The datagram may still be in the socket at the stop (the stop does not read on).
    assert_eq!(stats["running"], false, "{stats}");
    assert!(stats["datagrams_read"].as_u64().unwrap() <= 1, "{stats}");
    assert!(
        stats["stage_counters"]["flush"]["flushes"]
            .as_u64()
            .unwrap()
            >= 1
    );
}

#[test]
fn the_flag_and_the_drain_are_parsed_once_with_the_same_values_in_every_command() {
    for cmd in ["check", "sweep", "serve"] {
        lastbucket()
            .args([cmd, "--batcher-drain", "sometimes"])
            .assert()
            .code(2)
            .stderr(contains("[possible values: auto, never]"));
    }
    lastbucket()
        .args(["serve", "--flush-incomplete-buckets", "both"])
        .assert()
        .code(2)
        .stderr(contains("[possible values: on, off]"));
    lastbucket()
        .args(["check", "--flush-incomplete-buckets", "maybe"])
        .assert()
        .code(2)
        .stderr(contains("[possible values: on, off, both]"));
    // The drain reaches the report as given.
    let out = lastbucket()
        .args([
            "check",
            "gen:duration=2",
            "--flush-incomplete-buckets",
            "on",
        ])
        .args(["--batcher-drain", "never", "--export-json", "-", "--quiet"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let settings = &report["scenarios"][0]["settings"];
    assert_eq!(settings["batcher_drain"], "never", "{report}");
    assert_eq!(settings["flush_incomplete_buckets"], true);
}

#[test]
fn check_and_inspect_count_datagrams_and_samples_the_same_way() {
    let check = lastbucket()
        .args(["check", "--quiet", "--export-json", "-"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    let (datagrams, samples) = (&report["source"]["packets"], &report["source"]["samples"]);
    let text = lastbucket().args(["check"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("{datagrams} datagrams, "))
            && text.contains(&format!("{samples} samples")),
        "{text}"
    );
    let inspect = lastbucket().arg("inspect").output().unwrap();
    let inspect = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        inspect.contains(&format!("datagrams       {datagrams}\n")),
        "{inspect}"
    );
    assert!(
        inspect.contains(&format!("samples         {samples} (")),
        "{inspect}"
    );
}
