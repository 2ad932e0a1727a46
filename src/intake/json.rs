//! The agent's JSON payloads (and the public API's spellings of the same things):
//! - `/api/v1/series`: `{"series": [{metric, points: [[ts, v]], tags, host, device, type,
//!   interval}]}`.
//! - `/api/v1/check_run`: `[{check, host_name, timestamp, status, message, tags}]` (tags may be
//!   null).
//! - `/intake/`, `/api/v1/events`, `/api/v1/events_batch`: the agent's
//!   `{"apiKey", "events": {"<source type>": [{msg_title, msg_text, timestamp, priority, host,
//!   tags, alert_type, aggregation_key, source_type_name}]}, "internalHostname"}`; `events` may
//!   also be a plain array, and `/api/v1/events` takes the public API's single event
//!   (`title`, `text`, `date_happened`). `/intake/` also carries the agent's host metadata:
//!   a JSON object without events is a payload of no items there, not an error.
//! - `/api/v1/events_batch` from the Agent Data Plane: protobuf `EventsPayload`.

use super::decode_error::{protobuf_error, DecodeError, Within};
use super::payload::EventsPayload;
use super::wire::Msg;
use crate::pipeline::flushed::{EventItem, FlushedItem, Series, SeriesType, ServiceCheckItem};
use prost::Message;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Whether a JSON body without events is a valid payload (of nothing) on this endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonEvents {
    Allowed,
    Refused,
}

/// True when the body starts (after white space) like a JSON object or array. An
/// `EventsPayload` never does: `{` and `[` would be fields 15 and 11 with a group wire type.
pub fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// The byte offset of a serde_json error (it reports a line and a column, both from 1).
fn offset_of(bytes: &[u8], e: &serde_json::Error) -> u64 {
    let line_start: usize = bytes
        .split_inclusive(|b| *b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    (line_start + e.column().saturating_sub(1)).min(bytes.len()) as u64
}

fn parse<'a, T: Deserialize<'a>>(
    endpoint: &str,
    bytes: &'a [u8],
    what: &str,
) -> Result<T, DecodeError> {
    serde_json::from_slice(bytes).map_err(|e| {
        DecodeError::new(
            endpoint,
            offset_of(bytes, &e),
            Within::Decoded,
            format!("invalid {what} JSON: {e}"),
        )
    })
}

#[derive(Deserialize)]
struct SeriesBody {
    series: Vec<SeriesJson>,
}

#[derive(Deserialize)]
struct SeriesJson {
    metric: String,
    points: Vec<(f64, f64)>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    device: Option<String>,
    #[serde(default, rename = "type")]
    series_type: Option<String>,
    #[serde(default)]
    interval: Option<i64>,
}

pub fn series_v1(endpoint: &str, bytes: &[u8]) -> Result<Vec<FlushedItem>, DecodeError> {
    let body: SeriesBody = parse(endpoint, bytes, "series")?;
    let mut items = Vec::with_capacity(body.series.len());
    for (i, s) in body.series.into_iter().enumerate() {
        let series_type = match s.series_type.as_deref().unwrap_or("gauge") {
            "gauge" | "" => SeriesType::Gauge,
            "rate" => SeriesType::Rate,
            "count" => SeriesType::Count,
            other => {
                return Err(DecodeError::new(
                    endpoint,
                    0,
                    Within::Decoded,
                    format!("series #{i} ({:?}): unknown type {other:?}", s.metric),
                ))
            }
        };
        let mut tags = s.tags.unwrap_or_default();
        if let Some(d) = s.device.filter(|d| !d.is_empty()) {
            tags.push(format!("device:{d}"));
        }
        items.push(FlushedItem::Series(Series {
            metric: s.metric,
            series_type,
            interval: s.interval.unwrap_or(0),
            points: s.points.iter().map(|(t, v)| (*t as i64, *v)).collect(),
            tags,
            host: s.host.unwrap_or_default(),
        }));
    }
    Ok(items)
}

#[derive(Deserialize)]
struct CheckRunJson {
    check: String,
    #[serde(default, alias = "host")]
    host_name: Option<String>,
    #[serde(default)]
    timestamp: Option<i64>,
    status: u8,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

pub fn check_runs(endpoint: &str, bytes: &[u8]) -> Result<Vec<FlushedItem>, DecodeError> {
    let checks: Vec<CheckRunJson> = parse(endpoint, bytes, "service checks")?;
    Ok(checks
        .into_iter()
        .map(|c| {
            FlushedItem::ServiceCheck(ServiceCheckItem {
                check: c.check,
                status: c.status,
                ts: c.timestamp.unwrap_or(0),
                host: c.host_name.unwrap_or_default(),
                tags: c.tags.unwrap_or_default(),
                message: c.message.filter(|m| !m.is_empty()),
            })
        })
        .collect())
}

#[derive(Deserialize)]
struct EventJson {
    #[serde(alias = "msg_title")]
    title: String,
    #[serde(default, alias = "msg_text")]
    text: String,
    #[serde(default, alias = "date_happened")]
    timestamp: Option<i64>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    alert_type: Option<String>,
    #[serde(default)]
    aggregation_key: Option<String>,
    #[serde(default)]
    source_type_name: Option<String>,
}

impl EventJson {
    fn item(self) -> FlushedItem {
        let some = |s: Option<String>| s.filter(|s| !s.is_empty());
        FlushedItem::Event(EventItem {
            title: self.title,
            text: self.text,
            ts: self.timestamp.unwrap_or(0),
            host: self.host.unwrap_or_default(),
            tags: self.tags.unwrap_or_default(),
            aggregation_key: some(self.aggregation_key),
            priority: some(self.priority),
            source_type_name: some(self.source_type_name),
            alert_type: some(self.alert_type),
        })
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EventList {
    BySource(BTreeMap<String, Vec<EventJson>>),
    Plain(Vec<EventJson>),
}

pub fn events(
    endpoint: &str,
    bytes: &[u8],
    non_events: NonEvents,
) -> Result<Vec<FlushedItem>, DecodeError> {
    let value: Value = parse(endpoint, bytes, "events")?;
    let invalid = |e: serde_json::Error| {
        DecodeError::new(
            endpoint,
            0,
            Within::Decoded,
            format!("invalid events JSON: {e}"),
        )
    };
    let list = match value {
        Value::Array(_) => serde_json::from_value::<Vec<EventJson>>(value).map_err(invalid)?,
        Value::Object(mut o) => match o.remove("events") {
            Some(Value::Null) | None if o.contains_key("title") || o.contains_key("msg_title") => {
                vec![serde_json::from_value::<EventJson>(Value::Object(o)).map_err(invalid)?]
            }
            Some(Value::Null) | None => match non_events {
                NonEvents::Allowed => Vec::new(),
                NonEvents::Refused => {
                    return Err(DecodeError::new(
                        endpoint,
                        0,
                        Within::Decoded,
                        "a JSON object with neither \"events\" nor an event's title",
                    ))
                }
            },
            Some(events) => match serde_json::from_value::<EventList>(events) {
                Ok(EventList::BySource(m)) => m.into_values().flatten().collect(),
                Ok(EventList::Plain(v)) => v,
                Err(e) => return Err(invalid(e)),
            },
        },
        _ => {
            return Err(DecodeError::new(
                endpoint,
                0,
                Within::Decoded,
                "events JSON must be an object or an array",
            ))
        }
    };
    Ok(list.into_iter().map(EventJson::item).collect())
}

pub fn events_protobuf(endpoint: &str, bytes: &[u8]) -> Result<Vec<FlushedItem>, DecodeError> {
    let payload = EventsPayload::decode(bytes)
        .map_err(|e| protobuf_error(endpoint, bytes, Msg::EventsPayload, e))?;
    let some = |s: String| (!s.is_empty()).then_some(s);
    Ok(payload
        .events
        .into_iter()
        .map(|e| {
            FlushedItem::Event(EventItem {
                title: e.title,
                text: e.text,
                ts: e.ts,
                host: e.host,
                tags: e.tags,
                aggregation_key: some(e.aggregation_key),
                priority: some(e.priority),
                source_type_name: some(e.source_type_name),
                alert_type: some(e.alert_type),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_carry_the_byte_offset() {
        let body = b"{\"series\": [\n  {\"metric\": 5}]}";
        let e = series_v1("/api/v1/series", body).unwrap_err();
        // The error is on line 2, inside the object that starts at byte 15.
        assert!(e.offset >= 15 && e.offset <= body.len() as u64, "{e}");
    }

    #[test]
    fn intake_metadata_is_no_events_but_events_v1_refuses_it() {
        let meta = br#"{"internalHostname": "h", "meta": {}}"#;
        assert_eq!(
            events("/intake/", meta, NonEvents::Allowed).unwrap(),
            vec![]
        );
        assert!(events("/api/v1/events", meta, NonEvents::Refused).is_err());
        let public = br#"{"title": "t", "text": "x", "date_happened": 5, "tags": ["a:b"]}"#;
        let items = events("/api/v1/events", public, NonEvents::Refused).unwrap();
        assert!(matches!(&items[0], FlushedItem::Event(e) if e.title == "t" && e.ts == 5));
    }
}
