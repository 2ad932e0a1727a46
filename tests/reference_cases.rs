//! Hand-computed cases from the reference's source (datadog-agent `enrich.go`,
//! `parse_events.go`, `pkg/metrics/histogram.go`, `time_sampler.go`): what `check` flushes must
//! be what the agent would flush, and the verdict must agree that nothing is wrong.

mod common;
use common::{check_flag_on, json_report};
use serde_json::Value;

/// Runs `check` on one datagram at 1700000001 s with the flag on; returns the flushed items.
fn flushed(payload: &str) -> Vec<Value> {
    flushed_stream(&[(1_700_000_001, payload)])
}

/// A JSON-lines source of datagrams (arrival second, payload) in `dir`.
fn source(dir: &std::path::Path, datagrams: &[(u64, &str)]) -> std::path::PathBuf {
    let path = dir.join("s.jsonl");
    let lines: Vec<String> = datagrams
        .iter()
        .map(|(s, p)| serde_json::json!({"ts_ns": s * 1_000_000_000, "payload": p}).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// Runs `check` on datagrams (arrival second, payload) with the flag on.
fn flushed_stream(datagrams: &[(u64, &str)]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path(), datagrams);
    let out = dir.path().join("out");
    let (code, report) = json_report(check_flag_on(&source).arg("--flushed-out").arg(&out));
    assert_eq!(code, 0, "{report}");
    let file = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn find<'a>(items: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let field = if kind == "event" {
        "title"
    } else if kind == "service_check" {
        "check"
    } else {
        "metric"
    };
    items
        .iter()
        .find(|i| i["kind"] == kind && i[field] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {items:?}"))
}

#[test]
fn an_events_own_host_field_wins_over_a_host_tag_and_its_title_is_unescaped() {
    let items = flushed(
        "_e{8,12}:my title|line1\\nline2|d:1699999999|h:evhost|#env:prod,host:taghost,env:prod\n\
         _e{5,10}:he\\nl|ab\\ncdefgh\n\
         _e{2,1}:no|x|#host:fromtag|p:urgent|t:bad",
    );
    let e = find(&items, "event", "my title");
    assert_eq!(e["host"], "evhost");
    assert_eq!(e["text"], "line1\nline2");
    assert_eq!(e["tags"], serde_json::json!(["env:prod"]));
    assert_eq!(e["ts"], 1_699_999_999);
    // `cleanEventText` runs on the title too.
    find(&items, "event", "he\nl");
    // No h: field: the host: tag; invalid p:/t: keep the defaults normal / info.
    let e = find(&items, "event", "no");
    assert_eq!(e["host"], "fromtag");
    assert_eq!(
        (&e["priority"], &e["alert_type"]),
        (&"normal".into(), &"info".into())
    );
}

#[test]
fn a_service_checks_own_host_field_wins_over_a_host_tag() {
    let items = flushed("_sc|my.check|2|h:schost|#a:b,host:x|m:it broke");
    let c = find(&items, "service_check", "my.check");
    assert_eq!(c["host"], "schost");
    assert_eq!(c["tags"], serde_json::json!(["a:b"]));
    assert_eq!(c["message"], "it broke");
}

#[test]
fn histogram_weights_truncated_to_zero_flush_as_the_reference_does() {
    // @2: weight int64(1 / 2) = 0, so count 0; the median stays 0, no percentile passes.
    let items = flushed("h:4|h|@2");
    let point = |m: &str| find(&items, "series", m)["points"][0][1].clone();
    assert_eq!(point("h.max"), 4.0);
    assert_eq!(point("h.median"), 0.0);
    assert_eq!(point("h.count"), 0.0);
    assert!(items.iter().all(|i| i["metric"] != "h.95percentile"));
}

#[test]
fn histogram_ranks_on_hand_computed_sets() {
    // 1..20: median = first value whose cumulative weight passes (20 - 1) / 2 = 9 → 10;
    // 95th: (95 × 20 − 1) / 100 = 18 → 19. With @0.5 each weight is 2: count 4 → rate 0.4.
    let values: Vec<String> = (1..=20).map(|v| v.to_string()).collect();
    let items = flushed(&format!("a:{}|h\nb:1:2:3:4|ms|@0.5", values.join(":")));
    let point = |m: &str| find(&items, "series", m)["points"][0][1].as_f64().unwrap();
    assert_eq!(point("a.median"), 10.0);
    assert_eq!(point("a.95percentile"), 19.0);
    assert_eq!(point("a.avg"), 10.5);
    assert_eq!(point("a.count"), 2.0);
    // b: weights 2 each, count 8 → 0.8/s; median target (8 − 1) / 2 = 3 → value 2.
    assert_eq!(point("b.count"), 0.8);
    assert_eq!(point("b.median"), 2.0);
    assert_eq!(point("b.avg"), 2.5);
}

#[test]
fn a_sampled_distribution_keeps_a_truncated_count_and_a_weighted_sum() {
    // Summary.InsertN with n = 1 / 0.3: count int64(3.33…) = 3, sum 10 × 3.33….
    let items = flushed("d:10|d|@0.3");
    let s = find(&items, "sketch", "d");
    assert_eq!(s["count"], 3);
    assert!((s["sum"].as_f64().unwrap() - 100.0 / 3.0).abs() < 1e-9);
    assert_eq!(s["avg"], 10.0);
}

#[test]
fn a_counters_zero_fill_lands_in_a_gauge_of_the_same_context() {
    // The context key has no type: m is a live counter when bucket 1700000010 flushes, and the
    // reference adds its zero sample into the gauge held there, which then reads 0.
    let items = flushed_stream(&[
        (1_700_000_001, "m:1|c"),
        (1_700_000_012, "m:5|g"),
        (1_700_000_013, "other:1|g"),
    ]);
    let points: Vec<&Value> = items
        .iter()
        .filter(|i| i["metric"] == "m")
        .map(|i| &i["points"])
        .collect();
    assert_eq!(
        points,
        [
            &serde_json::json!([[1_700_000_000, 0.1]]),
            &serde_json::json!([[1_700_000_010, 0.0]])
        ]
    );
}

#[test]
fn a_counters_zero_fill_lands_in_a_histogram_of_the_same_context() {
    // The zero sample joins the histogram: count 2 (0.2/s), min 0, max 5, avg 2.5.
    let items = flushed_stream(&[
        (1_700_000_001, "m:1|c"),
        (1_700_000_012, "m:5|h"),
        (1_700_000_013, "other:1|g"),
    ]);
    let point = |m: &str| find(&items, "series", m)["points"][0][1].as_f64().unwrap();
    assert_eq!(point("m.count"), 0.2);
    assert_eq!(point("m.max"), 5.0);
    assert_eq!(point("m.avg"), 2.5);
}

#[test]
fn an_empty_tag_is_a_tag() {
    // parseTags keeps empty tags: `#a,` is a context of its own beside `#a`.
    let items = flushed("m:1|c|#a,\nm:2|c|#a\nm:4|c|#,a,,a");
    let mut tag_sets: Vec<&Value> = items
        .iter()
        .filter(|i| i["metric"] == "m")
        .map(|i| &i["tags"])
        .collect();
    tag_sets.sort_by_key(|t| t.to_string());
    assert_eq!(
        tag_sets,
        [&serde_json::json!(["", "a"]), &serde_json::json!(["a"])]
    );
}

#[test]
fn non_finite_values_are_refused_one_by_one_and_counted() {
    // parseFloat64List takes nan/inf; ContextMetrics.AddSample refuses each non-finite sample,
    // so the finite values of the same line are flushed.
    let dir = tempfile::tempdir().unwrap();
    let source = source(
        dir.path(),
        &[(1_700_000_001, "mv:1:nan:2|g\nc:1:inf|c\nx:nan|g\nd:inf|d")],
    );
    let (code, report) = json_report(&mut check_flag_on(&source));
    assert_eq!(code, 0, "{report}");
    let c = &report["scenarios"][0]["counts"];
    assert_eq!(c["sent"], 7);
    assert_eq!(c["rejected_by_reason"]["non_finite_value"], 4);
    assert_eq!(c["flushed"], 3);
    let items = flushed("mv:1:nan:2|g\nc:1:inf|c");
    assert_eq!(find(&items, "series", "mv")["points"][0][1], 2.0);
    assert_eq!(find(&items, "series", "c")["points"][0][1], 0.1);
}
