//! Metric lines: `name:value[:value…]|type[|field…]`.
//!
//! Follows `parseMetricSample` of the reference (`comp/dogstatsd/server/impl/parse.go`,
//! `parse_metrics.go`). The checks run in the reference's order, so a line with several faults
//! gets the reason the agent would hit first.

use super::number::parse_go_float;
use super::reject::RejectReason;
use super::types::{MetricLine, MetricType, MetricValue};

/// Parses one metric line (without its newline). Allocates nothing; the result borrows `line`.
///
/// Reference behaviour reproduced here, and the choices where lastbucket differs:
/// - A line without `|` has no type: `MissingType` (the agent's "invalid format" fast path).
/// - The first field is split at its first `:`; an empty name is `EmptyName`, no `:` or an
///   empty value is `MissingValue`.
/// - Set values are the whole raw value, `:` included (`s` takes no multi-value). Other types
///   take `:`-separated values; empty ones are skipped (`1::2` is two values) and a line with
///   no value left is `MissingValue`. Values use Go's `ParseFloat` syntax (signs, exponents,
///   hex floats, `_` between digits). One bad value rejects the whole line, as in the agent.
/// - `nan`/`inf` values: the agent's parser accepts them (one sample per value of a
///   multi-value line) and its samplers then refuse the sample (`ContextMetrics.AddSample`), so
///   `m:1:nan:2|g` still flushes 2. We do the same: the samplers drop and count them. Only on a
///   timestamped line (no sampler on its way) is a non-finite value `InvalidValue`.
/// - Fields after the type, in any order, each up to the next `|`: `#tags`, `@rate`,
///   `T<secs>`, `c:`, `e:`, `card:`; a later duplicate overrides an earlier one; anything else
///   (including empty fields) is skipped, as the agent's `switch` has no default case.
/// - `@rate`: the agent checks only that it parses as a float; it does **not** range-check it
///   (0, negatives, > 1, even `nan`/`inf` pass, and the samplers then compute with it, e.g.
///   histograms treat 0 as 1). We follow the reference: `BadSampleRate` only when the text is
///   not a Go float, and [`MetricLine::sample_rate`] holds the value as sent.
/// - Any field starting with `T` is a timestamp: base-10 integer, and it must be ≥ 1, else
///   `BadTimestamp` (reference: `ParseInt` then `ts < 1`). The agent ignores `T` entirely when
///   `dogstatsd_no_aggregation_pipeline` is off (default: on); we always read it.
/// - `c:`/`e:`/`card:` are read by the agent only with `dogstatsd_origin_detection_client`;
///   we always capture them and leave the decision to the pipeline.
pub fn parse_metric(line: &[u8]) -> Result<MetricLine<'_>, RejectReason> {
    let line = std::str::from_utf8(line).map_err(|_| RejectReason::InvalidUtf8)?;
    let mut fields = line.split('|');
    let name_and_value = fields.next().unwrap_or_default();
    let raw_type = fields.next().ok_or(RejectReason::MissingType)?;

    let (name, raw_values) = name_and_value
        .split_once(':')
        .ok_or(RejectReason::MissingValue)?;
    if name.is_empty() {
        return Err(RejectReason::EmptyName);
    }
    if raw_values.is_empty() {
        return Err(RejectReason::MissingValue);
    }

    if raw_type.is_empty() {
        return Err(RejectReason::MissingType);
    }
    let metric_type =
        MetricType::from_code(raw_type.as_bytes()).ok_or(RejectReason::UnknownType)?;

    let value_count = if metric_type == MetricType::Set {
        1
    } else {
        count_numbers(raw_values)?
    };

    let mut parsed = MetricLine {
        name,
        metric_type,
        raw_values,
        value_count,
        sample_rate: 1.0,
        raw_tags: "",
        timestamp: None,
        container_id: None,
        external_data: None,
        cardinality: None,
    };
    for field in fields {
        apply_field(&mut parsed, field)?;
    }
    let non_finite = || {
        parsed
            .values()
            .any(|v| matches!(v, MetricValue::Number(n) if !n.is_finite()))
    };
    if parsed.timestamp.is_some() && non_finite() {
        return Err(RejectReason::InvalidValue);
    }
    Ok(parsed)
}

/// Validates the `:`-separated numeric values and counts them (empty values skipped).
fn count_numbers(raw: &str) -> Result<usize, RejectReason> {
    let mut count = 0;
    for value in raw.split(':').filter(|v| !v.is_empty()) {
        match parse_go_float(value) {
            Some(_) => count += 1,
            None => return Err(RejectReason::InvalidValue),
        }
    }
    if count == 0 {
        return Err(RejectReason::MissingValue);
    }
    Ok(count)
}

/// Applies one extension field; unknown fields are skipped.
fn apply_field<'a>(line: &mut MetricLine<'a>, field: &'a str) -> Result<(), RejectReason> {
    if let Some(tags) = field.strip_prefix('#') {
        line.raw_tags = tags;
    } else if let Some(rate) = field.strip_prefix('@') {
        line.sample_rate = parse_go_float(rate).ok_or(RejectReason::BadSampleRate)?;
    } else if let Some(ts) = field.strip_prefix('T') {
        match ts.parse::<i64>() {
            Ok(ts) if ts >= 1 => line.timestamp = Some(ts),
            _ => return Err(RejectReason::BadTimestamp),
        }
    } else if let Some(id) = field.strip_prefix("c:") {
        line.container_id = Some(id);
    } else if let Some(data) = field.strip_prefix("e:") {
        line.external_data = Some(data);
    } else if let Some(card) = field.strip_prefix("card:") {
        line.cardinality = Some(card);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MetricValue;

    fn ok(line: &str) -> MetricLine<'_> {
        parse_metric(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn err(line: &[u8]) -> RejectReason {
        parse_metric(line).expect_err("should be rejected")
    }

    #[test]
    fn minimal_line() {
        let m = ok("page.views:1|c");
        assert_eq!(m.name, "page.views");
        assert_eq!(m.metric_type, MetricType::Count);
        assert_eq!(m.raw_values, "1");
        assert_eq!(m.value_count, 1);
        assert_eq!(m.sample_rate, 1.0);
        assert_eq!(m.raw_tags, "");
        assert_eq!(m.timestamp, None);
        assert_eq!(
            m.values().collect::<Vec<_>>(),
            vec![MetricValue::Number(1.0)]
        );
    }

    #[test]
    fn every_field() {
        let m = ok("a.b:2.5|h|@0.25|#env:prod,svc:web:1|T1700000000|c:ci-abc|e:it-x|card:high");
        assert_eq!(m.sample_rate, 0.25);
        assert_eq!(m.tags().collect::<Vec<_>>(), vec!["env:prod", "svc:web:1"]);
        assert_eq!(m.timestamp, Some(1_700_000_000));
        assert_eq!(m.container_id, Some("ci-abc"));
        assert_eq!(m.external_data, Some("it-x"));
        assert_eq!(m.cardinality, Some("high"));
    }

    #[test]
    fn multi_value_skips_empty_values() {
        let m = ok("x:1::2:|d");
        assert_eq!(m.value_count, 2);
        let v: Vec<_> = m.values().collect();
        assert_eq!(v, vec![MetricValue::Number(1.0), MetricValue::Number(2.0)]);
        assert_eq!(err(b"x:::|d"), RejectReason::MissingValue);
        assert_eq!(err(b"x:1:a:2|d"), RejectReason::InvalidValue);
    }

    #[test]
    fn set_value_is_the_whole_field() {
        let m = ok("users:alice:42|s");
        assert_eq!(m.value_count, 1);
        assert_eq!(
            m.values().collect::<Vec<_>>(),
            vec![MetricValue::Set("alice:42")]
        );
        assert_eq!(ok("u:nan|s").values().next(), Some(MetricValue::Set("nan")));
    }

    #[test]
    fn first_fault_wins_in_reference_order() {
        assert_eq!(err(b"x:abc|q"), RejectReason::UnknownType);
        assert_eq!(err(b":abc|q"), RejectReason::EmptyName);
        assert_eq!(err(b"x:1|c|@a|Tb"), RejectReason::BadSampleRate);
        assert_eq!(err(b"x:1|c|Tb|@a"), RejectReason::BadTimestamp);
    }
}
