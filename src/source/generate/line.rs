//! Rendering one line: a metric sample, an event or a service check, in the grammar of
//! formats.md, always well-formed (the project's parser accepts every line; the tests check it).
//!
//! Values are built from integers and written as decimal text by hand (`1234.5`, never via a
//! float), so the bytes are the same on every platform. Sample rates are the user's floats,
//! written with Rust's `{}` (shortest round-trip form, platform-independent).

use super::config::GeneratorConfig;
use super::limits::*;
use super::pool::{distinct_indexes, Pool, TypePool};
use crate::protocol::MetricType;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::io::Write;

/// Words of event titles, event texts and service-check messages. No `|`, `,`, `:` or newline;
/// a few are non-ASCII so that event lengths must be counted in bytes.
const WORDS: &[&str] = &[
    "deploy",
    "started",
    "finished",
    "failed",
    "restart",
    "cache",
    "miss",
    "disk",
    "full",
    "latency",
    "high",
    "queue",
    "backlog",
    "cleared",
    "node",
    "joined",
    "left",
    "leader",
    "elected",
    "config",
    "reloaded",
    "timeout",
    "retry",
    "ok",
    "degraded",
    "recovered",
    "shard",
    "rebalanced",
    "café",
    "größe",
    "naïve",
    "日本",
];
const HOSTS: u32 = 16;
const SET_PREFIXES: &[&str] = &["user", "session", "ip", "req"];
/// Seconds a `|T` timestamp may lag the line's own stream second.
const TIMESTAMP_LAG: u64 = 2;

/// What a rendered line was, and how many samples it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rendered {
    /// Type, values, whether it carries `|T`.
    Metric(MetricType, u64, bool),
    Event,
    ServiceCheck,
}

impl Rendered {
    pub fn samples(self) -> u64 {
        match self {
            Rendered::Metric(_, n, _) => n,
            Rendered::Event | Rendered::ServiceCheck => 1,
        }
    }
}

/// Draws and writes one line into `out` (which the caller cleared). `max_samples` (≥ 1) caps
/// the values of a multi-value line; `ts_sec` is the arrival second of the datagram.
pub(crate) fn write_line(
    out: &mut Vec<u8>,
    c: &GeneratorConfig,
    pool: &Pool,
    rng: &mut ChaCha8Rng,
    max_samples: u64,
    ts_sec: u64,
) -> Rendered {
    // One uniform draw in [0, 1) decides the kind.
    let x: f64 = rng.random();
    if x < c.event_share {
        write_event(out, pool, rng, ts_sec);
        Rendered::Event
    } else if x < c.event_share + c.service_check_share || pool.types.is_empty() {
        write_service_check(out, pool, rng, ts_sec);
        Rendered::ServiceCheck
    } else {
        let t = pool.pick_type(rng);
        write_metric(out, c, t, rng, max_samples, ts_sec)
    }
}

fn write_metric(
    out: &mut Vec<u8>,
    c: &GeneratorConfig,
    pool: &TypePool,
    rng: &mut ChaCha8Rng,
    max_samples: u64,
    ts_sec: u64,
) -> Rendered {
    let t = pool.metric_type;
    let ctx = pool.pick(rng);
    // Clients timestamp only counts and gauges (`CountWithTimestamp`, `GaugeWithTimestamp`),
    // one value and no rate: the agent's no-aggregation path keeps nothing else.
    let timestamped =
        matches!(t, MetricType::Count | MetricType::Gauge) && rng.random_bool(c.timestamp_share);
    let values = if !timestamped && t != MetricType::Set && rng.random_bool(c.multi_value) {
        (rng.random_range(2..=c.max_values) as u64).min(max_samples)
    } else {
        1
    };
    let rate = (!timestamped && rng.random_bool(c.sampled_share))
        .then(|| c.sample_rates[rng.random_range(0..c.sample_rates.len() as u32) as usize]);

    out.extend_from_slice(ctx.name.as_bytes());
    for _ in 0..values {
        out.push(b':');
        write_value(out, t, rng);
    }
    out.push(b'|');
    out.extend_from_slice(t.code().as_bytes());
    if let Some(rate) = rate {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "|@{rate}");
    }
    if !ctx.tags.is_empty() {
        out.extend_from_slice(b"|#");
        out.extend_from_slice(ctx.tags.as_bytes());
    }
    if timestamped {
        let lag = rng.random_range(0..=TIMESTAMP_LAG);
        // Writing to a Vec cannot fail.
        let _ = write!(out, "|T{}", ts_sec - lag);
    }
    Rendered::Metric(t, values, timestamped)
}

/// One value of type `t`: counts small integers, gauges signed with up to 3 decimals,
/// histograms/timings/distributions positive over six orders of magnitude, sets ids.
fn write_value(out: &mut Vec<u8>, t: MetricType, rng: &mut ChaCha8Rng) {
    match t {
        MetricType::Count => {
            let v = if rng.random_bool(0.7) {
                1
            } else {
                rng.random_range(2..=100u32)
            };
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{v}");
        }
        MetricType::Gauge => {
            let mut milli = rng.random_range(0..=10_000_999u64);
            if rng.random_bool(0.5) {
                milli -= milli % 1000;
            }
            if milli > 0 && rng.random_bool(0.1) {
                out.push(b'-');
            }
            write_milli(out, milli);
        }
        MetricType::Histogram | MetricType::Timing | MetricType::Distribution => {
            // Log-uniform over six decades, 0.001 to 999.999.
            let decade = 10u64.pow(rng.random_range(0..6u32));
            write_milli(out, rng.random_range(decade..decade * 10));
        }
        MetricType::Set => {
            if rng.random_bool(0.5) {
                // Writing to a Vec cannot fail.
                let _ = write!(out, "{}", rng.random_range(0..1000u32));
            } else {
                let prefix = SET_PREFIXES[rng.random_range(0..SET_PREFIXES.len() as u32) as usize];
                // Writing to a Vec cannot fail.
                let _ = write!(out, "{prefix}_{}", rng.random_range(0..1000u32));
            }
        }
    }
}

/// `milli / 1000` in decimal, without trailing zeros: 1500 → `1.5`, 2000 → `2`, 7 → `0.007`.
fn write_milli(out: &mut Vec<u8>, milli: u64) {
    let (whole, frac) = (milli / 1000, milli % 1000);
    if frac == 0 {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{whole}");
    } else {
        let digits = format!("{frac:03}");
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{whole}.{}", digits.trim_end_matches('0'));
    }
}

/// `_e{<title bytes>,<text bytes>}:title|text[|d:][|h:][|p:low][|t:][|#tags]`. Text words are
/// sometimes joined by the `\n` escape (two bytes), counted as sent.
fn write_event(out: &mut Vec<u8>, pool: &Pool, rng: &mut ChaCha8Rng, ts_sec: u64) {
    let mut title = Vec::new();
    write_words(&mut title, rng, TITLE_WORDS, false);
    let mut text = Vec::new();
    write_words(&mut text, rng, TEXT_WORDS, true);
    // Writing to a Vec cannot fail.
    let _ = write!(out, "_e{{{},{}}}:", title.len(), text.len());
    out.extend_from_slice(&title);
    out.push(b'|');
    out.extend_from_slice(&text);
    if rng.random_bool(0.5) {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "|d:{ts_sec}");
    }
    if rng.random_bool(0.3) {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "|h:host-{}", rng.random_range(0..HOSTS));
    }
    if rng.random_bool(0.2) {
        out.extend_from_slice(b"|p:low");
    }
    if rng.random_bool(0.5) {
        let alert = ["error", "warning", "info", "success"][rng.random_range(0..4u32) as usize];
        // Writing to a Vec cannot fail.
        let _ = write!(out, "|t:{alert}");
    }
    write_extra_tags(out, pool, rng);
}

/// `_sc|name|status[|d:][|h:][|#tags][|m:message]` (the message last, as clients send it).
fn write_service_check(out: &mut Vec<u8>, pool: &Pool, rng: &mut ChaCha8Rng, ts_sec: u64) {
    let name = &pool.check_names[rng.random_range(0..pool.check_names.len() as u32) as usize];
    // Mostly OK, sometimes warning, critical, unknown.
    let status = match rng.random_range(0..100u32) {
        0..70 => 0,
        70..85 => 1,
        85..95 => 2,
        _ => 3,
    };
    // Writing to a Vec cannot fail.
    let _ = write!(out, "_sc|{name}|{status}");
    if rng.random_bool(0.3) {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "|d:{ts_sec}");
    }
    if rng.random_bool(0.3) {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "|h:host-{}", rng.random_range(0..HOSTS));
    }
    write_extra_tags(out, pool, rng);
    if rng.random_bool(0.5) {
        out.extend_from_slice(b"|m:");
        write_words(out, rng, MESSAGE_WORDS, false);
    }
}

/// `|#k:v,…` with 1..=3 tags from the tag pool, 70% of the time.
fn write_extra_tags(out: &mut Vec<u8>, pool: &Pool, rng: &mut ChaCha8Rng) {
    let keys = pool.tags.len() as u32;
    if keys == 0 || !rng.random_bool(0.7) {
        return;
    }
    let n = rng.random_range(1..=EXTRA_TAGS.min(keys));
    out.extend_from_slice(b"|#");
    for (i, k) in distinct_indexes(rng, n, keys).into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let t = &pool.tags[k as usize];
        let v = &t.values[rng.random_range(0..t.values.len() as u32) as usize];
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{}:{v}", t.key);
    }
}

/// 1..=`max` words separated by spaces (or, with `escapes`, sometimes by the `\n` escape).
fn write_words(out: &mut Vec<u8>, rng: &mut ChaCha8Rng, max: u32, escapes: bool) {
    let n = rng.random_range(1..=max);
    for i in 0..n {
        if i > 0 {
            if escapes && rng.random_bool(0.1) {
                out.extend_from_slice(b"\\n");
            } else {
                out.push(b' ');
            }
        }
        out.extend_from_slice(WORDS[rng.random_range(0..WORDS.len() as u32) as usize].as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milli_text() {
        let t = |m| {
            let mut v = Vec::new();
            write_milli(&mut v, m);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(t(1500), "1.5");
        assert_eq!(t(2000), "2");
        assert_eq!(t(7), "0.007");
        assert_eq!(t(10_000_999), "10000.999");
    }

    #[test]
    fn words_are_safe() {
        for w in WORDS {
            assert!(w.len() as u64 <= WORD_MAX, "{w}");
            assert!(!w.contains(['|', ',', ':', '\n', '#']), "{w}");
        }
    }
}
