//! One error type, one mapping to exit codes (issue 13, point 5): an output that cannot be
//! written is `exit::OUTPUT` in every command, an unreadable source is `exit::INPUT`, a usage
//! error is `exit::USAGE`.

mod common;
use common::lastbucket;
use lastbucket::exit::{INPUT, OUTPUT, USAGE};
use predicates::str::contains;

const MISSING: &str = "/nonexistent-lastbucket-dir";

#[test]
fn an_unwritable_output_is_the_output_code_in_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let sock = |name: &str| format!("unixgram://{}", dir.path().join(name).display());
    let runs: Vec<Vec<String>> = vec![
        vec!["check", "gen:duration=2", "--quiet", "--export-json"]
            .into_iter()
            .map(String::from)
            .chain([format!("{MISSING}/x.json")])
            .collect(),
        [
            "sweep",
            "gen:duration=12",
            "--every",
            "5s",
            "--quiet",
            "--export-json",
        ]
        .into_iter()
        .map(String::from)
        .chain([format!("{MISSING}/x.json")])
        .collect(),
        vec![
            "generate".into(),
            "gen:duration=2".into(),
            "-o".into(),
            format!("{MISSING}/g.dog"),
        ],
        vec![
            "record".into(),
            "--listen".into(),
            sock("r.sock"),
            "-o".into(),
            format!("{MISSING}/r.dog"),
        ],
        vec![
            "intake".into(),
            "--out".into(),
            format!("{MISSING}/i.jsonl"),
        ],
        vec![
            "serve".into(),
            "--listen".into(),
            sock("s.sock"),
            "--flushed-out".into(),
            format!("{MISSING}/f.jsonl"),
        ],
        vec![
            "serve".into(),
            "--listen".into(),
            sock("t.sock"),
            "--stats-json".into(),
            format!("{MISSING}/s.json"),
        ],
    ];
    for args in runs {
        lastbucket()
            .args(&args)
            .assert()
            .code(OUTPUT)
            .stderr(contains(MISSING));
    }
}

#[test]
fn an_unreadable_source_is_the_input_code() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.dog");
    let missing = missing.to_str().unwrap();
    for args in [
        vec!["check", missing, "--quiet"],
        vec!["sweep", missing, "--every", "5s", "--quiet"],
        vec!["inspect", missing],
    ] {
        lastbucket()
            .args(&args)
            .assert()
            .code(INPUT)
            .stderr(contains("missing.dog"));
    }
    let report = dir.path().join("shard.json");
    std::fs::write(&report, "not json").unwrap();
    lastbucket()
        .arg("merge")
        .arg(&report)
        .assert()
        .code(INPUT)
        .stderr(contains("not a lastbucket JSON report"));
}

#[test]
fn a_usage_error_is_the_usage_code() {
    for args in [
        vec!["check", "gen:no_such_key=1", "--quiet"],
        vec!["sweep", "gen:no_such_key=1", "--every", "5s", "--quiet"],
        vec!["generate", "not-gen-settings", "-o", "-"],
        vec!["serve", "--listen", "bogus://nowhere"],
        vec!["replay", "gen:duration=1", "--to", "bogus://nowhere"],
    ] {
        lastbucket().args(&args).assert().code(USAGE);
    }
}

#[test]
fn the_exit_table_documents_the_output_code() {
    let table = lastbucket::exit::TABLE;
    assert!(table.contains(&format!("  {OUTPUT}  ")));
    assert!(table.contains("an output that cannot be written"));
}
