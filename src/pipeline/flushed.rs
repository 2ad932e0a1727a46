//! What the pipeline flushes, in the vocabulary of the Datadog series API (formats.md,
//! "Flushed output"): series, sketches, events and service checks, written as JSON lines.

use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// The API type of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesType {
    Rate,
    Gauge,
    Count,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub metric: String,
    #[serde(rename = "type")]
    pub series_type: SeriesType,
    pub interval: i64,
    /// `[timestamp, value]` pairs, sorted by timestamp.
    pub points: Vec<(i64, f64)>,
    pub tags: Vec<String>,
    pub host: String,
}

/// One bucket of a distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SketchPoint {
    pub metric: String,
    pub interval: i64,
    pub ts: i64,
    pub count: i64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    /// p50, p95 and p99 read from the DDSketch (relative accuracy 1 %).
    pub quantiles: Vec<(f64, f64)>,
    pub tags: Vec<String>,
    pub host: String,
    /// The sketch's bins as `(k, n)` in the agent's key mapping
    /// ([`crate::pipeline::agent_sketch`]), sorted by key, Σn = count: what a `Dogsketch`
    /// carries. Not written in the JSON lines (their format predates the bins, and the golden
    /// files hold it byte for byte); kept in memory for `serve --forward-to` and the intake,
    /// and empty unless the pipeline keeps them ([`crate::pipeline::Pipeline::keep_agent_bins`]).
    #[serde(skip)]
    pub bins: Vec<(i32, u64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventItem {
    pub title: String,
    pub text: String,
    pub ts: i64,
    pub host: String,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aggregation_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub priority: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_type_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub alert_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceCheckItem {
    pub check: String,
    pub status: u8,
    pub ts: i64,
    pub host: String,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

/// One flushed item, one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FlushedItem {
    Series(Series),
    Sketch(SketchPoint),
    Event(EventItem),
    ServiceCheck(ServiceCheckItem),
}

impl FlushedItem {
    /// A total order used to make each flush's output independent of shard and worker count.
    fn sort_key(&self) -> (u8, &str, &[String], &str, i64) {
        match self {
            FlushedItem::Series(s) => (
                0,
                &s.metric,
                &s.tags,
                &s.host,
                s.points.first().map_or(0, |p| p.0),
            ),
            FlushedItem::Sketch(s) => (1, &s.metric, &s.tags, &s.host, s.ts),
            FlushedItem::Event(e) => (2, &e.title, &e.tags, &e.host, e.ts),
            FlushedItem::ServiceCheck(c) => (3, &c.check, &c.tags, &c.host, c.ts),
        }
    }
}

/// Sorts the items of one flush into their canonical order.
pub fn sort_items(items: &mut [FlushedItem]) {
    items.sort_by(|a, b| {
        a.sort_key()
            .partial_cmp(&b.sort_key())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| series_type_rank(a).cmp(&series_type_rank(b)))
    });
}

fn series_type_rank(item: &FlushedItem) -> u8 {
    match item {
        FlushedItem::Series(s) => s.series_type as u8,
        _ => 0,
    }
}

/// Writes items as JSON lines.
pub fn write_jsonl<W: Write>(mut out: W, items: &[FlushedItem]) -> io::Result<()> {
    for item in items {
        serde_json::to_writer(&mut out, item)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Reads items back from JSON lines (tests, and `check` against a server's output).
pub fn read_jsonl(text: &str) -> Result<Vec<FlushedItem>, (usize, serde_json::Error)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| (i + 1, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_serializes_in_the_documented_shape() {
        let item = FlushedItem::Series(Series {
            metric: "a.b".into(),
            series_type: SeriesType::Rate,
            interval: 10,
            points: vec![(1_700_000_000, 0.5)],
            tags: vec!["env:x".into()],
            host: "h".into(),
        });
        let json = serde_json::to_string(&item).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"series","metric":"a.b","type":"rate","interval":10,"points":[[1700000000,0.5]],"tags":["env:x"],"host":"h"}"#
        );
        let back = read_jsonl(&json).unwrap();
        assert_eq!(back, vec![item]);
    }
}
