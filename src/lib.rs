//! lastbucket: does every DogStatsD sample a server received make it into the flushed output
//! when the server stops?
//!
//! No panics in library code: `unwrap`, `expect` and `panic!` are refused by clippy, and
//! allowed only where they stand, on an invariant the code proves (the `expect` message
//! names it).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod check;
pub mod cli;
pub mod duration;
pub mod exit;
pub mod export;
pub mod inspect;
pub mod intake;
pub mod net;
pub mod output;
pub mod pipeline;
pub mod protocol;
pub mod record;
pub mod replay;
pub mod report;
pub mod runtime;
pub mod server;
pub mod settings_file;
pub mod source;
pub mod stdout;
pub mod sweep;
pub mod verify;
