//! Reading and writing generator settings: the `gen:key=value,...` spec, TOML and JSON files,
//! and the canonical spec that `Display` prints.
//!
//! One key table serves all three, so a key means the same thing everywhere and a file cannot
//! accept a key the spec would reject (or the reverse). File values are turned into spec text
//! and go through the same parsers: `name_length = "5..20"`, `[5, 20]` and `{min = 5, max = 20}`
//! are all the spec's `name_length=5..20`.

use super::config::{
    format_duration, GeneratorConfig, IntRange, Skew, StreamLength, DEFAULT_DURATION_NS,
};
use super::error::GenerateError;
use crate::protocol::MetricType;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Sets a key from its text; `Err` is the reason (the caller adds the key).
type Setter = fn(&mut GeneratorConfig, &str) -> Result<(), String>;
/// The key's value as spec text, `None` when it has its default.
type Shower = fn(&GeneratorConfig, &GeneratorConfig) -> Option<String>;

struct Key {
    name: &'static str,
    set: Setter,
    show: Shower,
    /// The key's value as spec text, default or not (`None`: the key is not the one in use,
    /// as for `packets` when the length is a duration): the help text's default column.
    value: fn(&GeneratorConfig) -> Option<String>,
}

/// Shows a field when it differs from the default.
macro_rules! show {
    ($field:ident, $fmt:expr) => {
        |c: &GeneratorConfig, d: &GeneratorConfig| (c.$field != d.$field).then(|| $fmt(&c.$field))
    };
}

/// A key that sets one field with one parser.
macro_rules! field_key {
    ($name:literal, $field:ident, $parse:expr, $fmt:expr) => {
        Key {
            name: $name,
            set: |c, v| {
                c.$field = $parse(v)?;
                Ok(())
            },
            show: show!($field, $fmt),
            value: |c| Some($fmt(&c.$field)),
        }
    };
}

macro_rules! weight_key {
    ($name:literal, $t:expr) => {
        Key {
            name: $name,
            set: |c, v| {
                *c.weights.get_mut($t) = parse_u32(v)?;
                Ok(())
            },
            show: |c, d| {
                (c.weights.get($t) != d.weights.get($t)).then(|| c.weights.get($t).to_string())
            },
            value: |c| Some(c.weights.get($t).to_string()),
        }
    };
}

/// Every key, in the order of the canonical spec.
const KEYS: &[Key] = &[
    field_key!("seed", seed, parse_u64, u64::to_string),
    field_key!("contexts", contexts, parse_u32, u32::to_string),
    field_key!(
        "contexts_per_name",
        contexts_per_name,
        parse_u32,
        u32::to_string
    ),
    field_key!("skew", skew, parse_skew, |s: &Skew| s.name().to_string()),
    field_key!("name_length", name_length, parse_range, format_range),
    field_key!("tag_keys", tag_keys, parse_u32, u32::to_string),
    field_key!("tag_key_length", tag_key_length, parse_range, format_range),
    field_key!(
        "tag_value_length",
        tag_value_length,
        parse_range,
        format_range
    ),
    field_key!(
        "tag_cardinality",
        tag_cardinality,
        parse_u32,
        u32::to_string
    ),
    field_key!("tags_per_line", tags_per_line, parse_range, format_range),
    weight_key!("weight_c", MetricType::Count),
    weight_key!("weight_g", MetricType::Gauge),
    weight_key!("weight_h", MetricType::Histogram),
    weight_key!("weight_ms", MetricType::Timing),
    weight_key!("weight_d", MetricType::Distribution),
    weight_key!("weight_s", MetricType::Set),
    field_key!("event_share", event_share, parse_f64, f64::to_string),
    field_key!(
        "service_check_share",
        service_check_share,
        parse_f64,
        f64::to_string
    ),
    field_key!("multi_value", multi_value, parse_f64, f64::to_string),
    field_key!("max_values", max_values, parse_u32, u32::to_string),
    Key {
        name: "sample_rates",
        set: |c, v| {
            c.sample_rates = v.split(',').map(parse_f64).collect::<Result<_, _>>()?;
            Ok(())
        },
        show: show!(sample_rates, |r: &Vec<f64>| {
            r.iter().map(f64::to_string).collect::<Vec<_>>().join(",")
        }),
        value: |c| {
            Some(
                c.sample_rates
                    .iter()
                    .map(f64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            )
        },
    },
    field_key!("sampled_share", sampled_share, parse_f64, f64::to_string),
    field_key!(
        "timestamp_share",
        timestamp_share,
        parse_f64,
        f64::to_string
    ),
    field_key!("datagram_size", datagram_size, parse_u32, u32::to_string),
    field_key!(
        "lines_per_datagram",
        lines_per_datagram,
        parse_range,
        format_range
    ),
    field_key!("packet_rate", packet_rate, parse_u32, u32::to_string),
    field_key!("jitter", jitter, parse_f64, f64::to_string),
    field_key!("start_ts", start_ts, parse_u64, u64::to_string),
    Key {
        name: "packets",
        set: |c, v| {
            c.length = StreamLength::Packets(parse_u64(v)?);
            Ok(())
        },
        show: |c, d| match c.length {
            StreamLength::Packets(n) if c.length != d.length => Some(n.to_string()),
            _ => None,
        },
        value: |c| match c.length {
            StreamLength::Packets(n) => Some(n.to_string()),
            _ => None,
        },
    },
    Key {
        name: "duration",
        set: |c, v| {
            c.length = StreamLength::Duration(parse_duration(v)?);
            Ok(())
        },
        show: |c, d| match c.length {
            StreamLength::Duration(ns) if c.length != d.length => Some(format_duration(ns)),
            _ => None,
        },
        value: |c| match c.length {
            StreamLength::Duration(ns) => Some(format_duration(ns)),
            _ => None,
        },
    },
    Key {
        name: "samples",
        set: |c, v| {
            c.length = StreamLength::Samples(parse_u64(v)?);
            Ok(())
        },
        show: |c, d| match c.length {
            StreamLength::Samples(n) if c.length != d.length => Some(n.to_string()),
            _ => None,
        },
        value: |c| match c.length {
            StreamLength::Samples(n) => Some(n.to_string()),
            _ => None,
        },
    },
];

/// Every key's name and default value (`None` for the length keys not in use by default), in
/// the order of the canonical spec: what `generate --help` lists.
pub fn keys_with_defaults() -> impl Iterator<Item = (&'static str, Option<String>)> {
    let default = GeneratorConfig::default();
    KEYS.iter().map(move |k| (k.name, (k.value)(&default)))
}

const LENGTH_KEYS: [&str; 3] = ["packets", "duration", "samples"];

fn known_keys() -> String {
    let mut names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    names.push("weights");
    names.join(", ")
}

impl GeneratorConfig {
    /// Parses `gen:key=value,...` (`gen:` or `gen:default` alone is the default workload).
    ///
    /// A list value continues over commas: `gen:sample_rates=0.5,0.1,seed=3` sets two rates,
    /// since every new key has an `=`. Counts accept `1e6` and `1_000_000`; ranges `5..20`
    /// (both ends included), `5..=20` or `5`; durations `35s`, `500ms`, `2m`, `1h` or plain
    /// seconds (`35.35`); `weights=c:3,d:1` sets `weight_c` and `weight_d`.
    pub fn from_spec(spec: &str) -> Result<Self, GenerateError> {
        let body = spec
            .strip_prefix("gen:")
            .ok_or_else(|| GenerateError::NotASpec(spec.to_string()))?;
        if body.trim() == "default" {
            return Ok(GeneratorConfig::default());
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        for item in body.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            match item.split_once('=') {
                Some((k, v)) => pairs.push((k.trim().to_string(), v.trim().to_string())),
                None => match pairs.last_mut() {
                    Some((_, v)) => {
                        v.push(',');
                        v.push_str(item);
                    }
                    None => return Err(GenerateError::Syntax(item.to_string())),
                },
            }
        }
        // `weights=c:3,d:1` is shorthand for `weight_c=3,weight_d=1`.
        let mut expanded = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            if key != "weights" {
                expanded.push((key, value));
                continue;
            }
            for item in value.split(',') {
                let (t, w) = item.split_once(':').ok_or_else(|| {
                    GenerateError::invalid("weights", format!("expected type:weight, got `{item}`"))
                })?;
                let code = weight_code(t.trim()).ok_or_else(|| unknown_weight(t.trim()))?;
                expanded.push((format!("weight_{code}"), w.trim().to_string()));
            }
        }
        Self::from_pairs(expanded)
    }

    /// Reads a TOML file, or JSON when its first non-blank byte is `{`. Unknown keys are
    /// rejected. Weights may also be a table: `[weights]` with `c`, `g`, `h`, `ms`, `d`, `s`.
    pub fn from_file(path: &Path) -> Result<Self, GenerateError> {
        let text = crate::settings_file::read_settings_text(path).map_err(|source| {
            GenerateError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Self::from_file_text(path, &text)
    }

    /// [`GeneratorConfig::from_file`] on text already read; `path` names the file in errors.
    /// Pure, so the fuzz target reaches the parser without a file per input.
    pub fn from_file_text(path: &Path, text: &str) -> Result<Self, GenerateError> {
        let file_error = |message: String| GenerateError::File {
            path: path.to_path_buf(),
            message,
        };
        let map: FileMap = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| file_error(e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| file_error(e.to_string().trim_end().to_string()))?
        };
        Self::from_map(map)
    }

    /// Applies `(key, text)` pairs over the defaults, then validates.
    fn from_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, GenerateError> {
        let mut config = GeneratorConfig::default();
        let mut seen: Vec<String> = Vec::new();
        let mut length_key: Option<&'static str> = None;
        for (name, value) in pairs {
            let key =
                KEYS.iter()
                    .find(|k| k.name == name)
                    .ok_or_else(|| GenerateError::UnknownKey {
                        key: name.clone(),
                        known: known_keys(),
                    })?;
            if seen.contains(&name) {
                return Err(GenerateError::Duplicate(name));
            }
            if LENGTH_KEYS.contains(&key.name) {
                if let Some(previous) = length_key {
                    return Err(GenerateError::LengthConflict(previous, key.name));
                }
                length_key = Some(key.name);
            }
            (key.set)(&mut config, &value)
                .map_err(|reason| GenerateError::invalid(&name, reason))?;
            seen.push(name);
        }
        config.validate()?;
        Ok(config)
    }

    fn from_map(map: FileMap) -> Result<Self, GenerateError> {
        let mut pairs = Vec::new();
        for (key, value) in map.0 {
            if key == "weights" {
                let FileValue::Table(table) = value else {
                    return Err(GenerateError::invalid(
                        "weights",
                        "expected a table such as { c = 3, d = 1 }",
                    ));
                };
                for (t, w) in table {
                    let code = weight_code(&t).ok_or_else(|| unknown_weight(&t))?;
                    let key = format!("weight_{code}");
                    pairs.push((key.clone(), w.into_text(&key)?));
                }
            } else {
                let text = value.into_text(&key)?;
                pairs.push((key, text));
            }
        }
        Self::from_pairs(pairs)
    }
}

fn unknown_weight(t: &str) -> GenerateError {
    GenerateError::UnknownKey {
        key: format!("weights.{t}"),
        known: "c, g, h, ms, d, s (or count, gauge, histogram, timing, distribution, set)".into(),
    }
}

/// `c` or `count` → `c`.
fn weight_code(name: &str) -> Option<&'static str> {
    MetricType::ALL
        .iter()
        .find(|t| t.code() == name || t.name() == name)
        .map(|t| t.code())
}

/// The canonical spec: `gen:` and the keys that differ from the default, in table order
/// (`gen:default` when none do). [`GeneratorConfig::from_spec`] reads it back to an equal
/// config.
impl fmt::Display for GeneratorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = GeneratorConfig::default();
        let items: Vec<String> = KEYS
            .iter()
            .filter_map(|k| (k.show)(self, &default).map(|v| format!("{}={v}", k.name)))
            .collect();
        if items.is_empty() {
            f.write_str("gen:default")
        } else {
            write!(f, "gen:{}", items.join(","))
        }
    }
}

/// A config file: a table of keys (validated by [`GeneratorConfig::from_pairs`]).
#[derive(Deserialize)]
#[serde(transparent)]
pub struct FileMap(BTreeMap<String, FileValue>);

/// A value in a config file, before the key's parser reads it.
#[derive(Deserialize)]
#[serde(untagged)]
enum FileValue {
    Bool(bool),
    UInt(u64),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<FileValue>),
    Table(BTreeMap<String, FileValue>),
}

impl FileValue {
    /// The value as spec text: lists joined by `,`, `{min, max}` as `min..max`.
    fn into_text(self, key: &str) -> Result<String, GenerateError> {
        Ok(match self {
            FileValue::Bool(b) => b.to_string(),
            FileValue::UInt(n) => n.to_string(),
            FileValue::Int(n) => n.to_string(),
            FileValue::Float(x) => x.to_string(),
            FileValue::Text(s) => s,
            FileValue::List(items) => items
                .into_iter()
                .map(|v| v.into_text(key))
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            FileValue::Table(mut t) => {
                let only_bounds = t.len() == 2;
                let (Some(min), Some(max), true) = (t.remove("min"), t.remove("max"), only_bounds)
                else {
                    return Err(GenerateError::invalid(
                        key,
                        "a table value must be a range { min = a, max = b }",
                    ));
                };
                format!("{}..{}", min.into_text(key)?, max.into_text(key)?)
            }
        })
    }
}

impl TryFrom<FileMap> for GeneratorConfig {
    type Error = GenerateError;
    fn try_from(map: FileMap) -> Result<Self, Self::Error> {
        GeneratorConfig::from_map(map)
    }
}

/// Deserializes through the key table: unknown keys are rejected (as `deny_unknown_fields`
/// would), values take the spec's syntax too, and the result is validated.
impl<'de> Deserialize<'de> for GeneratorConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = FileMap::deserialize(d)?;
        GeneratorConfig::try_from(map).map_err(serde::de::Error::custom)
    }
}

// ---- value parsers: the error is the reason, the caller names the key ----

/// A whole number: `42`, `1_000_000`, `1e6`, `2.5e3`.
pub(crate) fn parse_u64(v: &str) -> Result<u64, String> {
    let clean: String = v.chars().filter(|&c| c != '_').collect();
    if let Ok(n) = clean.parse::<u64>() {
        return Ok(n);
    }
    match clean.parse::<f64>() {
        // Exact below 2^53, the only place a float stands for a count.
        Ok(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= 9_007_199_254_740_992.0 => {
            Ok(x as u64)
        }
        _ => Err(format!("expected a whole number ≥ 0, got `{v}`")),
    }
}

fn parse_u32(v: &str) -> Result<u32, String> {
    let n = parse_u64(v)?;
    u32::try_from(n).map_err(|_| format!("must be at most {}, got {n}", u32::MAX))
}

fn parse_f64(v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("expected a number, got `{v}`")),
    }
}

fn parse_skew(v: &str) -> Result<Skew, String> {
    match v {
        "uniform" => Ok(Skew::Uniform),
        "zipf" => Ok(Skew::Zipf),
        _ => Err(format!("expected uniform or zipf, got `{v}`")),
    }
}

/// `5..20` or `5..=20` (inclusive), `5,20` (a two-item list from a file), or `5`.
fn parse_range(v: &str) -> Result<IntRange, String> {
    let parts = v
        .split_once("..=")
        .or_else(|| v.split_once(".."))
        .or_else(|| v.split_once(','));
    let (min, max) = match parts {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (v.trim(), v.trim()),
    };
    let bad = |_| format!("expected a range min..max (both included) or a number, got `{v}`");
    Ok(IntRange::new(
        parse_u32(min).map_err(bad)?,
        parse_u32(max).map_err(bad)?,
    ))
}

fn format_range(r: &IntRange) -> String {
    if r.min == r.max {
        r.min.to_string()
    } else {
        format!("{}..{}", r.min, r.max)
    }
}

/// The generator's `duration=`: the one duration grammar of the command line.
pub(crate) fn parse_duration(v: &str) -> Result<u64, String> {
    crate::duration::parse_ns(v)
}

/// The default length, as a spec would give it (for docs and tests).
pub const DEFAULT_DURATION: &str = "35.35s";
const _: () = assert!(DEFAULT_DURATION_NS == 35_350_000_000);

#[cfg(test)]
mod tests {
    use super::super::config::NANOS_PER_SEC;
    use super::*;

    #[test]
    fn counts_accept_exponents_and_separators() {
        assert_eq!(parse_u64("1e6"), Ok(1_000_000));
        assert_eq!(parse_u64("1_000"), Ok(1000));
        assert_eq!(parse_u64("2.5e3"), Ok(2500));
        assert!(parse_u64("1.5").is_err());
        assert!(parse_u64("-1").is_err());
    }

    #[test]
    fn durations_are_exact() {
        assert_eq!(parse_duration("35.35"), Ok(35_350_000_000));
        assert_eq!(parse_duration("35.35s"), Ok(35_350_000_000));
        assert_eq!(parse_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration("2m"), Ok(120 * NANOS_PER_SEC));
        assert_eq!(parse_duration("1.5ms"), Ok(1_500_000));
        assert_eq!(parse_duration(".5"), Ok(500_000_000));
        assert!(parse_duration("1.5ns").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        for ns in [1, 999, 35_350_000_000, 120 * NANOS_PER_SEC] {
            assert_eq!(parse_duration(&format_duration(ns)), Ok(ns));
        }
        assert_eq!(DEFAULT_DURATION, format_duration(DEFAULT_DURATION_NS));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("5..20"), Ok(IntRange::new(5, 20)));
        assert_eq!(parse_range("5..=20"), Ok(IntRange::new(5, 20)));
        assert_eq!(parse_range("5,20"), Ok(IntRange::new(5, 20)));
        assert_eq!(parse_range("7"), Ok(IntRange::new(7, 7)));
        assert!(parse_range("a..b").is_err());
    }

    #[test]
    fn list_values_continue_over_commas() {
        let c = GeneratorConfig::from_spec("gen:sample_rates=0.5,0.1,seed=3").unwrap();
        assert_eq!(c.sample_rates, vec![0.5, 0.1]);
        assert_eq!(c.seed, 3);
        assert_eq!(c.to_string(), "gen:seed=3,sample_rates=0.5,0.1");
    }

    #[test]
    fn weights_shorthand() {
        let c = GeneratorConfig::from_spec("gen:weights=c:3,distribution:1,seed=2").unwrap();
        assert_eq!((c.weights.c, c.weights.d, c.seed), (3, 1, 2));
        let e = GeneratorConfig::from_spec("gen:weights=q:1").unwrap_err();
        assert!(e.to_string().contains("`weights.q`"), "{e}");
        let e = GeneratorConfig::from_spec("gen:weights=c:1,weight_c=2").unwrap_err();
        assert!(e.to_string().contains("`weight_c` given twice"), "{e}");
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(GeneratorConfig::default().to_string(), "gen:default");
        let c = GeneratorConfig::from_spec("gen:contexts=1e3,seed=7").unwrap();
        assert_eq!(c.to_string(), "gen:seed=7,contexts=1000");
        let c = GeneratorConfig::from_spec("gen:duration=35350ms").unwrap();
        assert_eq!(c, GeneratorConfig::default());
        let c = GeneratorConfig::from_spec("gen:duration=2m,name_length=4").unwrap();
        assert_eq!(c.to_string(), "gen:name_length=4,duration=120s");
    }
}
