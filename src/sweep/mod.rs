//! `sweep`: loss as a function of the stop moment. Many stop moments over one stream, per
//! setting, in one pass (the check forks the live state at each moment); a table, a summary
//! per setting, the usual exports, a plot, and `merge` for the shards of a CI matrix.

pub mod merge;
pub mod moments;
pub mod plot;
mod summary;

pub use moments::{moments, parse_moments, MomentsFileError, Spread};
pub use summary::{plot_of, setting_label, settings_summary, table};
