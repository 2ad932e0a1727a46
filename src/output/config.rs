//! The note a `--config` file gets on stderr when it ignored keys: what it applied and what it
//! ignored, so a `datadog.yaml` that sets none of the keys that matter is not mistaken for one
//! that did.

use crate::pipeline::config::file::ConfigFile;
use std::path::Path;

/// `note: PATH: applied …; ignored N key(s) lastbucket does not model: …`, when the file
/// ignored keys.
pub fn ignored_note(path: &Path, file: &ConfigFile) -> Option<String> {
    if file.ignored.is_empty() {
        return None;
    }
    let applied = if file.applied.is_empty() {
        "no keys lastbucket models".to_string()
    } else {
        file.applied.join(", ")
    };
    Some(format!(
        "note: {}: applied {applied}; ignored {} key(s) lastbucket does not model: {}",
        path.display(),
        file.ignored.len(),
        file.ignored.join(", ")
    ))
}
