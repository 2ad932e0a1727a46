//! The built-in Datadog intake (blackbox.md): an HTTP server on loopback that decodes what a
//! DogStatsD server posts — v2 series and sketches (protobuf), v1 series, service checks and
//! events (JSON) — into flushed items, so the same oracle can judge a server it cannot see
//! inside. Also the inverse, the agent's payloads from flushed items, which `serve
//! --forward-to` posts.

pub mod body;
pub mod decode;
pub mod decode_error;
pub mod encode;
pub mod json;
pub mod payload;
pub mod server;
pub mod wire;

pub use decode::{decode_payload, Endpoint};
pub use decode_error::DecodeError;
pub use server::{EndpointCounts, Intake, IntakeError, Received};
