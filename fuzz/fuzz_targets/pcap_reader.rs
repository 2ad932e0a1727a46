//! The pcap/pcapng reader on any bytes: opened as pcap, as pcapng, or by detection, with any
//! port filter and either truncation rule.
#![no_main]

use lastbucket::source::{open, InputFormat, OpenOptions, PortFilter};
use lastbucket_fuzz::{drain, scratch_file, Cursor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let choice = c.u8();
    let format = match choice % 3 {
        0 => None,
        1 => Some(InputFormat::Pcap),
        _ => Some(InputFormat::Pcapng),
    };
    let port = if choice & 0x10 != 0 {
        PortFilter::Any
    } else {
        PortFilter::Port(8125)
    };
    let allow_truncated = choice & 0x20 != 0;
    let path = scratch_file("pcap", c.rest());
    let opts = OpenOptions {
        format,
        port,
        allow_truncated,
        ..Default::default()
    };
    if let Ok(src) = open(&path, &opts) {
        let _ = format!("{src:?}");
        let stats = src.stats.clone();
        drain(src.datagrams);
        let _ = stats.snapshot().notes();
    }
});
