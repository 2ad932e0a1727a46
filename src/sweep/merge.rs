//! `merge`: the reports of the shards of one sweep (`--shard k/n`, one per CI job) put back
//! together into the report the unsharded run gives: the same scenarios in the same order,
//! the same counts, verdicts and exit code. Shards of different runs are refused, naming the
//! field that differs, so a matrix that was misconfigured cannot pass as one run.

use crate::report::{Report, ShardInfo};
use serde_json::Value;

/// Why shard reports cannot be merged (a usage error).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("{0}: not a shard report (no \"shard\" block: write it with sweep --shard k/n)")]
    NotAShard(String),
    #[error("{a} and {b} are not shards of one run: {field} differs ({va} vs {vb})")]
    Differs {
        a: String,
        b: String,
        field: String,
        va: String,
        vb: String,
    },
    #[error("shard {index}/{count} is given twice ({a} and {b})")]
    Twice {
        index: u32,
        count: u32,
        a: String,
        b: String,
    },
    #[error("shard {index}/{count} is missing")]
    Missing { index: u32, count: u32 },
    #[error("{file}: shard {index}/{count} holds {got} scenarios; its moments give {want}")]
    Scenarios {
        file: String,
        index: u32,
        count: u32,
        got: usize,
        want: usize,
    },
}

/// Merges named shard reports (the names are for errors: the files they came from).
pub fn merge(shards: Vec<(String, Report)>) -> Result<Report, MergeError> {
    let first = shards.first().ok_or(MergeError::Empty)?;
    let info0 = shard_of(first)?;
    let mut slots: Vec<Option<usize>> = vec![None; info0.count as usize];
    for (i, (name, report)) in shards.iter().enumerate() {
        let info = shard_of(&shards[i])?;
        same_run(first, (name, report))?;
        let slot = &mut slots[(info.index - 1) as usize];
        if let Some(j) = slot {
            return Err(MergeError::Twice {
                index: info.index,
                count: info.count,
                a: shards[*j].0.clone(),
                b: name.clone(),
            });
        }
        *slot = Some(i);
        let shard = crate::check::shard::Shard {
            index: info.index,
            count: info.count,
        };
        let want = shard.share(info.moments) * info.settings;
        if report.scenarios.len() != want {
            return Err(MergeError::Scenarios {
                file: name.clone(),
                index: info.index,
                count: info.count,
                got: report.scenarios.len(),
                want,
            });
        }
    }
    let order: Vec<&Report> = slots
        .iter()
        .enumerate()
        .map(|(k, slot)| {
            slot.map(|i| &shards[i].1).ok_or(MergeError::Missing {
                index: k as u32 + 1,
                count: info0.count,
            })
        })
        .collect::<Result<_, _>>()?;
    let (n, s) = (info0.count as usize, info0.settings);
    let mut scenarios = Vec::with_capacity(info0.moments * s);
    for moment in 0..info0.moments {
        let part = order[moment % n];
        let at = moment / n * s;
        scenarios.extend_from_slice(&part.scenarios[at..at + s]);
    }
    let mut merged = Report {
        schema_version: first.1.schema_version,
        tool: first.1.tool.clone(),
        source: first.1.source.clone(),
        shard: None,
        scenarios,
        exit_code: 0,
    };
    merged.exit_code = crate::exit::for_report(&merged);
    Ok(merged)
}

fn shard_of((name, report): &(String, Report)) -> Result<ShardInfo, MergeError> {
    report
        .shard
        .ok_or_else(|| MergeError::NotAShard(name.clone()))
}

/// The fields that make two shards parts of one run: the schema, the tool, the source, the
/// partition, and the settings (with their expectations) of every moment.
fn same_run((a, ra): &(String, Report), (b, rb): (&String, &Report)) -> Result<(), MergeError> {
    let differs = |field: String, va: &Value, vb: &Value| MergeError::Differs {
        a: a.clone(),
        b: b.clone(),
        field,
        va: va.to_string(),
        vb: vb.to_string(),
    };
    let (sa, sb) = (ra.shard, rb.shard);
    for (field, va, vb) in [
        (
            "schema_version",
            json(&ra.schema_version),
            json(&rb.schema_version),
        ),
        ("tool", json(&ra.tool), json(&rb.tool)),
        ("source", json(&ra.source), json(&rb.source)),
        (
            "shard.count",
            json(&sa.map(|s| s.count)),
            json(&sb.map(|s| s.count)),
        ),
        (
            "shard.moments",
            json(&sa.map(|s| s.moments)),
            json(&sb.map(|s| s.moments)),
        ),
        (
            "shard.settings",
            json(&sa.map(|s| s.settings)),
            json(&sb.map(|s| s.settings)),
        ),
        ("settings", json(&settings(ra)), json(&settings(rb))),
    ] {
        if let Some((path, x, y)) = first_difference(field, &va, &vb) {
            return Err(differs(path, x, y));
        }
    }
    Ok(())
}

/// The settings and expectations of each scenario of one moment, in order.
fn settings(r: &Report) -> Vec<(crate::report::SettingsInfo, crate::report::Expectation)> {
    let s = r.shard.map_or(0, |s| s.settings);
    r.scenarios
        .iter()
        .take(s)
        .map(|c| (c.settings.clone(), c.expectation))
        .collect()
}

/// Where two JSON values first differ, as a dotted path.
fn first_difference<'v>(
    path: &str,
    a: &'v Value,
    b: &'v Value,
) -> Option<(String, &'v Value, &'v Value)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let vb = y.get(k).unwrap_or(&Value::Null);
                if let Some(d) = first_difference(&format!("{path}.{k}"), va, vb) {
                    return Some(d);
                }
            }
            y.iter()
                .find(|(k, _)| !x.contains_key(*k))
                .map(|(k, vb)| (format!("{path}.{k}"), &Value::Null, vb))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (va, vb))| first_difference(&format!("{path}[{i}]"), va, vb)),
        _ if a == b => None,
        _ => Some((path.to_string(), a, b)),
    }
}

/// A report field as JSON, so that fields of different types compare alike.
fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
