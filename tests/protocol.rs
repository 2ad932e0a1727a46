//! Table-driven tests of the DogStatsD line parser (`lastbucket::protocol`), the real-client
//! cases of `formats.md`, property tests, and a check that parsing allocates nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use lastbucket::protocol::{
    classify, parse_event, parse_line, parse_metric, parse_service_check, rejected_line_type,
    split_lines, unescape_event_text, Line, LineKind, MetricType, MetricValue, RejectReason,
};
use proptest::prelude::*;

use MetricType::*;
use MetricValue::{Number as N, Set as S};
use RejectReason::*;

// ---------------------------------------------------------------------------------------------
// Metrics that parse

/// Expected fields of a parsed metric line; `..M` fills the defaults.
#[derive(Clone, Copy)]
struct Exp {
    line: &'static str,
    name: &'static str,
    ty: MetricType,
    values: &'static [MetricValue<'static>],
    rate: f64,
    tags: &'static [&'static str],
    ts: Option<i64>,
    cid: Option<&'static str>,
    ext: Option<&'static str>,
    card: Option<&'static str>,
}

const M: Exp = Exp {
    line: "",
    name: "m",
    ty: Count,
    values: &[N(1.0)],
    rate: 1.0,
    tags: &[],
    ts: None,
    cid: None,
    ext: None,
    card: None,
};

#[rustfmt::skip]
const METRICS: &[Exp] = &[
    // every type
    Exp { line: "m:1|c", ..M },
    Exp { line: "m:1|g", ty: Gauge, ..M },
    Exp { line: "m:1|h", ty: Histogram, ..M },
    Exp { line: "m:1|ms", ty: Timing, ..M },
    Exp { line: "m:1|d", ty: Distribution, ..M },
    Exp { line: "m:1|s", ty: Set, values: &[S("1")], ..M },
    // names: anything but `:` and `|`
    Exp { line: "a.b-c_d e/f:1|c", name: "a.b-c_d e/f", ..M },
    Exp { line: "métrique:1|c", name: "métrique", ..M },
    // numbers as Go's ParseFloat reads them
    Exp { line: "m:-2|g", ty: Gauge, values: &[N(-2.0)], ..M },
    Exp { line: "m:+2.5|g", ty: Gauge, values: &[N(2.5)], ..M },
    Exp { line: "m:1e-05|g", ty: Gauge, values: &[N(1e-5)], ..M },
    Exp { line: "m:1E+3|g", ty: Gauge, values: &[N(1000.0)], ..M },
    Exp { line: "m:-1.5e2|g", ty: Gauge, values: &[N(-150.0)], ..M },
    Exp { line: "m:.5|g", ty: Gauge, values: &[N(0.5)], ..M },
    Exp { line: "m:5.|g", ty: Gauge, values: &[N(5.0)], ..M },
    Exp { line: "m:0x1p-2|g", ty: Gauge, values: &[N(0.25)], ..M },
    Exp { line: "m:1_000|g", ty: Gauge, values: &[N(1000.0)], ..M },
    Exp { line: "m:1e-400|g", ty: Gauge, values: &[N(0.0)], ..M },
    // multi-value (protocol 1.1); empty values skipped
    Exp { line: "m:1:2.5:-3|h", ty: Histogram, values: &[N(1.0), N(2.5), N(-3.0)], ..M },
    Exp { line: "m:1::2:|d", ty: Distribution, values: &[N(1.0), N(2.0)], ..M },
    Exp { line: "m::7|c", values: &[N(7.0)], ..M },
    // sets: any non-empty string, never split
    Exp { line: "users:alice|s", name: "users", ty: Set, values: &[S("alice")], ..M },
    Exp { line: "users:alice:bob|s", name: "users", ty: Set, values: &[S("alice:bob")], ..M },
    Exp { line: "users:nan|s", name: "users", ty: Set, values: &[S("nan")], ..M },
    Exp { line: "users:a b#@|s|#t", name: "users", ty: Set, values: &[S("a b#@")], tags: &["t"], ..M },
    // sample rates: only syntax is checked, like the reference
    Exp { line: "m:1|c|@0.5", rate: 0.5, ..M },
    Exp { line: "m:1|c|@1", ..M },
    Exp { line: "m:1|c|@1e-3", rate: 0.001, ..M },
    Exp { line: "m:1|c|@.1", rate: 0.1, ..M },
    Exp { line: "m:1|c|@0", rate: 0.0, ..M },
    Exp { line: "m:1|c|@1.5", rate: 1.5, ..M },
    Exp { line: "m:1|c|@-1", rate: -1.0, ..M },
    Exp { line: "m:1|c|@inf", rate: f64::INFINITY, ..M },
    Exp { line: "m:1|c|@0.5|@0.25", rate: 0.25, ..M },
    // tags: raw after `#`, `:` inside values kept, last `#` field wins
    Exp { line: "m:1|c|#env:prod,url:http://x:80/a", tags: &["env:prod", "url:http://x:80/a"], ..M },
    // Empty tags are kept, as the agent's parseTags keeps them.
    Exp { line: "m:1|c|#a,,b,", tags: &["a", "", "b", ""], ..M },
    Exp { line: "m:1|c|#", ..M },
    Exp { line: "m:1|c|#a|#b", tags: &["b"], ..M },
    Exp { line: "m:1|c|#a@b,T1", tags: &["a@b", "T1"], ..M },
    // timestamps
    Exp { line: "m:1|g|T1700000000", ty: Gauge, ts: Some(1_700_000_000), ..M },
    Exp { line: "m:1|g|T+5", ty: Gauge, ts: Some(5), ..M },
    Exp { line: "m:1|g|T1", ty: Gauge, ts: Some(1), ..M },
    // origin fields
    Exp { line: "m:1|c|c:ci-123,in-4", cid: Some("ci-123,in-4"), ..M },
    Exp { line: "m:1|c|e:it-false,cn-app,pu-1", ext: Some("it-false,cn-app,pu-1"), ..M },
    Exp { line: "m:1|c|card:orchestrator", card: Some("orchestrator"), ..M },
    // fields in any order
    Exp { line: "m:1|d|#a:1|@0.5|T10|c:x|e:y|card:low", ty: Distribution, rate: 0.5,
          tags: &["a:1"], ts: Some(10), cid: Some("x"), ext: Some("y"), card: Some("low"), ..M },
    Exp { line: "m:1|d|card:low|e:y|c:x|T10|@0.5|#a:1", ty: Distribution, rate: 0.5,
          tags: &["a:1"], ts: Some(10), cid: Some("x"), ext: Some("y"), card: Some("low"), ..M },
    // unknown and empty fields are skipped
    Exp { line: "m:1|c|zz|x:1|#a||@0.5|", rate: 0.5, tags: &["a"], ..M },
    Exp { line: "m:1|c|cardinality", ..M },
];

#[test]
fn metric_lines_parse_to_exact_fields() {
    for e in METRICS {
        let m = parse_metric(e.line.as_bytes()).unwrap_or_else(|r| panic!("{}: {r}", e.line));
        assert_eq!(m.name, e.name, "{}", e.line);
        assert_eq!(m.metric_type, e.ty, "{}", e.line);
        assert_eq!(m.values().collect::<Vec<_>>(), e.values, "{}", e.line);
        assert_eq!(m.value_count, e.values.len(), "{}", e.line);
        assert_eq!(m.sample_rate, e.rate, "{}", e.line);
        assert_eq!(m.tags().collect::<Vec<_>>(), e.tags, "{}", e.line);
        assert_eq!(m.timestamp, e.ts, "{}", e.line);
        assert_eq!(m.container_id, e.cid, "{}", e.line);
        assert_eq!(m.external_data, e.ext, "{}", e.line);
        assert_eq!(m.cardinality, e.card, "{}", e.line);
        assert_eq!(
            parse_line(e.line.as_bytes()),
            Ok(Line::Metric(m)),
            "{}",
            e.line
        );
    }
}

#[test]
fn nan_sample_rate_is_kept_like_the_reference() {
    assert!(parse_metric(b"m:1|c|@nan").unwrap().sample_rate.is_nan());
}

// ---------------------------------------------------------------------------------------------
// Metrics that are rejected

#[rustfmt::skip]
const METRIC_REJECTS: &[(&[u8], RejectReason, Option<MetricType>)] = &[
    (b"", MissingType, None),
    (b"m", MissingType, None),
    (b"m:1", MissingType, None),
    (b"m:1|", MissingType, None),
    (b"m|c", MissingValue, Some(Count)),
    (b"m:|c", MissingValue, Some(Count)),
    (b"m:::|c", MissingValue, Some(Count)),
    (b":1|c", EmptyName, Some(Count)),
    (b":|c", EmptyName, Some(Count)),
    (b"m:1|x", UnknownType, None),
    (b"m:1|C", UnknownType, None),
    (b"m:1|msx", UnknownType, None),
    (b"m:1|ms |#a", UnknownType, None),
    (b"m:abc|c", InvalidValue, Some(Count)),
    // NaN and infinities parse (Go's ParseFloat); the samplers refuse them. On a timestamped
    // line, which no sampler sees, they are invalid.
    (b"m:nan|g|T1700000000", InvalidValue, Some(Gauge)),
    (b"m:1:-Infinity|c|T1700000000", InvalidValue, Some(Count)),
    (b"m:1e400|d", InvalidValue, Some(Distribution)),
    (b"m:1,5|g", InvalidValue, Some(Gauge)),
    (b"m: 1|g", InvalidValue, Some(Gauge)),
    (b"m:1_|g", InvalidValue, Some(Gauge)),
    (b"m:0x1|g", InvalidValue, Some(Gauge)),
    (b"m:1:2:x|h", InvalidValue, Some(Histogram)),
    (b"m:1|c|@", BadSampleRate, Some(Count)),
    (b"m:1|c|@abc", BadSampleRate, Some(Count)),
    (b"m:1|c|@0,5", BadSampleRate, Some(Count)),
    (b"m:1|c|@1e400", BadSampleRate, Some(Count)),
    (b"m:1|c|@+nan", BadSampleRate, Some(Count)),
    (b"m:1|g|T", BadTimestamp, Some(Gauge)),
    (b"m:1|g|T0", BadTimestamp, Some(Gauge)),
    (b"m:1|g|T-5", BadTimestamp, Some(Gauge)),
    (b"m:1|g|T1.5", BadTimestamp, Some(Gauge)),
    (b"m:1|g|Tabc", BadTimestamp, Some(Gauge)),
    (b"m:1|g|T99999999999999999999", BadTimestamp, Some(Gauge)),
    (b"m:1|g|Tag:unknown-field-starting-with-T", BadTimestamp, Some(Gauge)),
    (b"m\xff:1|c", InvalidUtf8, Some(Count)),
    (b"m:1|c|#\xc3", InvalidUtf8, Some(Count)),
];

#[test]
fn metric_rejections_have_exact_reasons() {
    for &(line, reason, ty) in METRIC_REJECTS {
        let shown = String::from_utf8_lossy(line);
        assert_eq!(parse_metric(line), Err(reason), "{shown}");
        assert_eq!(parse_line(line), Err(reason), "{shown}");
        assert_eq!(rejected_line_type(line), ty, "{shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// Events

#[derive(Clone, Copy)]
struct Ev {
    line: &'static str,
    title: &'static str,
    text: &'static str,
    ts: Option<i64>,
    host: Option<&'static str>,
    key: Option<&'static str>,
    prio: Option<&'static str>,
    source: Option<&'static str>,
    alert: Option<&'static str>,
    tags: &'static str,
    mismatch: bool,
}

const E: Ev = Ev {
    line: "",
    title: "title",
    text: "text",
    ts: None,
    host: None,
    key: None,
    prio: None,
    source: None,
    alert: None,
    tags: "",
    mismatch: false,
};

#[rustfmt::skip]
const EVENTS: &[Ev] = &[
    Ev { line: "_e{5,4}:title|text", ..E },
    Ev { line: "_e{5,4}:title|text|d:1700000000|h:web1|k:deploy|p:low|s:jenkins|t:warning|#a:b,c",
         ts: Some(1_700_000_000), host: Some("web1"), key: Some("deploy"), prio: Some("low"),
         source: Some("jenkins"), alert: Some("warning"), tags: "a:b,c", ..E },
    // fields in any order; unknown fields skipped
    Ev { line: "_e{5,4}:title|text|#x|zz|t:error|p:normal|d:-3", ts: Some(-3), prio: Some("normal"),
         alert: Some("error"), tags: "x", ..E },
    // invalid values are ignored, the earlier valid one stays
    Ev { line: "_e{5,4}:title|text|t:info|t:bogus|p:high|d:x", alert: Some("info"), ..E },
    Ev { line: "_e{5,4}:title|text|h:a|h:", ..E },
    // `\\n` is kept raw (see unescape_event_text); lengths count its two bytes
    Ev { line: "_e{5,12}:title|line1\\nline2", text: "line1\\nline2", ..E },
    // `|` and `:` inside title/text are data
    Ev { line: "_e{3,5}:a|b|c:d|e|#t", title: "a|b", text: "c:d|e", tags: "t", ..E },
    Ev { line: "_e{1,0}:a|", title: "a", text: "", ..E },
    Ev { line: "_e{1,0}:a||#t", title: "a", text: "", tags: "t", ..E },
    Ev { line: "_e{+5,04}:title|text", ..E },
    // byte lengths with non-ASCII text
    Ev { line: "_e{6,5}:héllo|wörd", title: "héllo", text: "wörd", ..E },
    // lengths in UTF-16 units: accepted like the agent, cut at the byte lengths, flagged
    Ev { line: "_e{5,4}:héllo|wörd", title: "héll", text: "|wö", mismatch: true, ..E },
    Ev { line: "_e{2,1}:😀|x", title: "", text: "", mismatch: true, ..E },
    // the closing brace is not checked by the reference
    Ev { line: "_e{5,4):title|text", ..E },
];

#[test]
fn events_parse_to_exact_fields() {
    for e in EVENTS {
        let ev = parse_event(e.line.as_bytes()).unwrap_or_else(|r| panic!("{}: {r}", e.line));
        assert_eq!(ev.title, e.title, "{}", e.line);
        assert_eq!(ev.text, e.text, "{}", e.line);
        assert_eq!(ev.timestamp, e.ts, "{}", e.line);
        assert_eq!(ev.hostname, e.host, "{}", e.line);
        assert_eq!(ev.aggregation_key, e.key, "{}", e.line);
        assert_eq!(ev.priority, e.prio, "{}", e.line);
        assert_eq!(ev.source_type, e.source, "{}", e.line);
        assert_eq!(ev.alert_type, e.alert, "{}", e.line);
        assert_eq!(ev.raw_tags, e.tags, "{}", e.line);
        assert_eq!(ev.length_mismatch, e.mismatch, "{}", e.line);
        assert_eq!(
            parse_line(e.line.as_bytes()),
            Ok(Line::Event(ev)),
            "{}",
            e.line
        );
    }
}

#[test]
fn event_text_newline_escape_expands() {
    let ev = parse_event(b"_e{7,12}:a\\nb\\nc|line1\\nline2").unwrap();
    assert_eq!(unescape_event_text(ev.title), "a\nb\nc");
    assert_eq!(unescape_event_text(ev.text), "line1\nline2");
}

#[rustfmt::skip]
const EVENT_REJECTS: &[&[u8]] = &[
    b"_e{5,4}",                     // no `:`
    b"_e{5,4}title|text",           // no `:`
    b"_e{,}:a|b",                   // header shorter than 7 bytes
    b"_e{5,4:title|text",           // header shorter than 7 bytes
    b"_e{54}x:title|text",          // no comma
    b"_e{0,4}:|text",               // empty title
    b"_e{a,4}:title|text",          // not a number
    b"_e{5,x}:title|text",
    b"_e{5, 4}:title|text",
    b"_e{5,-1}:title|text",         // negative
    b"_e{-5,4}:title|text",
    b"_e{6,4}:title|text",          // longer than the line
    b"_e{5,5}:title|text",
    b"_e{1,0}:a",
    b"_e{99999999999999999999,1}:a|b",                     // overflows i64
    b"_e{9223372036854775807,9223372036854775807}:a|b",    // sums past the line
];

#[test]
fn event_rejections() {
    for &line in EVENT_REJECTS {
        let shown = String::from_utf8_lossy(line);
        assert_eq!(parse_event(line), Err(MalformedEvent), "{shown}");
        assert_eq!(parse_line(line), Err(MalformedEvent), "{shown}");
        assert_eq!(rejected_line_type(line), None, "{shown}");
    }
    assert_eq!(parse_line(b"_e{5,4}:title|tex\xff"), Err(InvalidUtf8));
}

// ---------------------------------------------------------------------------------------------
// Service checks

#[allow(clippy::type_complexity)]
#[rustfmt::skip]
const CHECKS: &[(&str, &str, u8, Option<i64>, Option<&str>, &str, Option<&str>)] = &[
    // line, name, status, timestamp, host, tags, message
    ("_sc|db.up|0", "db.up", 0, None, None, "", None),
    ("_sc|db.up|1", "db.up", 1, None, None, "", None),
    ("_sc|db.up|2", "db.up", 2, None, None, "", None),
    ("_sc|db.up|3", "db.up", 3, None, None, "", None),
    ("_sc|db.up|2|d:1700000000|h:db1|#env:prod,role:db|m:primary down",
        "db.up", 2, Some(1_700_000_000), Some("db1"), "env:prod,role:db", Some("primary down")),
    // any order
    ("_sc|db.up|1|m:slow|#a:b|h:db2|d:7", "db.up", 1, Some(7), Some("db2"), "a:b", Some("slow")),
    // `m:` is split at `|` like any field; the rest is read as fields
    ("_sc|x|0|m:a|b:c|h:h", "x", 0, None, Some("h"), "", Some("a")),
    // invalid `d:` ignored, unknown fields skipped, empty `m:` resets
    ("_sc|x|0|d:soon|zz|m:a|m:", "x", 0, None, None, "", None),
    ("_sc|x|0|", "x", 0, None, None, "", None),
    // the reference drops 4 bytes after checking only `_sc`
    ("_scname|0|", "ame", 0, None, None, "", None),
];

#[test]
fn service_checks_parse_to_exact_fields() {
    for &(line, name, status, ts, host, tags, message) in CHECKS {
        let sc = parse_service_check(line.as_bytes()).unwrap_or_else(|r| panic!("{line}: {r}"));
        assert_eq!(sc.name, name, "{line}");
        assert_eq!(sc.status, status, "{line}");
        assert_eq!(sc.timestamp, ts, "{line}");
        assert_eq!(sc.hostname, host, "{line}");
        assert_eq!(sc.raw_tags, tags, "{line}");
        assert_eq!(sc.message, message, "{line}");
        assert_eq!(
            parse_line(line.as_bytes()),
            Ok(Line::ServiceCheck(sc)),
            "{line}"
        );
    }
}

#[rustfmt::skip]
const CHECK_REJECTS: &[(&[u8], RejectReason)] = &[
    (b"_sc", MalformedServiceCheck),
    (b"_sc|", MalformedServiceCheck),
    (b"_sc|x", MalformedServiceCheck),
    (b"_sc||0", MalformedServiceCheck),
    (b"_scX|x|0", MalformedServiceCheck),
    (b"_sc|x|", BadServiceCheckStatus),
    (b"_sc|x|4", BadServiceCheckStatus),
    (b"_sc|x|ok", BadServiceCheckStatus),
    (b"_sc|x|00", BadServiceCheckStatus),
    (b"_sc|x| 1", BadServiceCheckStatus),
    (b"_sc|x|-1|m:a", BadServiceCheckStatus),
    (b"_sc|x|\xff", InvalidUtf8),
    // a metric whose name starts with `_sc` is a service check for the agent
    (b"_scheduler.runs:1|c", MalformedServiceCheck),
    (b"_scheduler.runs:1|c|#a", BadServiceCheckStatus),
];

#[test]
fn service_check_rejections() {
    for &(line, reason) in CHECK_REJECTS {
        let shown = String::from_utf8_lossy(line);
        assert_eq!(parse_service_check(line), Err(reason), "{shown}");
        assert_eq!(parse_line(line), Err(reason), "{shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// Packets and the real-client cases of formats.md

/// Parses a whole packet like a worker: `Ok` items and `Err` reasons, in order.
fn parse_packet(packet: &[u8]) -> Vec<Result<Line<'_>, RejectReason>> {
    split_lines(packet).map(parse_line).collect()
}

#[test]
fn timestamp_before_tags() {
    let out = parse_packet(b"cpu:0.5|g|T1700000000|#host:a,env:b\n");
    let [Ok(Line::Metric(m))] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(m.timestamp, Some(1_700_000_000));
    assert_eq!(m.tags().collect::<Vec<_>>(), ["host:a", "env:b"]);
    assert_eq!(m.values().collect::<Vec<_>>(), [N(0.5)]);
}

#[test]
fn newline_after_every_datagram() {
    // What the packet assembler makes of three datagrams that each end in `\n`.
    let out = parse_packet(b"a:1|c\n\nb:2|c\r\n\nc:3|s\n");
    let names: Vec<_> = out
        .iter()
        .map(|l| match l {
            Ok(Line::Metric(m)) => m.name,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn event_with_utf16_lengths() {
    // "café ☕" is 6 UTF-16 units and 9 bytes; "ok" needs 2 either way.
    let out = parse_packet("_e{6,2}:café ☕|ok|#t\nm:1|c".as_bytes());
    let [Ok(Line::Event(ev)), Ok(Line::Metric(m))] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(ev.title, "café "); // bytes 0..6: the cut lands after the space
    assert_eq!(ev.text, ""); // bytes 7..9 are inside ☕
    assert!(ev.length_mismatch);
    assert_eq!(ev.raw_tags, "t");
    assert_eq!(m.name, "m");
}

#[test]
fn unescaped_newline_in_service_check_message() {
    let packet = b"_sc|db|2|m:disk full\nretrying later|#role:db\n_sc|db|0|m:second\nok:1|c";
    let out = parse_packet(packet);
    assert_eq!(out.len(), 4);
    let Ok(Line::ServiceCheck(sc)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (sc.name, sc.status, sc.message),
        ("db", 2, Some("disk full"))
    );
    // The tail of the message arrives as its own line and is rejected with a reason ...
    assert_eq!(out[1], Err(MissingValue));
    assert_eq!(rejected_line_type(b"retrying later|#role:db"), None);
    // ... and never stops the rest of the packet.
    let Ok(Line::ServiceCheck(sc)) = &out[2] else {
        panic!("{out:?}")
    };
    assert_eq!(sc.message, Some("second"));
    let Ok(Line::Metric(m)) = &out[3] else {
        panic!("{out:?}")
    };
    assert_eq!(m.name, "ok");
    // A tail without `|` is rejected too.
    assert_eq!(parse_packet(b"_sc|x|1|m:a\nb c")[1], Err(MissingType));
}

#[test]
fn malformed_lines_never_stop_the_packet() {
    let out = parse_packet(b"bad\n_e{9,9}:x\n_sc|x|9\nm:x|g\n\xff\xfe\ngood:1|c");
    let reasons: Vec<_> = out
        .iter()
        .filter_map(|l| l.as_ref().err().copied())
        .collect();
    assert_eq!(
        reasons,
        [
            MissingType,
            MalformedEvent,
            BadServiceCheckStatus,
            InvalidValue,
            InvalidUtf8
        ]
    );
    assert!(matches!(out.last(), Some(Ok(Line::Metric(m))) if m.name == "good"));
}

#[test]
fn classify_matches_parse_line() {
    assert_eq!(classify(b"_e{1,1}:a|b"), LineKind::Event);
    assert_eq!(classify(b"_sc|a|0"), LineKind::ServiceCheck);
    assert_eq!(classify(b"a:1|c"), LineKind::Metric);
}

// ---------------------------------------------------------------------------------------------
// No allocation on the parse path

/// Counts allocations made by the current thread (tests run on several threads).
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[test]
fn parsing_a_packet_allocates_nothing() {
    let packet = "a:1:2:3|h|@0.5|#x:y,z|T17|c:cid\r\nu:alice|s\n_e{5,4}:title|text|#t|p:low\n\
                  _sc|x|1|m:msg|h:h\nm:1_000.5e-1|d\nbad\nm:0x1p-3|g\n_e{5,4}:héllo|text\n"
        .as_bytes();
    let before = ALLOCATIONS.with(Cell::get);
    let mut seen = 0usize;
    for line in split_lines(packet) {
        match parse_line(line) {
            Ok(Line::Metric(m)) => {
                seen += m.values().count() + m.tags().count();
            }
            Ok(_) => seen += 1,
            Err(r) => seen += r.as_str().len(),
        }
        seen += rejected_line_type(line).is_some() as usize;
    }
    let after = ALLOCATIONS.with(Cell::get);
    assert_eq!(after - before, 0, "the parse path allocated");
    assert!(seen > 0);
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Bytes that exercise the parsers' delimiters more often than uniform noise would.
fn protocol_bytes() -> impl Strategy<Value = Vec<u8>> {
    let alphabet: Vec<u8> =
        b"_esc{},:|#@Tdhkmpt0123456789.-+xEn\\\r\n \xc3\xa9\xf0\x9f\x98\x80\xff".to_vec();
    let body = prop::collection::vec(prop::sample::select(alphabet), 0..80);
    let prefix = prop::sample::select(vec![&b""[..], b"_e{", b"_sc|", b"_e{3,2}:", b"m:1|c|"]);
    (prefix, body).prop_map(|(p, b)| [p, &b[..]].concat())
}

proptest! {
    #[test]
    fn parse_line_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_line(&bytes);
        let _ = rejected_line_type(&bytes);
    }

    #[test]
    fn parse_line_never_panics_on_protocol_like_input(bytes in protocol_bytes()) {
        if let Ok(Line::Metric(m)) = parse_line(&bytes) {
            // Valid lines always yield their values, all finite unless a set.
            prop_assert_eq!(m.values().count(), m.value_count);
            for v in m.values() {
                if let N(x) = v { prop_assert!(x.is_finite()); }
            }
        }
        let _ = rejected_line_type(&bytes);
    }

    #[test]
    fn split_lines_yields_clean_lines(bytes in prop::collection::vec(
        prop::sample::select(b"ab\r\n|".to_vec()), 0..100)
    ) {
        let lines: Vec<&[u8]> = split_lines(&bytes).collect();
        for line in &lines {
            prop_assert!(!line.contains(&b'\n'));
            prop_assert!(!line.is_empty());
        }
        let expected = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty() && *l != b"\r")
            .count();
        prop_assert_eq!(lines.len(), expected);
    }

    #[test]
    fn metric_round_trip(
        name in "[a-z][a-z0-9._]{0,20}",
        ty in prop::sample::select(vec![Count, Gauge, Histogram, Timing, Distribution]),
        values in prop::collection::vec(-1e12f64..1e12, 1..5),
        rate in 0.001f64..=1.0,
        tags in prop::collection::vec("[a-z]{1,5}(:[a-z0-9:/]{0,8})?", 0..4),
        ts in prop::option::of(1i64..4_000_000_000),
    ) {
        let joined: Vec<String> = values.iter().map(f64::to_string).collect();
        let mut line = format!("{name}:{}|{}|@{rate}|#{}", joined.join(":"), ty.code(), tags.join(","));
        if let Some(ts) = ts { line.push_str(&format!("|T{ts}")); }
        let m = parse_metric(line.as_bytes()).unwrap();
        prop_assert_eq!(m.name, name.as_str());
        prop_assert_eq!(m.metric_type, ty);
        let got: Vec<_> = m.values().collect();
        let want: Vec<_> = values.iter().map(|&v| N(v)).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(m.sample_rate, rate);
        prop_assert_eq!(m.tags().collect::<Vec<_>>(), tags.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(m.timestamp, ts);
    }

    #[test]
    fn event_round_trip_with_byte_lengths(title in "[^\n]{1,30}", text in "[^\n]{0,30}") {
        let line = format!("_e{{{},{}}}:{title}|{text}|#t", title.len(), text.len());
        let ev = parse_event(line.as_bytes()).unwrap();
        prop_assert_eq!(ev.title, title.as_str());
        prop_assert_eq!(ev.text, text.as_str());
        prop_assert_eq!(ev.raw_tags, "t");
        prop_assert!(!ev.length_mismatch);
    }
}

#[test]
fn non_finite_values_parse_as_go_parses_them() {
    for (line, count) in [
        (&b"m:nan|g"[..], 1),
        (b"m:NaN|g", 1),
        (b"m:inf|h", 1),
        (b"m:-Infinity|ms", 1),
        (b"m:1:nan:2|d", 3),
    ] {
        let m = parse_metric(line).unwrap();
        assert_eq!(m.value_count, count, "{}", String::from_utf8_lossy(line));
    }
    let values: Vec<_> = parse_metric(b"m:1:nan:2|g").unwrap().values().collect();
    assert!(matches!(values[1], MetricValue::Number(v) if v.is_nan()));
}
