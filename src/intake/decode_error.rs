//! Why a posted payload could not be decoded, and where: the error every decoder of the
//! intake returns (protobuf and JSON alike), kept apart from them so that no decoder imports
//! another to say it failed.

use super::body::MAX_BODY;
use super::wire::{self, Msg};
use std::fmt;

/// Which bytes an error's offset counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Within {
    /// The body as posted.
    Body,
    /// The body after decompression (identical to the body without an encoding).
    Decoded,
}

/// A payload that could not be decoded: where (endpoint, byte offset) and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
pub struct DecodeError {
    pub endpoint: String,
    pub offset: u64,
    pub within: Within,
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let within = match self.within {
            Within::Body => "the body",
            Within::Decoded => "the decompressed body",
        };
        write!(
            f,
            "{}: {} (at byte {} of {within})",
            self.endpoint, self.message, self.offset
        )
    }
}

impl DecodeError {
    /// A refusal for size (the body, or what it decompresses to, is over 64 MiB): the offset
    /// of those errors is the limit itself.
    pub fn is_over_limit(&self) -> bool {
        self.offset == MAX_BODY && self.message.contains("limit of")
    }

    pub fn new(endpoint: &str, offset: u64, within: Within, message: impl Into<String>) -> Self {
        DecodeError {
            endpoint: endpoint.to_string(),
            offset,
            within,
            message: message.into(),
        }
    }
}

/// A protobuf decode error, located by the wire walk (offset 0 when the structure is sound
/// and prost refused a value).
pub(super) fn protobuf_error(
    endpoint: &str,
    bytes: &[u8],
    msg: Msg,
    e: prost::DecodeError,
) -> DecodeError {
    match wire::first_fault(bytes, 0, msg) {
        Some((at, why)) => DecodeError::new(
            endpoint,
            at as u64,
            Within::Decoded,
            format!("invalid protobuf: {why}"),
        ),
        None => DecodeError::new(
            endpoint,
            0,
            Within::Decoded,
            format!("invalid protobuf: {e}"),
        ),
    }
}
