//! SIGTERM and SIGINT for the long-running commands (`serve`, `record`, `replay`): the first
//! signal starts the graceful stop, a second one aborts at once with exit code 130 — the
//! usual contract of a CLI whose stop may take a while.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};
use std::io;

/// Exit code of an abort by a second signal (128 + SIGINT, as shells report it).
pub const ABORTED: i32 = 130;

/// Installed stop-signal handling; dropping it uninstalls the handler thread.
pub struct StopSignals {
    handle: Handle,
}

/// Calls `on_first` on the first SIGTERM or SIGINT; exits the process with [`ABORTED`] on the
/// second.
pub fn on_stop_signals(on_first: impl FnOnce() + Send + 'static) -> io::Result<StopSignals> {
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        let mut on_first = Some(on_first);
        for _ in signals.forever() {
            match on_first.take() {
                Some(f) => f(),
                None => {
                    eprintln!("second signal: aborting");
                    std::process::exit(ABORTED);
                }
            }
        }
    });
    Ok(StopSignals { handle })
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        self.handle.close();
    }
}
