//! Samples as they travel from the workers to the samplers, and the contexts they belong to.
//!
//! A context is what the reference keys aggregation on: the metric name, the sorted and
//! deduplicated tags, and the host (the `host:` tag overrides the default hostname and is
//! removed from the tags). Workers resolve contexts through a small cache keyed on the raw line
//! bytes so that the hot path does not allocate for contexts it has seen.

use crate::pipeline::packet::DatagramId;
use crate::protocol::MetricType;
use std::collections::HashMap;
use std::sync::Arc;

/// Identity of one sample: which datagram, which line of it, which value of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct SampleId {
    pub datagram: DatagramId,
    pub line: u32,
    pub value: u32,
}

/// A metric context.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Context {
    pub name: String,
    /// Sorted, deduplicated; `host:` removed.
    pub tags: Vec<String>,
    pub host: String,
    /// Stable 64-bit key of (name, tags, host).
    pub key: u64,
}

impl Context {
    /// Builds a context the way the reference's enrichment and context key do.
    pub fn new<'a>(name: &str, tags: impl Iterator<Item = &'a str>, default_host: &str) -> Context {
        let mut host = default_host.to_string();
        let mut out: Vec<String> = Vec::new();
        for tag in tags {
            if let Some(h) = tag.strip_prefix("host:") {
                host = h.to_string();
            } else if tag.starts_with("dd.internal.entity_id:")
                || tag.starts_with("dd.internal.card:")
                || tag.starts_with("dd.internal.jmx_check_name:")
            {
                // Origin metadata the reference takes out of the tags (for its tagger).
            } else {
                out.push(tag.to_string());
            }
        }
        out.sort_unstable();
        out.dedup();
        let key = context_key(name, &out, &host);
        Context {
            name: name.to_string(),
            tags: out,
            host,
            key,
        }
    }

    /// The context of an event or a service check: their own `h:` field, when not empty,
    /// wins over a `host:` tag (the reference's `enrichEvent` / `enrichServiceCheck`).
    pub fn with_explicit_host(self, host: Option<&str>) -> Context {
        match host.filter(|h| !h.is_empty()) {
            Some(h) => Context {
                key: context_key(&self.name, &self.tags, h),
                host: h.to_string(),
                ..self
            },
            None => self,
        }
    }
}

/// FNV-1a over name, host and tags with separators: stable across runs and platforms, so shard
/// selection and output order never depend on a random hash seed.
pub fn context_key(name: &str, tags: &[String], host: &str) -> u64 {
    let mut h = Fnv::new();
    h.write(name.as_bytes());
    h.write(&[0]);
    h.write(host.as_bytes());
    for t in tags {
        h.write(&[0]);
        h.write(t.as_bytes());
    }
    h.finish()
}

/// 64-bit FNV-1a.
pub struct Fnv(u64);

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Fnv::new()
    }
}

/// The value a sample carries.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    Number(f64),
    Set(Box<str>),
}

/// One metric sample on its way to a sampler.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub context: Arc<Context>,
    /// The context's key, copied: shard and sampler look-ups read it from the sample, in the
    /// batch being handed over, not from the context (made, and counted, on a worker's thread).
    pub key: u64,
    pub metric_type: MetricType,
    pub value: SampleValue,
    pub sample_rate: f64,
    /// Arrival time of the datagram: decides the bucket.
    pub arrival_ns: u64,
    /// `|T`: the sample bypasses aggregation.
    pub timestamp: Option<i64>,
    pub id: SampleId,
}

impl Sample {
    pub fn number(&self) -> f64 {
        match self.value {
            SampleValue::Number(v) => v,
            SampleValue::Set(_) => 0.0,
        }
    }
}

/// A map keyed by context key, with a fast seeded hasher: the samplers' hot maps (the default
/// SipHash showed in serve's profile). Iteration order never reaches the output: flushed items
/// are sorted.
pub type KeyMap<V> = HashMap<u64, V, foldhash::fast::RandomState>;

/// Picks the sampler shard of a context (the reference's `fastrange`).
pub fn shard_of(key: u64, shards: usize) -> usize {
    ((u128::from(key) * shards as u128) >> 64) as usize
}

/// Worker-local cache from raw (name, tags) bytes to a resolved context. Shared on clone and
/// copied only when a copy learns a new context: a check's copies of a running pipeline (one
/// per stop moment and setting) cost nothing here once the contexts are known.
#[derive(Debug, Clone, Default)]
pub struct ContextCache {
    entries: Arc<HashMap<u64, Vec<CacheEntry>, foldhash::fast::FixedState>>,
    len: usize,
}

#[derive(Debug, Clone)]
struct CacheEntry {
    name: Box<str>,
    raw_tags: Box<str>,
    context: Arc<Context>,
}

/// Beyond this many entries the cache starts over, bounding a worker's memory on
/// high-cardinality traffic.
const CACHE_LIMIT: usize = 200_000;

impl ContextCache {
    pub fn resolve(&mut self, name: &str, raw_tags: &str, default_host: &str) -> Arc<Context> {
        // Only the cache's own key: any fast deterministic hash will do (the context key, which
        // decides shards and output order, stays FNV).
        let k = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
            h.write(name.as_bytes());
            h.write_u8(0);
            h.write(raw_tags.as_bytes());
            h.finish()
        };
        if let Some(list) = self.entries.get(&k) {
            if let Some(e) = list
                .iter()
                .find(|e| &*e.name == name && &*e.raw_tags == raw_tags)
            {
                return e.context.clone();
            }
        }
        let entries = Arc::make_mut(&mut self.entries);
        if self.len >= CACHE_LIMIT {
            entries.clear();
            self.len = 0;
        }
        let context = Arc::new(Context::new(
            name,
            crate::protocol::split_tags(raw_tags),
            default_host,
        ));
        entries.entry(k).or_default().push(CacheEntry {
            name: name.into(),
            raw_tags: raw_tags.into(),
            context: context.clone(),
        });
        self.len += 1;
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_sorts_dedups_and_takes_host_tag() {
        let c = Context::new("m", ["b:1", "a", "b:1", "host:h1"].into_iter(), "default");
        assert_eq!(c.tags, vec!["a".to_string(), "b:1".to_string()]);
        assert_eq!(c.host, "h1");
        let d = Context::new("m", ["a", "b:1"].into_iter(), "h1");
        assert_eq!(c.key, d.key);
        let e = Context::new("m", ["a"].into_iter(), "h1");
        assert_ne!(c.key, e.key);
    }

    #[test]
    fn cache_returns_same_context_for_same_raw_line() {
        let mut cache = ContextCache::default();
        let a = cache.resolve("m", "x,y", "");
        let b = cache.resolve("m", "x,y", "");
        assert!(Arc::ptr_eq(&a, &b));
        let c = cache.resolve("m", "y,x", "");
        assert_eq!(a.key, c.key);
    }

    #[test]
    fn shards_cover_range() {
        for k in [0u64, 1, u64::MAX / 2, u64::MAX] {
            assert!(shard_of(k, 3) < 3);
        }
        assert_eq!(shard_of(u64::MAX, 1), 0);
    }
}
