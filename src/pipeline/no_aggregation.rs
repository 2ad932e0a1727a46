//! The no-aggregation path of samples with an explicit timestamp (`|T`): each is passed through
//! as one point, as the reference's `no_aggregation_stream_worker.go` does. Only gauges (as
//! gauges) and counts (as rates, value ÷ 10) are supported; the reference discards the other
//! types, and so does this, counting them.

use crate::pipeline::flushed::{FlushedItem, Series, SeriesType};
use crate::pipeline::sample::{Sample, SampleId};
use crate::protocol::MetricType;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NoAggCounters {
    pub samples_in: u64,
    pub points_out: u64,
    pub unsupported_type: u64,
}

#[derive(Debug, Clone)]
pub struct NoAggregation {
    interval: i64,
    pub counters: NoAggCounters,
    /// Samples discarded for their type, by identity.
    pub unsupported: Vec<SampleId>,
}

impl NoAggregation {
    pub fn new(interval: i64) -> NoAggregation {
        NoAggregation {
            interval,
            counters: NoAggCounters::default(),
            unsupported: Vec::new(),
        }
    }

    /// Turns a timestamped sample into its point, or discards it.
    pub fn process(&mut self, sample: Sample) -> Option<FlushedItem> {
        self.counters.samples_in += 1;
        let (series_type, value) = match sample.metric_type {
            MetricType::Gauge => (SeriesType::Gauge, sample.number()),
            MetricType::Count => (SeriesType::Rate, sample.number() / self.interval as f64),
            _ => {
                self.counters.unsupported_type += 1;
                self.unsupported.push(sample.id);
                return None;
            }
        };
        self.counters.points_out += 1;
        Some(FlushedItem::Series(Series {
            metric: sample.context.name.clone(),
            series_type,
            interval: self.interval,
            points: vec![(sample.timestamp.unwrap_or(0), value)],
            tags: sample.context.tags.clone(),
            host: sample.context.host.clone(),
        }))
    }
}
