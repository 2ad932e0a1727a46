//! The YAML side of `--config`: the agent's `datadog.yaml` / `dogstatsd.yaml`, read with
//! `serde_norway`, a maintained fork of the deprecated `serde_yaml` with the same API and the
//! same MIT-or-Apache-2.0 licence as the original.
//!
//! The file is read into YAML values first and turned into JSON values key by key, by a
//! conversion that cannot fail: a real agent file has nested sections with anything in them
//! (`dogstatsd_mapper_profiles`, `logs_config`, non-string keys, `.inf`), and a section
//! lastbucket ignores must never be the reason the file does not load.

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

/// A YAML settings file whose top level is not a mapping of named settings.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("YAML: {0}")]
    Syntax(serde_norway::Error),
    #[error("expected a mapping of settings at the top level, got {got}")]
    NotAMapping { got: &'static str },
    #[error("a top-level key is not a name: {kind} {text}")]
    KeyNotAName { kind: &'static str, text: String },
}

/// Keys whose value is a boolean: in them, YAML 1.1's `yes`/`no`/`on`/`off` (which the
/// agent's YAML reader takes as booleans, and `serde_norway`, a YAML 1.2 reader, as strings)
/// are read as booleans, so an agent file means the same here as in the agent.
const BOOL_KEYS: &[&str] = &[
    "dogstatsd_flush_incomplete_buckets",
    "flush_incomplete_buckets",
    "dogstatsd_no_aggregation_pipeline",
    "no_aggregation_pipeline",
];

/// The top-level keys of a YAML settings file and their values, in file order. An empty file
/// (or one of comments only, as the agent's template is) has none.
pub fn top_level_entries(text: &str) -> Result<Vec<(String, Json)>, YamlError> {
    let doc: Yaml = serde_norway::from_str(text).map_err(YamlError::Syntax)?;
    let map = match doc {
        Yaml::Null => return Ok(Vec::new()),
        Yaml::Mapping(m) => m,
        other => return Err(YamlError::NotAMapping { got: kind(&other) }),
    };
    map.into_iter()
        .map(|(k, v)| {
            let key = match k {
                Yaml::String(s) => s,
                other => {
                    return Err(YamlError::KeyNotAName {
                        kind: kind(&other),
                        text: scalar_text(&other),
                    })
                }
            };
            let mut value = to_json(v);
            if BOOL_KEYS.contains(&key.as_str()) {
                value = yaml11_bool(value);
            }
            Ok((key, value))
        })
        .collect()
}

/// A YAML value as JSON, whatever it holds: a tag is dropped, a non-string key is written as
/// its text, and a float JSON cannot hold (`.inf`, `.nan`) becomes its YAML text.
fn to_json(v: Yaml) -> Json {
    match v {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(b),
        Yaml::Number(n) => {
            if let Some(u) = n.as_u64() {
                Json::from(u)
            } else if let Some(i) = n.as_i64() {
                Json::from(i)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Json::Number)
                    .unwrap_or_else(|| Json::String(n.to_string()))
            }
        }
        Yaml::String(s) => Json::String(s),
        Yaml::Sequence(items) => Json::Array(items.into_iter().map(to_json).collect()),
        Yaml::Mapping(m) => Json::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s,
                        other => scalar_text(&other),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Yaml::Tagged(t) => to_json(t.value),
    }
}

fn yaml11_bool(v: Json) -> Json {
    match &v {
        Json::String(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "y" | "on" => Json::Bool(true),
            "no" | "n" | "off" => Json::Bool(false),
            _ => v,
        },
        _ => v,
    }
}

fn kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a mapping",
        Yaml::Tagged(_) => "a tagged value",
    }
}

/// A YAML value as short text, for messages and stringified keys.
fn scalar_text(v: &Yaml) -> String {
    serde_norway::to_string(v)
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| kind(v).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_only_is_empty() {
        assert_eq!(top_level_entries("# api_key: x\n\n").unwrap(), vec![]);
    }

    #[test]
    fn nested_and_odd_values_do_not_fail() {
        let text = "dogstatsd_mapper_profiles:\n  - name: p\n    prefix: 'a.'\n    mappings:\n      - match: 'a.*'\n        name: b\nweird:\n  1: one\n  .inf: x\nf: .inf\nt: !custom 3\n";
        let e = top_level_entries(text).unwrap();
        let keys: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["dogstatsd_mapper_profiles", "weird", "f", "t"]);
        assert_eq!(e[3].1, Json::from(3));
    }

    #[test]
    fn yaml11_booleans_in_bool_keys_only() {
        let e =
            top_level_entries("dogstatsd_flush_incomplete_buckets: yes\nhostname: on\n").unwrap();
        assert_eq!(e[0].1, Json::Bool(true));
        assert_eq!(e[1].1, Json::String("on".into()));
    }

    #[test]
    fn not_a_mapping_and_bad_syntax_are_errors() {
        assert!(top_level_entries("- a\n- b\n")
            .unwrap_err()
            .to_string()
            .contains("a list"));
        let e = top_level_entries("a: [1, 2\n").unwrap_err().to_string();
        assert!(e.contains("line"), "{e}");
        assert!(top_level_entries("? [1]\n: x\n")
            .unwrap_err()
            .to_string()
            .contains("not a name"));
    }
}
