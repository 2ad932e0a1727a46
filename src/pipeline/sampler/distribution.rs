//! Distributions: one sketch per context and bucket. The summary (count, sum, min, max, avg)
//! is kept exactly as the reference's `quantile.Summary` keeps it (count += int64(1/rate),
//! sum += value × 1/rate); quantiles come from a DDSketch (sketches-ddsketch). The agent's
//! own bins (k/n, what `serve --forward-to` posts) are kept beside it with the exact weights,
//! only where they are posted: they cost a logarithm and a map update per value.

use crate::pipeline::agent_sketch::AgentBins;
use sketches_ddsketch::{Config, DDSketch};

/// Cap on how many times one weighted value is inserted into the DDSketch: the summary stays
/// exact, only the quantile estimate of extreme sample rates is affected.
const MAX_SKETCH_WEIGHT: i64 = 1_000;

#[derive(Clone)]
pub struct Distribution {
    pub sketch: DDSketch,
    /// The agent's bins of the same values, weighted as the count (Σn = count), when kept
    /// ([`Distribution::with_agent_bins`]).
    pub bins: Option<AgentBins>,
    pub count: i64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
}

impl std::fmt::Debug for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distribution")
            .field("count", &self.count)
            .field("sum", &self.sum)
            .field("min", &self.min)
            .field("max", &self.max)
            .finish()
    }
}

impl Default for Distribution {
    fn default() -> Self {
        Distribution {
            sketch: DDSketch::new(Config::defaults()),
            bins: None,
            count: 0,
            sum: 0.0,
            min: 0.0,
            max: 0.0,
            avg: 0.0,
        }
    }
}

impl Distribution {
    /// A distribution that also keeps the agent's bins.
    pub fn with_agent_bins() -> Distribution {
        Distribution {
            bins: Some(AgentBins::default()),
            ..Distribution::default()
        }
    }

    /// Inserts a value with the reference's weight: a rate outside (0, 1] counts as 1, and the
    /// count is the truncated `1 / rate` while the sum uses the exact weight.
    pub fn insert(&mut self, value: f64, sample_rate: f64) {
        let rate = if sample_rate > 0.0 && sample_rate <= 1.0 {
            sample_rate
        } else {
            1.0
        };
        let n = 1.0 / rate;
        let cnt = n as i64;
        // Merge of a one-value summary, as quantile.Summary.InsertN does.
        if self.count == 0 {
            self.min = value;
            self.max = value;
            self.avg = value;
            self.sum = n * value;
            self.count = cnt;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
            self.count += cnt;
            self.sum += n * value;
            if self.count > 0 {
                self.avg += (value - self.avg) * cnt as f64 / self.count as f64;
            }
        }
        if let Some(bins) = &mut self.bins {
            bins.insert(value, cnt.max(0) as u64);
        }
        for _ in 0..cnt.clamp(1, MAX_SKETCH_WEIGHT) {
            self.sketch.add(value);
        }
    }

    pub fn quantiles(&self) -> Vec<(f64, f64)> {
        [0.5, 0.95, 0.99]
            .iter()
            .filter_map(|q| self.sketch.quantile(*q).ok().flatten().map(|v| (*q, v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_and_sums_with_rates() {
        let mut d = Distribution::with_agent_bins();
        d.insert(2.0, 1.0);
        d.insert(4.0, 0.5); // weight 2
        d.insert(-1.0, 0.3); // count 3, sum weight 3.33…
        assert_eq!(d.count, 1 + 2 + 3);
        assert!((d.sum - (2.0 + 8.0 - 1.0 / 0.3)).abs() < 1e-12);
        assert_eq!(d.min, -1.0);
        assert_eq!(d.max, 4.0);
        let q = d.quantiles();
        assert_eq!(q.len(), 3);
        let n: u64 = d.bins.unwrap().to_bins().iter().map(|(_, n)| n).sum();
        assert_eq!(n, d.count as u64);
    }
}
