//! The generator's spec (`gen:key=value,...`) and config-file (TOML/JSON) parsers. What they
//! accept is validated, reads back from its canonical spec to an equal config, and, when its
//! pools are small, generates a bounded stream without a panic.
#![no_main]

use lastbucket::source::generate::{generate, GeneratorConfig};
use lastbucket_fuzz::Cursor;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

/// Pools small enough to build in a few milliseconds: bigger ones are valid but slow, and
/// building them is not what this target is about.
fn small(c: &GeneratorConfig) -> bool {
    c.contexts <= 2_000 && u64::from(c.tag_keys) * u64::from(c.tag_cardinality) <= 20_000
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let as_file = c.bool();
    let Ok(text) = std::str::from_utf8(c.rest()) else {
        return;
    };
    let parsed = if as_file {
        GeneratorConfig::from_file_text(Path::new("<fuzz>.toml"), text)
    } else {
        GeneratorConfig::from_spec(&format!("gen:{text}"))
    };
    let config = match parsed {
        Ok(config) => config,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    config.validate().expect("a parsed config is valid");
    let spec = config.to_string();
    let again = GeneratorConfig::from_spec(&spec)
        .unwrap_or_else(|e| panic!("the canonical spec {spec} does not read back: {e}"));
    assert_eq!(again, config, "{spec}");
    let _ = config.describe();
    let _ = config.expected_packets();
    if small(&config) {
        let mut last = 0;
        for d in generate(&config).take(300) {
            assert!(d.ts_ns >= last, "generated arrivals go back");
            assert!(d.payload.len() <= config.datagram_size as usize);
            last = d.ts_ns;
        }
    }
});
