//! `--config` with the agent's own YAML files (`datadog.yaml`, `dogstatsd.yaml`), through the
//! real binary: `check` applies the DogStatsD keys it models and names the ones it ignores;
//! `serve` does the same and runs with them; an unknown `dogstatsd_*` key is a usage error.

mod common;
mod server_common;
use common::{fixture, json_report, lastbucket};
use predicates::prelude::*;
use serde_json::Value;
use server_common::{poll, Running};
use std::net::UdpSocket;
use std::path::Path;

fn check_with(config: &Path) -> (i32, Value) {
    json_report(
        lastbucket()
            .args(["check", "--quiet", "--export-json", "-", "--config"])
            .arg(config),
    )
}

/// Packets per batch and packet assembly, as the stage counters of a scenario show them.
fn packets_and_batches(scenario: &Value) -> (u64, u64) {
    let c = &scenario["stage_counters"];
    (
        c["assembler"]["packets_out"].as_u64().unwrap(),
        c["packets_buffer"]["batches_out"].as_u64().unwrap(),
    )
}

#[test]
fn check_reads_a_real_datadog_yaml() {
    let (code, report) = check_with(&fixture("datadog.yaml"));
    assert_eq!(code, 0);
    // dogstatsd_flush_incomplete_buckets: true picks the flag-on setting alone.
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 1);
    assert_eq!(scenarios[0]["settings"]["flush_incomplete_buckets"], true);
    // A 1 s packet flush timeout and batches of 4 packets, as in the TOML test of cli_check.
    let (packets, batches) = packets_and_batches(&scenarios[0]);
    assert!(packets < 200, "{packets} packets");
    assert!(batches >= packets / 4, "{batches} batches of {packets}");
}

#[test]
fn check_names_what_a_datadog_yaml_applied_and_ignored() {
    lastbucket()
        .args(["check", "--quiet", "--config"])
        .arg(fixture("datadog.yaml"))
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "applied hostname, dogstatsd_buffer_size, dogstatsd_packet_buffer_size, \
             dogstatsd_packet_buffer_flush_timeout, dogstatsd_queue_size, \
             dogstatsd_flush_incomplete_buckets;",
        ))
        .stderr(predicate::str::contains(
            "api_key, site, tags, logs_enabled",
        ))
        .stderr(predicate::str::contains("dogstatsd_mapper_profiles"))
        // Keys are named, never their values (an api_key is a secret).
        .stderr(predicate::str::contains("0123456789abcdef").not());
}

#[test]
fn check_reads_a_dogstatsd_yaml() {
    let (code, report) = check_with(&fixture("dogstatsd.yaml"));
    assert_eq!(code, 0, "{report}");
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 1);
    assert_eq!(scenarios[0]["settings"]["flush_incomplete_buckets"], false);
    let (packets, _) = packets_and_batches(&scenarios[0]);
    assert!(packets < 200, "{packets} packets");
}

#[test]
fn a_yaml_file_without_its_extension_is_read_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.conf");
    std::fs::copy(fixture("dogstatsd.yaml"), &config).unwrap();
    let (code, report) = check_with(&config);
    assert_eq!(code, 0);
    assert_eq!(report["scenarios"].as_array().unwrap().len(), 1);
}

#[test]
fn an_unknown_dogstatsd_key_or_bad_yaml_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("datadog.yaml");
    std::fs::write(&config, "api_key: x\ndogstatsd_queue_sise: 8\n").unwrap();
    for command in ["check", "serve"] {
        lastbucket()
            .args([command, "--config"])
            .arg(&config)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("\"dogstatsd_queue_sise\""))
            .stderr(predicate::str::contains(
                "did you mean \"dogstatsd_queue_size\"",
            ))
            .stderr(predicate::str::contains(
                "accepted keys: buffer_size (dogstatsd_buffer_size)",
            ));
    }
    std::fs::write(&config, "dogstatsd_queue_size: [8\n").unwrap();
    lastbucket()
        .args(["check", "--config"])
        .arg(&config)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("YAML"))
        .stderr(predicate::str::contains("line"));
}

/// serve with a datadog.yaml whose read buffer is 64 bytes: a longer datagram is truncated,
/// so the file's keys reached the server's listeners.
#[test]
fn serve_runs_with_a_datadog_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("datadog.yaml");
    let text = std::fs::read_to_string(fixture("datadog.yaml")).unwrap();
    std::fs::write(
        &config,
        text.replace("dogstatsd_buffer_size: 8192", "dogstatsd_buffer_size: 64"),
    )
    .unwrap();
    let stats_path = dir.path().join("stats.json");
    let mut server = Running::spawn([
        "serve",
        "--listen",
        "udp://127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
        "--stats-json",
        stats_path.to_str().unwrap(),
        "--flushed-out",
        dir.path().join("flushed.jsonl").to_str().unwrap(),
    ]);
    let address = server.listening();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = address.trim_start_matches("udp://").to_string();
    let long = format!("lb.long:1|c|#{}", "t".repeat(100));
    poll("the server to read a long datagram", || {
        socket.send_to(long.as_bytes(), &target).ok()?;
        let stats: Value = serde_json::from_slice(&std::fs::read(&stats_path).ok()?).ok()?;
        let truncated = stats["stage_counters"]["listener"]["truncated_datagrams"].as_u64()?;
        (truncated > 0).then_some(())
    });
    server.signal(libc::SIGTERM);
    let (status, stderr) = server.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("dogstatsd_buffer_size"), "{stderr}");
    assert!(stderr.contains("ignored"), "{stderr}");
}
