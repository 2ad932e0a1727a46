//! A posted payload, decoded into flushed items ([`FlushedItem`], the JSON-lines vocabulary of
//! `check --flushed-out`): the body by its encoding ([`super::body`]), then by its endpoint —
//! protobuf for `/api/v2/series` and `/api/beta/sketches` (and `/api/v1/events_batch` when it is
//! not JSON), the agent's JSON for the v1 endpoints ([`super::json`]).
//!
//! Mapping choices, where the payload and the flushed vocabulary differ:
//! - v2 type UNSPECIFIED is a gauge (as the Datadog backend takes it); an unknown type is an
//!   error.
//! - The host is the name of the resource of type "host"; a resource of type "device" comes
//!   back as a `device:NAME` tag (the agent moved that tag into the resource).
//! - A sketch's interval is 10: the payload has none, and the agent's distributions are 10 s
//!   buckets.
//! - A sketch's quantiles (p50, p95, p99) are computed from its k/n bins the way the agent's
//!   sketch reads them ([`crate::pipeline::agent_sketch::quantile`]): faithful for servers that
//!   use the agent's key mapping (the agent, ADP, `lastbucket serve`), approximate for others.
//!   The bins themselves are in [`SketchPoint::bins`], merged by key.

use super::body::{self, Encoding, MAX_BODY};
use super::decode_error::protobuf_error;
use super::decode_error::{DecodeError, Within};
use super::json;
use super::payload::{MetricPayload, MetricType, SketchPayload};
use super::wire::Msg;
use crate::pipeline::agent_sketch;
use crate::pipeline::flushed::{FlushedItem, Series, SeriesType, SketchPoint};
use prost::Message;
use std::collections::BTreeMap;

/// The endpoints the intake decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    SeriesV2,
    Sketches,
    SeriesV1,
    CheckRun,
    Intake,
    Events,
    EventsBatch,
    Validate,
}

impl Endpoint {
    pub const ALL: [Endpoint; 8] = [
        Endpoint::SeriesV2,
        Endpoint::Sketches,
        Endpoint::SeriesV1,
        Endpoint::CheckRun,
        Endpoint::Intake,
        Endpoint::Events,
        Endpoint::EventsBatch,
        Endpoint::Validate,
    ];

    /// The endpoint of a request path (a query string is ignored); `None` for any other path.
    pub fn of(path: &str) -> Option<Endpoint> {
        let path = path.split(['?', '#']).next().unwrap_or("");
        Some(match path {
            "/api/v2/series" => Endpoint::SeriesV2,
            "/api/beta/sketches" => Endpoint::Sketches,
            "/api/v1/series" => Endpoint::SeriesV1,
            "/api/v1/check_run" => Endpoint::CheckRun,
            "/intake/" | "/intake" => Endpoint::Intake,
            "/api/v1/events" => Endpoint::Events,
            "/api/v1/events_batch" => Endpoint::EventsBatch,
            "/api/v1/validate" => Endpoint::Validate,
            _ => return None,
        })
    }

    pub fn path(self) -> &'static str {
        match self {
            Endpoint::SeriesV2 => "/api/v2/series",
            Endpoint::Sketches => "/api/beta/sketches",
            Endpoint::SeriesV1 => "/api/v1/series",
            Endpoint::CheckRun => "/api/v1/check_run",
            Endpoint::Intake => "/intake/",
            Endpoint::Events => "/api/v1/events",
            Endpoint::EventsBatch => "/api/v1/events_batch",
            Endpoint::Validate => "/api/v1/validate",
        }
    }
}

/// Decodes one posted payload: the entry point of the intake and of fuzz targets. Never
/// panics; every refusal says where.
pub fn decode_payload(
    path: &str,
    encoding: Option<&str>,
    body: &[u8],
) -> Result<Vec<FlushedItem>, DecodeError> {
    let Some(endpoint) = Endpoint::of(path) else {
        return Err(DecodeError::new(path, 0, Within::Body, "unknown endpoint"));
    };
    let name = endpoint.path();
    if body.len() as u64 > MAX_BODY {
        return Err(DecodeError::new(
            name,
            MAX_BODY,
            Within::Body,
            format!(
                "body of {} bytes exceeds the limit of {MAX_BODY} bytes (64 MiB)",
                body.len()
            ),
        ));
    }
    let encoding =
        Encoding::parse(encoding).map_err(|m| DecodeError::new(name, 0, Within::Body, m))?;
    let decoded = body::decompress(encoding, body).map_err(|e| {
        let within = if encoding == Encoding::Identity {
            Within::Body
        } else {
            Within::Decoded
        };
        DecodeError::new(name, e.offset, within, e.message)
    })?;
    let bytes: &[u8] = &decoded;
    match endpoint {
        Endpoint::SeriesV2 => series_v2(name, bytes),
        Endpoint::Sketches => sketches(name, bytes),
        Endpoint::SeriesV1 => json::series_v1(name, bytes),
        Endpoint::CheckRun => json::check_runs(name, bytes),
        Endpoint::Intake => json::events(name, bytes, json::NonEvents::Allowed),
        Endpoint::Events => json::events(name, bytes, json::NonEvents::Refused),
        Endpoint::EventsBatch if json::looks_like_json(bytes) => {
            json::events(name, bytes, json::NonEvents::Refused)
        }
        Endpoint::EventsBatch => json::events_protobuf(name, bytes),
        Endpoint::Validate => Ok(Vec::new()),
    }
}

fn series_v2(endpoint: &str, bytes: &[u8]) -> Result<Vec<FlushedItem>, DecodeError> {
    let payload = MetricPayload::decode(bytes)
        .map_err(|e| protobuf_error(endpoint, bytes, Msg::MetricPayload, e))?;
    let mut items = Vec::with_capacity(payload.series.len());
    for (i, s) in payload.series.into_iter().enumerate() {
        let series_type = match MetricType::try_from(s.r#type) {
            Ok(MetricType::Count) => SeriesType::Count,
            Ok(MetricType::Rate) => SeriesType::Rate,
            Ok(MetricType::Gauge | MetricType::Unspecified) => SeriesType::Gauge,
            Err(_) => {
                return Err(DecodeError::new(
                    endpoint,
                    0,
                    Within::Decoded,
                    format!(
                        "series #{i} ({:?}): unknown metric type {}",
                        s.metric, s.r#type
                    ),
                ))
            }
        };
        let mut host = String::new();
        let mut tags = s.tags;
        for r in s.resources {
            match r.r#type.as_str() {
                "host" => host = r.name,
                "device" => tags.push(format!("device:{}", r.name)),
                _ => {}
            }
        }
        items.push(FlushedItem::Series(Series {
            metric: s.metric,
            series_type,
            interval: s.interval,
            points: s.points.iter().map(|p| (p.timestamp, p.value)).collect(),
            tags,
            host,
        }));
    }
    Ok(items)
}

/// The agent's distributions are 10 s buckets; the sketch payload carries no interval.
const SKETCH_INTERVAL: i64 = 10;

fn sketches(endpoint: &str, bytes: &[u8]) -> Result<Vec<FlushedItem>, DecodeError> {
    let payload = SketchPayload::decode(bytes)
        .map_err(|e| protobuf_error(endpoint, bytes, Msg::SketchPayload, e))?;
    let mut items = Vec::new();
    for (i, s) in payload.sketches.into_iter().enumerate() {
        for d in s.dogsketches {
            if d.k.len() != d.n.len() {
                return Err(DecodeError::new(
                    endpoint,
                    0,
                    Within::Decoded,
                    format!(
                        "sketch #{i} ({:?}) ts={}: {} keys (k) but {} counts (n)",
                        s.metric,
                        d.ts,
                        d.k.len(),
                        d.n.len()
                    ),
                ));
            }
            let mut merged: BTreeMap<i32, u64> = BTreeMap::new();
            for (k, n) in d.k.iter().zip(&d.n) {
                *merged.entry(*k).or_insert(0) += u64::from(*n);
            }
            let bins: Vec<(i32, u64)> = merged.into_iter().collect();
            let quantiles = [0.5, 0.95, 0.99]
                .iter()
                .filter_map(|q| agent_sketch::quantile(&bins, d.min, d.max, *q).map(|v| (*q, v)))
                .collect();
            items.push(FlushedItem::Sketch(SketchPoint {
                metric: s.metric.clone(),
                interval: SKETCH_INTERVAL,
                ts: d.ts,
                count: d.cnt,
                sum: d.sum,
                min: d.min,
                max: d.max,
                avg: d.avg,
                quantiles,
                tags: s.tags.clone(),
                host: s.host.clone(),
                bins,
            }));
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_endpoints_and_back() {
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::of(e.path()), Some(e));
        }
        assert_eq!(
            Endpoint::of("/api/v2/series?api_key=x"),
            Some(Endpoint::SeriesV2)
        );
        assert_eq!(Endpoint::of("/api/v2/logs"), None);
    }

    #[test]
    fn an_unknown_endpoint_or_encoding_is_an_error() {
        assert!(decode_payload("/nope", None, b"").is_err());
        let e = decode_payload("/api/v2/series", Some("br"), b"").unwrap_err();
        assert!(
            e.to_string().contains("unsupported Content-Encoding"),
            "{e}"
        );
    }
}
