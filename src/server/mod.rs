//! `serve`: the embedded pipeline as a standalone DogStatsD server on the real clock.
//!
//! Data flows one way: listener tasks ([`crate::net::listener`]) → one bounded channel → the
//! pipeline task ([`feed`]), which owns the [`crate::pipeline::Pipeline`]. Every stop closes the
//! listeners first; the pipeline task then hands on what they read, and only then does the
//! pipeline run its stop sequence. The async runtime is named only in [`crate::runtime`].

pub mod agent_env;
pub mod feed;
pub mod forward;
pub mod serve;
