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

/// Reads a settings file and, when it ignored keys, says which on stderr (with the keys it
/// applied), so a `datadog.yaml` that sets none of the keys that matter is not mistaken for
/// one that did.
pub fn read_config_file(path: &Path) -> Result<ConfigFile, UsageError> {
    let file = parse_config_file(path)?;
    if !file.ignored.is_empty() {
        let applied = if file.applied.is_empty() {
            "no keys lastbucket models".to_string()
        } else {
            file.applied.join(", ")
        };
        eprintln!(
            "note: {}: applied {applied}; ignored {} key(s) lastbucket does not model: {}",
            path.display(),
            file.ignored.len(),
            file.ignored.join(", ")
        );
    }
    Ok(file)
}
