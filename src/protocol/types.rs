//! Borrowed items parsed from DogStatsD lines.

use std::fmt;

/// The six metric types of the DogStatsD protocol.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    /// `c`
    Count,
    /// `g`
    Gauge,
    /// `h`
    Histogram,
    /// `ms`
    Timing,
    /// `d`
    Distribution,
    /// `s`
    Set,
}

impl MetricType {
    pub const ALL: [MetricType; 6] = [
        MetricType::Count,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::Timing,
        MetricType::Distribution,
        MetricType::Set,
    ];

    /// The protocol's type code (`c`, `g`, `h`, `ms`, `d`, `s`).
    pub fn code(self) -> &'static str {
        match self {
            MetricType::Count => "c",
            MetricType::Gauge => "g",
            MetricType::Histogram => "h",
            MetricType::Timing => "ms",
            MetricType::Distribution => "d",
            MetricType::Set => "s",
        }
    }

    /// The long name used in reports (`count`, `gauge`, …).
    pub fn name(self) -> &'static str {
        match self {
            MetricType::Count => "count",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Timing => "timing",
            MetricType::Distribution => "distribution",
            MetricType::Set => "set",
        }
    }

    pub fn from_code(code: &[u8]) -> Option<MetricType> {
        Some(match code {
            b"c" => MetricType::Count,
            b"g" => MetricType::Gauge,
            b"h" => MetricType::Histogram,
            b"ms" => MetricType::Timing,
            b"d" => MetricType::Distribution,
            b"s" => MetricType::Set,
            _ => return None,
        })
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One value of a metric line. Set values are strings; every other type carries a finite number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricValue<'a> {
    Number(f64),
    Set(&'a str),
}

/// A parsed metric line: one context, one or more values (protocol 1.1 multi-value).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricLine<'a> {
    pub name: &'a str,
    pub metric_type: MetricType,
    /// The raw value field (`1:2:3`), already validated; iterate with [`MetricLine::values`].
    pub raw_values: &'a str,
    /// Number of values in `raw_values` (≥ 1; empty segments not counted; 1 for sets).
    pub value_count: usize,
    /// `@rate`, 1.0 when absent. As sent: like the reference, the parser only checks that it is
    /// a number, not that it is in (0, 1] (0, negative, > 1 and even NaN/∞ are kept); the
    /// samplers apply the reference's arithmetic to it.
    pub sample_rate: f64,
    /// The raw tag field after `#` (comma-separated), empty when absent; iterate with [`MetricLine::tags`].
    pub raw_tags: &'a str,
    /// `|T<unix seconds>`, always ≥ 1.
    pub timestamp: Option<i64>,
    /// `|c:<container id>`.
    pub container_id: Option<&'a str>,
    /// `|e:<external data>`.
    pub external_data: Option<&'a str>,
    /// `|card:<cardinality>`.
    pub cardinality: Option<&'a str>,
}

impl<'a> MetricLine<'a> {
    /// The values of the line, in order. Only valid lines are constructed, so this never fails.
    ///
    /// A set has exactly one value, the whole raw field (`user:a:b|s` is the member `a:b`):
    /// the reference does not split set values. Numeric values skip empty segments (`1::2` is
    /// two values), as the reference does.
    pub fn values(&self) -> impl Iterator<Item = MetricValue<'a>> + 'a {
        let (set, numbers) = if self.metric_type == MetricType::Set {
            (Some(MetricValue::Set(self.raw_values)), "")
        } else {
            (None, self.raw_values)
        };
        let numbers = numbers
            .split(':')
            .filter(|v| !v.is_empty())
            .map(|v| MetricValue::Number(super::number::parse_go_float(v).unwrap_or(f64::NAN)));
        set.into_iter().chain(numbers)
    }

    /// The tags of the line, in the order sent (see [`split_tags`]).
    pub fn tags(&self) -> impl Iterator<Item = &'a str> + 'a {
        split_tags(self.raw_tags)
    }
}

/// A parsed event line (`_e{…}`).
#[derive(Debug, Clone, PartialEq)]
pub struct EventLine<'a> {
    pub title: &'a str,
    /// The text as sent (`\\n` escapes not yet expanded; see `unescape_event_text`).
    pub text: &'a str,
    pub timestamp: Option<i64>,
    pub hostname: Option<&'a str>,
    pub aggregation_key: Option<&'a str>,
    /// `normal` or `low`; `None` when absent or invalid (the agent then uses `normal`).
    pub priority: Option<&'a str>,
    pub source_type: Option<&'a str>,
    /// `error`, `warning`, `info` or `success`; `None` when absent or invalid (agent: `info`).
    pub alert_type: Option<&'a str>,
    pub raw_tags: &'a str,
    /// The header lengths do not line up with the `|` separators (typically a client that
    /// counted UTF-16 units): the agent still accepts the event, with title and text cut at
    /// the byte lengths given, and so do we.
    pub length_mismatch: bool,
}

/// A parsed service-check line (`_sc|…`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCheckLine<'a> {
    pub name: &'a str,
    /// 0 ok, 1 warning, 2 critical, 3 unknown.
    pub status: u8,
    pub timestamp: Option<i64>,
    pub hostname: Option<&'a str>,
    pub message: Option<&'a str>,
    pub raw_tags: &'a str,
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub enum Line<'a> {
    Metric(MetricLine<'a>),
    Event(EventLine<'a>),
    ServiceCheck(ServiceCheckLine<'a>),
}

/// Splits a `#` field into tags as the agent's `parseTags` does: at every comma, keeping empty
/// tags (`#a,` is the tags `a` and `""`, a different context from `#a`); an empty field has
/// no tags at all.
pub fn split_tags(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').filter(move |_| !raw.is_empty())
}
