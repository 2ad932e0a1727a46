//! What the user sees on the terminal: color choice, the progress bar, and the summary table of
//! a report. Machine-readable formats live in `export`.

pub mod color;
pub mod intake;
pub mod progress;
pub mod stdout;
pub mod terminal;
