//! `--shard k/n`: a deterministic partition of a run's stop moments, so that each job of a CI
//! matrix runs one part and `merge` puts the parts back together. Moment `i` (counted over the
//! resolved moments, in the order they were asked for, from 0) belongs to shard `i mod n + 1`:
//! round robin keeps the parts the same size and spreads early and late moments over all.

use std::fmt;
use std::str::FromStr;

/// One part of `count`, numbered from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A bad `--shard` value.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid shard '{0}' (expected k/n with 1 ≤ k ≤ n, e.g. 2/3)")]
pub struct ShardError(pub String);

impl FromStr for Shard {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ShardError(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(err)?;
        let index: u32 = k.trim().parse().map_err(|_| err())?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        if index == 0 || index > count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether moment `i` (from 0) is this shard's.
    pub fn owns(&self, i: usize) -> bool {
        i % self.count as usize == (self.index - 1) as usize
    }

    /// How many of `moments` moments are this shard's.
    pub fn share(&self, moments: usize) -> usize {
        (0..moments).filter(|i| self.owns(*i)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_moments() {
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for i in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.owns(i)).count(), 1, "{i}");
        }
        assert_eq!(shards.iter().map(|s| s.share(10)).sum::<usize>(), 10);
        for bad in ["0/3", "4/3", "1", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
