//! The Datadog agent's sketch bins (`pkg/quantile`): the key mapping the agent posts in a
//! `Dogsketch` (k/n), and the quantile the agent reads from such bins.
//!
//! Why a mapping of our own next to the `sketches-ddsketch` crate: the crate keeps its store
//! private and maps with another gamma (relative accuracy 1 %, gamma 1.0202), and our pipeline
//! inserts a weighted value at most 1 000 times into it. The agent's bins carry the exact
//! weighted count (Σn = cnt) in its own mapping: relative accuracy 1/128, gamma = 1 + 2/128,
//! keys rounded to even, biased so the smallest positive value 1e-9 has key 1, negative values
//! mirrored, |v| below that min in key 0, at most 4 096 bins of at most 65 535 each.

use std::collections::BTreeMap;

/// The agent's `defaultEps`: relative accuracy of one bin.
const EPS: f64 = 1.0 / 128.0;
/// The agent's `defaultMin`: the smallest magnitude with a key of its own.
const MIN_VALUE: f64 = 1e-9;
/// The agent's `defaultBinLimit`.
pub const BIN_LIMIT: usize = 4096;
/// The largest key (`maxKey`, int16): +Inf.
const MAX_KEY: i32 = i16::MAX as i32;
/// A bin's count is a uint16 in the agent: larger counts take several bins of one key.
pub const MAX_BIN_COUNT: u64 = u16::MAX as u64;

fn gamma() -> f64 {
    1.0 + 2.0 * EPS
}

fn gamma_ln() -> f64 {
    (2.0 * EPS).ln_1p()
}

/// The key bias: `-floor(log_gamma(min)) + 1`.
fn bias() -> i32 {
    -((MIN_VALUE.ln() / gamma_ln()).floor() as i32) + 1
}

/// The agent's lower bound of key 1 (`norm.min`): below it a value is in key 0.
fn norm_min() -> f64 {
    lower_bound(1)
}

/// The key of a value, as `Config.key`.
pub fn key(v: f64) -> i32 {
    if v < 0.0 {
        return -key(-v);
    }
    if v.is_nan() || v < norm_min() {
        return 0;
    }
    // In f64, so +Inf (or anything past the largest key) saturates instead of overflowing.
    let k = (v.ln() / gamma_ln()).round_ties_even() + f64::from(bias());
    k.clamp(1.0, f64::from(MAX_KEY)) as i32
}

/// The lower bound of a key's bin, `γ^(k - bias)` (as `Config.f64`).
pub fn lower_bound(k: i32) -> f64 {
    match k {
        0 => 0.0,
        k if k < 0 => -lower_bound(-k),
        k if k >= MAX_KEY => f64::INFINITY,
        k => gamma().powf(f64::from(k - bias())),
    }
}

/// Weighted counts by key, as the agent's sketch keeps them while values come in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentBins {
    counts: BTreeMap<i32, u64>,
}

impl AgentBins {
    /// Adds `n` values of `v`.
    pub fn insert(&mut self, v: f64, n: u64) {
        *self.counts.entry(key(v)).or_insert(0) += n;
    }

    /// The bins as the agent posts them: sorted by key, at most [`MAX_BIN_COUNT`] a bin
    /// (a larger count takes several bins of the same key), and at most [`BIN_LIMIT`] bins:
    /// past that the lowest keys are merged into the lowest key kept, as the agent's store
    /// trims on the left.
    pub fn to_bins(&self) -> Vec<(i32, u64)> {
        let mut merged: Vec<(i32, u64)> = self.counts.iter().map(|(k, n)| (*k, *n)).collect();
        let bins_of = |n: u64| n.div_ceil(MAX_BIN_COUNT) as usize;
        let mut total: usize = merged.iter().map(|(_, n)| bins_of(*n)).sum();
        while total > BIN_LIMIT && merged.len() > 1 {
            let (_, low) = merged.remove(0);
            total -= bins_of(low) + bins_of(merged[0].1);
            merged[0].1 += low;
            total += bins_of(merged[0].1);
        }
        let mut out = Vec::with_capacity(total);
        for (k, mut n) in merged {
            while n > 0 {
                let take = n.min(MAX_BIN_COUNT);
                out.push((k, take));
                n -= take;
            }
        }
        out
    }
}

/// The agent's quantile of a sketch (`Sketch.Quantile`): the bin where the rank
/// `round_even(q × (count − 1))` falls, interpolated linearly between its bounds (the first
/// bin starts at the sketch's min). The result is then clamped to `[min, max]`: the agent does
/// not clamp, but its bin bounds can overshoot the extremes by up to two bin widths, and a
/// quantile outside the values seen would not be what the server measured.
pub fn quantile(bins: &[(i32, u64)], min: f64, max: f64, q: f64) -> Option<f64> {
    let count: u64 = bins.iter().map(|(_, n)| n).sum();
    if count == 0 {
        return None;
    }
    if q <= 0.0 {
        return Some(min);
    }
    if q >= 1.0 {
        return Some(max);
    }
    let want = (q * (count - 1) as f64).round_ties_even();
    let mut seen = 0.0;
    for (i, (k, n)) in bins.iter().enumerate() {
        seen += *n as f64;
        if seen <= want {
            continue;
        }
        let weight = (seen - want) / *n as f64;
        let mut low = lower_bound(*k);
        let high = low * gamma();
        if i == 0 {
            low = min;
        }
        let v = low * weight + high * (1.0 - weight);
        return Some(v.clamp(min.min(max), max.max(min)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_agent_mapping() {
        // The agent's bias for its defaults is 1338: key(1) = bias.
        assert_eq!(bias(), 1338);
        assert_eq!(key(1.0), 1338);
        assert_eq!(key(-1.0), -1338);
        assert_eq!(key(0.0), 0);
        assert_eq!(key(1e-12), 0);
        assert_eq!(key(f64::INFINITY), MAX_KEY);
        // key(lower_bound(k)) == k, the reason for rounding to even.
        for k in [1, 2, 500, 1338, 1339, 3000] {
            assert_eq!(key(lower_bound(k)), k, "k={k}");
        }
        // Every value is within the bin's relative accuracy of its lower bound.
        for v in [0.5, 3.0, 17.25, 1e6, 123_456.789] {
            let lb = lower_bound(key(v));
            assert!((lb - v).abs() / v <= 2.0 * EPS, "{v} -> {lb}");
        }
    }

    #[test]
    fn bins_split_large_counts_and_respect_the_limit() {
        let mut b = AgentBins::default();
        b.insert(2.0, 70_000);
        b.insert(3.0, 1);
        let bins = b.to_bins();
        assert_eq!(
            bins,
            vec![(key(2.0), 65_535), (key(2.0), 4_465), (key(3.0), 1)]
        );
        let mut many = AgentBins::default();
        for i in 0..5000 {
            many.insert(1.03f64.powi(i), 1);
        }
        let bins = many.to_bins();
        assert_eq!(bins.len(), BIN_LIMIT);
        assert_eq!(bins.iter().map(|(_, n)| n).sum::<u64>(), 5000);
    }

    #[test]
    fn quantiles_lie_within_the_values_and_near_them() {
        let mut b = AgentBins::default();
        for v in 1..=100 {
            b.insert(v as f64, 1);
        }
        let bins = b.to_bins();
        let p50 = quantile(&bins, 1.0, 100.0, 0.5).unwrap();
        assert!((p50 - 50.0).abs() / 50.0 < 0.03, "{p50}");
        let p99 = quantile(&bins, 1.0, 100.0, 0.99).unwrap();
        assert!((1.0..=100.0).contains(&p99));
        assert_eq!(quantile(&[], 0.0, 0.0, 0.5), None);
    }
}
