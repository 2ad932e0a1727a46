//! What `lastbucket serve` says on stderr after the stop (the counters per listener, every stage
//! counter as [`crate::pipeline::counters::StageCounters::rows`] lists them, and what was
//! forwarded), and kernel drops as people read them (`record` says them too).

use crate::net::drops::DropScope;
use crate::pipeline::counters::StageRow;
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
    for row in r.stage_counters.rows() {
        let _ = writeln!(o, "{}", stage_line(&row));
    }
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

/// `  queue           batches_in=7 batches_out=7 …`, named as in `--stats-json`; a counter
/// that stands alone, `  open_bucket_samples_dropped=0`.
fn stage_line(row: &StageRow) -> String {
    match row.counters.as_slice() {
        [(name, n)] if name.is_empty() => format!("  {}={n}", row.stage),
        counters => {
            let counters: Vec<String> = counters.iter().map(|(k, n)| format!("{k}={n}")).collect();
            format!("  {:<15} {}", row.stage, counters.join(" "))
        }
    }
}
