//! Throughput of the hot paths: the line parser, and the whole embedded pipeline (with the
//! ledger and verification of a check) on the default generated workload, and the generator.
//! Run: `cargo bench --bench pipeline`, or `scripts/bench.sh` for the figures the README quotes.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lastbucket::check::driver::{run, StopPoint};
use lastbucket::pipeline::{BatcherDrain, ListenerKind, PipelineConfig, StopSettings};
use lastbucket::protocol;
use lastbucket::source::generate::{generate, GeneratorConfig};
use lastbucket::source::Datagram;
use lastbucket::verify::{self, ledger::Ledger};
use std::collections::HashSet;
use std::hint::black_box;

fn workload() -> Vec<Datagram> {
    generate(&GeneratorConfig::default()).collect()
}

fn parser(c: &mut Criterion) {
    let datagrams = workload();
    let lines: u64 = datagrams
        .iter()
        .map(|d| protocol::split_lines(&d.payload).count() as u64)
        .sum();
    let mut g = c.benchmark_group("parser");
    g.throughput(Throughput::Elements(lines));
    g.bench_function("parse_lines", |b| {
        b.iter(|| {
            let mut ok = 0u64;
            for d in &datagrams {
                for line in protocol::split_lines(&d.payload) {
                    ok += protocol::parse_line(line).is_ok() as u64;
                }
            }
            black_box(ok)
        })
    });
    g.finish();
}

fn pipeline(c: &mut Criterion) {
    let datagrams = workload();
    let config = PipelineConfig {
        workers: 2,
        ..PipelineConfig::default()
    };
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(datagrams.len() as u64));
    g.sample_size(20);
    for flag in [false, true] {
        let settings = StopSettings {
            flush_incomplete_buckets: flag,
            batcher_drain: BatcherDrain::Auto,
        };
        g.bench_with_input(
            BenchmarkId::new("run", if flag { "flag_on" } else { "flag_off" }),
            &settings,
            |b, s| {
                b.iter(|| {
                    let r = run::<_, std::convert::Infallible>(
                        &config,
                        *s,
                        ListenerKind::Udp,
                        datagrams.iter().cloned().map(Ok),
                        StopPoint {
                            max_datagrams: u64::MAX,
                            at_ns: None,
                        },
                        &mut |_, _| {},
                    )
                    .unwrap();
                    black_box(r.flushed.len())
                })
            },
        );
    }
    let settings = StopSettings {
        flush_incomplete_buckets: true,
        batcher_drain: BatcherDrain::Auto,
    };
    g.bench_function("run_and_verify", |b| {
        b.iter(|| {
            let mut ledger = Ledger::default();
            let r = run::<_, std::convert::Infallible>(
                &config,
                settings,
                ListenerKind::Udp,
                datagrams.iter().cloned().map(Ok),
                StopPoint {
                    max_datagrams: u64::MAX,
                    at_ns: None,
                },
                &mut |id, d| ledger.record_datagram(id, d, &config),
            )
            .unwrap();
            let v = verify::verify(
                &ledger,
                &r.flushed,
                &r.counters,
                &r.losses,
                &HashSet::new(),
                &config,
            );
            black_box(v.counts.flushed)
        })
    });
    g.finish();
}

fn generator(c: &mut Criterion) {
    let config = GeneratorConfig::default();
    let n = generate(&config).count() as u64;
    let mut g = c.benchmark_group("generator");
    g.throughput(Throughput::Elements(n));
    g.bench_function("default_stream", |b| {
        b.iter(|| black_box(generate(&config).map(|d| d.payload.len()).sum::<usize>()))
    });
    g.finish();
}

criterion_group!(benches, parser, pipeline, generator);
criterion_main!(benches);
