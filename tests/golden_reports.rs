//! Golden `lastbucket check` reports: every case of `tests/golden/cases.txt` is run on the
//! virtual clock and its JSON report must equal `tests/golden/<name>.json` (the report as the
//! code of the time exported it) in every field but the top-level `tool` block. They pin every
//! verdict, count, loss attribution, example and stage counter, so a rewrite of the verifier
//! can show it changed none of them.
//!
//! `LASTBUCKET_WRITE_GOLDEN=1 cargo test --test golden_reports` rewrites the golden files from
//! the current code (the expected exit codes stay in the manifest, and must still hold).

use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One line of the manifest.
#[derive(Debug)]
struct Case {
    name: String,
    exit_code: i32,
    args: Vec<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn golden_dir() -> PathBuf {
    root().join("tests").join("golden")
}

/// `name<TAB>exit code<TAB>arg<TAB>arg...`; blank lines and `#` comments are skipped.
fn read_manifest() -> Vec<Case> {
    let path = golden_dir().join("cases.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut cases = Vec::new();
    let mut names = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{}:{}", path.display(), i + 1);
        let mut fields = line.split('\t');
        let name = fields.next().unwrap_or_default().to_string();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{at}: bad case name {name:?} (letters, digits, - and _)"
        );
        assert!(names.insert(name.clone()), "{at}: case {name} twice");
        let exit_code = fields
            .next()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or_else(|| panic!("{at}: case {name}: no exit code after the name"));
        let args: Vec<String> = fields.map(str::to_string).collect();
        assert!(
            args.iter().all(|a| !a.is_empty()),
            "{at}: case {name}: empty argument (two tabs in a row?)"
        );
        cases.push(Case {
            name,
            exit_code,
            args,
        });
    }
    assert!(!cases.is_empty(), "{}: no case", path.display());
    cases
}

/// A JSON report without its top-level `tool` block (name and version of the binary), and
/// without the scenarios' `examples`: a capped sample of lost samples for people to look at,
/// which the streaming verifier picks in its own order. Every count, verdict and reason stays.
fn without_tool(mut report: Value) -> Value {
    if let Some(map) = report.as_object_mut() {
        map.remove("tool");
        if let Some(Value::Array(scenarios)) = map.get_mut("scenarios") {
            for s in scenarios {
                if let Some(s) = s.as_object_mut() {
                    s.remove("examples");
                }
            }
        }
    }
    report
}

/// A value for a failure message, cut short when long.
fn show(v: Option<&Value>) -> String {
    let Some(v) = v else {
        return "<missing>".to_string();
    };
    let s = serde_json::to_string(v).unwrap_or_else(|e| format!("<unprintable: {e}>"));
    if s.chars().count() > 300 {
        let cut: String = s.chars().take(300).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// The first place where `actual` differs from `golden`, depth first and in key order:
/// `(path, golden value, actual value)`. Numbers compare as serde_json values, exactly.
fn first_diff(path: &str, golden: &Value, actual: &Value) -> Option<(String, String, String)> {
    match (golden, actual) {
        (Value::Object(g), Value::Object(a)) => {
            let keys: BTreeSet<&String> = g.keys().chain(a.keys()).collect();
            keys.into_iter().find_map(|k| {
                let p = format!("{path}.{k}");
                match (g.get(k), a.get(k)) {
                    (Some(gv), Some(av)) => first_diff(&p, gv, av),
                    (gv, av) => Some((p, show(gv), show(av))),
                }
            })
        }
        (Value::Array(g), Value::Array(a)) => (0..g.len().max(a.len())).find_map(|i| {
            let p = format!("{path}[{i}]");
            match (g.get(i), a.get(i)) {
                (Some(gv), Some(av)) => first_diff(&p, gv, av),
                (gv, av) => Some((
                    format!("{p} (golden has {} items, actual {})", g.len(), a.len()),
                    show(gv),
                    show(av),
                )),
            }
        }),
        (g, a) if g == a => None,
        (g, a) => Some((path.to_string(), show(Some(g)), show(Some(a)))),
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

/// Runs one case; `Err` says what went wrong.
fn run_case(case: &Case, tmp: &Path, write: bool) -> Result<(), String> {
    let out = tmp.join(format!("{}.json", case.name));
    let output = Command::cargo_bin("lastbucket")
        .expect("binary built")
        .current_dir(root())
        .env("NO_COLOR", "1")
        .arg("check")
        .args(&case.args)
        .args(["--color", "never", "--export-json"])
        .arg(&out)
        .output()
        .map_err(|e| format!("cannot run lastbucket: {e}"))?;
    let code = output.status.code();
    if code != Some(case.exit_code) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr: Vec<&str> = stderr.lines().collect();
        let stdout = String::from_utf8_lossy(&output.stdout);
        return Err(format!(
            "exit code {code:?}, expected {}\n      summary: {}\n      stderr: {}",
            case.exit_code,
            stdout.lines().last().unwrap_or(""),
            stderr[stderr.len().saturating_sub(10)..].join("\n              ")
        ));
    }
    let golden_path = golden_dir().join(format!("{}.json", case.name));
    if write {
        std::fs::copy(&out, &golden_path)
            .map_err(|e| format!("cannot write {}: {e}", golden_path.display()))?;
        return Ok(());
    }
    let actual = without_tool(read_json(&out)?);
    let golden = without_tool(read_json(&golden_path)?);
    match first_diff("$", &golden, &actual) {
        None => Ok(()),
        Some((path, g, a)) => Err(format!(
            "report differs from {} first at {path}\n      golden: {g}\n      actual: {a}",
            golden_path.display()
        )),
    }
}

#[test]
fn check_reports_match_the_golden_files() {
    let write = std::env::var_os("LASTBUCKET_WRITE_GOLDEN").is_some_and(|v| v == "1");
    let cases = read_manifest();
    let tmp = tempfile::tempdir().expect("temp dir");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            run_case(case, tmp.path(), write).err().map(|e| {
                format!(
                    "case {} (lastbucket check {}):\n    {e}",
                    case.name,
                    case.args.join(" ")
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Every golden report belongs to a case (a renamed or removed case leaves none behind).
#[test]
fn every_golden_file_has_a_case() {
    let names: BTreeSet<String> = read_manifest().into_iter().map(|c| c.name).collect();
    let orphans: Vec<String> = std::fs::read_dir(golden_dir())
        .expect("tests/golden")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".json").map(str::to_string))
        .filter(|n| !names.contains(n))
        .collect();
    assert!(
        orphans.is_empty(),
        "golden files without a case in tests/golden/cases.txt: {orphans:?}"
    );
}

#[test]
fn the_diff_names_the_first_differing_path() {
    let golden = serde_json::json!({"a": 1, "s": [{"x": 1.5, "y": [1, 2]}], "z": true});
    let same = golden.clone();
    assert_eq!(first_diff("$", &golden, &same), None);
    let changed =
        serde_json::json!({"a": 1, "s": [{"x": 1.5000000000000002, "y": [1, 2]}], "z": false});
    assert_eq!(
        first_diff("$", &golden, &changed),
        Some(("$.s[0].x".into(), "1.5".into(), "1.5000000000000002".into()))
    );
    let shorter = serde_json::json!({"a": 1, "s": [{"x": 1.5, "y": [1]}], "z": true});
    assert_eq!(
        first_diff("$", &golden, &shorter),
        Some((
            "$.s[0].y[1] (golden has 2 items, actual 1)".into(),
            "2".into(),
            "<missing>".into()
        ))
    );
    let extra = serde_json::json!({"a": 1, "b": 0, "s": [{"x": 1.5, "y": [1, 2]}], "z": true});
    assert_eq!(
        first_diff("$", &golden, &extra),
        Some(("$.b".into(), "<missing>".into(), "0".into()))
    );
    // An integer and a float of the same value are different JSON values.
    assert!(first_diff("$", &serde_json::json!(1), &serde_json::json!(1.0)).is_some());
    assert_eq!(
        without_tool(serde_json::json!({"tool": {"version": "9"}, "k": 1})),
        serde_json::json!({"k": 1})
    );
}

/// `--flushed-out` streams each scenario's items (the pass's shared prefix, then its own stop);
/// the files must be byte for byte what the code before the streaming verifier wrote, which
/// replayed each scenario whole.
#[test]
fn flushed_output_matches_the_golden_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let golden = root.join("tests/golden/flushed/node-client");
    let out = tempfile::tempdir().unwrap();
    Command::cargo_bin("lastbucket")
        .unwrap()
        .current_dir(root)
        .args([
            "check",
            "fixtures/node-client.pcap",
            "--stop",
            "packets:200",
            "--stop",
            "end",
        ])
        .args(["--color", "never", "--flushed-out"])
        .arg(out.path())
        .assert()
        .success();
    let mut names: Vec<_> = std::fs::read_dir(&golden)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 4);
    for name in names {
        let want = std::fs::read(golden.join(&name)).unwrap();
        let got = std::fs::read(out.path().join(&name))
            .unwrap_or_else(|e| panic!("{}: {e}", name.to_string_lossy()));
        assert!(
            want == got,
            "{} differs from the golden file",
            name.to_string_lossy()
        );
    }
}
