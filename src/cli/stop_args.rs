//! The stop settings as the command line gives them, parsed once, by clap, into the pipeline's
//! own types: `--batcher-drain` into [`BatcherDrain`], `--flush-incomplete-buckets` into a bool
//! (`serve`) or the set of settings to run ([`FlagChoice`], `check` and `sweep`). From there on
//! the flag and the drain travel as [`crate::pipeline::StopSettings`], down to the stop
//! sequence.

use crate::check::matrix::FlagChoice;
use crate::pipeline::BatcherDrain;
use clap::builder::{PossibleValuesParser, TypedValueParser};

/// `--batcher-drain auto|never`.
pub fn drain() -> impl TypedValueParser<Value = BatcherDrain> {
    PossibleValuesParser::new(["auto", "never"]).map(|s| match s.as_str() {
        "never" => BatcherDrain::Never,
        _ => BatcherDrain::Auto,
    })
}

/// `--flush-incomplete-buckets on|off`: one setting.
pub fn on_off() -> impl TypedValueParser<Value = bool> {
    PossibleValuesParser::new(["on", "off"]).map(|s| s == "on")
}

/// `--flush-incomplete-buckets on|off|both`: the settings to run.
pub fn flag_choice() -> impl TypedValueParser<Value = FlagChoice> {
    PossibleValuesParser::new(["on", "off", "both"]).map(|s| match s.as_str() {
        "on" => FlagChoice::On,
        "off" => FlagChoice::Off,
        _ => FlagChoice::Both,
    })
}
