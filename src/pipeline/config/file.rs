//! Reading a pipeline settings file (`--config`): TOML, JSON or YAML, with lastbucket's key
//! names or the agent's own (`dogstatsd_queue_size`, …), so a user can point it at their
//! `datadog.yaml` or `dogstatsd.yaml` as it is. This file picks the syntax and sorts the keys;
//! the key table is [`super::agent_keys`], the YAML reader [`super::yaml`], the agent's duration
//! values [`super::go_duration`]. It prints nothing and knows no flag: it returns what the file
//! says, or a [`ConfigFileError`] that names the file and the key.
//!
//! Two agent keys do not map one to one onto a field and are taken out before the rest is
//! read: `dogstatsd_packet_buffer_flush_timeout`, a Go duration in the agent (`"100ms"`; a
//! bare integer is nanoseconds, as viper reads it), and `dogstatsd_flush_incomplete_buckets`,
//! a stop setting rather than a size: it picks the setting a check runs when
//! `--flush-incomplete-buckets` is not given.
//!
//! Unknown keys: TOML and JSON are lastbucket's own files, so any key it does not apply is
//! refused. YAML is the agent's format, and a real `datadog.yaml` sets dozens of keys
//! lastbucket does not model (`api_key`, `logs_enabled`, `dogstatsd_port`, nested sections
//! such as `dogstatsd_mapper_profiles`): those are ignored and named in a note on stderr; only
//! an unknown `dogstatsd_*` key (most likely a typo of one that matters) is refused. Every
//! refusal names the key, the closest accepted key, and the list of accepted keys
//! ([`super::agent_keys`]).

use super::agent_keys::{self, KeyKind, FLAG_KEY, FLUSH_TIMEOUT_KEY};
use super::go_duration::{go_duration_ms, GoDurationError};
use super::yaml::{self, YamlError};
use super::PipelineConfig;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What a settings file says.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    pub pipeline: PipelineConfig,
    /// `dogstatsd_flush_incomplete_buckets`, when the file sets it.
    pub flush_incomplete_buckets: Option<bool>,
    /// The keys the file set that were applied, in file order.
    pub applied: Vec<String>,
    /// The keys of a YAML file that lastbucket does not model and ignored, in file order.
    pub ignored: Vec<String>,
}

/// A settings file that could not be read, or that says something the pipeline cannot take.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    #[error("invalid pipeline config {}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: Invalid },
}

/// What is wrong in a settings file that was read.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    #[error("JSON: {0}")]
    Json(serde_json::Error),
    #[error("TOML: {0}")]
    Toml(toml::de::Error),
    /// A TOML table serde_json cannot hold.
    #[error("{0}")]
    TomlValue(serde_json::Error),
    #[error("{0}")]
    Yaml(YamlError),
    #[error("expected a table of settings")]
    NotATable,
    /// `unknown key "x" (did you mean "y"?); accepted keys: …`.
    #[error("{}", unknown_key_message(.0))]
    UnknownKey(String),
    #[error("{}: {}", FLUSH_TIMEOUT_KEY, .0)]
    FlushTimeout(GoDurationError),
    #[error("{key}: expected true or false, got {got}")]
    NotABool {
        key: &'static str,
        got: serde_json::Value,
    },
    /// A value of the wrong type, with the key that held it when serde's message does not say.
    #[error("{0}")]
    Value(BadValue),
}

/// serde's message for a value of the wrong type, and the key that held it.
#[derive(Debug)]
pub struct BadValue {
    pub key: Option<String>,
    pub error: serde_json::Error,
}

/// The key first, unless serde's message already names it.
impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) if !self.error.to_string().contains(k.as_str()) => {
                write!(f, "{k}: {}", self.error)
            }
            _ => write!(f, "{}", self.error),
        }
    }
}

/// The syntax of a settings file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    Toml,
    Json,
    Yaml,
}

impl ConfigFormat {
    /// By extension (`.yaml`/`.yml`, `.json`, `.toml`), else by content: `{` first is JSON;
    /// a first line of `key: value` or `---` is YAML; anything else is TOML.
    pub fn detect(path: &Path, text: &str) -> ConfigFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml") => {
                return ConfigFormat::Yaml
            }
            Some(e) if e.eq_ignore_ascii_case("json") => return ConfigFormat::Json,
            Some(e) if e.eq_ignore_ascii_case("toml") => return ConfigFormat::Toml,
            _ => {}
        }
        if text.trim_start().starts_with('{') {
            return ConfigFormat::Json;
        }
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        match first {
            Some(l) if l.starts_with("---") => ConfigFormat::Yaml,
            // `key: value` or `key:` (a nested section); TOML has `=` or `[table]` there.
            Some(l) => match (l.find(':'), l.find('=')) {
                (Some(_), None) if !l.starts_with('[') => ConfigFormat::Yaml,
                (Some(c), Some(e)) if c < e && !l.starts_with('[') => ConfigFormat::Yaml,
                _ => ConfigFormat::Toml,
            },
            None => ConfigFormat::Toml,
        }
    }
}

/// Reads a settings file, TOML, JSON or YAML ([`ConfigFormat::detect`]), without printing.
pub fn parse_config_file(path: &Path) -> Result<ConfigFile, ConfigFileError> {
    let text =
        crate::settings_file::read_settings_text(path).map_err(|error| ConfigFileError::Read {
            path: path.to_path_buf(),
            error,
        })?;
    parse_config_text(path, &text)
}

/// [`parse_config_file`] on text already read; `path` names the file in errors (and its
/// extension picks the syntax). Pure, so the fuzz target reaches the reader without a file.
pub fn parse_config_text(path: &Path, text: &str) -> Result<ConfigFile, ConfigFileError> {
    parse_entries(path, text).map_err(|problem| ConfigFileError::Invalid {
        path: path.to_path_buf(),
        problem,
    })
}

fn parse_entries(path: &Path, text: &str) -> Result<ConfigFile, Invalid> {
    let format = ConfigFormat::detect(path, text);
    let entries = match format {
        ConfigFormat::Json => {
            let value: serde_json::Value = serde_json::from_str(text).map_err(Invalid::Json)?;
            match value {
                serde_json::Value::Object(map) => map.into_iter().collect(),
                _ => return Err(Invalid::NotATable),
            }
        }
        ConfigFormat::Toml => {
            let table: toml::Table = toml::from_str(text).map_err(Invalid::Toml)?;
            let value = serde_json::to_value(table).map_err(Invalid::TomlValue)?;
            match value {
                serde_json::Value::Object(map) => map.into_iter().collect(),
                _ => return Err(Invalid::NotATable),
            }
        }
        ConfigFormat::Yaml => yaml::top_level_entries(text).map_err(Invalid::Yaml)?,
    };
    let agent_file = format == ConfigFormat::Yaml;
    let mut map = serde_json::Map::new();
    let mut applied = Vec::new();
    let mut ignored = Vec::new();
    for (key, value) in entries {
        match agent_keys::classify(&key, agent_file) {
            KeyKind::Accepted => {
                applied.push(key.clone());
                map.insert(key, value);
            }
            KeyKind::Ignored => ignored.push(key),
            KeyKind::Unknown => return Err(Invalid::UnknownKey(key)),
        }
    }
    let timeout_ms = map
        .remove(FLUSH_TIMEOUT_KEY)
        .map(|v| go_duration_ms(&v).map_err(Invalid::FlushTimeout))
        .transpose()?;
    let mut flush_incomplete_buckets = None;
    for name in [FLAG_KEY, "flush_incomplete_buckets"] {
        match map.remove(name) {
            None => {}
            Some(serde_json::Value::Bool(b)) => flush_incomplete_buckets = Some(b),
            Some(other) => {
                return Err(Invalid::NotABool {
                    key: name,
                    got: other,
                })
            }
        }
    }
    let value = serde_json::Value::Object(map);
    let mut pipeline: PipelineConfig = serde_json::from_value(value.clone()).map_err(|error| {
        Invalid::Value(BadValue {
            key: bad_key(&value),
            error,
        })
    })?;
    if let Some(ms) = timeout_ms {
        pipeline.packet_buffer_flush_timeout_ms = ms;
    }
    Ok(ConfigFile {
        pipeline,
        flush_incomplete_buckets,
        applied,
        ignored,
    })
}

/// `unknown key "x" (did you mean "y"?); accepted keys: …`.
fn unknown_key_message(key: &str) -> String {
    let hint = agent_keys::closest(key)
        .map(|k| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default();
    format!(
        "unknown key {key:?}{hint}; accepted keys: {}",
        agent_keys::accepted_list()
    )
}

/// serde's message for a value of the wrong type (`invalid value: integer `…`, expected
/// i64`) does not say which key held it: find the key by reading each alone.
fn bad_key(value: &serde_json::Value) -> Option<String> {
    value.as_object().and_then(|map| {
        map.iter().find_map(|(k, v)| {
            let alone = serde_json::Value::Object([(k.clone(), v.clone())].into_iter().collect());
            serde_json::from_value::<PipelineConfig>(alone)
                .is_err()
                .then(|| k.clone())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str) -> Result<ConfigFile, ConfigFileError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        parse_config_file(&path)
    }

    #[test]
    fn agent_keys_in_toml_and_json() {
        let c = read(
            "a.toml",
            "dogstatsd_queue_size = 8\ndogstatsd_packet_buffer_flush_timeout = \"250ms\"\n\
             dogstatsd_flush_incomplete_buckets = true\n",
        )
        .unwrap();
        assert_eq!(c.pipeline.queue_size, 8);
        assert_eq!(c.pipeline.packet_buffer_flush_timeout_ms, 250);
        assert_eq!(c.flush_incomplete_buckets, Some(true));
        let c = read(
            "a.json",
            r#"{"dogstatsd_buffer_size": 1024, "dogstatsd_flush_incomplete_buckets": false}"#,
        )
        .unwrap();
        assert_eq!(c.pipeline.buffer_size, 1024);
        assert_eq!(c.flush_incomplete_buckets, Some(false));
        assert_eq!(c.pipeline.packet_buffer_flush_timeout_ms, 100);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = read("a.toml", "dogstatsd_queue_sise = 8\n").unwrap_err();
        assert!(e.to_string().contains("dogstatsd_queue_sise"), "{e}");
        let e = read("a.toml", "dogstatsd_flush_incomplete_buckets = \"yes\"\n").unwrap_err();
        assert!(e.to_string().contains(FLAG_KEY), "{e}");
        let e = read(
            "a.toml",
            "dogstatsd_packet_buffer_flush_timeout = \"soon\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains(FLUSH_TIMEOUT_KEY), "{e}");
    }

    #[test]
    fn unknown_keys_name_the_accepted_ones() {
        let e = read("a.json", r#"{"dogstatsd_queue_sise": 8}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean \"dogstatsd_queue_size\""), "{e}");
        assert!(
            e.contains("accepted keys: buffer_size (dogstatsd_buffer_size)"),
            "{e}"
        );
        // TOML and JSON are lastbucket's own files: an agent key it does not model is refused.
        assert!(read("a.toml", "api_key = \"x\"\n").is_err());
    }

    #[test]
    fn formats_by_extension_then_content() {
        let d = |name: &str, text: &str| ConfigFormat::detect(Path::new(name), text);
        assert_eq!(d("datadog.yaml", "{}"), ConfigFormat::Yaml);
        assert_eq!(d("x.YML", ""), ConfigFormat::Yaml);
        assert_eq!(d("x.json", "a = 1"), ConfigFormat::Json);
        assert_eq!(
            d("x.conf", "# c\n\ndogstatsd_queue_size: 8\n"),
            ConfigFormat::Yaml
        );
        assert_eq!(d("x.conf", "---\n"), ConfigFormat::Yaml);
        assert_eq!(d("x.conf", "logs_config:\n  a: 1\n"), ConfigFormat::Yaml);
        assert_eq!(d("x.conf", "url = \"http://x\"\n"), ConfigFormat::Toml);
        assert_eq!(d("x.conf", "[table]\na = 1\n"), ConfigFormat::Toml);
        assert_eq!(d("x.conf", " {\"a\": 1}"), ConfigFormat::Json);
    }

    #[test]
    fn yaml_applies_agent_keys_and_ignores_the_rest() {
        let c = read(
            "datadog.yaml",
            "api_key: abc\nsite: datadoghq.com\ndogstatsd_port: 8125\n\
             dogstatsd_queue_size: 16\ndogstatsd_packet_buffer_flush_timeout: 20ms\n\
             dogstatsd_flush_incomplete_buckets: on\nlogs_config:\n  container_collect_all: true\n",
        )
        .unwrap();
        assert_eq!(c.pipeline.queue_size, 16);
        assert_eq!(c.pipeline.packet_buffer_flush_timeout_ms, 20);
        assert_eq!(c.flush_incomplete_buckets, Some(true));
        assert_eq!(
            c.applied,
            [
                "dogstatsd_queue_size",
                "dogstatsd_packet_buffer_flush_timeout",
                "dogstatsd_flush_incomplete_buckets"
            ]
        );
        assert_eq!(
            c.ignored,
            ["api_key", "site", "dogstatsd_port", "logs_config"]
        );
        let e = read("datadog.yaml", "dogstatsd_queue_sise: 8\n").unwrap_err();
        assert!(e.to_string().contains("dogstatsd_queue_sise"), "{e}");
        let e = read("datadog.yaml", "dogstatsd_queue_size: lots\n").unwrap_err();
        assert!(e.to_string().contains("dogstatsd_queue_size"), "{e}");
        let c = read("datadog.yaml", "# all commented out\n# api_key: x\n").unwrap();
        assert_eq!(c.pipeline, PipelineConfig::default());
    }
}
