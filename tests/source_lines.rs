//! JSON lines and text: round trips, blank lines, bad lines, cut tails, text timing.

mod source_common;

use lastbucket::source::jsonl::JsonlWriter;
use lastbucket::source::text::TextWriter;
use lastbucket::source::{open, Datagram, InputFormat, OpenOptions, SourceError, SourceKind};
use source_common::*;

fn mixed() -> Vec<Datagram> {
    vec![
        dg(1_700_000_000_000_000_001, b"a:1|c"),
        dg(1_700_000_000_000_000_002, b"multi:1|c\nline:2|g\n"),
        dg(1_700_000_000_000_000_003, &[0xFF, 0x00, b'x']),
        dg(0, b"quote \" and backslash \\ and tab \t"),
        dg(5, b""),
    ]
}

#[test]
fn jsonl_round_trip_any_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.jsonl");
    let mut w = JsonlWriter::create(&p).unwrap();
    for d in mixed() {
        w.write(&d).unwrap();
    }
    assert_eq!(w.finish().unwrap(), 5);
    let src = open(&p, &OpenOptions::default()).unwrap();
    assert_eq!(
        (src.kind, src.format),
        (SourceKind::Jsonl, InputFormat::Jsonl)
    );
    let (got, stats) = read_ok(&p, &OpenOptions::default());
    assert_eq!(got, mixed());
    assert_eq!(stats.records_read, 5);
    assert_eq!(stats.bytes_read, std::fs::metadata(&p).unwrap().len());
    assert!(stats.complete);
}

#[test]
fn jsonl_hand_written_with_blank_lines_and_no_final_newline() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\n{\"ts_ns\": 10, \"payload\": \"a:1|c\"}\n   \n\
                {\"ts_ns\": 20, \"payload_b64\": \"Yjoy fGc=\", \"src\": \"x\"}\n\
                {\"payload\": \"c:3|c\", \"ts_ns\": 30}";
    let p = write_tmp(
        dir.path(),
        "h.jsonl",
        text.replace("Yjoy fGc=", "YjoyfGc=").as_bytes(),
    );
    let (got, stats) = read_ok(&p, &OpenOptions::default());
    assert_eq!(
        got,
        vec![dg(10, b"a:1|c"), dg(20, b"b:2|g"), dg(30, b"c:3|c")]
    );
    assert_eq!(stats.blank_lines, 2);
}

#[test]
fn jsonl_bad_line_names_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\"ts_ns\": 1, \"payload\": \"a:1|c\"}\n\n{\"ts_ns\": \"soon\", \"payload\": \"x\"}\n{\"ts_ns\": 3, \"payload\": \"z\"}\n";
    let p = write_tmp(dir.path(), "bad.jsonl", text.as_bytes());
    let (got, e, _) = read_path(&p, &truncating());
    assert_eq!(got.len(), 1);
    match e.expect("error") {
        SourceError::BadJsonLine {
            line,
            offset,
            datagrams_before,
            ref detail,
            ..
        } => {
            assert_eq!(line, 3);
            assert_eq!(offset, text.find("\n\n").unwrap() as u64 + 2);
            assert_eq!(datagrams_before, 1);
            assert!(detail.contains("invalid type"), "{detail}");
        }
        other => panic!("{other}"),
    }
    for (bad, what) in [
        ("{\"ts_ns\": 1}", "neither"),
        ("{\"ts_ns\": 1, \"payload_b64\": \"***\"}", "base64"),
        ("[1, 2]", "invalid type"),
        ("{\"ts_ns\": -4, \"payload\": \"x\"}", "invalid value"),
    ] {
        let p = write_tmp(dir.path(), "b.jsonl", format!("{bad}\n").as_bytes());
        let opts = OpenOptions {
            format: Some(InputFormat::Jsonl),
            ..Default::default()
        };
        let (_, e, _) = read_path(&p, &opts);
        let e = e.expect(bad);
        assert!(
            e.to_string().contains("line 1") && e.to_string().contains(what),
            "{e}"
        );
    }
}

#[test]
fn jsonl_cut_last_line_is_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\"ts_ns\": 1, \"payload\": \"a:1|c\"}\n{\"ts_ns\": 2, \"payl";
    let p = write_tmp(dir.path(), "cut.jsonl", text.as_bytes());
    let (got, e, _) = read_path(&p, &OpenOptions::default());
    assert_eq!(got.len(), 1);
    let e = e.unwrap();
    assert!(e.is_truncated(), "{e}");
    let second = text.find('\n').unwrap() as u64 + 1;
    assert_eq!(e.offset(), Some(second));
    let (got, stats) = read_ok(&p, &truncating());
    assert_eq!(got.len(), 1);
    assert_eq!(stats.truncated_at, Some(second));
}

#[test]
fn text_round_trip_and_timing() {
    let dir = tempfile::tempdir().unwrap();
    let data = vec![dg(0, b"a:1|c"), dg(0, b"b:2|g|#t:x"), dg(0, b"\xFFbinary")];
    let p = dir.path().join("a.txt");
    let mut w = TextWriter::create(&p).unwrap();
    for d in &data {
        w.write(d).unwrap();
    }
    w.finish().unwrap();
    let src = open(&p, &OpenOptions::default()).unwrap();
    assert_eq!(src.kind, SourceKind::Text);
    assert!(
        src.description.contains("all at t=0"),
        "{}",
        src.description
    );
    assert_eq!(read_ok(&p, &OpenOptions::default()).0, data);
    let opts = OpenOptions {
        text_rate: Some(4.0),
        ..Default::default()
    };
    let (got, _) = read_ok(&p, &opts);
    let ts: Vec<u64> = got.iter().map(|d| d.ts_ns).collect();
    assert_eq!(ts, [0, 250_000_000, 500_000_000]);
}

#[test]
fn text_lines_blank_lines_and_multiline_datagrams() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_tmp(dir.path(), "t.txt", b"a:1|c\r\n\r\n\nb:2|c\nc:3|c");
    let (got, stats) = read_ok(&p, &OpenOptions::default());
    assert_eq!(
        got,
        vec![dg(0, b"a:1|c\r"), dg(0, b"b:2|c"), dg(0, b"c:3|c")]
    );
    assert_eq!(stats.blank_lines, 2);
    assert_eq!(stats.bytes_read, 21);
    // A multi-line datagram comes back one line per datagram.
    let p = dir.path().join("m.txt");
    let mut w = TextWriter::create(&p).unwrap();
    w.write(&dg(9, b"x:1|c\ny:2|c\n")).unwrap();
    w.finish().unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"x:1|c\ny:2|c\n");
    assert_eq!(read_ok(&p, &OpenOptions::default()).0.len(), 2);
}

#[test]
fn text_rate_must_be_positive() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_tmp(dir.path(), "t.txt", b"a:1|c\n");
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let opts = OpenOptions {
            text_rate: Some(bad),
            ..Default::default()
        };
        let e = open(&p, &opts).unwrap_err();
        assert!(matches!(e, SourceError::InvalidOption { .. }), "{e}");
    }
}
