//! Helpers shared by the `source_*` integration tests: capture files assembled byte by byte
//! from the format facts (independently of the crate's writer), and small utilities.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use lastbucket::source::{Datagram, OpenOptions, ReadStats, SourceError};

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub fn dg(ts_ns: u64, payload: &[u8]) -> Datagram {
    Datagram {
        ts_ns,
        payload: payload.to_vec(),
    }
}

/// Protobuf base-128 varint.
pub fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// A varint field (wire type 0); int32/int64 negatives are sign-extended to 64 bits.
pub fn field_varint(tag: u64, v: i64, out: &mut Vec<u8>) {
    varint(tag << 3, out);
    varint(v as u64, out);
}

/// A length-delimited field (wire type 2).
pub fn field_bytes(tag: u64, b: &[u8], out: &mut Vec<u8>) {
    varint((tag << 3) | 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// One `UnixDogstatsdMsg`, proto3 style (zero fields omitted, tag order).
#[derive(Clone, Default)]
pub struct Rec {
    pub timestamp: i64,
    pub payload_size: i32,
    pub payload: Vec<u8>,
    pub pid: i32,
    pub ancillary: Vec<u8>,
}

impl Rec {
    pub fn new(timestamp: i64, payload: &[u8]) -> Self {
        Rec {
            timestamp,
            payload_size: payload.len() as i32,
            payload: payload.to_vec(),
            ..Default::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.timestamp != 0 {
            field_varint(1, self.timestamp, &mut out);
        }
        if self.payload_size != 0 {
            field_varint(2, i64::from(self.payload_size), &mut out);
        }
        if !self.payload.is_empty() {
            field_bytes(3, &self.payload, &mut out);
        }
        if self.pid != 0 {
            field_varint(4, i64::from(self.pid), &mut out);
        }
        if !self.ancillary.is_empty() {
            field_varint(5, self.ancillary.len() as i64, &mut out);
            field_bytes(6, &self.ancillary, &mut out);
        }
        out
    }
}

pub fn header(version: u8) -> Vec<u8> {
    vec![0xD4, 0x74, 0xD0, 0x60, 0xF0 | version, 0xFF, 0x00, 0x00]
}

/// Header + records (4-byte LE length + body); `state` adds the version ≥ 2 trailer
/// (0-length separator, state bytes, 4-byte LE state length).
pub fn capture_bytes(version: u8, records: &[Vec<u8>], state: Option<&[u8]>) -> Vec<u8> {
    let mut out = header(version);
    for r in records {
        out.extend_from_slice(&(r.len() as u32).to_le_bytes());
        out.extend_from_slice(r);
    }
    if let Some(s) = state {
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(s);
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    }
    out
}

/// A `TaggerState` with one pid → container id and one entity for it (low-cardinality tags).
pub fn tagger_state_bytes(
    pid: i32,
    container: &str,
    prefix: &str,
    uid: &str,
    tags: &[&str],
) -> Vec<u8> {
    let mut entity_id = Vec::new();
    field_bytes(1, prefix.as_bytes(), &mut entity_id);
    field_bytes(2, uid.as_bytes(), &mut entity_id);
    let mut entity = Vec::new();
    field_bytes(1, &entity_id, &mut entity);
    for t in tags {
        field_bytes(5, t.as_bytes(), &mut entity);
    }
    let mut state_entry = Vec::new();
    field_bytes(1, container.as_bytes(), &mut state_entry);
    field_bytes(2, &entity, &mut state_entry);
    let mut pid_entry = Vec::new();
    field_varint(1, i64::from(pid), &mut pid_entry);
    field_bytes(2, container.as_bytes(), &mut pid_entry);
    let mut out = Vec::new();
    field_bytes(1, &state_entry, &mut out);
    field_bytes(2, &pid_entry, &mut out);
    out
}

pub fn write_tmp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Opens and drains a source: the datagrams read, the first error, the final stats.
pub fn read_path(
    path: &Path,
    opts: &OpenOptions,
) -> (Vec<Datagram>, Option<SourceError>, ReadStats) {
    let src = lastbucket::source::open(path, opts).unwrap_or_else(|e| panic!("open: {e}"));
    let mut out = Vec::new();
    let mut err = None;
    for item in src.datagrams {
        match item {
            Ok(d) => out.push(d),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    (out, err, src.stats.snapshot())
}

pub fn read_ok(path: &Path, opts: &OpenOptions) -> (Vec<Datagram>, ReadStats) {
    let (d, e, s) = read_path(path, opts);
    if let Some(e) = e {
        panic!("unexpected error: {e}");
    }
    (d, s)
}

pub fn truncating() -> OpenOptions {
    OpenOptions {
        allow_truncated: true,
        ..Default::default()
    }
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}
