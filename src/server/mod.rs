//! The real-socket side: listeners on UDP and Unix sockets feeding the embedded pipeline on the
//! real clock (`serve`), the socket transport of `check`, and what `record` reads with.
//!
//! Data flows one way: listener tasks ([`listener`]) → one bounded channel → the pipeline task
//! ([`feed`]), which owns the [`crate::pipeline::Pipeline`]. Every stop closes the listeners
//! first; the pipeline task then hands on what they read, and only then does the pipeline run
//! its stop sequence. The async runtime is named only in [`crate::runtime`].

pub mod address;
pub mod drops;
pub mod feed;
pub mod frame;
pub mod listener;
pub mod matcher;
mod receiver;
pub mod serve;
pub mod signals;
pub mod transport;

pub use address::{Address, AddressError};
pub use listener::{ListenError, ListenOptions, Listener};
pub use transport::{
    run_transport, run_transport_with, Transport, TransportError, TransportOptions, TransportResult,
};
