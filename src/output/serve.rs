//! What `lastbucket serve` says on stderr after the stop (the stage counters, per listener and
//! per stage, and what was forwarded), and kernel drops as people read them (`record` says them
//! too).

use crate::net::drops::DropScope;
use crate::server::serve::ServeReport;
use std::fmt::Write;

/// Kernel drops for people: whose counter it is, or that there is none.
pub fn kernel_drops_text(udp: bool, n: Option<u64>, scope: Option<DropScope>) -> String {
    match (n, scope) {
        _ if !udp => "n/a (a full Unix socket makes the sender wait or fail)".to_string(),
        (Some(n), Some(DropScope::Socket)) => n.to_string(),
        (Some(n), _) => format!("{n} (system-wide counter: may include other sockets)"),
        _ => "not measurable on this system".to_string(),
    }
}

/// What `serve` says on stderr after the stop: datagrams read, kernel drops, each listener,
/// the stage counters, and what was forwarded.
pub fn summary(r: &ServeReport) -> String {
    let mut o = String::new();
    let udp = r.listeners.iter().any(|l| l.address.starts_with("udp://"));
    let drops = kernel_drops_text(udp, r.kernel_drops, r.kernel_drops_scope);
    let _ = writeln!(
        o,
        "stopped: read {} datagrams; kernel drops: {drops}",
        r.datagrams_read
    );
    for l in &r.listeners {
        let _ = writeln!(
            o,
            "  {:<15} datagrams={} bytes={} truncated={}",
            l.address, l.counts.datagrams, l.counts.bytes, l.counts.truncated
        );
    }
    let c = &r.stage_counters;
    let _ = writeln!(
        o,
        "  assembler       datagrams_in={} packets_out={}",
        c.assembler.datagrams_in, c.assembler.packets_out
    );
    let _ = writeln!(
        o,
        "  packets buffer  packets_in={} batches_out={} on_close={}",
        c.packets_buffer.packets_in,
        c.packets_buffer.batches_out,
        c.packets_buffer.batches_on_close
    );
    let _ = writeln!(
        o,
        "  queue           batches_in={} out={} drained={} dropped={} (dropped: datagrams={} lines={} samples={} unparseable_lines={})",
        c.queue.batches_in,
        c.queue.batches_out,
        c.queue.batches_drained,
        c.queue.batches_dropped,
        c.queue.datagrams_dropped,
        c.queue.lines_dropped,
        c.queue.samples_dropped,
        c.queue.rejected_lines_dropped
    );
    let _ = writeln!(
        o,
        "  workers         datagrams={} lines={} samples={} events={} service_checks={} rejected={}",
        c.workers.datagrams,
        c.workers.lines,
        c.workers.samples,
        c.workers.events,
        c.workers.service_checks,
        c.workers.rejected_lines
    );
    let _ = writeln!(
        o,
        "  samplers        samples_in={} aggregated={} context_limit={} non_finite={} flushed_buckets={}",
        c.samplers.samples_in,
        c.samplers.aggregated,
        c.samplers.dropped_context_limit,
        c.samplers.dropped_non_finite,
        c.samplers.flushed_buckets
    );
    let _ = writeln!(
        o,
        "  no aggregation  samples_in={} points_out={} unsupported={}",
        c.no_aggregation.samples_in, c.no_aggregation.points_out, c.no_aggregation.unsupported_type
    );
    let _ = writeln!(
        o,
        "  open bucket     samples_dropped={}",
        c.open_bucket_samples_dropped
    );
    let _ = writeln!(
        o,
        "  flush           flushes={} series_points={} sketch_points={} events={} service_checks={}",
        c.flush.flushes,
        c.flush.series_points,
        c.flush.sketch_points,
        c.flush.events,
        c.flush.service_checks
    );
    if let Some(f) = &r.forward {
        let _ = writeln!(
            o,
            "  forward         url={} payloads_posted={} items_posted={} payloads_failed={} items_failed={}",
            f.url, f.payloads_posted, f.items_posted, f.payloads_failed, f.items_failed
        );
        if let Some(e) = &f.last_error {
            let _ = writeln!(o, "  forward error   {e}");
        }
    }
    o
}
