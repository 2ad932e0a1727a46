//! A pipeline with several listeners, as the reference server has: each listener owns its
//! packets buffer (UDP ones an assembler too) and all feed the one queue. Expected numbers come
//! from the layout of what is delivered, not from the pipeline.

use lastbucket::pipeline::clock::NANOS_PER_MS;
use lastbucket::pipeline::flushed::FlushedItem;
use lastbucket::pipeline::{
    BatcherDrain, ListenerKind, Pipeline, PipelineConfig, StopSettings, UnknownListener,
};

const T0: u64 = 1_700_000_000_000 * NANOS_PER_MS; // bucket-aligned

fn config() -> PipelineConfig {
    PipelineConfig {
        workers: 2,
        packet_buffer_size: 4,
        ..PipelineConfig::default()
    }
}

fn settings(flag: bool) -> StopSettings {
    StopSettings {
        flush_incomplete_buckets: flag,
        batcher_drain: BatcherDrain::Auto,
    }
}

const UDP: usize = 0;
const UNIX: usize = 1;

fn two_listeners(flag: bool) -> Pipeline {
    Pipeline::with_listeners(
        config(),
        settings(flag),
        &[ListenerKind::Udp, ListenerKind::Unix],
        T0,
    )
}

/// Sum of the counter `c` (rate × interval) in the flushed output.
fn counted(items: &[FlushedItem]) -> f64 {
    items
        .iter()
        .filter_map(|i| match i {
            FlushedItem::Series(s) if s.metric == "c" => {
                Some(s.points.iter().map(|p| p.1).sum::<f64>() * s.interval as f64)
            }
            _ => None,
        })
        .sum()
}

#[test]
fn each_listener_buffers_its_own_packets() {
    let mut p = two_listeners(true);
    // Three datagrams on each listener within one timer period (100 ms): the UDP listener packs
    // its three into one packet in its assembler; the Unix one buffers three packets. With a
    // shared packets buffer of 4, the fourth packet would have sent a batch on.
    for i in 0..3u64 {
        let ts = T0 + (10 + i) * NANOS_PER_MS;
        p.deliver(UDP, 2 * i, ts, b"c:1|c").unwrap();
        p.deliver(UNIX, 2 * i + 1, ts, b"c:1|c").unwrap();
    }
    assert_eq!(p.held_before_queue(), (3, 3, 0));
    // One more Unix datagram fills its own buffer (4 packets): one batch goes on, the UDP
    // listener's packet stays in its assembler.
    p.deliver(UNIX, 6, T0 + 20 * NANOS_PER_MS, b"c:1|c")
        .unwrap();
    assert_eq!(p.held_before_queue(), (3, 0, 0));
    let c = p.counters();
    assert_eq!(c.listener.datagrams, 7);
    assert_eq!(c.assembler.datagrams_in, 3, "only UDP datagrams are packed");
    assert_eq!(c.assembler.packets_out, 0);
    assert_eq!(c.packets_buffer.packets_in, 4);
    assert_eq!(c.queue.batches_in, 1);
    assert_eq!(c.workers.datagrams, 4);
    // The timers of both listeners fire at T0 + 100 ms: the UDP packet goes through its buffer.
    p.advance(T0 + 100 * NANOS_PER_MS);
    assert_eq!(p.held_before_queue(), (0, 0, 0));
    let c = p.counters();
    assert_eq!(c.assembler.packets_out, 1);
    assert_eq!(c.packets_buffer.packets_in, 5);
    assert_eq!(c.workers.datagrams, 7);
    p.stop(T0 + 200 * NANOS_PER_MS);
    assert!(
        p.counters().check().is_empty(),
        "{:?}",
        p.counters().check()
    );
    assert_eq!(counted(&p.take_flushed()), 7.0);
}

#[test]
fn the_stop_closes_every_listener_into_the_queue() {
    for flag in [true, false] {
        let mut p = two_listeners(flag);
        let ts = T0 + 10 * NANOS_PER_MS;
        p.deliver(UDP, 0, ts, b"c:1|c").unwrap();
        p.deliver(UDP, 1, ts, b"c:2|c").unwrap();
        p.deliver(UNIX, 2, ts, b"c:4|c").unwrap();
        assert_eq!(p.held_before_queue(), (2, 1, 0));
        p.stop(ts);
        let c = p.counters();
        assert!(c.check().is_empty(), "{:?}", c.check());
        // The UDP assembler's packet, then each buffer: one batch per listener on close.
        assert_eq!(c.assembler.packets_out, 1);
        assert_eq!(c.packets_buffer.batches_on_close, 2);
        assert_eq!(c.queue.batches_in, 2);
        let flushed = counted(&p.take_flushed());
        if flag {
            assert_eq!(c.queue.batches_drained, 2);
            assert_eq!(flushed, 7.0);
        } else {
            assert_eq!(c.queue.batches_dropped, 2);
            assert_eq!(c.queue.datagrams_dropped, 3);
            assert_eq!(p.losses().queue, [0, 1, 2]);
            assert_eq!(flushed, 0.0);
        }
    }
}

#[test]
fn an_unknown_listener_index_is_refused_and_not_counted() {
    let mut p = two_listeners(true);
    let err = p.deliver(2, 0, T0 + NANOS_PER_MS, b"c:1|c").unwrap_err();
    assert_eq!(err, UnknownListener { index: 2, count: 2 });
    assert_eq!(p.receive(7, 0, T0, b"c:1|c").unwrap_err().index, 7);
    assert_eq!(p.now_ns(), T0, "a refused delivery does not move the clock");
    assert_eq!(p.counters().listener.datagrams, 0);
}

#[test]
fn one_listener_of_a_list_is_the_single_listener_pipeline() {
    let run = |mut p: Pipeline| {
        for i in 0..500u64 {
            let ts = T0 + i * 37 * NANOS_PER_MS;
            let line = format!("c:{}|c\ng:{i}|g|#k:{}", i % 3, i % 5);
            p.deliver(0, i, ts, line.as_bytes()).unwrap();
        }
        p.stop(T0 + 500 * 37 * NANOS_PER_MS);
        (p.take_flushed(), p.counters(), p.losses())
    };
    for kind in [ListenerKind::Udp, ListenerKind::Unix] {
        for flag in [true, false] {
            let single = run(Pipeline::new(config(), settings(flag), kind, T0));
            let listed = run(Pipeline::with_listeners(
                config(),
                settings(flag),
                &[kind],
                T0,
            ));
            assert_eq!(single.0, listed.0);
            assert_eq!(single.1, listed.1);
            assert_eq!(single.2, listed.2);
        }
    }
}
