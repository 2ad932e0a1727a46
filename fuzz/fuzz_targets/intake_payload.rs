//! The intake's payload decoder (`intake::decode_payload`): any body, posted to any of the
//! intake's endpoints with any of its encodings. Never a panic; a decode error names an
//! offset inside the body it read.
#![no_main]

use lastbucket::intake::decode_payload;
use libfuzzer_sys::fuzz_target;

const PATHS: [&str; 8] = [
    "/api/v2/series",
    "/api/beta/sketches",
    "/api/v1/series",
    "/api/v1/check_run",
    "/intake/",
    "/api/v1/events",
    "/api/v1/events_batch",
    "/api/v1/unknown",
];
const ENCODINGS: [Option<&str>; 5] = [None, Some("zstd"), Some("deflate"), Some("gzip"), Some("br")];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the endpoint and the encoding; the rest is the body.
    let Some((pick, body)) = data.split_first() else {
        return;
    };
    let path = PATHS[usize::from(pick & 7)];
    let encoding = ENCODINGS[usize::from(pick >> 3) % ENCODINGS.len()];
    let _ = decode_payload(path, encoding, body);
});
