//! What a user can get wrong in generator settings. Every message names the offending key (and
//! value), because these errors reach the terminal as usage errors (exit 2) and must say what
//! to fix without reading the source.

use std::path::PathBuf;

/// An invalid `gen:` spec or generator config file.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The spec does not start with `gen:`.
    #[error("generator settings must start with `gen:`, got `{0}`")]
    NotASpec(String),
    /// A `gen:` item that is not `key=value`.
    #[error("generator setting `{0}` is not key=value")]
    Syntax(String),
    /// A key the generator does not know (typo protection: nothing is silently ignored).
    #[error("unknown generator key `{key}` (known: {known})")]
    UnknownKey { key: String, known: String },
    /// The same key twice (in a spec, or as `weight_x` and in a `weights` table).
    #[error("generator key `{0}` given twice")]
    Duplicate(String),
    /// A value that does not parse, is out of range, or contradicts another key.
    #[error("generator key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
    /// More than one of `packets`, `duration`, `samples`: each alone decides the length.
    #[error(
        "generator keys `{0}` and `{1}` both set the stream length; give only one of packets, duration, samples"
    )]
    LengthConflict(&'static str, &'static str),
    /// The config file cannot be read.
    #[error("cannot read generator file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The config file is not valid TOML/JSON, or holds an invalid setting.
    #[error("generator file {path}: {message}")]
    File { path: PathBuf, message: String },
}

impl GenerateError {
    /// An invalid value of `key`.
    pub(crate) fn invalid(key: &str, reason: impl Into<String>) -> GenerateError {
        GenerateError::Invalid {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}
