//! The generator's keys as `generate --help` (and `check --help`'s SOURCE) lists them: name,
//! default, range and meaning. Names and defaults come from the key table of `spec` and the
//! ranges from the limits `validate` enforces, so the help cannot drift from what is accepted;
//! a test checks that every key of the table has a line here, and no other.

use super::config::limits::*;
use super::spec::keys_with_defaults;

/// A key's range (from the limits) and what it means.
struct About {
    name: &'static str,
    range: fn() -> String,
    meaning: &'static str,
}

fn span<T: std::fmt::Display>((lo, hi): (T, T)) -> String {
    format!("{lo}..{hi}")
}

const FRACTION: fn() -> String = || "0..1".to_string();

const ABOUT: &[About] = &[
    About {
        name: "seed",
        range: || "any u64".into(),
        meaning: "seeds everything",
    },
    About {
        name: "contexts",
        range: || span(CONTEXTS),
        meaning: "distinct contexts (name + tag set)",
    },
    About {
        name: "contexts_per_name",
        range: || span(CONTEXTS_PER_NAME),
        meaning: "contexts sharing a metric name",
    },
    About {
        name: "skew",
        range: || "zipf, uniform".into(),
        meaning: "how contexts are drawn: hot ones and a long tail, or evenly",
    },
    About {
        name: "name_length",
        range: || span(NAME_LENGTH),
        meaning: "metric name bytes (a range MIN..MAX, both included)",
    },
    About {
        name: "tag_keys",
        range: || span(TAG_KEYS),
        meaning: "tag keys",
    },
    About {
        name: "tag_key_length",
        range: || span(TAG_KEY_LENGTH),
        meaning: "tag key bytes (a range)",
    },
    About {
        name: "tag_value_length",
        range: || span(TAG_VALUE_LENGTH),
        meaning: "tag value bytes (a range)",
    },
    About {
        name: "tag_cardinality",
        range: || format!("{} (tag_keys x it <= {TAG_POOL})", span(TAG_CARDINALITY)),
        meaning: "values per tag key",
    },
    About {
        name: "tags_per_line",
        range: || format!("{} (<= tag_keys)", span(TAGS_PER_LINE)),
        meaning: "tags of a context (a range)",
    },
    About {
        name: "weight_c",
        range: || span(WEIGHT),
        meaning: "weight of counts (weights=c:3,d:1 sets several)",
    },
    About {
        name: "weight_g",
        range: || span(WEIGHT),
        meaning: "weight of gauges",
    },
    About {
        name: "weight_h",
        range: || span(WEIGHT),
        meaning: "weight of histograms",
    },
    About {
        name: "weight_ms",
        range: || span(WEIGHT),
        meaning: "weight of timings",
    },
    About {
        name: "weight_d",
        range: || span(WEIGHT),
        meaning: "weight of distributions",
    },
    About {
        name: "weight_s",
        range: || span(WEIGHT),
        meaning: "weight of sets",
    },
    About {
        name: "event_share",
        range: FRACTION,
        meaning: "share of lines that are events",
    },
    About {
        name: "service_check_share",
        range: || "0..1 (+ event_share <= 1)".into(),
        meaning: "share of lines that are service checks",
    },
    About {
        name: "multi_value",
        range: FRACTION,
        meaning: "probability of a multi-value line v1:v2:...",
    },
    About {
        name: "max_values",
        range: || span(MAX_VALUES),
        meaning: "most values of a multi-value line",
    },
    About {
        name: "sample_rates",
        range: || format!("1..{SAMPLE_RATES} rates in (0, 1]"),
        meaning: "the @rate values drawn from",
    },
    About {
        name: "sampled_share",
        range: FRACTION,
        meaning: "share of metric lines with @rate",
    },
    About {
        name: "timestamp_share",
        range: FRACTION,
        meaning: "share of count/gauge lines with |T (0-2 s before arrival)",
    },
    About {
        name: "datagram_size",
        range: || format!("{} (>= the longest line)", span(DATAGRAM_SIZE)),
        meaning: "most bytes per datagram",
    },
    About {
        name: "lines_per_datagram",
        range: || span(LINES_PER_DATAGRAM),
        meaning: "lines packed per datagram (a range)",
    },
    About {
        name: "packet_rate",
        range: || span(PACKET_RATE),
        meaning: "datagrams per second",
    },
    About {
        name: "jitter",
        range: || "0..1 (1 excluded)".into(),
        meaning: "random delay, a fraction of the packet interval",
    },
    About {
        name: "start_ts",
        range: || span(START_TS),
        meaning: "unix seconds of the first datagram",
    },
    About {
        name: "packets",
        range: || span(PACKETS),
        meaning: "the length in datagrams (one of packets, duration, samples)",
    },
    About {
        name: "duration",
        range: || "1ns..100d".into(),
        meaning: "the length in stream time (e.g. 35.35s)",
    },
    About {
        name: "samples",
        range: || span(SAMPLES),
        meaning: "the length in samples",
    },
];

/// The table of generator keys, for `after_help`.
pub fn keys_help() -> String {
    let rows: Vec<[String; 4]> = keys_with_defaults()
        .map(|(name, default)| {
            let about = ABOUT.iter().find(|a| a.name == name);
            [
                name.to_string(),
                default.unwrap_or_else(|| "-".into()),
                about.map_or_else(String::new, |a| (a.range)()),
                about.map_or("", |a| a.meaning).to_string(),
            ]
        })
        .collect();
    let header = ["key", "default", "range", "meaning"].map(String::from);
    let width = |i: usize| {
        rows.iter()
            .chain(std::iter::once(&header))
            .map(|r| r[i].len())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut out =
        String::from("Generator keys (gen:key=value,...; the same keys in a --generator file):\n");
    for r in std::iter::once(&header).chain(&rows) {
        let line = format!("  {:w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3]);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_a_range_and_a_meaning_and_no_other_does() {
        let names: Vec<&str> = keys_with_defaults().map(|(n, _)| n).collect();
        for n in &names {
            assert!(ABOUT.iter().any(|a| a.name == *n), "{n} has no help line");
        }
        for a in ABOUT {
            assert!(names.contains(&a.name), "{} is not a key", a.name);
        }
        let help = keys_help();
        for a in ABOUT {
            let line = help
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{} ", a.name)))
                .unwrap_or_else(|| panic!("{} not listed", a.name));
            assert!(line.contains(&(a.range)()), "{line}");
        }
        assert!(help.contains("  contexts  "), "{help}");
        assert!(help.contains("200"), "{help}");
    }
}
