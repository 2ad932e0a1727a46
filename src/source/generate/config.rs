//! The generator's settings: every knob with its default and its valid range.
//!
//! The defaults are the built-in workload of `lastbucket check` with no SOURCE, so they are
//! chosen for that job: a few thousand datagrams (a check replays the stream once per scenario),
//! several 10 s buckets, and an end in the middle of a bucket, so that stopping at the end
//! leaves an open bucket (the case the product is about) with datagrams still in flight.

use super::error::GenerateError;
use super::limits::*;
use crate::protocol::MetricType;

/// 1 s in ns.
pub(crate) const NANOS_PER_SEC: u64 = 1_000_000_000;

/// An inclusive range of whole numbers (`min..max` in a spec, both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    pub min: u32,
    pub max: u32,
}

impl IntRange {
    pub const fn new(min: u32, max: u32) -> IntRange {
        IntRange { min, max }
    }
}

/// How lines pick their context from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Skew {
    /// Every context of a type equally often.
    Uniform,
    /// The k-th context of a type about 1/k as often as the first (Zipf, exponent 1): a few hot
    /// contexts and a long tail, as real applications send.
    #[default]
    Zipf,
}

impl Skew {
    pub fn name(self) -> &'static str {
        match self {
            Skew::Uniform => "uniform",
            Skew::Zipf => "zipf",
        }
    }
}

/// What decides where the stream ends. Exactly one of the three keys may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamLength {
    /// `packets=N`: exactly N datagrams.
    Packets(u64),
    /// `duration=35s`: every datagram whose arrival is before `start + duration` (ns).
    Duration(u64),
    /// `samples=N`: datagrams until exactly N samples were sent (each metric value, event and
    /// service check is one sample, as the report counts them); the last line is cut short.
    Samples(u64),
}

impl StreamLength {
    /// The key that sets this length.
    pub fn key(&self) -> &'static str {
        match self {
            StreamLength::Packets(_) => "packets",
            StreamLength::Duration(_) => "duration",
            StreamLength::Samples(_) => "samples",
        }
    }
}

/// The default stream length: 35.35 s from a bucket boundary, so the stream covers three full
/// 10 s buckets and ends 5.35 s into the fourth (mid-bucket, away from the flush ticks).
pub const DEFAULT_DURATION_NS: u64 = 35_350_000_000;

/// Relative frequency of each metric type among metric lines (weights, not percentages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeWeights {
    pub c: u32,
    pub g: u32,
    pub h: u32,
    pub ms: u32,
    pub d: u32,
    pub s: u32,
}

impl Default for TypeWeights {
    /// Counts and gauges dominate real traffic; distributions get a large share because their
    /// sketches are flushed differently from series and must be covered well.
    fn default() -> Self {
        TypeWeights {
            c: 30,
            g: 20,
            h: 10,
            ms: 10,
            d: 20,
            s: 10,
        }
    }
}

impl TypeWeights {
    pub fn get(&self, t: MetricType) -> u32 {
        match t {
            MetricType::Count => self.c,
            MetricType::Gauge => self.g,
            MetricType::Histogram => self.h,
            MetricType::Timing => self.ms,
            MetricType::Distribution => self.d,
            MetricType::Set => self.s,
        }
    }

    pub fn get_mut(&mut self, t: MetricType) -> &mut u32 {
        match t {
            MetricType::Count => &mut self.c,
            MetricType::Gauge => &mut self.g,
            MetricType::Histogram => &mut self.h,
            MetricType::Timing => &mut self.ms,
            MetricType::Distribution => &mut self.d,
            MetricType::Set => &mut self.s,
        }
    }

    pub fn total(&self) -> u64 {
        MetricType::ALL.iter().map(|&t| self.get(t) as u64).sum()
    }
}

/// Settings of the seeded DogStatsD traffic generator.
///
/// Build it from a `gen:key=value,...` spec ([`GeneratorConfig::from_spec`]) or a TOML/JSON file
/// ([`GeneratorConfig::from_file`]); both validate. `Display` gives the canonical spec back.
/// Deserializing (serde) goes through the same key table, so unknown keys are rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Seeds everything: the context pool, the lines, the jitter.
    pub seed: u64,
    /// Distinct metric contexts (name + tag set) in the pool.
    pub contexts: u32,
    /// Contexts sharing one metric name (with different tag sets), on average.
    pub contexts_per_name: u32,
    /// How lines pick their context.
    pub skew: Skew,
    /// Metric name length in bytes (dots included).
    pub name_length: IntRange,
    /// Distinct tag keys in the tag pool.
    pub tag_keys: u32,
    /// Tag key length in bytes.
    pub tag_key_length: IntRange,
    /// Tag value length in bytes.
    pub tag_value_length: IntRange,
    /// Distinct values per tag key.
    pub tag_cardinality: u32,
    /// Tags of a context (fixed per context: a context is a name and its tag set).
    pub tags_per_line: IntRange,
    /// Metric type weights.
    pub weights: TypeWeights,
    /// Share of lines that are events.
    pub event_share: f64,
    /// Share of lines that are service checks.
    pub service_check_share: f64,
    /// Probability that a metric line (not a set) packs several values `v1:v2:…`.
    pub multi_value: f64,
    /// Most values in a multi-value line (at least 2 are packed).
    pub max_values: u32,
    /// Sample rates a sampled line picks from (uniformly), each in (0, 1].
    pub sample_rates: Vec<f64>,
    /// Share of metric lines that carry a `@rate` from `sample_rates`.
    pub sampled_share: f64,
    /// Share of count and gauge lines with an explicit `|T<unix seconds>` (the only types the
    /// agent's no-aggregation path keeps, and the only ones clients timestamp).
    pub timestamp_share: f64,
    /// Most bytes in a datagram.
    pub datagram_size: u32,
    /// Lines a datagram aims to pack (fewer when the next line would not fit).
    pub lines_per_datagram: IntRange,
    /// Datagrams per second of stream time.
    pub packet_rate: u32,
    /// Random delay of each arrival, as a fraction in [0, 1) of the packet interval (0: exact
    /// cadence). Below 1, arrivals stay strictly increasing.
    pub jitter: f64,
    /// Unix seconds of the first arrival.
    pub start_ts: u64,
    /// Where the stream ends.
    pub length: StreamLength,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 0,
            contexts: 200,
            contexts_per_name: 4,
            skew: Skew::Zipf,
            name_length: IntRange::new(5, 20),
            tag_keys: 10,
            tag_key_length: IntRange::new(3, 10),
            tag_value_length: IntRange::new(3, 12),
            tag_cardinality: 20,
            tags_per_line: IntRange::new(0, 4),
            weights: TypeWeights::default(),
            event_share: 0.01,
            service_check_share: 0.01,
            multi_value: 0.05,
            max_values: 4,
            sample_rates: vec![0.5, 0.25, 0.1],
            sampled_share: 0.1,
            timestamp_share: 0.01,
            datagram_size: 8192,
            lines_per_datagram: IntRange::new(1, 8),
            packet_rate: 100,
            jitter: 0.0,
            // A multiple of 10: the stream starts on a bucket boundary.
            start_ts: 1_700_000_000,
            length: StreamLength::Duration(DEFAULT_DURATION_NS),
        }
    }
}

/// Limits. Generous, but small enough that the pool fits in memory and every timestamp in u64.
pub(crate) mod limits {
    pub const CONTEXTS: (u32, u32) = (1, 1_000_000);
    pub const CONTEXTS_PER_NAME: (u32, u32) = (1, 100_000);
    pub const NAME_LENGTH: (u32, u32) = (1, 200);
    pub const TAG_KEYS: (u32, u32) = (0, 1_000);
    pub const TAG_KEY_LENGTH: (u32, u32) = (1, 100);
    pub const TAG_VALUE_LENGTH: (u32, u32) = (1, 200);
    pub const TAG_CARDINALITY: (u32, u32) = (1, 100_000);
    /// tag_keys × tag_cardinality: the tag pool is kept in memory.
    pub const TAG_POOL: u64 = 1_000_000;
    pub const TAGS_PER_LINE: (u32, u32) = (0, 50);
    pub const WEIGHT: (u32, u32) = (0, 1_000_000);
    pub const MAX_VALUES: (u32, u32) = (2, 100);
    pub const SAMPLE_RATES: usize = 32;
    pub const DATAGRAM_SIZE: (u32, u32) = (16, 1 << 20);
    pub const LINES_PER_DATAGRAM: (u32, u32) = (1, 100_000);
    pub const PACKET_RATE: (u32, u32) = (1, 10_000_000);
    /// Up to 2255: the check's clock runs to 2262 (`pipeline::clock::MAX_TS_NS`), which leaves
    /// the longest duration room.
    pub const START_TS: (u64, u64) = (1_000, 9_000_000_000);
    pub const PACKETS: (u64, u64) = (1, 10_000_000_000);
    /// 1 ns .. 100 days.
    pub const DURATION_NS: (u64, u64) = (1, 100 * 86_400 * super::NANOS_PER_SEC);
    pub const SAMPLES: (u64, u64) = (1, 100_000_000_000);
}

fn between<T: PartialOrd + std::fmt::Display>(
    key: &str,
    v: T,
    (lo, hi): (T, T),
) -> Result<(), GenerateError> {
    if v < lo || v > hi {
        return Err(GenerateError::invalid(
            key,
            format!("must be between {lo} and {hi}, got {v}"),
        ));
    }
    Ok(())
}

fn range(key: &str, r: IntRange, bounds: (u32, u32)) -> Result<(), GenerateError> {
    if r.min > r.max {
        return Err(GenerateError::invalid(
            key,
            format!("min must not exceed max, got {}..{}", r.min, r.max),
        ));
    }
    if r.min < bounds.0 || r.max > bounds.1 {
        return Err(GenerateError::invalid(
            key,
            format!(
                "must be within {}..{}, got {}..{}",
                bounds.0, bounds.1, r.min, r.max
            ),
        ));
    }
    Ok(())
}

fn share(key: &str, v: f64) -> Result<(), GenerateError> {
    if !(0.0..=1.0).contains(&v) {
        return Err(GenerateError::invalid(
            key,
            format!("must be a share between 0 and 1, got {v}"),
        ));
    }
    Ok(())
}

impl GeneratorConfig {
    /// Checks every range and the relations between keys, so that [`super::generate`] cannot
    /// fail or loop: e.g. the longest line these settings can produce must fit a datagram.
    pub fn validate(&self) -> Result<(), GenerateError> {
        use limits::*;
        between("contexts", self.contexts, CONTEXTS)?;
        between(
            "contexts_per_name",
            self.contexts_per_name,
            CONTEXTS_PER_NAME,
        )?;
        range("name_length", self.name_length, NAME_LENGTH)?;
        between("tag_keys", self.tag_keys, TAG_KEYS)?;
        range("tag_key_length", self.tag_key_length, TAG_KEY_LENGTH)?;
        range("tag_value_length", self.tag_value_length, TAG_VALUE_LENGTH)?;
        between("tag_cardinality", self.tag_cardinality, TAG_CARDINALITY)?;
        let pool = self.tag_keys as u64 * self.tag_cardinality as u64;
        if pool > TAG_POOL {
            return Err(GenerateError::invalid(
                "tag_cardinality",
                format!(
                    "tag_keys × tag_cardinality must be at most {TAG_POOL}, got {} × {}",
                    self.tag_keys, self.tag_cardinality
                ),
            ));
        }
        range("tags_per_line", self.tags_per_line, TAGS_PER_LINE)?;
        if self.tags_per_line.max > self.tag_keys {
            return Err(GenerateError::invalid(
                "tags_per_line",
                format!(
                    "a context has at most one tag per key, so at most tag_keys ({}) tags, got {}..{}",
                    self.tag_keys, self.tags_per_line.min, self.tags_per_line.max
                ),
            ));
        }
        for t in MetricType::ALL {
            between(&format!("weight_{}", t.code()), self.weights.get(t), WEIGHT)?;
        }
        share("event_share", self.event_share)?;
        share("service_check_share", self.service_check_share)?;
        if self.event_share + self.service_check_share > 1.0 {
            return Err(GenerateError::invalid(
                "service_check_share",
                format!(
                    "event_share + service_check_share must be at most 1, got {} + {}",
                    self.event_share, self.service_check_share
                ),
            ));
        }
        let typed = MetricType::ALL
            .iter()
            .filter(|&&t| self.weights.get(t) > 0)
            .count() as u32;
        if typed == 0 && self.event_share + self.service_check_share < 1.0 {
            return Err(GenerateError::invalid(
                "weights",
                "every weight_* is 0, but some lines are metric lines; give one a weight > 0",
            ));
        }
        if self.contexts < typed {
            return Err(GenerateError::invalid(
                "contexts",
                format!(
                    "each metric type with a weight > 0 needs a context of its own: at least {typed}, got {}",
                    self.contexts
                ),
            ));
        }
        share("multi_value", self.multi_value)?;
        between("max_values", self.max_values, MAX_VALUES)?;
        if self.sample_rates.is_empty() || self.sample_rates.len() > SAMPLE_RATES {
            return Err(GenerateError::invalid(
                "sample_rates",
                format!(
                    "must list 1 to {SAMPLE_RATES} rates, got {}",
                    self.sample_rates.len()
                ),
            ));
        }
        for &r in &self.sample_rates {
            if !(r > 0.0 && r <= 1.0) {
                return Err(GenerateError::invalid(
                    "sample_rates",
                    format!("each rate must be in (0, 1], got {r}"),
                ));
            }
        }
        share("sampled_share", self.sampled_share)?;
        share("timestamp_share", self.timestamp_share)?;
        between("datagram_size", self.datagram_size, DATAGRAM_SIZE)?;
        range(
            "lines_per_datagram",
            self.lines_per_datagram,
            LINES_PER_DATAGRAM,
        )?;
        between("packet_rate", self.packet_rate, PACKET_RATE)?;
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(GenerateError::invalid(
                "jitter",
                format!(
                    "must be a fraction of the packet interval in [0, 1), got {}",
                    self.jitter
                ),
            ));
        }
        between("start_ts", self.start_ts, START_TS)?;
        match self.length {
            StreamLength::Packets(n) => between("packets", n, PACKETS)?,
            StreamLength::Duration(ns) => {
                if !(DURATION_NS.0..=DURATION_NS.1).contains(&ns) {
                    return Err(GenerateError::invalid(
                        "duration",
                        format!(
                            "must be between 1ns and 100 days, got {}",
                            format_duration(ns)
                        ),
                    ));
                }
            }
            StreamLength::Samples(n) => between("samples", n, SAMPLES)?,
        }
        // Every arrival, jitter (< 1 s) included, must be at most the latest arrival time a
        // source hands on.
        let last = self.packet_ts_ns(self.max_packets().saturating_sub(1));
        if last.is_none_or(|t| t.saturating_add(NANOS_PER_SEC) > crate::source::MAX_TS_NS) {
            return Err(GenerateError::invalid(
                self.length.key(),
                "the stream would run past the year 2262 (i64 nanoseconds); start earlier or make it shorter",
            ));
        }
        let longest = max_line_len(self);
        if (self.datagram_size as u64) < longest {
            return Err(GenerateError::invalid(
                "datagram_size",
                format!(
                    "must be at least {longest} (the longest line these settings can produce), got {}",
                    self.datagram_size
                ),
            ));
        }
        Ok(())
    }

    /// Datagrams in the stream; an upper bound in `samples` mode (every datagram holds at least
    /// one sample).
    pub(crate) fn max_packets(&self) -> u64 {
        match self.length {
            StreamLength::Packets(n) => n,
            StreamLength::Samples(n) => n,
            StreamLength::Duration(ns) => {
                // Packet i arrives at floor(i·1e9/rate) ns; it is in the stream when that is
                // < duration, i.e. i·1e9 < duration·rate.
                let span = ns as u128 * self.packet_rate as u128;
                span.div_ceil(NANOS_PER_SEC as u128) as u64
            }
        }
    }

    /// The exact number of datagrams, when known without generating (`packets`, `duration`).
    pub fn expected_packets(&self) -> Option<u64> {
        match self.length {
            StreamLength::Samples(_) => None,
            _ => Some(self.max_packets()),
        }
    }

    /// Arrival of packet `i` before jitter: integer arithmetic from the start, so no drift
    /// accumulates however long the stream. `None` past u64.
    pub(crate) fn packet_ts_ns(&self, i: u64) -> Option<u64> {
        let offset = i as u128 * NANOS_PER_SEC as u128 / self.packet_rate as u128;
        let ts = (self.start_ts as u128)
            .checked_mul(NANOS_PER_SEC as u128)?
            .checked_add(offset)?;
        u64::try_from(ts).ok()
    }

    /// A one-line summary for reports, e.g.
    /// `gen:seed=7 — 3535 datagrams at 100/s over 35.35 s, 200 contexts`.
    pub fn describe(&self) -> String {
        let shape = match self.length {
            StreamLength::Samples(n) => {
                format!("datagrams at {}/s until {n} samples", self.packet_rate)
            }
            _ => {
                let n = self.max_packets();
                let covered = n as u128 * NANOS_PER_SEC as u128 / self.packet_rate as u128;
                format!(
                    "{n} datagrams at {}/s over {} s",
                    self.packet_rate,
                    format_seconds(covered as u64)
                )
            }
        };
        format!("{self} — {shape}, {} contexts", self.contexts)
    }
}

/// An upper bound of the length of any line these settings can produce, so validation can
/// require that every line fits a datagram (and packing never has to cut one).
pub(crate) fn max_line_len(c: &GeneratorConfig) -> u64 {
    let u = |x: u32| x as u64;
    let tag = u(c.tag_key_length.max) + SUFFIX_MAX + 1 + u(c.tag_value_length.max) + SUFFIX_MAX;
    let tags = |n: u64| if n == 0 { 0 } else { 2 + n * (tag + 1) };
    let rate = c
        .sample_rates
        .iter()
        .map(|r| 2 + format!("{r}").len() as u64)
        .max()
        .unwrap_or(0);
    let metric = u(c.name_length.max)
        + SUFFIX_MAX
        + u(c.max_values).max(1) * (1 + VALUE_MAX)
        + 3
        + rate
        + tags(u(c.tags_per_line.max))
        + 2
        + TS_MAX;
    let extra_tags = tags(u(EXTRA_TAGS.min(c.tag_keys)));
    let title = u(TITLE_WORDS) * (WORD_MAX + 2);
    let text = u(TEXT_WORDS) * (WORD_MAX + 2);
    let event = 3 + 20 + 1 + 20 + 2 + title + 1 + text + (3 + TS_MAX) + (3 + HOST_MAX) + 6 + 10;
    let event = event + extra_tags;
    let check = 4 + CHECK_NAME_MAX + 2 + (3 + TS_MAX) + (3 + HOST_MAX) + extra_tags;
    let check = check + 3 + u(MESSAGE_WORDS) * (WORD_MAX + 1);
    metric.max(event).max(check)
}

/// Whole seconds and the fraction without trailing zeros: `35.35`, `2`, `0.0005`.
pub(crate) fn format_seconds(ns: u64) -> String {
    let (s, frac) = (ns / NANOS_PER_SEC, ns % NANOS_PER_SEC);
    if frac == 0 {
        s.to_string()
    } else {
        let digits = format!("{frac:09}");
        format!("{s}.{}", digits.trim_end_matches('0'))
    }
}

/// A duration as spec text that [`parse_duration`] reads back exactly: `35.35s`.
pub(crate) fn format_duration(ns: u64) -> String {
    format!("{}s", format_seconds(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_ends_mid_bucket() {
        let c = GeneratorConfig::default();
        c.validate().unwrap();
        assert_eq!(c.start_ts % 10, 0);
        assert_eq!(c.max_packets(), 3535);
        let last = c.packet_ts_ns(3534).unwrap();
        assert_eq!(last - c.start_ts * NANOS_PER_SEC, 35_340_000_000);
    }

    #[test]
    fn duration_counts_arrivals_before_the_end() {
        let c = GeneratorConfig {
            packet_rate: 3,
            length: StreamLength::Duration(NANOS_PER_SEC),
            ..Default::default()
        };
        // 0, 333_333_333, 666_666_666 ns.
        assert_eq!(c.max_packets(), 3);
        let c = GeneratorConfig {
            length: StreamLength::Duration(NANOS_PER_SEC + 1),
            ..c
        };
        assert_eq!(c.max_packets(), 4);
    }

    #[test]
    fn errors_name_the_key() {
        let c = GeneratorConfig {
            contexts: 0,
            ..Default::default()
        };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "generator key `contexts`: must be between 1 and 1000000, got 0"
        );
        let c = GeneratorConfig {
            datagram_size: 20,
            ..Default::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("`datagram_size`: must be at least"));
        let c = GeneratorConfig {
            tags_per_line: IntRange::new(0, 11),
            ..Default::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("tags_per_line"));
    }

    #[test]
    fn describe_default() {
        assert_eq!(
            GeneratorConfig::default().describe(),
            "gen:default — 3535 datagrams at 100/s over 35.35 s, 200 contexts"
        );
    }
}
