//! Writing to standard output the way pipeline-friendly tools do (`lastbucket check | head`):
//! a reader that goes away early is not an error worth a panic or a message, so a broken pipe
//! ends the write quietly and the exit code still tells the verdict.

use std::io::{ErrorKind, Write};

/// Writes `bytes` to stdout and flushes; a closed pipe counts as done.
pub fn write(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// [`write`] for text; other write errors go to stderr (there is nowhere else to report them).
pub fn print(text: &str) {
    if let Err(e) = write(text.as_bytes()) {
        eprintln!("Error: cannot write to stdout: {e}");
    }
}
