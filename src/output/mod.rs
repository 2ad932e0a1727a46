//! What the user sees: the terminal report of a run, the color choice and progress bars, and
//! what each command prints for people (`inspect`'s text and JSON, what `serve`, `record`,
//! `replay` and `intake` say when they stop, the note on a `--config` file). Each renders a
//! command's result into a string; the command line prints it. Machine-readable report formats
//! live in `export`.

pub mod color;
pub mod config;
pub mod inspect;
pub mod intake;
pub mod progress;
pub mod record;
pub mod replay;
pub mod serve;
pub mod terminal;
