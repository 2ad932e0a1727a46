//! Timestamped samples (`|T`) meet aggregated ones at the same second: the reference flushes a
//! pass-through point beside its context's bucket point, and the verifier must count both as
//! flushed — never as duplicates, never as an accounting error. Values computed by hand.

use lastbucket::check::driver::{run, StopPoint};
use lastbucket::pipeline::clock::NANOS_PER_SEC;
use lastbucket::pipeline::flushed::{FlushedItem, SeriesType};
use lastbucket::pipeline::{BatcherDrain, ListenerKind, PipelineConfig, StopSettings};
use lastbucket::report::{Expectation, Verdict};
use lastbucket::source::Datagram;
use lastbucket::verify::{self, SentLog as Ledger};
use std::collections::HashSet;

const T0: u64 = 1_700_000_000; // bucket start

fn datagram(at_s: u64, payload: &str) -> Datagram {
    Datagram {
        ts_ns: at_s * NANOS_PER_SEC,
        payload: payload.as_bytes().to_vec(),
    }
}

#[test]
fn pass_through_points_beside_bucket_points_are_all_flushed() {
    let stream = vec![
        // Aggregated into the bucket T0 (gauge last value 2, counter 3 + 4).
        datagram(T0 + 1, "g:1|g\nc:3|c"),
        datagram(T0 + 2, "g:2|g\nc:4|c"),
        // Timestamped at T0 exactly: points at the bucket's own second.
        datagram(T0 + 3, &format!("g:7|g|T{T0}\nc:5|c|T{T0}\nc:6|c|T{T0}")),
    ];
    let config = PipelineConfig::default();
    let settings = StopSettings {
        flush_incomplete_buckets: true,
        batcher_drain: BatcherDrain::Auto,
    };
    let mut ledger = Ledger::default();
    let r = run::<_, std::convert::Infallible>(
        &config,
        settings,
        ListenerKind::Udp,
        stream.into_iter().map(Ok),
        StopPoint {
            max_datagrams: u64::MAX,
            at_ns: None,
        },
        &mut |id, d| ledger.record_datagram(id, d, &config),
    )
    .unwrap();

    let mut points: Vec<(String, SeriesType, i64, f64)> = r
        .flushed
        .iter()
        .filter_map(|i| match i {
            FlushedItem::Series(s) => Some(
                s.points
                    .iter()
                    .map(|(ts, v)| (s.metric.clone(), s.series_type, *ts, *v))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    points.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let t0 = T0 as i64;
    assert_eq!(
        points,
        vec![
            ("c".into(), SeriesType::Rate, t0, 0.5),
            ("c".into(), SeriesType::Rate, t0, 0.6),
            ("c".into(), SeriesType::Rate, t0, 0.7),
            ("g".into(), SeriesType::Gauge, t0, 2.0),
            ("g".into(), SeriesType::Gauge, t0, 7.0),
        ]
    );

    let v = verify::verify(
        &ledger,
        &r.flushed,
        &r.counters,
        &r.losses,
        &HashSet::new(),
        &config,
    );
    assert_eq!(v.counts.sent, 7);
    assert_eq!(v.counts.flushed, 7);
    assert_eq!(v.counts.duplicates, 0);
    assert!(v.accounting_errors.is_empty(), "{:?}", v.accounting_errors);
    let (verdict, _) = verify::verdict(&v.counts, &v.accounting_errors, Expectation::ZeroLoss);
    assert_eq!(verdict, Verdict::Pass);
}
