//! Event lines: `_e{<title len>,<text len>}:<title>|<text>[|field…]`.
//!
//! Follows `parseEvent` of the reference (`comp/dogstatsd/server/impl/parse_events.go`).

use std::borrow::Cow;

use super::reject::RejectReason;
use super::types::EventLine;

/// Parses one event line. Allocates nothing; the result borrows `line`.
///
/// Reference behaviour reproduced here:
/// - The header is everything before the first `:`; it must be at least 7 bytes. The lengths
///   are read between byte 3 and the last byte (the closing `}` is not itself checked), split
///   at the first `,`, each a base-10 integer ≥ 0; the title length must be > 0.
/// - Lengths are in **bytes**: title = the first `title len` bytes after `:`, text = the
///   `text len` bytes after one more byte. The line must be at least that long, else
///   `MalformedEvent`. The agent never checks that the byte between title and text is `|`.
/// - Clients that count lengths in UTF-16 units (or characters) undercount non-ASCII text, so
///   the agent still **accepts** the event, with a title/text cut at the wrong place and the
///   leftover bytes read as optional fields (and skipped unless one happens to look like a
///   field). We do the same, and flag it in [`EventLine::length_mismatch`]. Where the agent's
///   byte cut falls inside a UTF-8 character (its Go string then holds invalid UTF-8), we keep
///   only the whole characters, since the items borrow `&str`.
/// - Fields after the text, each up to the next `|`: `d:` timestamp, `h:` host, `k:`
///   aggregation key, `p:` priority (`normal`/`low`), `s:` source type, `t:` alert type
///   (`error`/`warning`/`info`/`success`), `#` tags. An invalid field value is only logged by
///   the agent and leaves the previous value in place; so do we. Unknown fields are skipped.
///   A later duplicate overrides an earlier one; an empty `h:`/`k:`/`s:` resets to unset.
/// - `\\n` in title and text means a newline; the agent expands it, we keep the raw slice
///   (zero-copy) and offer [`unescape_event_text`].
pub fn parse_event(line: &[u8]) -> Result<EventLine<'_>, RejectReason> {
    let line = std::str::from_utf8(line).map_err(|_| RejectReason::InvalidUtf8)?;
    let (header, body) = line.split_once(':').ok_or(RejectReason::MalformedEvent)?;
    let (title_len, text_len) = parse_header(header.as_bytes())?;

    let text_start = title_len.checked_add(1);
    let content_len = text_start.and_then(|s| s.checked_add(text_len));
    let (Some(text_start), Some(content_len)) = (text_start, content_len) else {
        return Err(RejectReason::MalformedEvent);
    };
    if body.len() < content_len {
        return Err(RejectReason::MalformedEvent);
    }
    let bytes = body.as_bytes();
    let length_mismatch =
        bytes[title_len] != b'|' || bytes.get(content_len).is_some_and(|&b| b != b'|');

    let mut event = EventLine {
        title: whole_chars(body, 0, title_len),
        text: whole_chars(body, text_start, content_len),
        timestamp: None,
        hostname: None,
        aggregation_key: None,
        priority: None,
        source_type: None,
        alert_type: None,
        raw_tags: "",
        length_mismatch,
    };
    // Fields start right at `content_len`, like the agent: normally at a `|`, so the first
    // field is empty. Every field that matches a prefix starts with an ASCII byte and ends at
    // `|` or the end of the line, so it is valid UTF-8.
    for field in bytes[content_len..].split(|&b| b == b'|') {
        if let Ok(field) = std::str::from_utf8(field) {
            apply_field(&mut event, field);
        }
    }
    Ok(event)
}

/// Reads `(title length, text length)` from `_e{<a>,<b>}`.
fn parse_header(header: &[u8]) -> Result<(usize, usize), RejectReason> {
    if header.len() < 7 {
        return Err(RejectReason::MalformedEvent);
    }
    let lengths = &header[3..header.len() - 1];
    let comma = lengths
        .iter()
        .position(|&b| b == b',')
        .ok_or(RejectReason::MalformedEvent)?;
    let length = |raw: &[u8]| -> Option<usize> {
        let n: i64 = std::str::from_utf8(raw).ok()?.parse().ok()?;
        usize::try_from(n).ok()
    };
    match (length(&lengths[..comma]), length(&lengths[comma + 1..])) {
        (Some(title), Some(text)) if title > 0 => Ok((title, text)),
        _ => Err(RejectReason::MalformedEvent),
    }
}

/// `s[start..end]` narrowed to whole UTF-8 characters (start rounded up, end rounded down).
fn whole_chars(s: &str, start: usize, end: usize) -> &str {
    let mut start = start;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    let mut end = end;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(start..end.max(start)).unwrap_or_default()
}

fn apply_field<'a>(event: &mut EventLine<'a>, field: &'a str) {
    let non_empty = |v: &'a str| (!v.is_empty()).then_some(v);
    if let Some(ts) = field.strip_prefix("d:") {
        if let Ok(ts) = ts.parse::<i64>() {
            event.timestamp = Some(ts);
        }
    } else if let Some(host) = field.strip_prefix("h:") {
        event.hostname = non_empty(host);
    } else if let Some(key) = field.strip_prefix("k:") {
        event.aggregation_key = non_empty(key);
    } else if let Some(p) = field.strip_prefix("p:") {
        if matches!(p, "normal" | "low") {
            event.priority = Some(p);
        }
    } else if let Some(source) = field.strip_prefix("s:") {
        event.source_type = non_empty(source);
    } else if let Some(t) = field.strip_prefix("t:") {
        if matches!(t, "error" | "warning" | "info" | "success") {
            event.alert_type = Some(t);
        }
    } else if let Some(tags) = field.strip_prefix('#') {
        event.raw_tags = tags;
    }
}

/// Expands the `\\n` escapes of an event title or text into newlines, as the agent does.
/// Borrows when there is nothing to expand (allocates only when there is).
pub fn unescape_event_text(raw: &str) -> Cow<'_, str> {
    if raw.contains("\\n") {
        Cow::Owned(raw.replace("\\n", "\n"))
    } else {
        Cow::Borrowed(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_and_text_by_byte_length() {
        let e = parse_event(b"_e{5,4}:hello|text").unwrap();
        assert_eq!((e.title, e.text), ("hello", "text"));
        assert!(!e.length_mismatch);
        assert_eq!(e.priority, None);
    }

    #[test]
    fn pipes_inside_title_are_data() {
        let e = parse_event(b"_e{3,1}:a|b|c|#t").unwrap();
        assert_eq!((e.title, e.text, e.raw_tags), ("a|b", "c", "t"));
    }

    #[test]
    fn invalid_optional_values_keep_previous() {
        let e = parse_event(b"_e{1,1}:a|b|p:low|p:urgent|d:5|d:x|t:error|t:fatal").unwrap();
        assert_eq!(e.priority, Some("low"));
        assert_eq!(e.timestamp, Some(5));
        assert_eq!(e.alert_type, Some("error"));
    }

    #[test]
    fn utf16_lengths_are_accepted_like_the_agent() {
        // "héllo" is 5 UTF-16 units but 6 bytes: the agent cuts at byte 5.
        let e = parse_event("_e{5,4}:héllo|text".as_bytes()).unwrap();
        assert_eq!((e.title, e.text), ("héll", "|tex"));
        assert!(e.length_mismatch);
    }

    #[test]
    fn unescape() {
        assert_eq!(unescape_event_text("a\\nb"), "a\nb");
        assert!(matches!(unescape_event_text("ab"), Cow::Borrowed("ab")));
    }
}
