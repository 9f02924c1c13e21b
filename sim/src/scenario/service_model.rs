//! The simulated provider as a scenario describes it: latency, random capacity errors,
//! rate limits (the legacy `rate_limit` and `[[service.limits]]`), and phases that
//! override any of them for a window of time, outages included.

use crate::provider::LimitSpec;

/// How the simulated API answers attempts that no row script covers.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceModel {
    /// How long an answer takes, in microseconds.
    pub latency: Distribution,
    /// Added to a successful answer per output token of its row, in nanoseconds.
    pub latency_per_output_token_ns: u64,
    /// Probability that an unscripted attempt gets `capacity`.
    pub capacity_rate: f64,
    /// The status of those `capacity` answers (429, 503 or 529; 503 unless given).
    pub capacity_status: u16,
    /// The legacy `rate_limit`: a sliding window over accepted attempts, answering 429
    /// without a wait.
    pub rate_limit: Option<RateLimit>,
    /// `[[service.limits]]`: an attempt must fit every one.
    pub limits: Vec<LimitSpec>,
    /// `[[service.phases]]`, in file order.
    pub phases: Vec<Phase>,
}

/// Before `capacity_status` existed, random capacity errors answered 503: they still do
/// unless a scenario says otherwise.
pub const DEFAULT_CAPACITY_STATUS: u16 = 503;

impl Default for ServiceModel {
    fn default() -> Self {
        ServiceModel {
            latency: Distribution::default(),
            latency_per_output_token_ns: 0,
            capacity_rate: 0.0,
            capacity_status: DEFAULT_CAPACITY_STATUS,
            rate_limit: None,
            limits: Vec::new(),
            phases: Vec::new(),
        }
    }
}

/// A number drawn per attempt or per row: fixed, uniform, or log-normal through a p50
/// and a p99 (heavy-tailed, as real latencies and prompt lengths are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// Always this value.
    Fixed(u64),
    /// Uniform over `[min, max]`.
    Uniform {
        /// The least value.
        min: u64,
        /// The most value.
        max: u64,
    },
    /// Log-normal with this median and 99th percentile (`p99 >= p50 > 0`).
    LogNormal {
        /// The median.
        p50: u64,
        /// The 99th percentile.
        p99: u64,
    },
}

impl Default for Distribution {
    fn default() -> Self {
        Distribution::Fixed(0)
    }
}

/// At most `requests` accepted attempts in any window of `per_us`; beyond it, `capacity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Accepted attempts allowed per window.
    pub requests: u64,
    /// The window, microseconds.
    pub per_us: u64,
}

impl RateLimit {
    /// The legacy key as the limit it always was: requests in a sliding window, counting
    /// accepted attempts, answering 429 with no wait.
    pub fn as_limit(&self) -> LimitSpec {
        use crate::provider::{Counts, Measure, RetryAfter};
        LimitSpec {
            counts: Counts::Accepted,
            retry_after: RetryAfter::None,
            ..LimitSpec::new(Measure::Requests, self.requests, self.per_us)
        }
    }
}

/// `[[service.phases]]`: from `from_us` (included) to `until_us` (excluded), these keys
/// replace the service's own. The latest-starting phase in force wins; on a tie, the
/// one listed last.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Phase {
    /// Start, microseconds (included).
    pub from_us: u64,
    /// End, microseconds (excluded).
    pub until_us: u64,
    /// Every attempt fails, whatever else the phase says.
    pub outage: Option<Outage>,
    /// Replaces `capacity_rate`.
    pub capacity_rate: Option<f64>,
    /// Replaces `capacity_status`.
    pub capacity_status: Option<u16>,
    /// Replaces `latency_ms`, microseconds.
    pub latency: Option<Distribution>,
    /// Replaces `latency_per_output_token_ms`, nanoseconds.
    pub latency_per_output_token_ns: Option<u64>,
    /// Replaces the list of limits; these keep their own counters.
    pub limits: Option<Vec<LimitSpec>>,
}

impl Phase {
    /// Whether the phase is in force at `t_us`.
    pub fn covers(&self, t_us: u64) -> bool {
        self.from_us <= t_us && t_us < self.until_us
    }
}

/// An outage: every attempt answers `capacity` with this status (and wait, if given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// 503 unless given.
    pub status: u16,
    /// The wait every answer asks for, milliseconds.
    pub retry_after_ms: Option<u64>,
}
