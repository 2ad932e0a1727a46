//! The generated stream: datagrams in arrival order, produced one at a time (constant memory
//! however long the stream), with their arrival times and running counts.

use super::config::{GeneratorConfig, StreamLength, NANOS_PER_SEC};
use super::line::{self, Rendered};
use super::pool::Pool;
use crate::protocol::MetricType;
use crate::source::Datagram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Independent RNG streams of one seed, so that changing one group of knobs does not reshuffle
/// the others: e.g. `jitter` or `packet_rate` leave the context pool untouched.
const POOL_STREAM: u64 = 0;
const LINE_STREAM: u64 = 1;
const JITTER_STREAM: u64 = 2;

/// What the stream has produced so far (all of it once the iterator is exhausted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamCounts {
    pub datagrams: u64,
    pub bytes: u64,
    pub lines: u64,
    /// Metric values + events + service checks (the report's unit).
    pub samples: u64,
    /// Metric lines by type, in [`MetricType::ALL`] order.
    pub metric_lines: [u64; 6],
    /// Metric values by type, in [`MetricType::ALL`] order.
    pub metric_samples: [u64; 6],
    pub events: u64,
    pub service_checks: u64,
    /// Metric lines with `|T`.
    pub timestamped: u64,
    pub first_ts_ns: Option<u64>,
    pub last_ts_ns: Option<u64>,
}

/// The iterator [`super::generate`] returns.
pub struct GeneratedStream {
    config: GeneratorConfig,
    pool: Pool,
    rng: ChaCha8Rng,
    jitter_rng: ChaCha8Rng,
    /// Most jitter, in ns (0: none).
    jitter_ns: u64,
    next: u64,
    /// Datagrams left to produce; `None` in `samples` mode (ends on the budget).
    packets_left: Option<u64>,
    samples_left: Option<u64>,
    /// The line being rendered, reused.
    scratch: Vec<u8>,
    counts: StreamCounts,
}

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

impl GeneratedStream {
    /// Builds the context pool and positions the stream before its first datagram. The config
    /// must be valid.
    pub(crate) fn new(config: GeneratorConfig) -> GeneratedStream {
        let pool = Pool::build(&config, &mut rng(config.seed, POOL_STREAM));
        let gap = NANOS_PER_SEC / config.packet_rate as u64;
        // Below one (minimum) gap, so arrivals stay strictly increasing.
        let jitter_ns = (gap as f64 * config.jitter) as u64;
        let (packets_left, samples_left) = match config.length {
            StreamLength::Samples(n) => (None, Some(n)),
            _ => (Some(config.max_packets()), None),
        };
        GeneratedStream {
            rng: rng(config.seed, LINE_STREAM),
            jitter_rng: rng(config.seed, JITTER_STREAM),
            jitter_ns,
            pool,
            config,
            next: 0,
            packets_left,
            samples_left,
            scratch: Vec::with_capacity(256),
            counts: StreamCounts::default(),
        }
    }

    /// Counts of what was produced so far.
    pub fn counts(&self) -> &StreamCounts {
        &self.counts
    }

    /// Distinct metric contexts in the pool (the `contexts` setting).
    pub fn contexts(&self) -> usize {
        self.pool.context_count()
    }

    fn done(&self) -> bool {
        self.packets_left == Some(0) || self.samples_left == Some(0)
    }

    fn count(&mut self, r: Rendered) {
        let c = &mut self.counts;
        c.lines += 1;
        c.samples += r.samples();
        match r {
            Rendered::Metric(t, n, timestamped) => {
                #[allow(clippy::expect_used)] // proven: a type
                let i = MetricType::ALL
                    .iter()
                    .position(|&x| x == t)
                    .expect("a type");
                c.metric_lines[i] += 1;
                c.metric_samples[i] += n;
                c.timestamped += u64::from(timestamped);
            }
            Rendered::Event => c.events += 1,
            Rendered::ServiceCheck => c.service_checks += 1,
        }
    }
}

impl Iterator for GeneratedStream {
    type Item = Datagram;

    fn next(&mut self) -> Option<Datagram> {
        if self.done() {
            return None;
        }
        let jitter = if self.jitter_ns > 0 {
            self.jitter_rng.random_range(0..self.jitter_ns)
        } else {
            0
        };
        #[allow(clippy::expect_used)] // proven: validated: arrivals fit u64
        let ts_ns = self
            .config
            .packet_ts_ns(self.next)
            .expect("validated: arrivals fit u64")
            .saturating_add(jitter);
        let ts_sec = ts_ns / NANOS_PER_SEC;
        let c = &self.config;
        let target = self
            .rng
            .random_range(c.lines_per_datagram.min..=c.lines_per_datagram.max);
        let limit = c.datagram_size as usize;
        let mut payload = Vec::with_capacity(limit.min(target as usize * 128));
        for _ in 0..target {
            let budget = self.samples_left.unwrap_or(u64::MAX);
            if budget == 0 {
                break;
            }
            self.scratch.clear();
            let r = line::write_line(
                &mut self.scratch,
                &self.config,
                &self.pool,
                &mut self.rng,
                budget,
                ts_sec,
            );
            debug_assert!(self.scratch.len() as u64 <= super::config::max_line_len(&self.config));
            // Packed like a client's buffer: the next line goes in only if it still fits.
            // Validation makes every line fit an empty datagram, so none is ever empty.
            let sep = usize::from(!payload.is_empty());
            if payload.len() + sep + self.scratch.len() > limit {
                break;
            }
            if sep == 1 {
                payload.push(b'\n');
            }
            payload.extend_from_slice(&self.scratch);
            if let Some(left) = &mut self.samples_left {
                *left -= r.samples();
            }
            self.count(r);
        }
        self.next += 1;
        if let Some(left) = &mut self.packets_left {
            *left -= 1;
        }
        let counts = &mut self.counts;
        counts.datagrams += 1;
        counts.bytes += payload.len() as u64;
        counts.first_ts_ns.get_or_insert(ts_ns);
        counts.last_ts_ns = Some(ts_ns);
        Some(Datagram { ts_ns, payload })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.packets_left {
            Some(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                (n, Some(n))
            }
            None => (usize::from(!self.done()), None),
        }
    }
}
