//! The pipeline settings file (`--config`): TOML, JSON or YAML, with lastbucket's key names or
//! the agent's own (`dogstatsd_queue_size`, …), so a user can point it at their `datadog.yaml`
//! or `dogstatsd.yaml` as it is.
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
//! ([`super::config_keys`]).

use super::config_keys::{self, KeyKind, FLAG_KEY, FLUSH_TIMEOUT_KEY};
use super::UsageError;
use crate::pipeline::PipelineConfig;
use std::path::Path;

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

/// Reads a settings file and, when it ignored keys, says which on stderr (with the keys it
/// applied), so a `datadog.yaml` that sets none of the keys that matter is not mistaken for
/// one that did.
pub fn read_config_file(path: &Path) -> Result<ConfigFile, UsageError> {
    let file = parse_config_file(path)?;
    if !file.ignored.is_empty() {
        let applied = if file.applied.is_empty() {
            "no keys lastbucket models".to_string()
        } else {
            file.applied.join(", ")
        };
        eprintln!(
            "note: {}: applied {applied}; ignored {} key(s) lastbucket does not model: {}",
            path.display(),
            file.ignored.len(),
            file.ignored.join(", ")
        );
    }
    Ok(file)
}

/// Reads a settings file, TOML, JSON or YAML ([`ConfigFormat::detect`]), without printing.
pub fn parse_config_file(path: &Path) -> Result<ConfigFile, UsageError> {
    let text = crate::settings_file::read_settings_text(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    parse_config_text(path, &text)
}

/// [`parse_config_file`] on text already read; `path` names the file in errors (and its
/// extension picks the syntax). Pure, so the fuzz target reaches the reader without a file.
pub fn parse_config_text(path: &Path, text: &str) -> Result<ConfigFile, UsageError> {
    let invalid =
        |e: String| UsageError(format!("invalid pipeline config {}: {e}", path.display()));
    let format = ConfigFormat::detect(path, text);
    let entries = match format {
        ConfigFormat::Json => {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| invalid(format!("JSON: {e}")))?;
            match value {
                serde_json::Value::Object(map) => map.into_iter().collect(),
                _ => return Err(invalid("expected a table of settings".into())),
            }
        }
        ConfigFormat::Toml => {
            let table: toml::Table =
                toml::from_str(text).map_err(|e| invalid(format!("TOML: {e}")))?;
            let value = serde_json::to_value(table).map_err(|e| invalid(e.to_string()))?;
            match value {
                serde_json::Value::Object(map) => map.into_iter().collect(),
                _ => return Err(invalid("expected a table of settings".into())),
            }
        }
        ConfigFormat::Yaml => super::config_yaml::top_level_entries(text).map_err(invalid)?,
    };
    let agent_file = format == ConfigFormat::Yaml;
    let mut map = serde_json::Map::new();
    let mut applied = Vec::new();
    let mut ignored = Vec::new();
    for (key, value) in entries {
        match config_keys::classify(&key, agent_file) {
            KeyKind::Accepted => {
                applied.push(key.clone());
                map.insert(key, value);
            }
            KeyKind::Ignored => ignored.push(key),
            KeyKind::Unknown => return Err(invalid(unknown_key_message(&key))),
        }
    }
    let timeout_ms = map
        .remove(FLUSH_TIMEOUT_KEY)
        .map(|v| go_duration_ms(&v).map_err(|e| invalid(format!("{FLUSH_TIMEOUT_KEY}: {e}"))))
        .transpose()?;
    let mut flush_incomplete_buckets = None;
    for name in [FLAG_KEY, "flush_incomplete_buckets"] {
        match map.remove(name) {
            None => {}
            Some(serde_json::Value::Bool(b)) => flush_incomplete_buckets = Some(b),
            Some(other) => {
                return Err(invalid(format!(
                    "{name}: expected true or false, got {other}"
                )))
            }
        }
    }
    let value = serde_json::Value::Object(map);
    let mut pipeline: PipelineConfig =
        serde_json::from_value(value.clone()).map_err(|e| invalid(name_the_key(&value, e)))?;
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
    let hint = config_keys::closest(key)
        .map(|k| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default();
    format!(
        "unknown key {key:?}{hint}; accepted keys: {}",
        config_keys::accepted_list()
    )
}

/// serde's message for a value of the wrong type (`invalid value: integer `…`, expected
/// i64`) does not say which key held it: find the key by reading each alone, and put it first.
fn name_the_key(value: &serde_json::Value, e: serde_json::Error) -> String {
    let bad_key = value.as_object().and_then(|map| {
        map.iter().find_map(|(k, v)| {
            let alone = serde_json::Value::Object([(k.clone(), v.clone())].into_iter().collect());
            serde_json::from_value::<PipelineConfig>(alone)
                .is_err()
                .then_some(k)
        })
    });
    match bad_key {
        Some(k) if !e.to_string().contains(k.as_str()) => format!("{k}: {e}"),
        _ => e.to_string(),
    }
}

/// The pipeline settings of a file (for commands without a settings matrix).
pub fn load_config(path: &Path) -> Result<PipelineConfig, UsageError> {
    read_config_file(path).map(|c| c.pipeline)
}

/// A Go duration (`"100ms"`, `"1.5s"`, `"1m30s"`) or an integer of nanoseconds, in whole
/// milliseconds (the resolution of the pipeline's timers).
fn go_duration_ms(v: &serde_json::Value) -> Result<u64, String> {
    let ns: f64 = match v {
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("{n} is not a whole number of nanoseconds"))?
            as f64,
        // Go's grammar: a string needs its unit ("100" is not a duration).
        serde_json::Value::String(s) if s.trim().parse::<f64>().is_ok() => {
            return Err(format!("{s:?} has no unit (expected e.g. \"100ms\")"))
        }
        serde_json::Value::String(s) => crate::duration::parse_ns(s)? as f64,
        other => return Err(format!("expected a duration like \"100ms\", got {other}")),
    };
    let ms = ns / 1e6;
    if ms.fract() != 0.0 || ms < 1.0 {
        return Err(format!(
            "{v} is not a whole number of milliseconds (the pipeline's timer resolution)"
        ));
    }
    Ok(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_ms(&json!("100ms")), Ok(100));
        assert_eq!(go_duration_ms(&json!("1.5s")), Ok(1500));
        assert_eq!(go_duration_ms(&json!("1m30s")), Ok(90_000));
        assert_eq!(go_duration_ms(&json!(200_000_000)), Ok(200));
        assert!(go_duration_ms(&json!("100")).is_err());
        assert!(go_duration_ms(&json!("10us")).is_err());
        assert!(go_duration_ms(&json!("fast")).is_err());
        assert!(go_duration_ms(&json!(true)).is_err());
    }

    fn read(name: &str, text: &str) -> Result<ConfigFile, UsageError> {
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
