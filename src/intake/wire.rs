//! Where a protobuf body is broken. prost says *that* a body does not decode, not *where*: this
//! walks the wire format with the payload's schema (which fields are messages, which are
//! strings) and names the byte of the first fault: a truncated varint, a length that runs past
//! the end, a wire type that is not allowed, a string that is not UTF-8.

/// The messages of [`super::payload`], as far as the walk needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    MetricPayload,
    MetricSeries,
    Resource,
    MetricPoint,
    Metadata,
    Origin,
    CommonMetadata,
    SketchPayload,
    Sketch,
    Dogsketch,
    EventsPayload,
    Event,
    /// A field the intake does not read: its bytes are skipped, not looked into.
    Opaque,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message(Msg),
    Str,
    Scalar,
}

fn kind(msg: Msg, field: u64) -> Kind {
    use Kind::{Message as M, Scalar, Str};
    match (msg, field) {
        (Msg::MetricPayload, 1) => M(Msg::MetricSeries),
        (Msg::MetricSeries, 1) => M(Msg::Resource),
        (Msg::MetricSeries, 2 | 3 | 6 | 7) => Str,
        (Msg::MetricSeries, 4) => M(Msg::MetricPoint),
        (Msg::MetricSeries, 9) | (Msg::Sketch, 8) => M(Msg::Metadata),
        (Msg::Resource, 1 | 2) => Str,
        (Msg::Metadata, 1) => M(Msg::Origin),
        (Msg::CommonMetadata, 1 | 2 | 4 | 5 | 6) => Str,
        (Msg::SketchPayload, 1) => M(Msg::Sketch),
        (Msg::SketchPayload | Msg::EventsPayload, 2) => M(Msg::CommonMetadata),
        (Msg::Sketch, 1 | 2 | 4) => Str,
        (Msg::Sketch, 3) => M(Msg::Opaque),
        (Msg::Sketch, 7) => M(Msg::Dogsketch),
        (Msg::EventsPayload, 1) => M(Msg::Event),
        (Msg::Event, 1 | 2 | 4 | 5 | 6 | 7 | 8 | 9) => Str,
        _ => Scalar,
    }
}

/// A fault: the byte offset in the whole body, and what is wrong there.
pub type Fault = (usize, String);

fn varint(buf: &[u8], pos: usize) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = *buf.get(pos + i)?;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, pos + i + 1));
        }
    }
    None
}

/// The first fault of `buf` read as `msg`; `base` is the offset of `buf` in the body.
pub fn first_fault(buf: &[u8], base: usize, msg: Msg) -> Option<Fault> {
    if msg == Msg::Opaque {
        return None;
    }
    let mut pos = 0;
    while pos < buf.len() {
        let at = base + pos;
        let Some((tag, next)) = varint(buf, pos) else {
            return Some((at, format!("truncated field tag in {msg:?}")));
        };
        let field = tag >> 3;
        let wire = tag & 7;
        if field == 0 {
            return Some((at, format!("field number 0 in {msg:?}")));
        }
        let k = kind(msg, field);
        if matches!(k, Kind::Message(_) | Kind::Str) && wire != 2 {
            return Some((
                at,
                format!(
                    "field {field} of {msg:?} has wire type {wire}, expected 2 (length-delimited)"
                ),
            ));
        }
        pos = next;
        match wire {
            0 => match varint(buf, pos) {
                Some((_, n)) => pos = n,
                None => {
                    return Some((
                        base + pos,
                        format!("truncated varint of field {field} in {msg:?}"),
                    ))
                }
            },
            1 | 5 => {
                let width = if wire == 1 { 8 } else { 4 };
                if buf.len() - pos < width {
                    return Some((
                        base + pos,
                        format!(
                            "field {field} of {msg:?} needs {width} bytes, {} left",
                            buf.len() - pos
                        ),
                    ));
                }
                pos += width;
            }
            2 => {
                let Some((len, start)) = varint(buf, pos) else {
                    return Some((
                        base + pos,
                        format!("truncated length of field {field} in {msg:?}"),
                    ));
                };
                let left = buf.len() - start;
                if len > left as u64 {
                    return Some((
                        base + pos,
                        format!(
                            "field {field} of {msg:?} is {len} bytes long, only {left} left (truncated?)"
                        ),
                    ));
                }
                let end = start + len as usize;
                let inner = &buf[start..end];
                match k {
                    Kind::Message(m) => {
                        if let Some(f) = first_fault(inner, base + start, m) {
                            return Some(f);
                        }
                    }
                    Kind::Str => {
                        if let Err(e) = std::str::from_utf8(inner) {
                            return Some((
                                base + start + e.valid_up_to(),
                                format!("field {field} of {msg:?} is not UTF-8"),
                            ));
                        }
                    }
                    Kind::Scalar => {}
                }
                pos = end;
            }
            3 | 4 => {
                return Some((
                    at,
                    format!("field {field} of {msg:?}: groups are not supported"),
                ))
            }
            w => {
                return Some((
                    at,
                    format!("field {field} of {msg:?}: invalid wire type {w}"),
                ))
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_byte_of_a_truncation() {
        // MetricPayload { series (1, len 10): MetricSeries { metric (2, len 3) "abc" } } cut.
        let body = [0x0a, 0x0a, 0x12, 0x03, b'a', b'b', b'c'];
        let (at, why) = first_fault(&body, 0, Msg::MetricPayload).unwrap();
        assert_eq!(at, 1);
        assert!(why.contains("10 bytes long, only 5 left"), "{why}");
        let ok = [0x0a, 0x05, 0x12, 0x03, b'a', b'b', b'c'];
        assert_eq!(first_fault(&ok, 0, Msg::MetricPayload), None);
        let bad_utf8 = [0x0a, 0x05, 0x12, 0x03, b'a', 0xff, b'c'];
        assert_eq!(first_fault(&bad_utf8, 0, Msg::MetricPayload).unwrap().0, 5);
        let bad_varint = [0x08, 0x80];
        assert_eq!(first_fault(&bad_varint, 0, Msg::MetricPoint).unwrap().0, 1);
    }
}
