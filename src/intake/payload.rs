//! The agent's protobuf payloads, written by hand with prost derive from the field numbers of
//! DataDog/agent-payload `proto/metrics/agent_payload.proto` (no protoc step): what the agent
//! posts to `/api/v2/series` (`MetricPayload`), `/api/beta/sketches` (`SketchPayload`) and, from
//! the Agent Data Plane, `/api/v1/events_batch` (`EventsPayload`). Fields the intake never
//! reads (a sketch's legacy `distributions` = 3) are left out: prost skips unknown fields.

/// `MetricPayload`: series = 1.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricPayload {
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<MetricSeries>,
}

/// `MetricPayload.MetricType`. UNSPECIFIED is what an older or careless encoder leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Unspecified = 0,
    Count = 1,
    Rate = 2,
    Gauge = 3,
}

/// `MetricPayload.MetricPoint`: value = 1 (double), timestamp = 2 (int64, seconds).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricPoint {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `MetricPayload.Resource`: type = 1, name = 2 (the host is `{type: "host", name}`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(string, tag = "1")]
    pub r#type: String,
    #[prost(string, tag = "2")]
    pub name: String,
}

/// `MetricPayload.MetricSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricSeries {
    #[prost(message, repeated, tag = "1")]
    pub resources: Vec<Resource>,
    #[prost(string, tag = "2")]
    pub metric: String,
    #[prost(string, repeated, tag = "3")]
    pub tags: Vec<String>,
    #[prost(message, repeated, tag = "4")]
    pub points: Vec<MetricPoint>,
    #[prost(enumeration = "MetricType", tag = "5")]
    pub r#type: i32,
    #[prost(string, tag = "6")]
    pub unit: String,
    #[prost(string, tag = "7")]
    pub source_type_name: String,
    #[prost(int64, tag = "8")]
    pub interval: i64,
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<Metadata>,
}

/// `Metadata`: origin = 1.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metadata {
    #[prost(message, optional, tag = "1")]
    pub origin: Option<Origin>,
}

/// `Origin`: fields 1-3 are reserved.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Origin {
    #[prost(uint32, tag = "4")]
    pub origin_product: u32,
    #[prost(uint32, tag = "5")]
    pub origin_category: u32,
    #[prost(uint32, tag = "6")]
    pub origin_service: u32,
}

/// `CommonMetadata`, carried by sketch and event payloads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CommonMetadata {
    #[prost(string, tag = "1")]
    pub agent_version: String,
    #[prost(string, tag = "2")]
    pub timezone: String,
    #[prost(double, tag = "3")]
    pub current_epoch: f64,
    #[prost(string, tag = "4")]
    pub internal_ip: String,
    #[prost(string, tag = "5")]
    pub public_ip: String,
    #[prost(string, tag = "6")]
    pub api_key: String,
}

/// `SketchPayload`: sketches = 1, metadata = 2.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SketchPayload {
    #[prost(message, repeated, tag = "1")]
    pub sketches: Vec<Sketch>,
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<CommonMetadata>,
}

/// `SketchPayload.Sketch`: metric = 1, host = 2, tags = 4, dogsketches = 7, metadata = 8.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sketch {
    #[prost(string, tag = "1")]
    pub metric: String,
    #[prost(string, tag = "2")]
    pub host: String,
    #[prost(string, repeated, tag = "4")]
    pub tags: Vec<String>,
    #[prost(message, repeated, tag = "7")]
    pub dogsketches: Vec<Dogsketch>,
    #[prost(message, optional, tag = "8")]
    pub metadata: Option<Metadata>,
}

/// `SketchPayload.Sketch.Dogsketch`: one bucket; k (sint32) and n (uint32) are packed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dogsketch {
    #[prost(int64, tag = "1")]
    pub ts: i64,
    #[prost(int64, tag = "2")]
    pub cnt: i64,
    #[prost(double, tag = "3")]
    pub min: f64,
    #[prost(double, tag = "4")]
    pub max: f64,
    #[prost(double, tag = "5")]
    pub avg: f64,
    #[prost(double, tag = "6")]
    pub sum: f64,
    #[prost(sint32, repeated, tag = "7")]
    pub k: Vec<i32>,
    #[prost(uint32, repeated, tag = "8")]
    pub n: Vec<u32>,
}

/// `EventsPayload`: events = 1, metadata = 2.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EventsPayload {
    #[prost(message, repeated, tag = "1")]
    pub events: Vec<Event>,
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<CommonMetadata>,
}

/// `EventsPayload.Event`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    #[prost(string, tag = "1")]
    pub title: String,
    #[prost(string, tag = "2")]
    pub text: String,
    #[prost(int64, tag = "3")]
    pub ts: i64,
    #[prost(string, tag = "4")]
    pub priority: String,
    #[prost(string, tag = "5")]
    pub host: String,
    #[prost(string, repeated, tag = "6")]
    pub tags: Vec<String>,
    #[prost(string, tag = "7")]
    pub alert_type: String,
    #[prost(string, tag = "8")]
    pub aggregation_key: String,
    #[prost(string, tag = "9")]
    pub source_type_name: String,
}
