//! The Python test server's own self-test (`tests/servers/test_server.py`), run as a child
//! process so that `cargo test` covers the second DogStatsD server the black-box tests rely
//! on. It needs Python 3.11 and the `protobuf` package: `bash tests/servers/setup.sh` puts
//! them in a venv under the target directory. Without them this test fails (with the command
//! to run), rather than passing without having checked anything.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The self-test takes about 10 s (one 10 s bucket must close); this bounds a hung server.
const DEADLINE: Duration = Duration::from_secs(240);

const SETUP_HINT: &str = "run `bash tests/servers/setup.sh` (it installs protobuf into \
     target/pyserver-venv), or point LASTBUCKET_PYSERVER_PYTHON at a Python 3.11+ with protobuf";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The interpreter: LASTBUCKET_PYSERVER_PYTHON, else the venv setup.sh makes, else python3.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("LASTBUCKET_PYSERVER_PYTHON") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_relative() { repo().join(t) } else { t })
        .unwrap_or_else(|| repo().join("target"));
    let venv = std::env::var_os("LASTBUCKET_PYSERVER_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("pyserver-venv"));
    let venv_python = venv.join("bin").join("python3");
    if venv_python.exists() {
        venv_python
    } else {
        PathBuf::from("python3")
    }
}

/// Fails the test, saying what is missing, unless `python` can import protobuf.
fn require_protobuf(python: &Path) {
    let probe = Command::new(python)
        .args([
            "-c",
            "import sys; assert sys.version_info >= (3, 11), sys.version; import google.protobuf",
        ])
        .output();
    match probe {
        Err(e) => panic!("cannot run {}: {e}; {SETUP_HINT}", python.display()),
        Ok(out) if !out.status.success() => {
            panic!(
            "{} cannot run the test server (Python 3.11+ with protobuf needed): {}; {SETUP_HINT}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        )
        }
        Ok(_) => {}
    }
}

#[test]
fn python_dogstatsd_server_passes_its_self_test() {
    let python = python();
    require_protobuf(&python);
    let script = repo().join("tests/servers/test_server.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .current_dir(repo())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));

    // Read both pipes on their own threads so a full pipe cannot stall the child.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait on the self-test") {
            break Some(status);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    let Some(status) = status else {
        panic!("the Python self-test did not finish within {DEADLINE:?}:\n{output}");
    };
    assert!(status.success(), "the Python self-test failed:\n{output}");

    // unittest's summary: some tests ran, and all passed (a run of none is not a pass).
    let ran: u32 = output
        .lines()
        .find_map(|l| l.strip_prefix("Ran ")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no unittest summary in the output:\n{output}"));
    assert!(ran >= 5, "only {ran} Python tests ran:\n{output}");
    assert!(
        output.lines().any(|l| l == "OK"),
        "unittest did not report OK:\n{output}"
    );
    for scenario in [
        "test_flag_on_posts_everything_sent_on_every_transport",
        "test_flag_off_posts_the_closed_bucket_and_the_drop_switch_nothing_after_the_last_flush",
    ] {
        let line = output
            .lines()
            .find(|l| l.starts_with(&format!("{scenario} (")));
        assert!(
            line.is_some_and(|l| l.ends_with("... ok")),
            "scenario {scenario} did not run and pass:\n{output}"
        );
    }
}

/// The field numbers of shared/design/blackbox.md, as prost reads them: the Python server's
/// payloads must decode with them (a wrong number in agent_payload.proto would round-trip in
/// the Python self-test, which decodes with the same .proto, but not here).
mod wire {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricPayload {
        #[prost(message, repeated, tag = "1")]
        pub series: Vec<MetricSeries>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricSeries {
        #[prost(message, repeated, tag = "1")]
        pub resources: Vec<Resource>,
        #[prost(string, tag = "2")]
        pub metric: String,
        #[prost(string, repeated, tag = "3")]
        pub tags: Vec<String>,
        #[prost(message, repeated, tag = "4")]
        pub points: Vec<MetricPoint>,
        #[prost(int32, tag = "5")]
        pub r#type: i32,
        #[prost(int64, tag = "8")]
        pub interval: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        #[prost(string, tag = "1")]
        pub r#type: String,
        #[prost(string, tag = "2")]
        pub name: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricPoint {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SketchPayload {
        #[prost(message, repeated, tag = "1")]
        pub sketches: Vec<Sketch>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sketch {
        #[prost(string, tag = "1")]
        pub metric: String,
        #[prost(string, tag = "2")]
        pub host: String,
        #[prost(string, repeated, tag = "4")]
        pub tags: Vec<String>,
        #[prost(message, repeated, tag = "7")]
        pub dogsketches: Vec<Dogsketch>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dogsketch {
        #[prost(int64, tag = "1")]
        pub ts: i64,
        #[prost(int64, tag = "2")]
        pub cnt: i64,
        #[prost(double, tag = "3")]
        pub min: f64,
        #[prost(double, tag = "4")]
        pub max: f64,
        #[prost(double, tag = "5")]
        pub avg: f64,
        #[prost(double, tag = "6")]
        pub sum: f64,
        #[prost(sint32, repeated, tag = "7")]
        pub k: Vec<i32>,
        #[prost(uint32, repeated, tag = "8")]
        pub n: Vec<u32>,
    }
}

/// Encodes one flush with the Python server's own code and writes the two payloads.
const ENCODE_ONE_FLUSH: &str = r#"
import sys
sys.path.insert(0, "tests/servers")
import dogstatsd_server as ds
cfg = ds.Config.from_env({"DD_DD_URL": "http://x", "DD_API_KEY": "k",
                          "DD_DOGSTATSD_SOCKET": "/unused", "DD_HOSTNAME": "wire-host"}, [])
agg = ds.Aggregator(cfg, ds.Counter())
for line in ["w.c:3|c|@0.5|#b,a", "w.g:-2.5|g", "w.d:-1:0:2:70000|d|#z"]:
    for sample in ds.parse_metric(line, cfg.hostname):
        agg.add(sample, now=1_700_000_005)
flush = agg.take(now=1_700_000_005, everything=True)
series = ds.MetricPayload()
series.series.extend(ds.build_series(flush, cfg))
sketches = ds.SketchPayload()
sketches.sketches.extend(ds.build_sketches(flush))
open(sys.argv[1], "wb").write(series.SerializeToString())
open(sys.argv[2], "wb").write(sketches.SerializeToString())
"#;

#[test]
fn python_server_payloads_decode_with_the_documented_field_numbers() {
    use prost::Message;
    let python = python();
    require_protobuf(&python);
    let dir = tempfile::tempdir().expect("temp dir");
    let (series_path, sketch_path) = (dir.path().join("series"), dir.path().join("sketches"));
    let out = Command::new(&python)
        .args(["-c", ENCODE_ONE_FLUSH])
        .arg(&series_path)
        .arg(&sketch_path)
        .current_dir(repo())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "encoding failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let series = wire::MetricPayload::decode(&std::fs::read(&series_path).unwrap()[..])
        .expect("MetricPayload decodes");
    let mut by_name: Vec<_> = series.series.iter().map(|s| s.metric.as_str()).collect();
    by_name.sort_unstable();
    assert_eq!(by_name, ["w.c", "w.g"]);
    let c = series.series.iter().find(|s| s.metric == "w.c").unwrap();
    assert_eq!(c.r#type, 2, "counter as RATE");
    assert_eq!(c.interval, 10);
    assert_eq!(c.tags, ["a", "b"]);
    assert_eq!(c.resources.len(), 1);
    assert_eq!(
        (c.resources[0].r#type.as_str(), c.resources[0].name.as_str()),
        ("host", "wire-host")
    );
    assert_eq!(c.points.len(), 1);
    assert_eq!(
        (c.points[0].timestamp, c.points[0].value),
        (1_700_000_000, 0.6)
    );
    let g = series.series.iter().find(|s| s.metric == "w.g").unwrap();
    assert_eq!(g.r#type, 3, "gauge as GAUGE");
    assert_eq!(g.points[0].value, -2.5);

    let sketches = wire::SketchPayload::decode(&std::fs::read(&sketch_path).unwrap()[..])
        .expect("SketchPayload decodes");
    assert_eq!(sketches.sketches.len(), 1);
    let s = &sketches.sketches[0];
    assert_eq!((s.metric.as_str(), s.host.as_str()), ("w.d", "wire-host"));
    assert_eq!(s.tags, ["z"]);
    let d = &s.dogsketches[0];
    assert_eq!(
        (d.ts, d.cnt, d.min, d.max, d.sum),
        (1_700_000_000, 4, -1.0, 70000.0, 70001.0)
    );
    assert_eq!(d.n.iter().sum::<u32>(), 4);
    // Keys ascending: a negative one, zero, then two positive ones.
    assert_eq!(d.k.len(), 4);
    assert!(
        d.k[0] < 0 && d.k[1] == 0 && 0 < d.k[2] && d.k[2] < d.k[3],
        "{:?}",
        d.k
    );
}
