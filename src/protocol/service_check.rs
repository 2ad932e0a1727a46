//! Service-check lines: `_sc|<name>|<status>[|field…]`.
//!
//! Follows `parseServiceCheck` of the reference
//! (`comp/dogstatsd/server/impl/parse_service_checks.go`).

use super::reject::RejectReason;
use super::types::ServiceCheckLine;

/// Parses one service-check line. Allocates nothing; the result borrows `line`.
///
/// Reference behaviour reproduced here:
/// - The line needs at least two `|` and four bytes, else `MalformedServiceCheck`; then the
///   first four bytes (`_sc|`) are dropped without being checked beyond the `_sc` that
///   classified the line.
/// - Name: up to the next `|`, must be non-empty (`MalformedServiceCheck`).
/// - Status: exactly `0`, `1`, `2` or `3`, else `BadServiceCheckStatus`.
/// - Fields, each up to the next `|`, in any order: `d:` timestamp, `h:` host, `#` tags,
///   `m:` message. `m:` gets no special treatment: although clients are told to send it last,
///   the agent splits it at `|` like any field, so a message containing `|` is cut there and
///   the rest is read as more fields. An invalid `d:` is only logged (previous value kept);
///   unknown fields are skipped; a later duplicate overrides; empty `h:`/`m:` reset to unset.
/// - Messages are not unescaped (the agent expands `\\n` only in events).
/// - A client that puts a raw newline in the message splits the line: the first part parses
///   here, the rest arrives as its own line and is rejected by whatever parser it meets.
pub fn parse_service_check(line: &[u8]) -> Result<ServiceCheckLine<'_>, RejectReason> {
    let line = std::str::from_utf8(line).map_err(|_| RejectReason::InvalidUtf8)?;
    if line.len() < 4 || line.bytes().filter(|&b| b == b'|').count() < 2 {
        return Err(RejectReason::MalformedServiceCheck);
    }
    // The agent drops 4 bytes; if byte 4 is inside a character, keep that whole character
    // (the agent's name would start with its tail bytes), so emptiness is judged the same.
    let mut start = 4;
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    let mut fields = line[start..].split('|');
    let name = fields.next().unwrap_or_default();
    if name.is_empty() {
        return Err(RejectReason::MalformedServiceCheck);
    }
    let status = match fields.next() {
        Some("0") => 0,
        Some("1") => 1,
        Some("2") => 2,
        Some("3") => 3,
        _ => return Err(RejectReason::BadServiceCheckStatus),
    };
    let mut check = ServiceCheckLine {
        name,
        status,
        timestamp: None,
        hostname: None,
        message: None,
        raw_tags: "",
    };
    for field in fields {
        apply_field(&mut check, field);
    }
    Ok(check)
}

fn apply_field<'a>(check: &mut ServiceCheckLine<'a>, field: &'a str) {
    let non_empty = |v: &'a str| (!v.is_empty()).then_some(v);
    if let Some(ts) = field.strip_prefix("d:") {
        if let Ok(ts) = ts.parse::<i64>() {
            check.timestamp = Some(ts);
        }
    } else if let Some(host) = field.strip_prefix("h:") {
        check.hostname = non_empty(host);
    } else if let Some(tags) = field.strip_prefix('#') {
        check.raw_tags = tags;
    } else if let Some(message) = field.strip_prefix("m:") {
        check.message = non_empty(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_fields() {
        let sc = parse_service_check(b"_sc|db.up|2|d:1700000000|h:db1|#env:prod,role:db|m:down")
            .unwrap();
        assert_eq!(sc.name, "db.up");
        assert_eq!(sc.status, 2);
        assert_eq!(sc.timestamp, Some(1_700_000_000));
        assert_eq!(sc.hostname, Some("db1"));
        assert_eq!(sc.raw_tags, "env:prod,role:db");
        assert_eq!(sc.message, Some("down"));
    }

    #[test]
    fn message_is_cut_at_pipe() {
        let sc = parse_service_check(b"_sc|x|0|m:a|b|h:h").unwrap();
        assert_eq!(sc.message, Some("a"));
        assert_eq!(sc.hostname, Some("h"));
    }

    #[test]
    fn status_and_shape() {
        assert_eq!(
            parse_service_check(b"_sc|x|4"),
            Err(RejectReason::BadServiceCheckStatus)
        );
        assert_eq!(
            parse_service_check(b"_sc|x"),
            Err(RejectReason::MalformedServiceCheck)
        );
        assert_eq!(
            parse_service_check(b"_sc||0"),
            Err(RejectReason::MalformedServiceCheck)
        );
    }
}
