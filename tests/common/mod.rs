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

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Runs a command that writes `--export-json -` and parses stdout.
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
    let v =
        serde_json::from_str(&text[start..]).unwrap_or_else(|e| panic!("bad JSON ({e}): {text}"));
    (code, v)
}
