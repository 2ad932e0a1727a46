//! Exports and the terminal report of `check`, through the built binary: every format agrees
//! with the terminal numbers, stdout exports stay parseable, bad paths fail before the run,
//! colors follow `--color` and `NO_COLOR`.

mod common;
use common::lastbucket;
use predicates::prelude::*;
use quick_xml::events::Event;
use serde_json::Value;
use std::path::Path;

const SOURCE: &str = "gen:seed=2,duration=25";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (testcases, failures, errors) of a JUnit file, checking it is well-formed XML.
fn junit_counts(xml: &str) -> (usize, usize, usize) {
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut cases, mut failures, mut errors) = (0, 0, 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testcase" => cases += 1,
                b"failure" => failures += 1,
                b"error" => errors += 1,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    (cases, failures, errors)
}

#[test]
fn every_export_agrees_with_the_terminal_report() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let out = lastbucket()
        .args([
            "check", SOURCE, "--legacy", "--stop", "end", "--stop", "phase:4s",
        ])
        .arg("--export-json")
        .arg(p("r.json"))
        .arg("--export-csv")
        .arg(p("r.csv"))
        .arg("--export-markdown")
        .arg(p("r.md"))
        .arg("--export-junit")
        .arg(p("r.xml"))
        .output()
        .unwrap();
    // on with the old drain loses the queue: a violated expectation.
    assert_eq!(out.status.code(), Some(1));
    let terminal = String::from_utf8(out.stdout).unwrap();
    let json: Value = serde_json::from_str(&read(&p("r.json"))).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["exit_code"], 1);
    let scenarios = json["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 6);

    // Terminal rows: the scenario name, then sent, rejected, flushed, lost.
    for s in scenarios {
        let name = s["name"].as_str().unwrap();
        let row = terminal
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no terminal row for {name}:\n{terminal}"));
        let numbers: Vec<u64> = row[name.len()..]
            .split_whitespace()
            .take(4)
            .map(|n| n.parse().unwrap())
            .collect();
        let c = &s["counts"];
        let expect: Vec<u64> = ["sent", "rejected", "flushed", "lost"]
            .iter()
            .map(|k| c[*k].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, expect, "{name}");
        assert!(row.ends_with(&s["verdict"].as_str().unwrap().to_uppercase()));
        // The stage-counter row of the scenario: datagrams read, then packets, batches, the
        // samples the queue dropped, lines parsed — the pipeline's own counters, as in the JSON.
        let stages = terminal
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .nth(1)
            .unwrap_or_else(|| panic!("no stage row for {name}:\n{terminal}"));
        let numbers: Vec<u64> = stages[name.len()..]
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        let k = &s["stage_counters"];
        assert_eq!(numbers[0], k["listener"]["datagrams"].as_u64().unwrap());
        assert_eq!(numbers[3], k["queue"]["samples_dropped"].as_u64().unwrap());
        assert_eq!(numbers[4], k["workers"]["lines"].as_u64().unwrap());
    }

    let mut csv = csv::Reader::from_path(p("r.csv")).unwrap();
    let header = csv.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let rows: Vec<_> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), scenarios.len());
    for (row, s) in rows.iter().zip(scenarios) {
        assert_eq!(&row[col("scenario")], s["name"].as_str().unwrap());
        assert_eq!(row[col("lost")], s["counts"]["lost"].to_string());
        assert_eq!(
            row[col("lost_open_bucket")],
            s["counts"]["lost_by_stage"]["open_bucket"].to_string()
        );
        assert_eq!(&row[col("verdict")], s["verdict"].as_str().unwrap());
    }

    let failed = scenarios.iter().filter(|s| s["verdict"] == "fail").count();
    assert_eq!(failed, 2, "on-never fails at both moments");
    assert_eq!(junit_counts(&read(&p("r.xml"))), (6, failed, 0));

    let md = read(&p("r.md"));
    let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 2 + scenarios.len());
    let columns = table[0].matches('|').count();
    assert!(table.iter().all(|l| l.matches('|').count() == columns));
    assert!(md.contains("**fail**"));
}

#[test]
fn a_stdout_export_keeps_stdout_to_itself() {
    let out = lastbucket()
        .args(["check", SOURCE, "--export-csv", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut rd = csv::Reader::from_reader(stdout.as_bytes());
    assert_eq!(rd.records().count(), 2);
    // The terminal report went to stderr.
    assert!(String::from_utf8_lossy(&out.stderr).contains("lost by stage"));
}

#[test]
fn an_unwritable_export_path_fails_before_the_run() {
    lastbucket()
        .args(["check", SOURCE, "--export-json", "/nonexistent-dir/r.json"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent-dir/r.json"))
        .stdout(predicate::str::contains("scenarios").not());
}

#[test]
fn colors_follow_the_color_flag_and_no_color() {
    let esc = predicate::str::contains("\u{1b}[");
    lastbucket()
        .args(["check", SOURCE, "--color", "always"])
        .assert()
        .stdout(esc.clone());
    // Not a terminal (captured): auto means no color; NO_COLOR set by the helper, too.
    lastbucket()
        .args(["check", SOURCE])
        .assert()
        .stdout(esc.clone().not());
    lastbucket()
        .env_remove("NO_COLOR")
        .args(["check", SOURCE, "--color", "never"])
        .assert()
        .stdout(esc.not());
}

#[test]
fn quiet_prints_the_summary_line_only() {
    lastbucket()
        .args(["check", SOURCE, "--quiet"])
        .assert()
        .code(0)
        .stdout(predicate::str::is_match("^2 scenarios: 2 passed — exit 0\n$").unwrap());
}
