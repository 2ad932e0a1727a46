//! Seeded DogStatsD traffic: the built-in workload of `lastbucket check` and the `gen:` SOURCE.
//!
//! In the spirit of DataDog/lading's DogStatsD payload generator: a fixed pool of contexts
//! (name + sorted tag set, one metric type each) drawn with a Zipf or uniform skew, metric lines
//! of all six types with multi-values, sample rates and `|T` timestamps, a share of events and
//! service checks, packed into datagrams like a client's buffer, arriving at a fixed rate.
//!
//! Why it is built the way it is:
//! - **Deterministic everywhere**: one ChaCha8 seed; fixed-width integer draws; values written
//!   from integers; no hash-map iteration. The same config gives byte-identical datagrams on
//!   every platform, so a check's report can be reproduced from its `gen:` spec alone, and the
//!   tests keep a golden fingerprint of the default stream.
//! - **Lazy**: datagrams are produced one at a time; only the context pool is held in memory.
//! - **Exact time**: packet i arrives at `start_ts + i/packet_rate`, in integer ns, so long
//!   streams do not drift and bucket boundaries fall where the settings say.
//! - **Valid**: every line parses with [`crate::protocol::parse_line`]; rejections in a check of
//!   generated traffic therefore point at the pipeline, never at the workload.
//!
//! Knobs (`gen:key=value,...`, or the same keys in a TOML/JSON file), with their defaults:
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `seed` | 0 | seeds everything |
//! | `contexts` | 200 | distinct contexts (name + tag set), 1..1e6 |
//! | `contexts_per_name` | 4 | contexts sharing a metric name |
//! | `skew` | `zipf` | `zipf` (hot contexts, long tail) or `uniform` |
//! | `name_length` | 5..20 | metric name bytes (ranges include both ends) |
//! | `tag_keys`, `tag_cardinality` | 10, 20 | tag keys; values per key |
//! | `tag_key_length`, `tag_value_length` | 3..10, 3..12 | bytes |
//! | `tags_per_line` | 0..4 | tags of a context |
//! | `weight_c`/`_g`/`_h`/`_ms`/`_d`/`_s` | 30/20/10/10/20/10 | metric type weights (`weights=c:3,d:1`) |
//! | `event_share`, `service_check_share` | 0.01, 0.01 | shares of lines |
//! | `multi_value`, `max_values` | 0.05, 4 | probability of `v1:v2:…`, most values |
//! | `sample_rates`, `sampled_share` | 0.5,0.25,0.1, 0.1 | rates, share of metric lines with `@rate` |
//! | `timestamp_share` | 0.01 | share of count/gauge lines with `\|T` (0–2 s before arrival) |
//! | `datagram_size` | 8192 | most bytes per datagram |
//! | `lines_per_datagram` | 1..8 | packing target |
//! | `packet_rate` | 100 | datagrams per second |
//! | `jitter` | 0 | random delay, fraction of the packet interval |
//! | `start_ts` | 1700000000 | unix seconds of the first datagram (a bucket boundary) |
//! | `packets` / `duration` / `samples` | duration=35.35s | the length; at most one of them |
//!
//! Layout: `config` (knobs, defaults, validation), `spec` (the `gen:` syntax, files, Display),
//! `pool` (contexts and tags), `line` (rendering a line), `stream` (packing and timing).

mod config;
mod error;
mod help;
mod limits;
mod line;
mod pool;
mod spec;
mod stream;

pub use config::{GeneratorConfig, IntRange, Skew, StreamLength, TypeWeights, DEFAULT_DURATION_NS};
pub use error::GenerateError;
pub use help::keys_help;
pub use spec::keys_with_defaults;
pub use spec::DEFAULT_DURATION;
pub use stream::{GeneratedStream, StreamCounts};

/// The stream of `config`, lazily: building it costs only the context pool.
///
/// # Panics
/// If `config` is invalid. Configs from [`GeneratorConfig::from_spec`],
/// [`GeneratorConfig::from_file`] or serde are validated; call
/// [`GeneratorConfig::validate`] on one built by hand.
#[allow(clippy::panic)] // documented above: a config built by hand and not validated
pub fn generate(config: &GeneratorConfig) -> GeneratedStream {
    if let Err(e) = config.validate() {
        panic!("invalid generator config: {e}");
    }
    GeneratedStream::new(config.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{parse_line, split_lines, Line};

    #[test]
    fn default_stream_parses_and_counts_match() {
        let mut s = generate(&GeneratorConfig::default());
        let mut samples = 0u64;
        let mut lines = 0u64;
        for d in s.by_ref() {
            for l in split_lines(&d.payload) {
                lines += 1;
                samples += match parse_line(l) {
                    Ok(Line::Metric(m)) => m.value_count as u64,
                    Ok(_) => 1,
                    Err(e) => panic!("{}: {e}", String::from_utf8_lossy(l)),
                };
            }
        }
        let c = s.counts();
        assert_eq!(c.datagrams, 3535);
        assert_eq!((c.lines, c.samples), (lines, samples));
        assert_eq!(s.contexts(), 200);
    }

    #[test]
    fn samples_mode_is_exact() {
        let c = GeneratorConfig::from_spec("gen:samples=1234,multi_value=0.5").unwrap();
        let mut s = generate(&c);
        s.by_ref().for_each(drop);
        assert_eq!(s.counts().samples, 1234);
    }

    #[test]
    fn jitter_keeps_arrivals_increasing() {
        let c = GeneratorConfig::from_spec("gen:jitter=0.99,packet_rate=3,packets=500").unwrap();
        let ts: Vec<u64> = generate(&c).map(|d| d.ts_ns).collect();
        assert!(ts.windows(2).all(|w| w[0] < w[1]));
        assert_ne!(ts[1] - ts[0], ts[2] - ts[1]);
    }
}
