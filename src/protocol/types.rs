//! Borrowed items parsed from DogStatsD lines.

use std::fmt;

/// The six metric types of the DogStatsD protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
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
    /// Number of values in `raw_values` (≥ 1).
    pub value_count: usize,
    /// `@rate`, 1.0 when absent; always in (0, 1].
    pub sample_rate: f64,
    /// The raw tag field after `#` (comma-separated), empty when absent; iterate with [`MetricLine::tags`].
    pub raw_tags: &'a str,
    /// `|T<unix seconds>`.
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
    pub fn values(&self) -> impl Iterator<Item = MetricValue<'a>> + 'a {
        let set = self.metric_type == MetricType::Set;
        self.raw_values.split(':').map(move |v| {
            if set {
                MetricValue::Set(v)
            } else {
                MetricValue::Number(v.parse::<f64>().unwrap_or(f64::NAN))
            }
        })
    }

    /// The tags of the line, in the order sent (empty tags skipped).
    pub fn tags(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.raw_tags.split(',').filter(|t| !t.is_empty())
    }
}

/// A parsed event line (`_e{…}`).
#[derive(Debug, Clone, PartialEq)]
pub struct EventLine<'a> {
    pub title: &'a str,
    /// The text as sent (`\\n` escapes not yet expanded).
    pub text: &'a str,
    pub timestamp: Option<i64>,
    pub hostname: Option<&'a str>,
    pub aggregation_key: Option<&'a str>,
    pub priority: Option<&'a str>,
    pub source_type: Option<&'a str>,
    pub alert_type: Option<&'a str>,
    pub raw_tags: &'a str,
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

/// Iterates the comma-separated tags of a raw tag field, skipping empty ones.
pub fn split_tags(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').filter(|t| !t.is_empty())
}
