//! Which keys a settings file (`--config`) may carry: the ones lastbucket applies, and the
//! agent's own `dogstatsd_*` keys it knows but does not model.
//!
//! The accepted keys are listed here rather than left to serde's `deny_unknown_fields`
//! message, because that message names neither the aliases (the agent's names, which are the
//! ones a user copies from `datadog.yaml`) nor the two keys the reader takes out first. A test
//! keeps this table and `PipelineConfig` in step.
//!
//! The second list is what lets a real `datadog.yaml` load: it sets keys such as
//! `dogstatsd_port` or `dogstatsd_mapper_profiles` that decide nothing lastbucket measures, and
//! an unknown `dogstatsd_*` key is far more likely a typo of a key that does matter
//! (`dogstatsd_queue_sise`) than a setting of the agent, so only those are refused.

/// A key a settings file may set: lastbucket's name and, when there is one, the agent's.
pub struct AcceptedKey {
    pub name: &'static str,
    pub agent: Option<&'static str>,
}

const fn key(name: &'static str, agent: Option<&'static str>) -> AcceptedKey {
    AcceptedKey { name, agent }
}

/// Every key the reader applies, in `PipelineConfig`'s order, then the stop flag.
pub const ACCEPTED: &[AcceptedKey] = &[
    key("buffer_size", Some("dogstatsd_buffer_size")),
    key("packet_buffer_size", Some("dogstatsd_packet_buffer_size")),
    // The agent's key is a Go duration; `_ms` is lastbucket's integer form of it.
    key(
        "packet_buffer_flush_timeout_ms",
        Some("dogstatsd_packet_buffer_flush_timeout"),
    ),
    key("queue_size", Some("dogstatsd_queue_size")),
    key("workers", Some("dogstatsd_workers_count")),
    key("pipeline_count", Some("dogstatsd_pipeline_count")),
    key("batch_size", None),
    key("bucket_seconds", None),
    key("flush_interval_s", None),
    key("expiry_seconds", Some("dogstatsd_expiry_seconds")),
    key("histogram_aggregates", None),
    key("histogram_percentiles", None),
    key("context_limit", Some("dogstatsd_context_limit")),
    key(
        "no_aggregation_pipeline",
        Some("dogstatsd_no_aggregation_pipeline"),
    ),
    key("hostname", None),
    key("queue_latency_ms", None),
    key("flush_incomplete_buckets", Some(FLAG_KEY)),
];

/// Other names `PipelineConfig` takes, with the field they set: the agent's duration key in
/// lastbucket's integer milliseconds.
pub const MORE_ALIASES: &[(&str, &str)] = &[(
    "dogstatsd_packet_buffer_flush_timeout_ms",
    "packet_buffer_flush_timeout_ms",
)];

/// `dogstatsd_packet_buffer_flush_timeout`: a Go duration, read apart from the rest.
pub const FLUSH_TIMEOUT_KEY: &str = "dogstatsd_packet_buffer_flush_timeout";
/// `dogstatsd_flush_incomplete_buckets`: the stop flag, not a pipeline size.
pub const FLAG_KEY: &str = "dogstatsd_flush_incomplete_buckets";

/// The agent's `dogstatsd_*` keys that lastbucket knows and ignores: listeners, telemetry,
/// logging, tagging and mapping, none of which changes what a stop flushes.
pub const AGENT_UNMODELLED: &[&str] = &[
    "dogstatsd_capture_depth",
    "dogstatsd_capture_path",
    "dogstatsd_context_expiry_seconds",
    "dogstatsd_disable_verbose_logs",
    "dogstatsd_entity_id_precedence",
    "dogstatsd_eol_required",
    "dogstatsd_host_socket_path",
    "dogstatsd_log_file",
    "dogstatsd_log_file_max_rolls",
    "dogstatsd_log_file_max_size",
    "dogstatsd_logging_enabled",
    "dogstatsd_mapper_cache_size",
    "dogstatsd_mapper_profiles",
    "dogstatsd_mem_based_rate_limiter",
    "dogstatsd_metrics_stats_enable",
    "dogstatsd_no_aggregation_pipeline_batch_size",
    "dogstatsd_non_local_traffic",
    "dogstatsd_origin_detection",
    "dogstatsd_origin_detection_client",
    "dogstatsd_origin_optout_enabled",
    "dogstatsd_pipe_name",
    "dogstatsd_pipeline_autoadjust",
    "dogstatsd_pipeline_autoadjust_strategy",
    "dogstatsd_port",
    "dogstatsd_so_rcvbuf",
    "dogstatsd_socket",
    "dogstatsd_stats_buffer",
    "dogstatsd_stats_enable",
    "dogstatsd_stats_port",
    "dogstatsd_stream_socket",
    "dogstatsd_string_interner_size",
    "dogstatsd_tag_cardinality",
    "dogstatsd_tags",
    "dogstatsd_telemetry_enabled_listener_id",
    "dogstatsd_windows_pipe_security_descriptor",
];

/// What the reader does with a key it finds in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A key of [`ACCEPTED`], by either name.
    Accepted,
    /// An agent key that decides nothing lastbucket models: ignored (YAML files only).
    Ignored,
    /// Neither: refused, with the list of accepted keys.
    Unknown,
}

/// Sorts a key of a file. `agent_file` is true for YAML, the agent's own format, where any
/// key not named `dogstatsd_*` is one of the agent's other settings (`api_key`, `logs_enabled`,
/// …) and is ignored too.
pub fn classify(key: &str, agent_file: bool) -> KeyKind {
    if ACCEPTED
        .iter()
        .any(|k| k.name == key || k.agent == Some(key))
        || MORE_ALIASES.iter().any(|(alias, _)| *alias == key)
    {
        KeyKind::Accepted
    } else if agent_file && (AGENT_UNMODELLED.contains(&key) || !key.starts_with("dogstatsd_")) {
        KeyKind::Ignored
    } else {
        KeyKind::Unknown
    }
}

/// The accepted keys as a message lists them: `buffer_size (dogstatsd_buffer_size), …`.
pub fn accepted_list() -> String {
    ACCEPTED
        .iter()
        .map(|k| match k.agent {
            Some(a) => format!("{} ({a})", k.name),
            None => k.name.to_string(),
        })
        .chain(
            MORE_ALIASES
                .iter()
                .map(|(alias, field)| format!("{alias} (= {field})")),
        )
        .collect::<Vec<_>>()
        .join(", ")
}

/// The accepted key closest to a misspelt one, when it is close (at most two edits).
pub fn closest(key: &str) -> Option<&'static str> {
    ACCEPTED
        .iter()
        .flat_map(|k| std::iter::once(k.name).chain(k.agent))
        .map(|name| (edit_distance(key, name), name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

/// Levenshtein distance over bytes (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::PipelineConfig;

    /// The table and `PipelineConfig` agree: every field is listed, and every name of the
    /// table (the stop flag and the Go duration aside) deserializes alone.
    #[test]
    fn table_matches_pipeline_config() {
        let fields = serde_json::to_value(PipelineConfig::default()).unwrap();
        let fields = fields.as_object().unwrap();
        for f in fields.keys() {
            assert!(ACCEPTED.iter().any(|k| k.name == f), "{f} not in ACCEPTED");
        }
        for k in ACCEPTED {
            for name in std::iter::once(k.name).chain(k.agent) {
                if name == FLAG_KEY
                    || name == FLUSH_TIMEOUT_KEY
                    || name == "flush_incomplete_buckets"
                {
                    continue;
                }
                let value = fields
                    .get(k.name)
                    .unwrap_or_else(|| panic!("{} is not a field", k.name))
                    .clone();
                let alone = serde_json::json!({ name: value });
                serde_json::from_value::<PipelineConfig>(alone)
                    .unwrap_or_else(|e| panic!("{name} does not deserialize: {e}"));
            }
        }
        for (alias, field) in MORE_ALIASES {
            let alone = serde_json::json!({ *alias: fields[*field].clone() });
            serde_json::from_value::<PipelineConfig>(alone)
                .unwrap_or_else(|e| panic!("{alias} does not deserialize: {e}"));
            assert_eq!(classify(alias, false), KeyKind::Accepted);
        }
    }

    #[test]
    fn keys_are_sorted_into_three_kinds() {
        assert_eq!(classify("dogstatsd_queue_size", false), KeyKind::Accepted);
        assert_eq!(classify("queue_size", true), KeyKind::Accepted);
        assert_eq!(classify("dogstatsd_port", true), KeyKind::Ignored);
        assert_eq!(classify("api_key", true), KeyKind::Ignored);
        assert_eq!(classify("api_key", false), KeyKind::Unknown);
        assert_eq!(classify("dogstatsd_port", false), KeyKind::Unknown);
        assert_eq!(classify("dogstatsd_queue_sise", true), KeyKind::Unknown);
        assert_eq!(
            closest("dogstatsd_queue_sise"),
            Some("dogstatsd_queue_size")
        );
        assert_eq!(closest("api_key"), None);
        assert!(accepted_list().contains("dogstatsd_queue_size"));
        assert!(accepted_list().contains("batch_size"));
    }
}
