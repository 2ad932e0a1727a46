//! `--config FILE` (check, sweep, serve): the file read by the pipeline's reader
//! ([`crate::pipeline::config::file`]), its errors as usage errors, and a note on stderr when it
//! ignored keys.

use super::UsageError;
use crate::pipeline::config::file::{parse_config_file, ConfigFile, ConfigFileError};
use std::path::Path;

impl From<ConfigFileError> for UsageError {
    fn from(e: ConfigFileError) -> Self {
        UsageError(e.to_string())
    }
}

/// Reads a settings file and, when it ignored keys, says which on stderr
/// ([`crate::output::config::ignored_note`]).
pub fn read_config_file(path: &Path) -> Result<ConfigFile, UsageError> {
    let file = parse_config_file(path)?;
    if let Some(note) = crate::output::config::ignored_note(path, &file) {
        eprintln!("{note}");
    }
    Ok(file)
}
