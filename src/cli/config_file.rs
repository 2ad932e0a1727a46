//! The pipeline settings file (`--config`): TOML or JSON, with lastbucket's key names or the
//! agent's own (`dogstatsd_queue_size`, …), so a user can mirror their `datadog.yaml`.
//!
//! Two agent keys do not map one to one onto a field and are taken out before the rest is
//! read (which still rejects unknown keys): `dogstatsd_packet_buffer_flush_timeout`, a Go
//! duration in the agent (`"100ms"`; a bare integer is nanoseconds, as viper reads it), and
//! `dogstatsd_flush_incomplete_buckets`, a stop setting rather than a size: it picks the
//! setting a check runs when `--flush-incomplete-buckets` is not given.

use super::UsageError;
use crate::pipeline::PipelineConfig;
use std::path::Path;

/// What a settings file says.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    pub pipeline: PipelineConfig,
    /// `dogstatsd_flush_incomplete_buckets`, when the file sets it.
    pub flush_incomplete_buckets: Option<bool>,
}

const FLUSH_TIMEOUT_KEY: &str = "dogstatsd_packet_buffer_flush_timeout";
const FLAG_KEY: &str = "dogstatsd_flush_incomplete_buckets";

/// Reads a settings file, TOML or JSON by its first non-blank byte.
pub fn read_config_file(path: &Path) -> Result<ConfigFile, UsageError> {
    let text = crate::settings_file::read_settings_text(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    parse_config_text(path, &text)
}

/// [`read_config_file`] on text already read; `path` names the file in errors. Pure, so the
/// fuzz target reaches the reader without a file per input.
pub fn parse_config_text(path: &Path, text: &str) -> Result<ConfigFile, UsageError> {
    let invalid =
        |e: String| UsageError(format!("invalid pipeline config {}: {e}", path.display()));
    let mut value: serde_json::Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?
    } else {
        let table: toml::Table = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        serde_json::to_value(table).map_err(|e| invalid(e.to_string()))?
    };
    let map = value
        .as_object_mut()
        .ok_or_else(|| invalid("expected a table of settings".into()))?;
    let timeout_ms = map
        .remove(FLUSH_TIMEOUT_KEY)
        .map(|v| go_duration_ms(&v).map_err(|e| invalid(format!("{FLUSH_TIMEOUT_KEY}: {e}"))))
        .transpose()?;
    let flush_incomplete_buckets = match map.remove(FLAG_KEY) {
        None => None,
        Some(serde_json::Value::Bool(b)) => Some(b),
        Some(other) => {
            return Err(invalid(format!(
                "{FLAG_KEY}: expected true or false, got {other}"
            )))
        }
    };
    let mut pipeline: PipelineConfig =
        serde_json::from_value(value.clone()).map_err(|e| invalid(name_the_key(&value, e)))?;
    if let Some(ms) = timeout_ms {
        pipeline.packet_buffer_flush_timeout_ms = ms;
    }
    Ok(ConfigFile {
        pipeline,
        flush_incomplete_buckets,
    })
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
        read_config_file(&path)
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
}
