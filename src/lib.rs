//! lastbucket: does every DogStatsD sample a server received make it into the flushed output
//! when the server stops?

pub mod protocol;
pub mod source;
pub mod pipeline;
pub mod report;
pub mod verify;
pub mod check;
pub mod exit;
pub mod cli;
pub mod sweep;
pub mod inspect;
