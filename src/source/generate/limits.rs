//! The largest pieces a generated line can have, so that the settings can be validated against
//! the datagram size (every line must fit one datagram) before a single line is made.

/// Most bytes the uniqueness fallback adds to a generated string (`_` and a u32).
pub(crate) const SUFFIX_MAX: u64 = 11;
/// Longest value text: `-10000.999` (gauges), `session_999` (sets).
pub(crate) const VALUE_MAX: u64 = 12;
/// Seconds since the epoch fit in 11 digits until year 5138.
pub(crate) const TS_MAX: u64 = 11;
/// Longest word in bytes ("rebalanced" is 10; "größe" 7, "日本" 6).
pub(crate) const WORD_MAX: u64 = 10;
pub(crate) const TITLE_WORDS: u32 = 4;
pub(crate) const TEXT_WORDS: u32 = 12;
pub(crate) const MESSAGE_WORDS: u32 = 8;
/// Tags on an event or a service check.
pub(crate) const EXTRA_TAGS: u32 = 3;
/// `host-15`.
pub(crate) const HOST_MAX: u64 = 7;
/// Service-check names are 5..20 bytes plus a possible uniqueness suffix.
pub(crate) const CHECK_NAME_MAX: u64 = 20 + SUFFIX_MAX;
