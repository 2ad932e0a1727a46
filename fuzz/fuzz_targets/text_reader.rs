//! The text reader (one datagram per line) on any bytes, with and without a rate, and format
//! detection on the same bytes.
#![no_main]

use lastbucket::source::{detect, open, InputFormat, OpenOptions};
use lastbucket_fuzz::{drain, scratch_file, Cursor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let rate = match c.u8() {
        0 => None,
        // Rates from tiny to huge, and the invalid ones (0, negative, NaN, infinite).
        1 => Some(0.0),
        2 => Some(f64::NAN),
        3 => Some(f64::INFINITY),
        4 => Some(-1.0),
        b => Some(f64::from(c.u32()) / f64::from(b)),
    };
    let body = c.rest();
    let _ = detect(body);
    let path = scratch_file("text", body);
    let opts = OpenOptions {
        format: Some(InputFormat::Text),
        text_rate: rate,
        ..Default::default()
    };
    if let Ok(src) = open(&path, &opts) {
        let datagrams = drain(src.datagrams);
        // Arrival times never go back.
        assert!(datagrams.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    }
});
