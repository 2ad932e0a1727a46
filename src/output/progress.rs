//! The progress bar of long runs (indicatif), on stderr, hidden when stderr is not a terminal or
//! the user asked for quiet output, so logs and pipes stay clean.

use crate::replay::progress::{BarLength, Measure};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A bar over `total` steps (scenarios, datagrams) with a message.
pub fn bar(total: u64, what: &str, quiet: bool) -> ProgressBar {
    let target = if quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let pb = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    if !pb.is_hidden() {
        // A long pass over the stream shows that it is moving.
        pb.enable_steady_tick(Duration::from_millis(100));
    }
    pb
}

/// The bar of a replay, on stderr when it is a terminal: position, length and ETA when the
/// replay's length is known (stream time for a paced replay, datagrams for `--rate` and
/// `--max`), otherwise a spinner; the message carries the running counts.
pub fn replay_bar(length: Option<BarLength>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match length {
        None => (ProgressBar::new_spinner(), "{spinner} {elapsed} {msg}"),
        Some(l) => (
            ProgressBar::new(l.total),
            match l.measure {
                Measure::StreamTime => {
                    "{spinner} [{bar:30}] {stream} stream time, ETA {eta} · {msg}"
                }
                Measure::Datagrams => {
                    "{spinner} [{bar:30}] {human_pos}/{human_len} datagrams, ETA {eta} · {msg}"
                }
            },
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> ").with_key("stream", stream_time));
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// `12.3/60.0 s`: a stream-time bar's position and length, kept in nanoseconds.
fn stream_time(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let s = |ns: u64| ns as f64 / 1e9;
    let len = state.len().unwrap_or(0);
    let _ = write!(w, "{:.1}/{:.1} s", s(state.pos()), s(len));
}
