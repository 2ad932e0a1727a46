//! The protobuf messages of the Datadog agent's capture files, written by hand with prost.
//!
//! They mirror `pkg/proto/datadog/model/v1/model.proto` of DataDog/datadog-agent (package
//! `datadog.model.v1`): `UnixDogstatsdMsg` is one captured datagram, `TaggerState` (with
//! `Entity` / `EntityId`) is the state written after the records of a version ≥ 2 file. Field
//! numbers and types are copied from that file; a build script with protoc would be a heavy
//! dependency for four small messages. Maps use `BTreeMap` so `inspect` prints them in a stable
//! order (the wire format is the same).

use std::collections::BTreeMap;

/// One captured datagram (`datadog.model.v1.UnixDogstatsdMsg`).
///
/// Only the first `payload_size` bytes of `payload` are the datagram: the agent's replay sends
/// `msg.Payload[:msg.PayloadSize]`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UnixDogstatsdMsg {
    /// Arrival time: seconds since the epoch in file versions 1–2, nanoseconds from version 3.
    #[prost(int64, tag = "1")]
    pub timestamp: i64,
    #[prost(int32, tag = "2")]
    pub payload_size: i32,
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
    /// Sender pid from the UDS credentials (origin detection), 0 when unknown.
    #[prost(int32, tag = "4")]
    pub pid: i32,
    #[prost(int32, tag = "5")]
    pub ancillary_size: i32,
    /// Raw ancillary (SCM_CREDENTIALS) data.
    #[prost(bytes = "vec", tag = "6")]
    pub ancillary: Vec<u8>,
}

/// `datadog.model.v1.EntityId`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, ::prost::Message)]
pub struct EntityId {
    #[prost(string, tag = "1")]
    pub prefix: String,
    #[prost(string, tag = "2")]
    pub uid: String,
}

/// `datadog.model.v1.Entity`: a tagger entity and its tags by cardinality.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Entity {
    #[prost(message, optional, tag = "1")]
    pub id: Option<EntityId>,
    #[prost(string, tag = "2")]
    pub hash: String,
    #[prost(string, repeated, tag = "3")]
    pub high_cardinality_tags: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    pub orchestrator_cardinality_tags: Vec<String>,
    #[prost(string, repeated, tag = "5")]
    pub low_cardinality_tags: Vec<String>,
    #[prost(string, repeated, tag = "6")]
    pub standard_tags: Vec<String>,
}

/// `datadog.model.v1.TaggerState`: entities by container id, and container ids by pid.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TaggerState {
    #[prost(btree_map = "string, message", tag = "1")]
    pub state: BTreeMap<String, Entity>,
    #[prost(btree_map = "int32, string", tag = "2")]
    pub pid_map: BTreeMap<i32, String>,
}

/// Most memory a decoded [`TaggerState`] may take, by [`decoded_size_estimate`].
pub const MAX_STATE_MEMORY: u64 = 256 << 20;

/// Estimated heap bytes of the [`TaggerState`] encoded in `bytes`, from a walk of its wire
/// format that allocates nothing.
///
/// The state is read whole, capped in encoded bytes, but decoding multiplies small elements:
/// an empty tag is 2 bytes on the wire and a 24-byte `String` once decoded, an entity entry
/// 4 bytes and a few hundred once it is an `Entity` in a map node. A zstd file of a few
/// kilobytes can hold 64 MiB of such elements and would decode into gigabytes, so the
/// reader refuses a state whose estimate passes [`MAX_STATE_MEMORY`] before decoding it.
/// The estimate over-counts (duplicate map keys overwrite each other when decoded); it stops
/// at the first malformed field, where decoding will fail anyway.
pub fn decoded_size_estimate(bytes: &[u8]) -> u64 {
    // Per decoded element: its struct, plus an allocator's bookkeeping and a map node's share.
    const STRING: u64 = std::mem::size_of::<String>() as u64 + 16;
    const ENTRY: u64 = (std::mem::size_of::<Entity>() + std::mem::size_of::<String>()) as u64 + 64;
    const PID: u64 = std::mem::size_of::<(i32, String)>() as u64 + 64;
    let mut total = bytes.len() as u64;
    for (field, entry) in WireFields(bytes) {
        match field {
            1 => {
                total += ENTRY;
                for (f, value) in WireFields(entry) {
                    if f == 2 {
                        // The entity: every field of it is a string or the small id message.
                        total += STRING * WireFields(value).count() as u64;
                    }
                }
            }
            2 => total += PID,
            _ => {}
        }
    }
    total
}

/// The fields of a protobuf message as (field number, length-delimited contents); other wire
/// types are skipped (contents empty). Ends at the first malformed field.
struct WireFields<'a>(&'a [u8]);

fn read_varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

impl<'a> Iterator for WireFields<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let mut b = self.0;
        let key = read_varint(&mut b)?;
        let value: &[u8] = match key & 7 {
            0 => {
                read_varint(&mut b)?;
                &[]
            }
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                b = b.get(n..)?;
                &[]
            }
            2 => {
                // Validated against what is left before it is used as a length.
                let len = usize::try_from(read_varint(&mut b)?).ok()?;
                let v = b.get(..len)?;
                b = &b[len..];
                v
            }
            _ => {
                self.0 = &[];
                return None;
            }
        };
        self.0 = b;
        Some((key >> 3, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn msg_encodes_fields_in_tag_order_like_go() {
        let m = UnixDogstatsdMsg {
            timestamp: 1,
            payload_size: 2,
            payload: b"ab".to_vec(),
            pid: 0,
            ancillary_size: 0,
            ancillary: vec![],
        };
        // proto3: zero values are omitted, fields in tag order (what Go's proto.Marshal writes).
        assert_eq!(
            m.encode_to_vec(),
            vec![0x08, 0x01, 0x10, 0x02, 0x1A, 0x02, b'a', b'b']
        );
    }

    #[test]
    fn empty_state_is_zero_bytes() {
        assert!(TaggerState::default().encode_to_vec().is_empty());
    }

    #[test]
    fn state_round_trips() {
        let mut s = TaggerState::default();
        s.pid_map.insert(42, "container_id://abc".into());
        s.state.insert(
            "container_id://abc".into(),
            Entity {
                id: Some(EntityId {
                    prefix: "container_id".into(),
                    uid: "abc".into(),
                }),
                low_cardinality_tags: vec!["env:prod".into()],
                ..Default::default()
            },
        );
        let bytes = s.encode_to_vec();
        assert_eq!(TaggerState::decode(&bytes[..]).unwrap(), s);
    }

    #[test]
    fn estimate_counts_decoded_elements() {
        let mut s = TaggerState::default();
        s.pid_map.insert(1, "c".into());
        let one = decoded_size_estimate(&s.encode_to_vec());
        s.state.insert(
            "c".into(),
            Entity {
                high_cardinality_tags: vec![String::new(); 1000],
                ..Default::default()
            },
        );
        let bytes = s.encode_to_vec();
        let est = decoded_size_estimate(&bytes);
        // 1000 empty tags: 2 bytes each on the wire, at least a String each once decoded.
        assert!(
            est > one + 1000 * std::mem::size_of::<String>() as u64,
            "{est}"
        );
        // A cut message stops the walk, never reads past the end.
        assert!(decoded_size_estimate(&bytes[..bytes.len() - 1]) <= est);
        assert_eq!(
            decoded_size_estimate(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            6
        );
    }
}
