//! Round trips of generated traffic through every format lastbucket writes: the library writer
//! and reader, and the binary's `generate -o` read back by `inspect` and `check`.

mod common;
use common::{json_report, lastbucket};
use lastbucket::source::generate::{generate, GeneratorConfig};
use lastbucket::source::{open, write_datagrams, Datagram, OpenOptions, OutputFormat};

fn stream() -> Vec<Datagram> {
    generate(&GeneratorConfig::from_spec("gen:seed=21,duration=12").unwrap()).collect()
}

fn read_back(path: &std::path::Path) -> Vec<Datagram> {
    open(path, &OpenOptions::default())
        .unwrap()
        .datagrams
        .map(Result::unwrap)
        .collect()
}

#[test]
fn generated_traffic_survives_every_timed_format() {
    let sent = stream();
    assert!(sent.len() > 100);
    let dir = tempfile::tempdir().unwrap();
    for name in ["g.dog", "g.dog.zst", "g.pcap", "g.pcapng", "g.jsonl"] {
        let path = dir.path().join(name);
        let n = write_datagrams(&path, None, sent.iter().cloned()).unwrap();
        assert_eq!(n, sent.len() as u64, "{name}");
        assert_eq!(read_back(&path), sent, "{name}: datagrams and timestamps");
    }
}

#[test]
fn text_keeps_the_payloads() {
    let sent = stream();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.txt");
    write_datagrams(&path, Some(OutputFormat::Text), sent.iter().cloned()).unwrap();
    let read = read_back(&path);
    // A text line is one datagram unless the datagram held several lines: compare the lines.
    let lines = |ds: &[Datagram]| -> Vec<Vec<u8>> {
        ds.iter()
            .flat_map(|d| d.payload.split(|b| *b == b'\n').map(<[u8]>::to_vec))
            .filter(|l| !l.is_empty())
            .collect()
    };
    assert_eq!(lines(&read), lines(&sent));
}

#[test]
fn the_binary_generates_files_that_inspect_and_check_agree_on() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["g.dog.zst", "g.pcap"] {
        let path = dir.path().join(name);
        lastbucket()
            .args(["generate", "gen:seed=21,duration=12", "-o"])
            .arg(&path)
            .assert()
            .success();
        let out = lastbucket()
            .args(["inspect", "--format", "json"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success());
        let inspect: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sent = stream();
        assert_eq!(inspect["datagrams"], sent.len());
        let bytes: usize = sent.iter().map(|d| d.payload.len()).sum();
        assert_eq!(inspect["bytes"], bytes);
        assert_eq!(inspect["first_ts_ns"], sent[0].ts_ns);

        let (code, report) = json_report(lastbucket().arg("check").arg(&path).args([
            "--flush-incomplete-buckets",
            "on",
            "--export-json",
            "-",
        ]));
        assert_eq!(code, 0, "{report}");
        let s = &report["scenarios"][0];
        assert_eq!(s["counts"]["lost"], 0);
        assert_eq!(report["source"]["packets"], inspect["datagrams"]);
    }
}

/// The committed fixture was written by `lastbucket generate gen:seed=1,duration=12 -o
/// fixtures/generated-seed1.dog.zst`: the generator and the capture writer still agree with it.
#[test]
fn committed_generated_fixture_matches_the_generator() {
    let path = common::fixture("generated-seed1.dog.zst");
    let expected: Vec<Datagram> =
        generate(&GeneratorConfig::from_spec("gen:seed=1,duration=12").unwrap()).collect();
    assert_eq!(read_back(&path), expected);
}

/// The committed fixture was written by the project's recorder: `lastbucket record --listen
/// unixgram:///tmp/rec.sock -o fixtures/recorded-node-client.dog.zst --count 239` while
/// `lastbucket replay fixtures/node-client.pcap --to unixgram:///tmp/rec.sock --max` ran. It holds
/// exactly the pcap's datagrams, in order (the times are the recording's).
#[test]
fn committed_recorded_fixture_holds_the_replayed_pcap() {
    let recorded = read_back(&common::fixture("recorded-node-client.dog.zst"));
    let replayed = read_back(&common::fixture("node-client.pcap"));
    assert_eq!(recorded.len(), 239);
    let payloads = |ds: &[Datagram]| ds.iter().map(|d| d.payload.clone()).collect::<Vec<_>>();
    assert_eq!(payloads(&recorded), payloads(&replayed));
    assert!(recorded.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
}

#[test]
fn captures_we_write_read_back_by_the_agents_rules() {
    // scripts/agent_reader.py follows the agent's reader (header match, length-prefixed
    // records ending at a zero length, tagger-state length at the end) with no code of ours.
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output();
    if python.is_err() {
        eprintln!("note: python3 not found; the agent-rules reader was not run");
        return;
    }
    let sent = stream();
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("g.dog");
    let zst = dir.path().join("g.dog.zst");
    write_datagrams(&raw, None, sent.iter().cloned()).unwrap();
    write_datagrams(&zst, None, sent.iter().cloned()).unwrap();
    // The agent decompresses a whole zstd file before reading it: so do we, here.
    let unpacked = dir.path().join("unpacked.dog");
    let bytes = zstd::decode_all(std::fs::File::open(&zst).unwrap()).unwrap();
    std::fs::write(&unpacked, bytes).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/agent_reader.py");
    for path in [&raw, &unpacked] {
        let out = std::process::Command::new("python3")
            .arg(script)
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(read["version"], 3);
        assert_eq!(read["records"], sent.len());
        let bytes: usize = sent.iter().map(|d| d.payload.len()).sum();
        assert_eq!(read["payload_bytes"], bytes);
        let ts: Vec<u64> = sent.iter().map(|d| d.ts_ns).collect();
        assert_eq!(read["timestamps"], serde_json::json!(ts));
        // The empty tagger state the agent writes when origin detection is off.
        assert_eq!(read["state_len"], 0);
    }
}
