//! The `--config` reader (pipeline settings, TOML or JSON, lastbucket's or the agent's key
//! names). Never a panic; what it accepts written back as JSON reads back equal.
#![no_main]

use lastbucket::pipeline::config::file::parse_config_text;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = match parse_config_text(Path::new("<fuzz>.toml"), text) {
        Ok(file) => file,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let valid = file.pipeline.validate();
    if valid.is_ok() {
        let _ = file.pipeline.worker_count();
        let _ = file.pipeline.percentiles();
    }
    let json = serde_json::to_string(&file.pipeline).expect("settings serialize");
    let again = parse_config_text(Path::new("<fuzz>.json"), &json)
        .unwrap_or_else(|e| panic!("{json} does not read back: {e}"));
    assert_eq!(again.pipeline, file.pipeline, "{json}");
});
