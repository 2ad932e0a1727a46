//! The JSON-lines reader: each line through `parse_line` (what it accepts round-trips through
//! `format_line`), and the whole input as a file through the streaming reader.
#![no_main]

use lastbucket::source::jsonl::{format_line, parse_line};
use lastbucket::source::{open, InputFormat, OpenOptions};
use lastbucket_fuzz::{drain, scratch_file, Cursor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let allow_truncated = c.bool();
    let body = c.rest();
    for line in body.split(|b| *b == b'\n') {
        if let Ok(d) = parse_line(line) {
            let again = parse_line(format_line(&d).as_bytes()).expect("format_line reads back");
            assert_eq!(again, d);
        }
    }
    let path = scratch_file("jsonl", body);
    let opts = OpenOptions {
        format: Some(InputFormat::Jsonl),
        allow_truncated,
        ..Default::default()
    };
    if let Ok(src) = open(&path, &opts) {
        drain(src.datagrams);
    }
});
