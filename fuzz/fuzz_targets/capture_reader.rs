//! The capture-file reader, raw and zstd. The first byte picks the way in:
//! 0: the rest read as a raw capture stream (`CaptureReader::new` over the bytes);
//! 1: the rest zstd-compressed, written to a file and opened by detection (the zstd path,
//!    reading the fuzzer's capture bytes through a real decoder);
//! 2: the rest written to a file as is, opened as a capture (zstd garbage, raw garbage).
//! Its low bit of the second byte: `allow_truncated`.
#![no_main]

use lastbucket::source::capture::CaptureReader;
use lastbucket::source::{open, InputFormat, OpenOptions, StatsHandle};
use lastbucket_fuzz::{drain, scratch_file, Cursor};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let mode = c.u8() % 3;
    let allow_truncated = c.bool();
    let body = c.rest();
    match mode {
        0 => {
            let stats = StatsHandle::new();
            if let Ok(r) = CaptureReader::new(
                Path::new("<fuzz>"),
                body,
                false,
                allow_truncated,
                stats.clone(),
            ) {
                let _ = r.tagger_state();
                drain(r);
                let _ = stats.snapshot().notes();
            }
        }
        _ => {
            let bytes = if mode == 1 {
                zstd::encode_all(body, 1).expect("zstd compresses in memory")
            } else {
                body.to_vec()
            };
            let path = scratch_file("capture", &bytes);
            let forced = (mode == 2).then_some(InputFormat::Capture);
            let opts = OpenOptions {
                format: forced,
                allow_truncated,
                ..Default::default()
            };
            if let Ok(src) = open(&path, &opts) {
                let stats = src.stats.clone();
                drain(src.datagrams);
                let _ = stats.snapshot().notes();
            }
        }
    }
});
