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
}
