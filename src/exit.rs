//! Exit codes: the contract with CI scripts (cli.md). One place, named constants.

use crate::report::{Report, Verdict};

/// Every expectation held.
pub const SUCCESS: i32 = 0;
/// Loss (or a surplus) where the expectation forbids it.
pub const EXPECTATION_FAILED: i32 = 1;
/// `replay`: some datagrams could not be delivered (the code of a failed expectation).
pub const UNDELIVERED: i32 = 1;
/// Usage or configuration error.
pub const USAGE: i32 = 2;
/// An output (export, plot, flushed items, generated file) that cannot be written: the path
/// the user gave is the problem, so it is the usage code, in every command.
pub const OUTPUT: i32 = USAGE;
/// Input error: unreadable, corrupt or truncated source.
pub const INPUT: i32 = 3;
/// Vacuous: nothing was compared.
pub const VACUOUS: i32 = 4;
/// Internal accounting error: a sample neither flushed, rejected nor attributed to a stage.
pub const ACCOUNTING: i32 = 5;

/// What went wrong, as far as the exit code is concerned: every command-line error carries one
/// (`cli::CliError`), and [`for_error`] is the one place that turns it into a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A flag, a value, a configuration, or a setup the user asked for that cannot work.
    Usage,
    /// An output (export, plot, flushed items, stats, generated or recorded file) that cannot
    /// be written.
    Output,
    /// An unreadable, corrupt or truncated source.
    Input,
}

/// The exit code of a command-line error: the only mapping from errors to codes.
pub fn for_error(class: ErrorClass) -> i32 {
    match class {
        ErrorClass::Usage => USAGE,
        ErrorClass::Output => OUTPUT,
        ErrorClass::Input => INPUT,
    }
}

/// The table shown in `--help` and the README.
pub const TABLE: &str = "Exit codes:
  0  every expectation held
  1  loss (or a surplus) where the expectation forbids it
  2  usage or configuration error, or an output that cannot be written
  3  input error: unreadable, corrupt or truncated source
  4  vacuous: nothing was compared (empty source, every line malformed)
  5  internal accounting error: a sample neither flushed, rejected nor attributed to a stage";

/// The exit code of a report: an accounting error outranks a failed expectation, which
/// outranks a vacuous scenario; an empty report is vacuous.
pub fn for_report(report: &Report) -> i32 {
    let any = |v: Verdict| report.scenarios.iter().any(|s| s.verdict == v);
    if any(Verdict::AccountingError) {
        ACCOUNTING
    } else if any(Verdict::Fail) {
        EXPECTATION_FAILED
    } else if report.scenarios.is_empty() || any(Verdict::Vacuous) {
        VACUOUS
    } else {
        SUCCESS
    }
}

/// The exit codes of `replay`, in its `--help` and the README: it has no expectation to check,
/// so 1 means datagrams that could not be delivered.
pub const REPLAY_TABLE: &str =
    "When the server goes away: over udp and unixgram a refused send is counted and the
replay goes on (a unixgram socket is connected again as soon as a server is back at its
path); over unix (stream) the replay stops, the stream is not reconnected. The summary of
what was sent is printed in every case.

Exit codes:
  0  every datagram was sent (also when stopped by SIGINT/SIGTERM)
  1  some datagrams could not be delivered: refused sends (counted), or the server closed
     the unix stream
  2  usage or configuration error, including nothing listening at a unix socket path at start
  3  input error: unreadable, corrupt or truncated source";
