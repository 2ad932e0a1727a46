//! The built-in intake over real HTTP on loopback: every encoding and endpoint, bodies encoded
//! with the prost types and bodies written byte by byte from the field numbers, the limits, the
//! errors and their offsets, and `lastbucket intake` as a child process.

mod server_common;
use lastbucket::intake::payload::{
    Dogsketch, Event, EventsPayload, MetricPayload, MetricPoint, MetricSeries, MetricType,
    Resource, Sketch, SketchPayload,
};
use lastbucket::intake::{Intake, Received};
use lastbucket::pipeline::flushed::{read_jsonl, FlushedItem, Series, SeriesType};
use prost::Message;
use server_common::{poll, Running};
use std::io::Write;

fn start() -> Intake {
    Intake::start("127.0.0.1:0".parse().unwrap()).unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}

/// Posts `body` (already encoded) and returns the status and the answer.
fn post(intake: &Intake, path: &str, encoding: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut r = agent()
        .post(format!("{}{path}", intake.url()))
        .header("DD-API-KEY", "test");
    if let Some(e) = encoding {
        r = r.header("Content-Encoding", e);
    }
    let mut resp = r.send(body).expect("the intake answers");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

fn encode(encoding: &str, body: &[u8]) -> Vec<u8> {
    match encoding {
        "zstd" => zstd::encode_all(body, 3).unwrap(),
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        _ => body.to_vec(),
    }
}

const ENCODINGS: [&str; 4] = ["zstd", "deflate", "gzip", "identity"];

fn v2_series() -> MetricPayload {
    MetricPayload {
        series: vec![
            MetricSeries {
                resources: vec![Resource {
                    r#type: "host".into(),
                    name: "web-1".into(),
                }],
                metric: "req.count".into(),
                tags: vec!["env:prod".into()],
                points: vec![MetricPoint {
                    value: 0.3,
                    timestamp: 1_700_000_010,
                }],
                r#type: MetricType::Rate as i32,
                interval: 10,
                ..Default::default()
            },
            MetricSeries {
                metric: "mem".into(),
                points: vec![MetricPoint {
                    value: 42.0,
                    timestamp: 1_700_000_020,
                }],
                r#type: MetricType::Gauge as i32,
                ..Default::default()
            },
        ],
    }
}

#[test]
fn v2_series_decode_in_every_encoding() {
    let intake = start();
    let body = v2_series().encode_to_vec();
    for enc in ENCODINGS {
        let (status, _) = post(&intake, "/api/v2/series", Some(enc), &encode(enc, &body));
        assert_eq!(status, 202, "{enc}");
    }
    let r = intake.stop();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.payloads["/api/v2/series"].payloads, 4);
    assert_eq!(r.items.len(), 8);
    assert_eq!(
        r.items[0],
        FlushedItem::Series(Series {
            metric: "req.count".into(),
            series_type: SeriesType::Rate,
            interval: 10,
            points: vec![(1_700_000_010, 0.3)],
            tags: vec!["env:prod".into()],
            host: "web-1".into(),
        })
    );
    assert!(
        matches!(&r.items[1], FlushedItem::Series(s) if s.series_type == SeriesType::Gauge && s.host.is_empty())
    );
    assert_eq!(r.items[0..2], r.items[6..8], "every encoding decodes alike");
    assert_eq!(r.with_api_key, 4);
}

/// `MetricPayload { series: [{ resources: [{type: "host", name: "h"}], metric: "m",
/// tags: ["a:b"], points: [{value: 1.5, timestamp: 1700000000}], type: RATE, interval: 10 }] }`
/// written from the field numbers, not by prost.
const HAND_SERIES: [u8; 42] = [
    0x0a, 0x28, // series (1), 40 bytes
    0x0a, 0x09, // resources (1), 9 bytes
    0x0a, 0x04, b'h', b'o', b's', b't', // type (1) "host"
    0x12, 0x01, b'h', // name (2) "h"
    0x12, 0x01, b'm', // metric (2) "m"
    0x1a, 0x03, b'a', b':', b'b', // tags (3) "a:b"
    0x22, 0x0f, // points (4), 15 bytes
    0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // value (1, double) 1.5
    0x10, 0x80, 0xe2, 0xcf, 0xaa, 0x06, // timestamp (2, varint) 1700000000
    0x28, 0x02, // type (5) RATE
    0x40, 0x0a, // interval (8) 10
];

/// `SketchPayload { sketches: [{ metric: "d", host: "h", tags: ["a:b"], dogsketches: [{ ts:
/// 1700000000, cnt: 2, min: 2, max: 3, avg: 2.5, sum: 5, k: [1338, 1383], n: [1, 1] }] }] }`.
const HAND_SKETCH: [u8; 69] = [
    0x0a, 0x43, // sketches (1), 67 bytes
    0x0a, 0x01, b'd', // metric (1)
    0x12, 0x01, b'h', // host (2)
    0x22, 0x03, b'a', b':', b'b', // tags (4)
    0x3a, 0x36, // dogsketches (7), 54 bytes
    0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, // ts (1)
    0x10, 0x02, // cnt (2)
    0x19, 0, 0, 0, 0, 0, 0, 0, 0x40, // min (3) 2.0
    0x21, 0, 0, 0, 0, 0, 0, 0x08, 0x40, // max (4) 3.0
    0x29, 0, 0, 0, 0, 0, 0, 0x04, 0x40, // avg (5) 2.5
    0x31, 0, 0, 0, 0, 0, 0, 0x14, 0x40, // sum (6) 5.0
    0x3a, 0x04, 0xf4, 0x14, 0xce, 0x15, // k (7), packed sint32: 1338, 1383
    0x42, 0x02, 0x01, 0x01, // n (8), packed uint32: 1, 1
];

#[test]
fn hand_written_protobuf_bodies_decode() {
    let intake = start();
    assert_eq!(
        post(
            &intake,
            "/api/v2/series",
            Some("zstd"),
            &encode("zstd", &HAND_SERIES)
        )
        .0,
        202
    );
    assert_eq!(
        post(&intake, "/api/beta/sketches", None, &HAND_SKETCH).0,
        202
    );
    let r = intake.stop();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(
        r.items[0],
        FlushedItem::Series(Series {
            metric: "m".into(),
            series_type: SeriesType::Rate,
            interval: 10,
            points: vec![(1_700_000_000, 1.5)],
            tags: vec!["a:b".into()],
            host: "h".into(),
        })
    );
    let FlushedItem::Sketch(s) = &r.items[1] else {
        panic!("{:?}", r.items[1]);
    };
    assert_eq!(
        (s.metric.as_str(), s.host.as_str(), &s.tags[..]),
        ("d", "h", &["a:b".to_string()][..])
    );
    assert_eq!(
        (s.ts, s.count, s.min, s.max, s.avg, s.sum),
        (1_700_000_000, 2, 2.0, 3.0, 2.5, 5.0)
    );
    assert_eq!(s.bins, vec![(1338, 1), (1383, 1)]);
    assert_eq!(s.quantiles.len(), 3);
    assert!(
        s.quantiles.iter().all(|(_, v)| (2.0..=3.0).contains(v)),
        "{:?}",
        s.quantiles
    );
}

#[test]
fn sketches_from_prost_keep_their_bins_and_quantiles() {
    let intake = start();
    // 100 values 1..=100 in the agent's mapping: the bins as the pipeline would post them.
    let mut bins = lastbucket::pipeline::agent_sketch::AgentBins::default();
    for v in 1..=100 {
        bins.insert(v as f64, 1);
    }
    let (k, n): (Vec<i32>, Vec<u32>) = bins.to_bins().iter().map(|(k, n)| (*k, *n as u32)).unzip();
    let payload = SketchPayload {
        sketches: vec![Sketch {
            metric: "lat".into(),
            host: "h".into(),
            tags: vec!["svc:a".into()],
            dogsketches: vec![Dogsketch {
                ts: 1_700_000_000,
                cnt: 100,
                min: 1.0,
                max: 100.0,
                avg: 50.5,
                sum: 5050.0,
                k,
                n,
            }],
            metadata: None,
        }],
        metadata: None,
    };
    let body = payload.encode_to_vec();
    for enc in ENCODINGS {
        assert_eq!(
            post(
                &intake,
                "/api/beta/sketches",
                Some(enc),
                &encode(enc, &body)
            )
            .0,
            202
        );
    }
    let r = intake.stop();
    assert_eq!(r.items.len(), 4);
    let FlushedItem::Sketch(s) = &r.items[0] else {
        panic!()
    };
    assert_eq!(s.bins.iter().map(|(_, n)| n).sum::<u64>(), 100, "Σn = cnt");
    let p50 = s.quantiles.iter().find(|(q, _)| *q == 0.5).unwrap().1;
    assert!((p50 - 50.0).abs() / 50.0 < 0.03, "p50 {p50}");
}

#[test]
fn json_series_check_runs_and_events_decode() {
    let intake = start();
    let series = br#"{"series": [{"metric": "a.b", "points": [[1700000000, 2.5]], "tags": ["x:y"],
        "host": "h", "type": "count", "interval": 10, "device": "sda"}]}"#;
    let checks = br#"[{"check": "app.up", "host_name": "h", "timestamp": 1700000001, "status": 2,
        "message": "down", "tags": ["x:y"]}, {"check": "db.up", "host_name": "h",
        "timestamp": 1700000002, "status": 0, "message": "", "tags": null}]"#;
    let events = br#"{"apiKey": "", "events": {"api": [{"msg_title": "deploy", "msg_text": "v2",
        "timestamp": 1700000003, "priority": "low", "host": "h", "tags": ["x:y"],
        "alert_type": "info"}]}, "internalHostname": "h"}"#;
    let public_event = br#"{"title": "t", "text": "x", "date_happened": 1700000004}"#;
    let batch = EventsPayload {
        events: vec![Event {
            title: "pb".into(),
            text: "body".into(),
            ts: 1_700_000_005,
            host: "h".into(),
            aggregation_key: "agg".into(),
            ..Default::default()
        }],
        metadata: None,
    }
    .encode_to_vec();
    for enc in ENCODINGS {
        assert_eq!(
            post(&intake, "/api/v1/series", Some(enc), &encode(enc, series)).0,
            202
        );
        assert_eq!(
            post(
                &intake,
                "/api/v1/check_run",
                Some(enc),
                &encode(enc, checks)
            )
            .0,
            202
        );
        assert_eq!(
            post(&intake, "/intake/", Some(enc), &encode(enc, events)).0,
            202
        );
    }
    assert_eq!(post(&intake, "/api/v1/events", None, public_event).0, 202);
    assert_eq!(
        post(
            &intake,
            "/api/v1/events_batch",
            Some("zstd"),
            &encode("zstd", &batch)
        )
        .0,
        202
    );
    assert_eq!(post(&intake, "/api/v1/events_batch", None, events).0, 202);
    // The agent's host metadata goes to /intake/ too: no events, not an error.
    assert_eq!(
        post(
            &intake,
            "/intake/",
            None,
            br#"{"internalHostname": "h", "meta": {}}"#
        )
        .0,
        202
    );
    let r = intake.stop();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.payloads["/api/v1/series"].items, 4);
    assert_eq!(r.payloads["/api/v1/check_run"].items, 8);
    assert_eq!(r.payloads["/intake/"].payloads, 5);
    assert_eq!(r.payloads["/intake/"].items, 4);
    assert_eq!(r.payloads["/api/v1/events_batch"].items, 2);
    let json = |i: usize| serde_json::to_value(&r.items[i]).unwrap();
    assert_eq!(
        json(0),
        serde_json::json!({"kind": "series", "metric": "a.b", "type": "count", "interval": 10,
            "points": [[1700000000, 2.5]], "tags": ["x:y", "device:sda"], "host": "h"})
    );
    assert_eq!(
        json(2),
        serde_json::json!({"kind": "service_check", "check": "db.up", "status": 0,
            "ts": 1700000002, "host": "h", "tags": []})
    );
    assert_eq!(
        json(3),
        serde_json::json!({"kind": "event", "title": "deploy", "text": "v2", "ts": 1700000003,
            "host": "h", "tags": ["x:y"], "priority": "low", "alert_type": "info"})
    );
    let titles: Vec<&str> = r
        .items
        .iter()
        .filter_map(|i| match i {
            FlushedItem::Event(e) => Some(e.title.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(titles[4..], ["t", "pb", "deploy"]);
}

fn error_of(r: &Received, endpoint: &str) -> String {
    r.errors
        .iter()
        .find(|e| e.endpoint == endpoint)
        .unwrap_or_else(|| panic!("no error for {endpoint}: {:?}", r.errors))
        .to_string()
}

#[test]
fn a_decompression_bomb_and_an_oversized_body_are_refused() {
    let intake = start();
    let big = vec![0u8; (64 << 20) + 1];
    let bomb = encode("zstd", &big);
    assert!(bomb.len() < 1 << 20, "a bomb is small");
    let (status, answer) = post(&intake, "/api/v2/series", Some("zstd"), &bomb);
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("decompression bomb"), "{answer}");
    let gz_bomb = encode("gzip", &big);
    assert_eq!(
        post(&intake, "/api/beta/sketches", Some("gzip"), &gz_bomb).0,
        413
    );
    // 64 MiB + 1 byte as posted: refused from its declared length (the client may see the
    // answer, or the connection closed before it finished sending).
    let url = format!("{}/api/v1/series", intake.url());
    let _ = agent().post(url).send(&big[..]);
    let r = poll("the oversized body to be recorded", || {
        let r = intake.snapshot();
        (r.errors.len() == 3).then_some(r)
    });
    assert!(error_of(&r, "/api/v2/series").contains("more than the limit of 67108864 bytes"));
    assert!(error_of(&r, "/api/beta/sketches").contains("decompression bomb"));
    assert!(error_of(&r, "/api/v1/series").contains("exceeds the limit of 67108864 bytes"));
    assert_eq!(
        r.payload_total(),
        0,
        "a refused body is not an empty payload"
    );
}

#[test]
fn bad_bodies_are_errors_with_their_offset_and_unknown_paths_are_counted() {
    let intake = start();
    // Cut inside the series: its length (byte 1) says 40 bytes, 28 are left.
    let (status, answer) = post(&intake, "/api/v2/series", None, &HAND_SERIES[..30]);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        post(&intake, "/api/v1/check_run", Some("deflate"), b"not zlib").0,
        400
    );
    assert_eq!(
        post(&intake, "/api/v1/series", None, b"{\"series\": [1,").0,
        400
    );
    assert_eq!(post(&intake, "/api/v2/logs", None, b"whatever").0, 202);
    assert_eq!(post(&intake, "/api/v2/logs", None, b"again").0, 202);
    assert_eq!(post(&intake, "/api/v1/metadata", None, b"{}").0, 202);
    let (status, answer) = {
        let mut resp = agent()
            .get(format!("{}/api/v1/validate", intake.url()))
            .call()
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    };
    assert_eq!((status, answer.as_str()), (200, r#"{"valid": true}"#));
    let r = intake.stop();
    assert_eq!(r.errors.len(), 3, "{:?}", r.errors);
    let truncated = &r.errors[0];
    assert_eq!(
        (truncated.endpoint.as_str(), truncated.offset),
        ("/api/v2/series", 1)
    );
    assert!(
        truncated.message.contains("40 bytes long, only 28 left"),
        "{truncated}"
    );
    assert!(
        r.errors[1].message.contains("corrupt deflate body"),
        "{}",
        r.errors[1]
    );
    // Byte 12 is the `1` that is not a series.
    assert_eq!(r.errors[2].offset, 12, "{}", r.errors[2]);
    assert_eq!(r.payload_total(), 0);
    assert_eq!(r.unknown["/api/v2/logs"], 2);
    assert_eq!(r.unknown_total(), 3);
    assert_eq!(r.validations, 1);
}

#[test]
fn the_intake_command_writes_what_arrives_and_summarises_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("items.jsonl");
    let mut child = Running::spawn([
        "intake",
        "--listen",
        "127.0.0.1:0",
        "--out",
        out.to_str().unwrap(),
    ]);
    let url = child.listening();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let send = |path: &str, body: &[u8]| {
        let mut resp = agent()
            .post(format!("{url}{path}"))
            .header("Content-Encoding", "zstd")
            .send(&encode("zstd", body)[..])
            .unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap_or_default(),
        )
    };
    assert_eq!(send("/api/v2/series", &v2_series().encode_to_vec()).0, 202);
    assert_eq!(send("/api/beta/sketches", &HAND_SKETCH).0, 202);
    assert_eq!(send("/api/v2/logs", b"x").0, 202);
    let items = poll("the items in --out", || {
        let items = read_jsonl(&std::fs::read_to_string(&out).ok()?).ok()?;
        (items.len() == 3).then_some(items)
    });
    assert!(matches!(&items[2], FlushedItem::Sketch(s) if s.count == 2));
    child.signal(libc::SIGTERM);
    let (status, stderr) = child.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("stopped: 2 payloads, 3 items, 1 unknown-endpoint requests, 0 errors"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/api/v2/series         payloads=1 items=2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown endpoint /api/v2/logs requests=1"),
        "{stderr}"
    );
}

#[test]
fn the_intake_command_exits_3_when_a_payload_did_not_decode() {
    let mut child = Running::spawn(["intake"]);
    let url = child.listening();
    let mut resp = agent()
        .post(format!("{url}/api/beta/sketches"))
        .send(&HAND_SKETCH[..20])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let _ = resp.body_mut().read_to_string();
    child.signal(libc::SIGINT);
    let (status, stderr) = child.wait();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("error: /api/beta/sketches: invalid protobuf"),
        "{stderr}"
    );
}

/// The fuzz entry point refuses, never panics: every truncation and every single-byte change
/// of a valid body, on every endpoint, is decoded or refused with an offset inside the body.
#[test]
fn decode_payload_refuses_damaged_bodies_without_panicking() {
    use lastbucket::intake::decode_payload;
    let json = br#"{"series": [{"metric": "a", "points": [[1, 2]]}]}"#;
    let bodies: [(&str, &[u8]); 4] = [
        ("/api/v2/series", &HAND_SERIES),
        ("/api/beta/sketches", &HAND_SKETCH),
        ("/api/v1/series", json),
        ("/api/v1/events_batch", &HAND_SKETCH),
    ];
    for (path, body) in bodies {
        for cut in 0..body.len() {
            if let Err(e) = decode_payload(path, None, &body[..cut]) {
                assert!(e.offset <= cut as u64, "{path} cut at {cut}: {e}");
            }
        }
        for at in 0..body.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut damaged = body.to_vec();
                damaged[at] ^= flip;
                if let Err(e) = decode_payload(path, None, &damaged) {
                    assert!(e.offset <= body.len() as u64, "{path} byte {at}: {e}");
                }
                let z = encode("zstd", &damaged);
                let _ = decode_payload(path, Some("zstd"), &z[..z.len() / 2]);
            }
        }
    }
}
