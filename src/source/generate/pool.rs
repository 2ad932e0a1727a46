//! The fixed, seeded pool the lines draw from: metric contexts (a name, a sorted tag set and a
//! metric type), the tag pool, and service-check names.
//!
//! Built once per stream from its own RNG stream, so the pool depends only on the seed and the
//! pool knobs (not on timing or line knobs). Every random choice draws fixed-width integers
//! (`u32`/`u64`), never `usize`, and uniqueness is checked with hash sets that are only queried,
//! never iterated, so the pool is the same on every platform.

use super::config::{GeneratorConfig, IntRange, Skew};
use crate::protocol::MetricType;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// Distinct service-check names.
const CHECK_NAMES: u32 = 8;
/// Consecutive collisions before a string is made unique with a suffix. High enough that the
/// fallback only happens when the space of strings is really (nearly) exhausted.
const ATTEMPTS: u32 = 64;

/// One metric context.
#[derive(Debug)]
pub(crate) struct Context {
    pub name: Box<str>,
    /// `key:value,key:value`, sorted, empty for no tags.
    pub tags: Box<str>,
}

/// The contexts of one metric type and how lines choose among them.
#[derive(Debug)]
pub(crate) struct TypePool {
    pub metric_type: MetricType,
    pub contexts: Vec<Context>,
    /// Zipf: cumulative integer weights ⌊2³²/(k+1)⌋ (integers, so the choice is exact
    /// everywhere); empty for uniform.
    cumulative: Vec<u64>,
}

impl TypePool {
    pub fn pick(&self, rng: &mut ChaCha8Rng) -> &Context {
        let i = match self.cumulative.last() {
            Some(&total) => {
                let x = rng.random_range(0..total);
                self.cumulative.partition_point(|&c| c <= x)
            }
            None => rng.random_range(0..self.contexts.len() as u32) as usize,
        };
        &self.contexts[i]
    }
}

/// A tag key and its values.
#[derive(Debug)]
pub(crate) struct TagKey {
    pub key: Box<str>,
    pub values: Vec<Box<str>>,
}

#[derive(Debug)]
pub(crate) struct Pool {
    /// Types with a weight > 0, in [`MetricType::ALL`] order.
    pub types: Vec<TypePool>,
    /// Cumulative type weights, parallel to `types`.
    type_cumulative: Vec<u64>,
    pub tags: Vec<TagKey>,
    pub check_names: Vec<Box<str>>,
}

impl Pool {
    pub fn build(c: &GeneratorConfig, rng: &mut ChaCha8Rng) -> Pool {
        let mut keys_seen = HashSet::new();
        let tags: Vec<TagKey> = (0..c.tag_keys)
            .map(|_| {
                let key = unique(rng, &mut keys_seen, |r| {
                    random_word(r, c.tag_key_length, KEY_CHARS, false)
                });
                let mut seen = HashSet::new();
                let values = (0..c.tag_cardinality)
                    .map(|_| {
                        unique(rng, &mut seen, |r| {
                            random_word(r, c.tag_value_length, VALUE_CHARS, false)
                        })
                    })
                    .collect();
                TagKey { key, values }
            })
            .collect();

        let mut names_seen = HashSet::new();
        let mut types = Vec::new();
        let mut type_cumulative = Vec::new();
        let mut total = 0;
        for (t, n) in apportion(c) {
            total += c.weights.get(t) as u64;
            type_cumulative.push(total);
            let contexts = build_contexts(c, rng, &tags, &mut names_seen, n);
            let cumulative = match c.skew {
                Skew::Uniform => Vec::new(),
                Skew::Zipf => (0..n as u64)
                    .scan(0u64, |acc, k| {
                        *acc += (1u64 << 32) / (k + 1);
                        Some(*acc)
                    })
                    .collect(),
            };
            types.push(TypePool {
                metric_type: t,
                contexts,
                cumulative,
            });
        }

        let check_names = (0..CHECK_NAMES)
            .map(|_| {
                unique(rng, &mut names_seen, |r| {
                    random_word(r, IntRange::new(5, 20), NAME_CHARS, true)
                })
            })
            .collect();
        Pool {
            types,
            type_cumulative,
            tags,
            check_names,
        }
    }

    /// A metric type by weight (only called when some weight is > 0).
    pub fn pick_type(&self, rng: &mut ChaCha8Rng) -> &TypePool {
        #[allow(clippy::expect_used)] // proven: a metric type
        let total = *self.type_cumulative.last().expect("a metric type");
        let x = rng.random_range(0..total);
        &self.types[self.type_cumulative.partition_point(|&c| c <= x)]
    }

    /// Distinct contexts.
    pub fn context_count(&self) -> usize {
        self.types.iter().map(|t| t.contexts.len()).sum()
    }
}

/// Contexts per type, proportional to the weights (largest remainder), at least one for every
/// type with a weight > 0 (validation guarantees there are enough contexts).
fn apportion(c: &GeneratorConfig) -> Vec<(MetricType, u32)> {
    let total = c.weights.total();
    let typed: Vec<MetricType> = MetricType::ALL
        .into_iter()
        .filter(|&t| c.weights.get(t) > 0)
        .collect();
    if typed.is_empty() {
        return Vec::new();
    }
    let n = c.contexts as u64;
    let mut shares: Vec<(MetricType, u64, u64)> = typed
        .iter()
        .map(|&t| {
            let exact = n * c.weights.get(t) as u64;
            (t, exact / total, exact % total)
        })
        .collect();
    let mut left = n - shares.iter().map(|s| s.1).sum::<u64>();
    let mut by_remainder: Vec<usize> = (0..shares.len()).collect();
    // Stable: ties keep the type order.
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(shares[i].2));
    for &i in &by_remainder {
        if left == 0 {
            break;
        }
        shares[i].1 += 1;
        left -= 1;
    }
    // A type with a tiny weight still gets one context, taken from the largest.
    for i in 0..shares.len() {
        if shares[i].1 == 0 {
            #[allow(clippy::expect_used)] // proven: non-empty
            let largest = (0..shares.len())
                .max_by_key(|&j| (shares[j].1, std::cmp::Reverse(j)))
                .expect("non-empty");
            shares[largest].1 -= 1;
            shares[i].1 = 1;
        }
    }
    shares.into_iter().map(|(t, k, _)| (t, k as u32)).collect()
}

/// `n` distinct contexts of one type. Names are shared by about `contexts_per_name` contexts
/// (round robin, so each name has its share); a name never crosses types, so a name always has
/// one type. When a name runs out of new tag sets (few tags, small cardinality), the context
/// gets a fresh name instead, so the count is always met.
fn build_contexts(
    c: &GeneratorConfig,
    rng: &mut ChaCha8Rng,
    tags: &[TagKey],
    names_seen: &mut HashSet<Box<str>>,
    n: u32,
) -> Vec<Context> {
    let name_count = n.div_ceil(c.contexts_per_name).max(1);
    let mut names: Vec<Box<str>> = (0..name_count)
        .map(|_| unique(rng, names_seen, |r| metric_name(r, c.name_length)))
        .collect();
    let mut seen: HashSet<(usize, Box<str>)> = HashSet::new();
    let mut contexts = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let mut name = i % names.len();
        let mut tag_set = random_tag_set(rng, c.tags_per_line, tags);
        let mut attempts = 1;
        while seen.contains(&(name, tag_set.clone())) {
            if attempts == ATTEMPTS {
                names.push(unique(rng, names_seen, |r| metric_name(r, c.name_length)));
                name = names.len() - 1;
                break;
            }
            tag_set = random_tag_set(rng, c.tags_per_line, tags);
            attempts += 1;
        }
        seen.insert((name, tag_set.clone()));
        contexts.push(Context {
            name: names[name].clone(),
            tags: tag_set,
        });
    }
    contexts
}

/// A sorted set of tags with distinct keys.
fn random_tag_set(rng: &mut ChaCha8Rng, count: IntRange, tags: &[TagKey]) -> Box<str> {
    let k = rng.random_range(count.min..=count.max);
    let keys = distinct_indexes(rng, k, tags.len() as u32);
    let mut rendered: Vec<String> = keys
        .into_iter()
        .map(|i| {
            let t = &tags[i as usize];
            let v = &t.values[rng.random_range(0..t.values.len() as u32) as usize];
            format!("{}:{v}", t.key)
        })
        .collect();
    rendered.sort_unstable();
    rendered.join(",").into_boxed_str()
}

/// `k` distinct numbers below `n` (k ≤ n), in draw order. Rejection sampling: `k` is small
/// (≤ 50) so this stays cheap even when k is close to n.
pub(crate) fn distinct_indexes(rng: &mut ChaCha8Rng, k: u32, n: u32) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::with_capacity(k as usize);
    while (out.len() as u32) < k.min(n) {
        let i = rng.random_range(0..n);
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const NAME_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
const KEY_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
const VALUE_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-.";

/// A metric name: starts with a letter (so never `_sc…`/`_e{…`, which the agent would read as
/// a service check or an event), dot-separated segments, no leading, trailing or double dot.
fn metric_name(rng: &mut ChaCha8Rng, len: IntRange) -> Box<str> {
    random_word(rng, len, NAME_CHARS, true)
}

/// A random string of a length in `len`, starting with a letter; `dots` sprinkles `.` between
/// segments (each starting with a letter).
fn random_word(rng: &mut ChaCha8Rng, len: IntRange, chars: &[u8], dots: bool) -> Box<str> {
    let n = rng.random_range(len.min..=len.max) as usize;
    let mut s = String::with_capacity(n);
    for i in 0..n {
        let can_dot = dots && i > 0 && i + 1 < n && !s.ends_with('.');
        if can_dot && rng.random_range(0..6u32) == 0 {
            s.push('.');
        } else {
            // Every segment starts with a letter: `a.b_1`, never `a._1` or `a.1`.
            let set = if i == 0 || s.ends_with('.') {
                LETTERS
            } else {
                chars
            };
            s.push(set[rng.random_range(0..set.len() as u32) as usize] as char);
        }
    }
    s.into_boxed_str()
}

/// A string from `make` not yet in `seen`. After [`ATTEMPTS`] collisions in a row, a `_<n>`
/// suffix makes one unique, so this ends even when the space of strings is too small.
fn unique(
    rng: &mut ChaCha8Rng,
    seen: &mut HashSet<Box<str>>,
    mut make: impl FnMut(&mut ChaCha8Rng) -> Box<str>,
) -> Box<str> {
    for _ in 0..ATTEMPTS {
        let s = make(rng);
        if seen.insert(s.clone()) {
            return s;
        }
    }
    let base = make(rng);
    let mut n = seen.len() as u32;
    loop {
        let s: Box<str> = format!("{base}_{n}").into_boxed_str();
        if seen.insert(s.clone()) {
            return s;
        }
        n = n.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn pool(c: &GeneratorConfig) -> Pool {
        Pool::build(c, &mut ChaCha8Rng::seed_from_u64(c.seed))
    }

    #[test]
    fn contexts_are_distinct_and_counted() {
        for c in [
            GeneratorConfig::default(),
            // Tiny spaces: one-letter names, no tags — only the fallback can make 500 contexts.
            GeneratorConfig {
                contexts: 500,
                name_length: IntRange::new(1, 1),
                tags_per_line: IntRange::new(0, 0),
                ..Default::default()
            },
            GeneratorConfig {
                contexts: 300,
                contexts_per_name: 100,
                tag_keys: 1,
                tag_cardinality: 2,
                tags_per_line: IntRange::new(1, 1),
                ..Default::default()
            },
        ] {
            let p = pool(&c);
            assert_eq!(p.context_count(), c.contexts as usize);
            let mut seen = HashSet::new();
            let mut name_type = std::collections::HashMap::new();
            for t in &p.types {
                for ctx in &t.contexts {
                    assert!(seen.insert((ctx.name.clone(), ctx.tags.clone())));
                    assert_eq!(
                        *name_type.entry(ctx.name.clone()).or_insert(t.metric_type),
                        t.metric_type,
                        "a name has one type"
                    );
                    assert!(!ctx.name.starts_with('_'));
                }
            }
        }
    }

    #[test]
    fn apportion_follows_weights() {
        let c = GeneratorConfig::default();
        let got = apportion(&c);
        let counts: Vec<u32> = got.iter().map(|x| x.1).collect();
        assert_eq!(counts, vec![60, 40, 20, 20, 40, 20]);
        let mut c = GeneratorConfig {
            contexts: 6,
            ..Default::default()
        };
        c.weights.c = 1_000_000;
        let got = apportion(&c);
        assert!(got.iter().all(|x| x.1 >= 1));
        assert_eq!(got.iter().map(|x| x.1).sum::<u32>(), 6);
    }

    #[test]
    fn tag_sets_are_sorted_with_distinct_keys() {
        let p = pool(&GeneratorConfig::default());
        for t in &p.types {
            for ctx in &t.contexts {
                let tags: Vec<&str> = ctx.tags.split(',').filter(|t| !t.is_empty()).collect();
                assert!(tags.windows(2).all(|w| w[0] < w[1]));
                let keys: HashSet<&str> =
                    tags.iter().map(|t| t.split(':').next().unwrap()).collect();
                assert_eq!(keys.len(), tags.len());
            }
        }
    }
}
