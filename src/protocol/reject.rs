//! Why a line was rejected.
//!
//! The reference agent only logs a parse error and counts it; lastbucket reports rejections by
//! reason (and, for metric lines, by type) so a loss can be told apart from input the server
//! never accepted in the first place.

use super::lines::{classify, LineKind};
use super::types::MetricType;

/// The reason a line was not turned into a sample, event or service check.
///
/// `as_str` (and the serde form) is a stable snake_case identifier used as the `reason` key
/// in reports; `Display` is a sentence for humans.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The line is not UTF-8. The agent itself accepts any bytes; lastbucket's items borrow
    /// `&str`, so such lines are counted here instead (a documented divergence).
    #[error("line is not valid UTF-8")]
    InvalidUtf8,
    /// Metric line with nothing before the `:`.
    #[error("metric name is empty")]
    EmptyName,
    /// Metric line with no `:` in its first field, an empty value, or only empty values.
    #[error("metric value is missing")]
    MissingValue,
    /// A value is not a finite number (any one bad value rejects a multi-value line).
    #[error("metric value is not a finite number")]
    InvalidValue,
    /// Metric line without a `|type` field (or with an empty one).
    #[error("metric type is missing")]
    MissingType,
    /// The type is not one of `c`, `g`, `h`, `ms`, `d`, `s`.
    #[error("metric type is unknown")]
    UnknownType,
    /// `@` field that is not a number (Go's `ParseFloat` syntax).
    #[error("sample rate is not a number")]
    BadSampleRate,
    /// `T` field that is not an integer, or is < 1.
    #[error("timestamp is not a positive integer")]
    BadTimestamp,
    /// Event line whose header or lengths do not fit the line.
    #[error("malformed event")]
    MalformedEvent,
    /// Service-check line with too few fields or an empty name.
    #[error("malformed service check")]
    MalformedServiceCheck,
    /// Service-check status other than `0`, `1`, `2`, `3`.
    #[error("service check status is not 0, 1, 2 or 3")]
    BadServiceCheckStatus,
}

impl RejectReason {
    /// Every reason, in declaration order (handy for report tables with zero rows).
    pub const ALL: [RejectReason; 11] = [
        RejectReason::InvalidUtf8,
        RejectReason::EmptyName,
        RejectReason::MissingValue,
        RejectReason::InvalidValue,
        RejectReason::MissingType,
        RejectReason::UnknownType,
        RejectReason::BadSampleRate,
        RejectReason::BadTimestamp,
        RejectReason::MalformedEvent,
        RejectReason::MalformedServiceCheck,
        RejectReason::BadServiceCheckStatus,
    ];

    /// Stable snake_case identifier (the `reason` key of reports; equal to the serde form).
    pub fn as_str(&self) -> &'static str {
        match self {
            RejectReason::InvalidUtf8 => "invalid_utf8",
            RejectReason::EmptyName => "empty_name",
            RejectReason::MissingValue => "missing_value",
            RejectReason::InvalidValue => "invalid_value",
            RejectReason::MissingType => "missing_type",
            RejectReason::UnknownType => "unknown_type",
            RejectReason::BadSampleRate => "bad_sample_rate",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::MalformedEvent => "malformed_event",
            RejectReason::MalformedServiceCheck => "malformed_service_check",
            RejectReason::BadServiceCheckStatus => "bad_service_check_status",
        }
    }
}

/// For a rejected metric line, its type if the type field can still be read, so reports can
/// count rejections per metric type. `None` for events, service checks, and lines whose second
/// `|`-separated field is not a known type code. Works on raw bytes: even a non-UTF-8 line
/// usually has a readable type.
pub fn rejected_line_type(line: &[u8]) -> Option<MetricType> {
    if classify(line) != LineKind::Metric {
        return None;
    }
    line.split(|&b| b == b'|')
        .nth(1)
        .and_then(MetricType::from_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_str_matches_serde_and_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in RejectReason::ALL {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert!(seen.insert(r.as_str()));
            assert!(!r.to_string().is_empty());
        }
    }

    #[test]
    fn display_is_human() {
        assert_eq!(
            RejectReason::BadServiceCheckStatus.to_string(),
            "service check status is not 0, 1, 2 or 3"
        );
    }

    #[test]
    fn type_of_rejected_lines() {
        assert_eq!(rejected_line_type(b"x:abc|ms"), Some(MetricType::Timing));
        assert_eq!(
            rejected_line_type(b"x:1|d|@zz"),
            Some(MetricType::Distribution)
        );
        assert_eq!(rejected_line_type(b"\xff:1|c"), Some(MetricType::Count));
        assert_eq!(rejected_line_type(b"x:1|q"), None);
        assert_eq!(rejected_line_type(b"x:1"), None);
        assert_eq!(rejected_line_type(b"_sc|x|9"), None);
        assert_eq!(rejected_line_type(b"_e{1,1}:a"), None);
    }
}
