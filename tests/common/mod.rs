//! Helpers shared by the CLI tests: the built binary, fixture paths, JSON report reading.
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::PathBuf;

/// The built `lastbucket` binary, with colors off.
pub fn lastbucket() -> Command {
    let mut c = Command::cargo_bin("lastbucket").expect("binary built");
    c.env("NO_COLOR", "1");
    c
}

/// `check SOURCE` with the flag on only, the JSON report on stdout and no terminal report: add
/// arguments, then hand it to [`json_report`].
pub fn check_flag_on(source: &std::path::Path) -> Command {
    let mut c = lastbucket();
    c.arg("check").arg(source).args([
        "--flush-incomplete-buckets",
        "on",
        "--export-json",
        "-",
        "--quiet",
    ]);
    c
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Runs a command that writes `--export-json -` (or `inspect --format json`) and parses stdout.
/// Every scenario of a check or sweep report must satisfy the accounting identity: checked
/// here, so that it holds in every scenario of the test suite.
pub fn json_report(cmd: &mut Command) -> (i32, serde_json::Value) {
    let out = cmd.output().expect("runs");
    let code = out.status.code().unwrap_or(-1);
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find('{').unwrap_or_else(|| {
        panic!(
            "no JSON in stdout: {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let v: serde_json::Value =
        serde_json::from_str(&text[start..]).unwrap_or_else(|e| panic!("bad JSON ({e}): {text}"));
    for s in v["scenarios"].as_array().into_iter().flatten() {
        assert_identity(s);
    }
    (code, v)
}

/// The accounting identity of one scenario of a JSON report, overall and per type, and no
/// accounting error: `sent = rejected + flushed + lost`, `lost = Σ lost_by_stage`.
pub fn assert_identity(s: &serde_json::Value) {
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"));
    let c = &s["counts"];
    assert_eq!(
        n(&c["sent"]),
        n(&c["rejected"]) + n(&c["flushed"]) + n(&c["lost"]),
        "{}",
        s["name"]
    );
    let by_stage: u64 = c["lost_by_stage"]
        .as_object()
        .unwrap()
        .values()
        .map(n)
        .sum();
    assert_eq!(by_stage, n(&c["lost"]), "{}", s["name"]);
    let mut sent = 0;
    let mut stages_of_types = std::collections::BTreeMap::<String, u64>::new();
    for (t, tc) in c["by_type"].as_object().unwrap() {
        assert_eq!(
            n(&tc["sent"]),
            n(&tc["rejected"]) + n(&tc["flushed"]) + n(&tc["lost"]),
            "{} {t}",
            s["name"]
        );
        sent += n(&tc["sent"]);
        let type_stages = tc["lost_by_stage"].as_object().unwrap();
        assert_eq!(
            type_stages.values().map(n).sum::<u64>(),
            n(&tc["lost"]),
            "{} {t}",
            s["name"]
        );
        for (stage, lost) in type_stages {
            *stages_of_types.entry(stage.clone()).or_default() += n(lost);
        }
    }
    assert_eq!(sent, n(&c["sent"]), "{}", s["name"]);
    // Per stage, the types add up to the stage's total.
    for (stage, lost) in c["lost_by_stage"].as_object().unwrap() {
        let of_types = stages_of_types.get(stage).copied().unwrap_or(0);
        assert_eq!(of_types, n(lost), "{} {stage}", s["name"]);
    }
    assert_ne!(
        s["verdict"], "accounting_error",
        "{}",
        s["accounting_errors"]
    );
}
