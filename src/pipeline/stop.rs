//! The stop sequence: the one place that owns the order in which the pipeline stops.
//!
//! The order follows the reference (`server.go` `stop()`, `demultiplexer_agent.go` `Stop`) and
//! the rule that a channel's producers stop before its consumers, so that consumers can drain
//! what is left:
//! 1. Listeners stop first: nothing new may enter while the rest drains. Their packet assembler
//!    and packets buffer hand what they hold to the queue (current versions of the reference);
//!    the socket closes, and what is still in the kernel's buffer is never read.
//! 2. Workers are told to stop. With `flush_incomplete_buckets` on (and `auto` drain) each one
//!    parses every batch still queued, then flushes its batcher; otherwise it exits at once and
//!    the queue's contents are dropped.
//! 3. Stop waits for every worker, so the drain finishes before the aggregator stops: otherwise
//!    the final flush could run before the last samples reach the samplers.
//! 4. The aggregator stops: first the no-aggregation path (timestamped samples) is flushed; then,
//!    only with the flag on, each sampler drains its input; then the final flush, which with the
//!    flag on includes the open (incomplete) buckets and without it flushes closed buckets only.

use crate::pipeline::config::StopSettings;

/// The steps of a stop, implemented by each driver (virtual clock, real sockets).
pub trait StopSteps {
    /// Step 1: close listeners, handing assembler and packets-buffer contents to the queue.
    fn stop_listeners(&mut self);
    /// Step 2: tell the workers to stop; `drain` says whether they parse what is still queued.
    fn stop_workers(&mut self, drain: bool);
    /// Step 3: wait until every worker has exited.
    fn wait_workers(&mut self);
    /// Step 4a: flush the no-aggregation path.
    fn stop_no_aggregation(&mut self);
    /// Step 4b: let each sampler aggregate what is still in its input.
    fn drain_samplers(&mut self);
    /// Step 4c: the final flush; `force_all` flushes the open buckets too.
    fn final_flush(&mut self, force_all: bool);
}

/// Runs the stop sequence in the reference's order (see the module documentation for why).
pub fn stop_sequence(steps: &mut dyn StopSteps, settings: StopSettings) {
    steps.stop_listeners();
    steps.stop_workers(settings.workers_drain());
    steps.wait_workers();
    steps.stop_no_aggregation();
    if settings.flush_incomplete_buckets {
        steps.drain_samplers();
    }
    steps.final_flush(settings.flush_incomplete_buckets);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::config::BatcherDrain;

    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl StopSteps for Recorder {
        fn stop_listeners(&mut self) {
            self.0.push("listeners".into());
        }
        fn stop_workers(&mut self, drain: bool) {
            self.0.push(format!("workers drain={drain}"));
        }
        fn wait_workers(&mut self) {
            self.0.push("wait".into());
        }
        fn stop_no_aggregation(&mut self) {
            self.0.push("no_agg".into());
        }
        fn drain_samplers(&mut self) {
            self.0.push("samplers".into());
        }
        fn final_flush(&mut self, force_all: bool) {
            self.0.push(format!("flush force={force_all}"));
        }
    }

    fn run(flag: bool, drain: BatcherDrain) -> Vec<String> {
        let mut r = Recorder::default();
        stop_sequence(
            &mut r,
            StopSettings {
                flush_incomplete_buckets: flag,
                batcher_drain: drain,
            },
        );
        r.0
    }

    #[test]
    fn order_with_flag_on() {
        assert_eq!(
            run(true, BatcherDrain::Auto),
            [
                "listeners",
                "workers drain=true",
                "wait",
                "no_agg",
                "samplers",
                "flush force=true"
            ]
        );
        assert_eq!(run(true, BatcherDrain::Never)[1], "workers drain=false");
    }

    #[test]
    fn order_with_flag_off() {
        assert_eq!(
            run(false, BatcherDrain::Auto),
            [
                "listeners",
                "workers drain=false",
                "wait",
                "no_agg",
                "flush force=false"
            ]
        );
    }
}
