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

/// What a sweep's SVG plot shows, read back from the SVG itself.
#[derive(Debug, Default)]
#[allow(dead_code)]
pub struct SvgPlot {
    /// One per setting: its color and the number of points of its longest line.
    pub series: Vec<SvgSeries>,
    /// Distinct x positions (pixels) of the vertical bucket marks.
    pub bucket_marks: Vec<i64>,
    /// Distinct x positions (pixels) of the vertical flush-tick marks.
    pub tick_marks: Vec<i64>,
    /// Every text of the plot (title, axis labels, tick labels, legend).
    pub texts: Vec<String>,
}

#[derive(Debug)]
#[allow(dead_code)]
pub struct SvgSeries {
    pub color: String,
    pub points: usize,
}

/// Parses the SVG plot of `sweep --plot`: lines two pixels wide are the settings' series (a
/// legend sample of each shares its color); dashed vertical lines in the bucket grey and the
/// tick cyan of `sweep::plot` are the marks.
#[allow(dead_code)]
pub fn svg_plot(path: &std::path::Path) -> SvgPlot {
    use quick_xml::events::Event;
    let text = std::fs::read_to_string(path).unwrap();
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut plot = SvgPlot::default();
    let mut in_text = false;
    loop {
        match reader.read_event().expect("well-formed SVG") {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"polyline" => {
                let attr = |name: &str| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == name.as_bytes())
                        .map(|a| String::from_utf8_lossy(&a.value).to_string())
                        .unwrap_or_default()
                };
                let points: Vec<(i64, i64)> = attr("points")
                    .split_whitespace()
                    .filter_map(|p| {
                        let (x, y) = p.split_once(',')?;
                        Some((x.parse().ok()?, y.parse().ok()?))
                    })
                    .collect();
                let stroke = attr("stroke");
                let vertical = points.len() >= 2 && points.iter().all(|p| p.0 == points[0].0);
                if attr("stroke-width") == "2" {
                    match plot.series.iter_mut().find(|s| s.color == stroke) {
                        Some(s) => s.points = s.points.max(points.len()),
                        None => plot.series.push(SvgSeries {
                            color: stroke,
                            points: points.len(),
                        }),
                    }
                } else if vertical && (stroke == "#B0B0B0" || stroke == "#17BECF") {
                    let marks = if stroke == "#B0B0B0" {
                        &mut plot.bucket_marks
                    } else {
                        &mut plot.tick_marks
                    };
                    if !marks.contains(&points[0].0) {
                        marks.push(points[0].0);
                    }
                }
            }
            Event::Start(e) if e.name().as_ref() == b"text" => in_text = true,
            Event::End(e) if e.name().as_ref() == b"text" => in_text = false,
            Event::Text(t) if in_text => {
                let t = t
                    .unescape()
                    .map(|t| t.trim().to_string())
                    .unwrap_or_default();
                if !t.is_empty() {
                    plot.texts.push(t);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    plot
}
