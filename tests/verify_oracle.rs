//! The oracle must catch a pipeline that lies: flushed output that disagrees with the losses
//! the pipeline reports is an accounting error, a point never sent is surplus, a point flushed
//! twice is a duplicate. Each case tampers with a correct run's output in one way.

use lastbucket::check::driver::{run, RunResult, StopPoint};
use lastbucket::pipeline::clock::NANOS_PER_SEC;
use lastbucket::pipeline::flushed::FlushedItem;
use lastbucket::pipeline::{BatcherDrain, ListenerKind, PipelineConfig, StopSettings};
use lastbucket::report::{Expectation, Verdict};
use lastbucket::source::Datagram;
use lastbucket::verify::{self, SentLog as Ledger, Verification};
use std::collections::HashSet;

const T0: u64 = 1_700_000_000;

/// One way of changing a correct run's flushed output.
type Tamper = Box<dyn FnOnce(&mut Vec<FlushedItem>)>;

/// Two closed buckets and an open one, every kind of item.
fn stream() -> Vec<Datagram> {
    let d = |s: u64, p: &str| Datagram {
        ts_ns: s * NANOS_PER_SEC,
        payload: p.as_bytes().to_vec(),
    };
    vec![
        d(T0 + 1, "c:1|c\ng:5|g\nh:1|h\nh:3|h\nd:2|d\ns:a|s\ns:b|s"),
        d(T0 + 2, "_e{5,4}:title|text\n_sc|check|0"),
        d(T0 + 12, "c:2|c|#t:1\ng:6|g\nd:4|d"),
        d(T0 + 23, "c:4|c\nh:2|h"),
    ]
}

fn settings(flag: bool) -> StopSettings {
    StopSettings {
        flush_incomplete_buckets: flag,
        batcher_drain: BatcherDrain::Auto,
    }
}

/// Runs `datagrams` to the end; the ledger records them and `also_sent` (sent, never read).
fn run_stream(
    datagrams: Vec<Datagram>,
    also_sent: &[Datagram],
    flag: bool,
) -> (Ledger, RunResult, PipelineConfig) {
    let config = PipelineConfig::default();
    let mut ledger = Ledger::default();
    let r = run::<_, std::convert::Infallible>(
        &config,
        settings(flag),
        ListenerKind::Unix,
        datagrams.into_iter().map(Ok),
        StopPoint {
            max_datagrams: u64::MAX,
            at_ns: None,
        },
        &mut |id, d| ledger.record_datagram(id, d, &config),
    )
    .unwrap();
    let read = ledger.datagrams;
    for (i, d) in also_sent.iter().enumerate() {
        ledger.record_datagram(read + i as u64, d, &config);
    }
    (ledger, r, config)
}

fn run_it(flag: bool) -> (Ledger, RunResult, PipelineConfig) {
    run_stream(stream(), &[], flag)
}

fn verify_with(flag: bool, tamper: impl FnOnce(&mut Vec<FlushedItem>)) -> Verification {
    let (ledger, r, config) = run_it(flag);
    let mut flushed = r.flushed.clone();
    tamper(&mut flushed);
    verify::verify(
        &ledger,
        &flushed,
        &r.counters,
        &r.losses,
        &HashSet::new(),
        &config,
    )
}

fn verdict(v: &Verification) -> Verdict {
    verify::verdict(&v.counts, &v.accounting_errors, Expectation::ZeroLoss).0
}

fn series_mut<'a>(items: &'a mut [FlushedItem], metric: &str) -> &'a mut Vec<(i64, f64)> {
    items
        .iter_mut()
        .find_map(|i| match i {
            FlushedItem::Series(s) if s.metric == metric => Some(&mut s.points),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no series {metric}"))
}

#[test]
fn the_untampered_run_passes() {
    for flag in [false, true] {
        let v = verify_with(flag, |_| {});
        assert!(v.accounting_errors.is_empty(), "{:?}", v.accounting_errors);
        assert!(v.counts.identity_holds());
        assert_eq!((v.counts.surplus, v.counts.duplicates), (0, 0));
    }
    assert_eq!(verdict(&verify_with(true, |_| {})), Verdict::Pass);
}

#[test]
fn a_missing_or_changed_point_is_an_accounting_error() {
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "counter point dropped",
            Box::new(|f| {
                series_mut(f, "c").remove(0);
            }),
        ),
        (
            "gauge value changed",
            Box::new(|f| series_mut(f, "g")[0].1 += 1.0),
        ),
        (
            "histogram max changed",
            Box::new(|f| series_mut(f, "h.max")[0].1 = 99.0),
        ),
        (
            "set count changed",
            Box::new(|f| series_mut(f, "s")[0].1 = 3.0),
        ),
        (
            "sketch count changed",
            Box::new(|f| {
                for i in f.iter_mut() {
                    if let FlushedItem::Sketch(s) = i {
                        s.count += 1;
                        break;
                    }
                }
            }),
        ),
        (
            "event text changed",
            Box::new(|f| {
                for i in f.iter_mut() {
                    if let FlushedItem::Event(e) = i {
                        e.text = "other".into();
                    }
                }
            }),
        ),
        (
            "sketch avg outside its range",
            Box::new(|f| {
                for i in f.iter_mut() {
                    if let FlushedItem::Sketch(s) = i {
                        s.avg = s.max + 1.0;
                    }
                }
            }),
        ),
        (
            "event dropped",
            Box::new(|f| f.retain(|i| !matches!(i, FlushedItem::Event(_)))),
        ),
        (
            "service check dropped",
            Box::new(|f| f.retain(|i| !matches!(i, FlushedItem::ServiceCheck(_)))),
        ),
    ];
    for (what, tamper) in cases {
        let v = verify_with(true, tamper);
        assert!(!v.accounting_errors.is_empty(), "{what}: not caught");
        assert_eq!(verdict(&v), Verdict::AccountingError, "{what}");
    }
}

#[test]
fn a_point_never_sent_is_surplus_and_a_repeated_point_a_duplicate() {
    let v = verify_with(true, |f| {
        let mut extra = match f
            .iter()
            .find(|i| matches!(i, FlushedItem::Series(s) if s.metric == "g"))
        {
            Some(FlushedItem::Series(s)) => s.clone(),
            _ => unreachable!(),
        };
        extra.metric = "never.sent".into();
        f.push(FlushedItem::Series(extra));
    });
    assert!(v.counts.surplus > 0, "{:?}", v.counts);
    assert_ne!(verdict(&v), Verdict::Pass);

    let v = verify_with(true, |f| {
        let again = f
            .iter()
            .find(|i| matches!(i, FlushedItem::Series(s) if s.metric == "g"))
            .cloned()
            .unwrap();
        f.push(again);
    });
    assert!(v.counts.duplicates > 0, "{:?}", v.counts);
    assert_ne!(verdict(&v), Verdict::Pass);
}

#[test]
fn flushing_the_open_bucket_when_the_pipeline_says_it_was_dropped_is_caught() {
    // Flag off: the pipeline reports the open bucket (T0+20) as dropped. Output that holds it
    // anyway (the flag-on output) contradicts the reported losses.
    let (_, on, _) = run_it(true);
    let v = verify_with(false, |f| *f = on.flushed.clone());
    assert!(
        !v.accounting_errors.is_empty() || v.counts.surplus > 0,
        "{:?}",
        v.counts
    );
    assert_ne!(verdict(&v), Verdict::Pass);
}

#[test]
fn strict_holds_socket_loss_against_the_run_zero_loss_does_not() {
    // The last datagram never left the kernel: lost at the socket, so not in the pipeline.
    let mut datagrams = stream();
    let last = datagrams.pop().unwrap();
    let (ledger_socket, r_socket, config) = run_stream(datagrams, &[last], true);
    let v = verify::verify(
        &ledger_socket,
        &r_socket.flushed,
        &r_socket.counters,
        &r_socket.losses,
        &HashSet::from([3]),
        &config,
    );
    assert!(v.accounting_errors.is_empty(), "{:?}", v.accounting_errors);
    assert_eq!(v.counts.lost_by_stage["socket"], 2); // c:4 and h:2
    let judge = |e| verify::verdict(&v.counts, &v.accounting_errors, e).0;
    assert_eq!(judge(Expectation::ZeroLoss), Verdict::Pass);
    assert_eq!(judge(Expectation::Strict), Verdict::Fail);
}
