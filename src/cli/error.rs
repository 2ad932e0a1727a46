//! The one error type of the command line: a message and its exit-code class. Commands return
//! `Result<i32, CliError>` (the `i32` is a report's verdict code); `main` prints the message and
//! maps the class with [`crate::exit::for_error`], so an I/O failure is never a usage error by
//! default.

use super::UsageError;
use crate::check::CheckError;
use crate::exit::ErrorClass;
use crate::export::ExportError;
use std::fmt::Display;

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub class: ErrorClass,
    pub message: String,
}

impl CliError {
    pub fn new(class: ErrorClass, e: impl Display) -> Self {
        CliError {
            class,
            message: e.to_string(),
        }
    }

    pub fn usage(e: impl Display) -> Self {
        Self::new(ErrorClass::Usage, e)
    }

    pub fn output(e: impl Display) -> Self {
        Self::new(ErrorClass::Output, e)
    }

    pub fn input(e: impl Display) -> Self {
        Self::new(ErrorClass::Input, e)
    }

    /// The exit code of this error.
    pub fn code(&self) -> i32 {
        crate::exit::for_error(self.class)
    }
}

impl From<UsageError> for CliError {
    fn from(e: UsageError) -> Self {
        CliError::usage(e)
    }
}

impl From<ExportError> for CliError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::TwoOnStdout(_) => CliError::usage(e),
            _ => CliError::output(e),
        }
    }
}

impl From<CheckError> for CliError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Input(_) => CliError::input(e),
            CheckError::FlushedOut { .. } => CliError::output(e),
            // A bad moment or shard is a usage error; a transport socket or an external server
            // that cannot be set up is a configuration error: both the usage code.
            CheckError::Moment(_)
            | CheckError::EmptyShard { .. }
            | CheckError::Transport(_)
            | CheckError::Server(_) => CliError::usage(e),
        }
    }
}

/// The stop-signal handlers could not be installed: the environment the command runs in does
/// not allow what it needs, the usage code.
pub fn signals_error(e: std::io::Error) -> CliError {
    CliError::usage(format!("cannot install the SIGTERM/SIGINT handlers: {e}"))
}

/// `serve`'s errors: every one but a missing address is an output that cannot be written.
pub fn serve_error(e: crate::server::serve::ServeError) -> CliError {
    use crate::server::serve::ServeError;
    match e {
        ServeError::NoListener => CliError::usage(e),
        _ => CliError::output(e),
    }
}
