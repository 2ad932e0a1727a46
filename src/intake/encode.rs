//! Flushed items as the agent posts them, the inverse of [`super::decode`]: series as a v2
//! `MetricPayload`, distributions as a `SketchPayload` (k/n bins in the agent's mapping), both
//! protobuf; events as the agent's `/intake/` JSON and service checks as its
//! `/api/v1/check_run` JSON. Every body is zstd-compressed, as the agent's default. Large
//! flushes are split into payloads of at most [`MAX_ITEMS_PER_PAYLOAD`] items (the agent splits
//! by size; any split is decoded the same).

use super::payload::{
    Dogsketch, MetricPayload, MetricPoint, MetricSeries, MetricType, Resource, Sketch,
    SketchPayload,
};
use crate::pipeline::flushed::{
    EventItem, FlushedItem, Series, SeriesType, ServiceCheckItem, SketchPoint,
};
use prost::Message;
use serde_json::{json, Map, Value};

/// The most items one payload carries.
pub const MAX_ITEMS_PER_PAYLOAD: usize = 5_000;

pub const PROTOBUF: &str = "application/x-protobuf";
pub const JSON: &str = "application/json";

/// One request to post: where, its content type, and its body before compression.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub path: &'static str,
    pub content_type: &'static str,
    /// How many flushed items the body carries.
    pub items: usize,
    pub body: Vec<u8>,
}

impl Post {
    /// The body zstd-compressed (level 1: the agent's default compression level).
    pub fn compressed(&self) -> std::io::Result<Vec<u8>> {
        zstd::encode_all(&self.body[..], 1)
    }
}

pub fn series_payload(series: &[&Series]) -> MetricPayload {
    MetricPayload {
        series: series
            .iter()
            .map(|s| MetricSeries {
                resources: vec![Resource {
                    r#type: "host".into(),
                    name: s.host.clone(),
                }],
                metric: s.metric.clone(),
                tags: s.tags.clone(),
                points: s
                    .points
                    .iter()
                    .map(|(t, v)| MetricPoint {
                        value: *v,
                        timestamp: *t,
                    })
                    .collect(),
                r#type: match s.series_type {
                    SeriesType::Count => MetricType::Count,
                    SeriesType::Rate => MetricType::Rate,
                    SeriesType::Gauge => MetricType::Gauge,
                } as i32,
                unit: String::new(),
                source_type_name: String::new(),
                interval: s.interval,
                metadata: None,
            })
            .collect(),
    }
}

/// A sketch's bins as k/n: counts above a u32 are split (the pipeline's are at most 65 535).
fn bins_kn(bins: &[(i32, u64)]) -> (Vec<i32>, Vec<u32>) {
    let mut k = Vec::with_capacity(bins.len());
    let mut n = Vec::with_capacity(bins.len());
    for (key, mut count) in bins.iter().copied() {
        while count > 0 {
            let take = count.min(u64::from(u32::MAX));
            k.push(key);
            n.push(take as u32);
            count -= take;
        }
    }
    (k, n)
}

pub fn sketch_payload(points: &[&SketchPoint]) -> SketchPayload {
    SketchPayload {
        sketches: points
            .iter()
            .map(|p| {
                let (k, n) = bins_kn(&p.bins);
                Sketch {
                    metric: p.metric.clone(),
                    host: p.host.clone(),
                    tags: p.tags.clone(),
                    dogsketches: vec![Dogsketch {
                        ts: p.ts,
                        cnt: p.count,
                        min: p.min,
                        max: p.max,
                        avg: p.avg,
                        sum: p.sum,
                        k,
                        n,
                    }],
                    metadata: None,
                }
            })
            .collect(),
        metadata: None,
    }
}

fn event_json(e: &EventItem) -> Value {
    let mut o = Map::new();
    o.insert("msg_title".into(), json!(e.title));
    o.insert("msg_text".into(), json!(e.text));
    o.insert("timestamp".into(), json!(e.ts));
    if let Some(p) = &e.priority {
        o.insert("priority".into(), json!(p));
    }
    o.insert("host".into(), json!(e.host));
    if !e.tags.is_empty() {
        o.insert("tags".into(), json!(e.tags));
    }
    for (key, v) in [
        ("alert_type", &e.alert_type),
        ("aggregation_key", &e.aggregation_key),
        ("source_type_name", &e.source_type_name),
    ] {
        if let Some(v) = v {
            o.insert(key.into(), json!(v));
        }
    }
    Value::Object(o)
}

/// The agent's `/intake/` events body: events grouped by source type name ("api" when none).
pub fn events_body(events: &[&EventItem], hostname: &str) -> Vec<u8> {
    let mut by_source: Map<String, Value> = Map::new();
    for e in events {
        let source = e.source_type_name.as_deref().unwrap_or("api");
        let list = by_source
            .entry(source.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = list {
            a.push(event_json(e));
        }
    }
    let body = json!({"apiKey": "", "events": by_source, "internalHostname": hostname});
    body.to_string().into_bytes()
}

/// The agent's `/api/v1/check_run` body (tags null when there are none, as the agent writes).
pub fn check_runs_body(checks: &[&ServiceCheckItem]) -> Vec<u8> {
    let list: Vec<Value> = checks
        .iter()
        .map(|c| {
            json!({
                "check": c.check,
                "host_name": c.host,
                "timestamp": c.ts,
                "status": c.status,
                "message": c.message.as_deref().unwrap_or(""),
                "tags": if c.tags.is_empty() { Value::Null } else { json!(c.tags) },
            })
        })
        .collect();
    Value::Array(list).to_string().into_bytes()
}

/// The posts of one flush: series, sketches, events, service checks, in that order, each
/// split in chunks of at most [`MAX_ITEMS_PER_PAYLOAD`].
pub fn posts(items: &[FlushedItem], hostname: &str) -> Vec<Post> {
    let mut series = Vec::new();
    let mut sketches = Vec::new();
    let mut events = Vec::new();
    let mut checks = Vec::new();
    for item in items {
        match item {
            FlushedItem::Series(s) => series.push(s),
            FlushedItem::Sketch(s) => sketches.push(s),
            FlushedItem::Event(e) => events.push(e),
            FlushedItem::ServiceCheck(c) => checks.push(c),
        }
    }
    let mut out = Vec::new();
    chunked(&mut out, &series, "/api/v2/series", PROTOBUF, |c| {
        series_payload(c).encode_to_vec()
    });
    chunked(&mut out, &sketches, "/api/beta/sketches", PROTOBUF, |c| {
        sketch_payload(c).encode_to_vec()
    });
    chunked(&mut out, &events, "/intake/", JSON, |c| {
        events_body(c, hostname)
    });
    chunked(
        &mut out,
        &checks,
        "/api/v1/check_run",
        JSON,
        check_runs_body,
    );
    out
}

/// One post per `MAX_ITEMS_PER_PAYLOAD` items of one endpoint.
fn chunked<T>(
    out: &mut Vec<Post>,
    items: &[T],
    path: &'static str,
    content_type: &'static str,
    body: impl Fn(&[T]) -> Vec<u8>,
) {
    for chunk in items.chunks(MAX_ITEMS_PER_PAYLOAD) {
        out.push(Post {
            path,
            content_type,
            items: chunk.len(),
            body: body(chunk),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::decode::decode_payload;
    use crate::pipeline::flushed::sort_items;

    fn sample_items() -> Vec<FlushedItem> {
        vec![
            FlushedItem::Series(Series {
                metric: "a".into(),
                series_type: SeriesType::Rate,
                interval: 10,
                points: vec![(1_700_000_000, 0.5)],
                tags: vec!["env:x".into()],
                host: "h".into(),
            }),
            FlushedItem::Sketch(SketchPoint {
                metric: "d".into(),
                interval: 10,
                ts: 1_700_000_000,
                count: 3,
                sum: 6.0,
                min: 1.0,
                max: 3.0,
                avg: 2.0,
                quantiles: vec![],
                tags: vec![],
                host: "h".into(),
                bins: vec![(1338, 1), (1383, 1), (1409, 1)],
            }),
            FlushedItem::Event(EventItem {
                title: "t".into(),
                text: "x".into(),
                ts: 5,
                host: "h".into(),
                tags: vec!["a:b".into()],
                aggregation_key: None,
                priority: Some("low".into()),
                source_type_name: None,
                alert_type: Some("error".into()),
            }),
            FlushedItem::ServiceCheck(ServiceCheckItem {
                check: "c".into(),
                status: 2,
                ts: 7,
                host: "h".into(),
                tags: vec![],
                message: Some("m".into()),
            }),
        ]
    }

    #[test]
    fn every_post_decodes_back_to_its_items() {
        let items = sample_items();
        let mut back = Vec::new();
        for p in posts(&items, "h") {
            let body = p.compressed().unwrap();
            back.extend(decode_payload(p.path, Some("zstd"), &body).unwrap());
        }
        let mut want = items;
        sort_items(&mut want);
        sort_items(&mut back);
        // Quantiles are computed by the decoder; compare the rest.
        for item in &mut back {
            if let FlushedItem::Sketch(s) = item {
                assert_eq!(s.quantiles.len(), 3);
                assert!(s.quantiles.iter().all(|(_, v)| (1.0..=3.0).contains(v)));
                s.quantiles.clear();
            }
        }
        assert_eq!(back, want);
    }
}
