//! Throughput of `check`'s hot paths against a bare loop, on four generated corpora.
//!
//! For each corpus (group `small`, `typical`, `heavy`, `1M`), on the same in-memory datagrams
//! generated once before any timing:
//!
//! - `bare`: the yardstick. Split lines, parse them, hash name + raw tags with a fast hasher
//!   and aggregate into a hash map keyed by that hash (sum of values, count for sets). What any
//!   DogStatsD aggregator must do at the least.
//! - `parser`: split + parse only.
//! - `pipeline`: the embedded pipeline alone (flag on, drain auto, stop after the last
//!   datagram), no ledger and no verification.
//! - `check`: one full check scenario through the library (pipeline + ledger + verification),
//!   see [`check_once`].
//!
//! Throughput is in lines (`Throughput::Elements`). The corpus sizes (datagrams, bytes, lines,
//! samples) are written to `$LASTBUCKET_BENCH_SIZES` (default
//! `<target>/criterion/corpora.json`) so that `scripts/bench` can turn criterion's estimates
//! into lines/s and samples/s. Run everything with `scripts/bench`; for one corpus:
//! `cargo bench --bench throughput -- --noplot typical/`. Under `cargo test --all-targets`
//! (criterion's test mode) only the small corpus runs, each bench once.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use lastbucket::check::matrix::Expectations;
use lastbucket::check::moment::StopMoment;
use lastbucket::check::{run_check, CheckPlan};
use lastbucket::pipeline::{
    BatcherDrain, ListenerKind, Pipeline, PipelineConfig, StopSettings, SOLE_LISTENER,
};
use lastbucket::protocol::{self, Line, MetricType, MetricValue};
use lastbucket::source::generate::{generate, GeneratorConfig};
use lastbucket::source::Datagram;
use lastbucket::source::{Stream, StreamError, StreamOpener};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

/// The corpora, as generator specs (`None`: the built-in default workload of `check`).
const CORPORA: &[(&str, Option<&str>)] = &[
    // The default workload: 3535 datagrams of ~245 bytes, 200 contexts, 0..4 tags.
    ("small", None),
    // ~245-byte datagrams, 2000 contexts, 1..5 tags, 20000 datagrams.
    (
        "typical",
        Some("gen:seed=2,contexts=2000,tags_per_line=1..5,lines_per_datagram=1..6,packets=20000"),
    ),
    // Many tags per line, long names and tag values, multi-value lines, sample rates, 5 %
    // events and 5 % service checks, datagrams filled up to 8 KiB.
    (
        "heavy",
        Some(
            "gen:seed=3,contexts=5000,contexts_per_name=8,name_length=30..80,tag_keys=40,\
             tag_key_length=8..20,tag_value_length=10..40,tag_cardinality=50,\
             tags_per_line=10..20,multi_value=0.3,max_values=8,sampled_share=0.3,\
             event_share=0.05,service_check_share=0.05,lines_per_datagram=4..16,packets=5000",
        ),
    ),
    // The scale target: 1M samples over 10k contexts.
    ("1M", Some("gen:seed=1,samples=1000000,contexts=10000")),
];

/// The pipeline settings of every timed run: `check`'s defaults.
fn pipeline_config() -> PipelineConfig {
    PipelineConfig::default()
}

/// The stop settings of every timed run: `--flush-incomplete-buckets on`, drain auto.
const FLAG_ON: StopSettings = StopSettings {
    flush_incomplete_buckets: true,
    batcher_drain: BatcherDrain::Auto,
};

// ------------------------------------------------------------------------------------------
// THE ONE PLACE THAT CALLS THE CHECK API. Adapt this function (and only it) when the check
// API changes. It must run one full check scenario (pipeline + ledger + verification, stop at
// the end, flag on, drain auto) over `datagrams` and return the number of samples checked.
// ------------------------------------------------------------------------------------------
fn check_once(datagrams: &[Datagram]) -> u64 {
    /// Opens the in-memory corpus again for each pass (survey, scenario).
    struct InMemory<'a>(&'a [Datagram]);
    impl StreamOpener for InMemory<'_> {
        fn open(&self) -> Result<Stream<'_>, StreamError> {
            Ok(Box::new(self.0.iter().cloned().map(Ok)))
        }
        fn kind(&self) -> &'static str {
            "generated"
        }
        fn description(&self) -> String {
            "bench corpus".to_string()
        }
    }
    let plan = CheckPlan {
        config: pipeline_config(),
        listener: ListenerKind::Udp,
        moments: vec![StopMoment::End],
        settings: vec![FLAG_ON],
        expectations: Expectations::default(),
        seed: 0,
        flushed_out: None,
        transport: None,
        server: None,
        jobs: 1,
        shape: None,
        shard: None,
    };
    let report = run_check(&plan, &InMemory(datagrams), &mut ()).expect("check of a bench corpus");
    assert_eq!(report.scenarios.len(), 1);
    black_box(&report.scenarios);
    report.source.samples
}

/// The pipeline alone: every datagram delivered, then the stop sequence right after the last.
fn pipeline_once(datagrams: &[Datagram]) -> usize {
    let Some(first) = datagrams.first() else {
        return 0;
    };
    let mut p = Pipeline::new(pipeline_config(), FLAG_ON, ListenerKind::Udp, first.ts_ns);
    let mut flushed = 0usize;
    for (id, d) in datagrams.iter().enumerate() {
        p.deliver(SOLE_LISTENER, id as u64, d.ts_ns, &d.payload)
            .expect("the sole listener");
        flushed += p.take_flushed().len();
    }
    let stop_ns = p.now_ns();
    p.stop(stop_ns);
    flushed += p.take_flushed().len();
    black_box(p.counters());
    flushed
}

/// Split + parse: the number of lines that parsed.
fn parse_once(datagrams: &[Datagram]) -> u64 {
    let mut ok = 0u64;
    for d in datagrams {
        for line in protocol::split_lines(&d.payload) {
            ok += protocol::parse_line(line).is_ok() as u64;
        }
    }
    ok
}

/// The bare loop's map: foldhash, the fast hasher the project uses, with a fixed seed.
type FastMap<V> = HashMap<u64, V, foldhash::fast::FixedState>;

/// The bare loop: split, parse, hash the context, aggregate. Returns the number of contexts.
fn bare_once(datagrams: &[Datagram]) -> usize {
    let mut agg: FastMap<f64> = FastMap::default();
    let state = foldhash::fast::FixedState::with_seed(1);
    let mut other = 0u64;
    for d in datagrams {
        for line in protocol::split_lines(&d.payload) {
            match protocol::parse_line(line) {
                Ok(Line::Metric(m)) => {
                    let mut h = state.build_hasher();
                    h.write(m.name.as_bytes());
                    h.write_u64(0xff);
                    h.write(m.raw_tags.as_bytes());
                    h.write_u64(m.metric_type as u64);
                    let v = agg.entry(h.finish()).or_insert(0.0);
                    if m.metric_type == MetricType::Set {
                        *v += 1.0;
                    } else {
                        for x in m.values() {
                            if let MetricValue::Number(x) = x {
                                *v += x;
                            }
                        }
                    }
                }
                Ok(_) => other += 1,
                Err(_) => {}
            }
        }
    }
    black_box(other);
    agg.len()
}

/// Sizes of a corpus, counted as `check` counts them (a metric line is as many samples as it
/// has values; an event or a service check is one).
#[derive(Default)]
struct Sizes {
    datagrams: u64,
    bytes: u64,
    lines: u64,
    samples: u64,
}

fn sizes(datagrams: &[Datagram]) -> Sizes {
    let mut s = Sizes {
        datagrams: datagrams.len() as u64,
        ..Sizes::default()
    };
    for d in datagrams {
        s.bytes += d.payload.len() as u64;
        for line in protocol::split_lines(&d.payload) {
            s.lines += 1;
            s.samples += match protocol::parse_line(line) {
                Ok(Line::Metric(m)) => m.value_count as u64,
                _ => 1,
            };
        }
    }
    s
}

fn sizes_path() -> PathBuf {
    if let Some(p) = std::env::var_os("LASTBUCKET_BENCH_SIZES") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion").join("corpora.json")
}

fn write_sizes(all: &[(&str, String, Sizes)]) {
    let body: Vec<String> = all
        .iter()
        .map(|(name, spec, s)| {
            format!(
                "  {name:?}: {{\"spec\": {spec:?}, \"datagrams\": {}, \"bytes\": {}, \
                 \"lines\": {}, \"samples\": {}}}",
                s.datagrams, s.bytes, s.lines, s.samples
            )
        })
        .collect();
    let path = sizes_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&path, format!("{{\n{}\n}}\n", body.join(",\n"))) {
        eprintln!("cannot write corpus sizes to {}: {e}", path.display());
    }
}

/// Whether criterion measures (`cargo bench`) rather than runs each bench once as a test
/// (`cargo test --all-targets`, no `--bench` argument).
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn throughput(c: &mut Criterion) {
    // As a test (CI), only the small corpus, each bench once: the others take minutes.
    let measuring = measuring();
    // Every corpus is generated (and its sizes written) before anything is timed.
    let corpora: Vec<(&str, String, Vec<Datagram>)> = CORPORA
        .iter()
        .filter(|(name, _)| measuring || *name == "small")
        .map(|&(name, spec)| {
            let config = match spec {
                None => GeneratorConfig::default(),
                Some(s) => GeneratorConfig::from_spec(s).expect("a valid corpus spec"),
            };
            (name, config.to_string(), generate(&config).collect())
        })
        .collect();
    let all: Vec<(&str, String, Sizes)> = corpora
        .iter()
        .map(|(name, spec, d)| (*name, spec.clone(), sizes(d)))
        .collect();
    if measuring {
        write_sizes(&all);
    }

    for ((name, _, datagrams), (_, _, size)) in corpora.iter().zip(&all) {
        let mut g = c.benchmark_group(*name);
        g.throughput(Throughput::Elements(size.lines));
        // Few samples of one iteration each for the long runs: the whole bench stays within
        // minutes on 2 cores.
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        g.bench_function("bare", |b| b.iter(|| bare_once(black_box(datagrams))));
        g.bench_function("parser", |b| b.iter(|| parse_once(black_box(datagrams))));
        g.bench_function("pipeline", |b| {
            b.iter(|| pipeline_once(black_box(datagrams)))
        });
        g.bench_function("check", |b| b.iter(|| check_once(black_box(datagrams))));
        g.finish();
    }
}

criterion_group!(benches, throughput);
criterion_main!(benches);
