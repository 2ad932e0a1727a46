//! What `lastbucket replay` shows: the running counts beside its bar, and on stderr when it
//! ends, what was sent to the server, what was not delivered, and why it stopped.

use crate::net::Address;
use crate::replay::{End, Outcome, ReplayStats};
use crate::source::ReadStats;
use std::fmt::Write;

/// The lines a replay to `to` ends with; `read` is what the source's reader noted.
pub fn ended(outcome: &Outcome, to: &Address, read: Option<&ReadStats>) -> String {
    let mut o = String::new();
    let stats = &outcome.stats;
    // What was sent, in every case but a source unreadable from its start.
    if stats.attempted() > 0 || !matches!(outcome.end, End::Source(_)) {
        let _ = writeln!(o, "{} to {to}", summary(stats));
    }
    if stats.failed > 0 {
        let _ = writeln!(
            o,
            "{} datagram{} could not be delivered (last error: {})",
            stats.failed,
            if stats.failed == 1 { "" } else { "s" },
            stats.last_error.as_deref().unwrap_or("?")
        );
    }
    if stats.reconnects > 0 {
        let _ = writeln!(o, "reconnected {} times", stats.reconnects);
    }
    for note in read.iter().flat_map(|r| r.notes()) {
        let _ = writeln!(o, "source: {note}");
    }
    match &outcome.end {
        End::Closed(e) => {
            let _ = writeln!(
                o,
                "stopped: the server closed the stream ({e}); it is not reconnected, and what \
                 it had not read is lost"
            );
        }
        End::Interrupted => {
            let _ = writeln!(o, "interrupted after {} complete passes", stats.loops);
        }
        End::Complete | End::Source(_) => {}
    }
    o
}

/// `sent N datagrams (B bytes) in T s: R datagrams/s, M MB/s`.
fn summary(s: &ReplayStats) -> String {
    format!(
        "sent {} datagrams ({} bytes) in {:.3} s: {:.0} datagrams/s, {:.2} MB/s",
        s.datagrams,
        s.bytes,
        s.elapsed.as_secs_f64(),
        s.rate(),
        if s.elapsed.is_zero() {
            0.0
        } else {
            s.bytes as f64 / 1e6 / s.elapsed.as_secs_f64()
        }
    )
}

/// The running counts beside the bar: short, the bar takes the room.
pub fn running(s: &ReplayStats) -> String {
    let mut m = format!("{} sent, {:.0}/s", s.datagrams, s.rate());
    if s.failed > 0 {
        m.push_str(&format!(", {} failed", s.failed));
    }
    m
}
