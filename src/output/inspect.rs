//! What `lastbucket inspect` prints: the inspection of a source as text (one fact a line) or as
//! JSON (the shape cli.md fixes), each with what the reader says about the source (notes, and a
//! capture file's version and tagger state).

use crate::inspect::Inspection;
use crate::source::{CaptureInfo, ReadStats};
use std::fmt::Write;

/// `inspect --format json`: the inspection, with `capture` and `read` when the reader has them.
pub fn json(inspection: &Inspection, stats: Option<&ReadStats>) -> serde_json::Result<String> {
    let mut v = serde_json::to_value(inspection)?;
    if let Some(obj) = v.as_object_mut() {
        if let Some(c) = stats.and_then(|s| s.capture.as_ref()) {
            obj.insert("capture".into(), capture_json(c));
        }
        if let Some(r) = stats {
            obj.insert("read".into(), serde_json::to_value(r)?);
        }
    }
    serde_json::to_string_pretty(&v)
}

/// `inspect --format text`: the inspection of `source`, the reader's notes, and what a capture
/// file says about itself.
pub fn text(inspection: &Inspection, source: &str, stats: Option<&ReadStats>) -> String {
    let mut text = render(inspection, source);
    for note in stats.iter().flat_map(|r| r.notes()) {
        let _ = writeln!(text, "note            {note}");
    }
    if let Some(c) = stats.and_then(|s| s.capture.as_ref()) {
        let _ = writeln!(
            text,
            "capture         version {}{}, tagger state {} bytes",
            c.version,
            if c.compressed { " (zstd)" } else { "" },
            c.tagger_state_len
        );
        if let Some(state) = &c.tagger_state {
            for (entity, e) in &state.state {
                let _ = writeln!(text, "  entity        {entity}: {e:?}");
            }
            for (pid, entity) in &state.pid_map {
                let _ = writeln!(text, "  pid           {pid} -> {entity}");
            }
        }
    }
    text
}

/// The inspection as text: one fact a line, labels in a column.
fn render(r: &Inspection, source: &str) -> String {
    let mut s = String::new();
    let span = r.last_ts_ns.saturating_sub(r.first_ts_ns) as f64 / 1e9;
    let _ = writeln!(s, "source          {source}");
    let _ = writeln!(s, "datagrams       {}", r.datagrams);
    let _ = writeln!(
        s,
        "bytes           {} (largest datagram {} bytes, {} over the read buffer)",
        r.bytes, r.largest_datagram, r.oversize_datagrams
    );
    let _ = writeln!(s, "time span       {span:.3} s");
    let _ = writeln!(s, "lines           {} ({} rejected)", r.lines, r.rejected);
    let by_type: Vec<String> = r
        .metrics_by_type
        .iter()
        .map(|(t, n)| format!("{t}={n}"))
        .collect();
    let _ = writeln!(s, "metric lines    {}", by_type.join(" "));
    // `samples` as check counts them (what it calls sent): metric values, events, checks.
    let _ = writeln!(
        s,
        "samples         {} ({} metric samples, {} events, {} service checks)",
        r.samples + r.events + r.service_checks,
        r.samples,
        r.events,
        r.service_checks
    );
    let _ = writeln!(s, "events          {}", r.events);
    let _ = writeln!(s, "service checks  {}", r.service_checks);
    let _ = writeln!(s, "contexts        {}", r.contexts);
    for rej in &r.rejections {
        let _ = writeln!(
            s,
            "rejected        {} × {}  e.g. {:?}",
            rej.count, rej.reason, rej.example
        );
    }
    s
}

fn capture_json(c: &CaptureInfo) -> serde_json::Value {
    let (entities, pids): (Vec<String>, serde_json::Map<String, serde_json::Value>) =
        match &c.tagger_state {
            Some(s) => (
                s.state.keys().cloned().collect(),
                s.pid_map
                    .iter()
                    .map(|(p, e)| (p.to_string(), serde_json::json!(e)))
                    .collect(),
            ),
            None => (Vec::new(), serde_json::Map::new()),
        };
    serde_json::json!({
        "version": c.version,
        "compressed": c.compressed,
        "tagger_state_bytes": c.tagger_state_len,
        "tagger_entities": entities,
        "tagger_pid_map": pids,
    })
}
