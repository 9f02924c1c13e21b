//! Planning figures: the answer to "will my batch get through, and how fast".
//!
//! Computed from the trace alone, as it streams past ([`FiguresSink`] is a
//! [`TraceSink`](paceline_trace::TraceSink)), so the same figures come out of a simulated
//! run, a `replay` and a trace recorded from any implementation. Per run: makespan; rows
//! per result and rows unfinished; throughput in rows and tokens per minute; attempts
//! per row; failures by status; row latency from submit to result (p50, p95, p99, max);
//! time spent waiting for a permit, at the gate, paused and in backoff; peak
//! concurrency; and the share of each client budget and provider limit used.
//!
//! What a trace may lack is reported as unknown (`None`, "n/a" in words), never as zero:
//! tokens need `tokens=N` on `dispatch` events, pauses need `retry_after_ms=R` on
//! `capacity` events.

mod budget;
mod latencies;
mod sink;
mod words;

use std::collections::BTreeMap;

use paceline_trace::ResultKind;

pub use budget::{Budget, BudgetUse, Counts, Measure, Side};
pub use latencies::{EXACT_ROWS, Latencies};
pub use sink::FiguresSink;
pub use words::duration;

/// What the figures are measured against, beside the trace: the limits a trace does not
/// state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Client budgets and provider limits to report the share used of.
    pub budgets: Vec<Budget>,
    /// A server's wait (`retry_after_ms`) is clamped to this before it pauses the pool
    /// (the pool's `max_retry_after_ms`); `None`: not clamped.
    pub max_retry_after_ms: Option<u64>,
}

/// Failed attempts: answers other than `ok`, by kind and by HTTP status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    /// `capacity` answers: the API said "slow down".
    pub capacity: u64,
    /// `retryable` answers.
    pub retryable: u64,
    /// `permanent` answers.
    pub permanent: u64,
    /// Failed answers with status 429.
    pub status_429: u64,
    /// Status 503.
    pub status_503: u64,
    /// Status 529.
    pub status_529: u64,
    /// Any other status, or none.
    pub other: u64,
}

impl Failures {
    /// Every failed answer.
    pub fn total(&self) -> u64 {
        self.capacity + self.retryable + self.permanent
    }

    /// The failures pacing can avoid: `capacity` and `retryable` answers (a `permanent`
    /// one is the row's own, whatever the pool does).
    pub fn avoidable(&self) -> u64 {
        self.capacity + self.retryable
    }
}

/// Row latency from submit (the batch call) to result, over the rows that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// Median, by the nearest-rank rule: an actual row's latency.
    pub p50_us: u64,
    /// 95th percentile, nearest rank.
    pub p95_us: u64,
    /// 99th percentile, nearest rank.
    pub p99_us: u64,
    /// The slowest row.
    pub max_us: u64,
}

impl Latency {
    /// The percentiles of `latencies`, [`Latencies::sort`]ed; `None` if there are none.
    /// Exact up to [`EXACT_ROWS`] rows, within 0.1% beyond (the maximum always exact).
    pub fn of(latencies: &Latencies) -> Option<Latency> {
        Some(Latency {
            p50_us: latencies.nearest_rank(50)?,
            p95_us: latencies.nearest_rank(95)?,
            p99_us: latencies.nearest_rank(99)?,
            max_us: latencies.max()?,
        })
    }
}

/// Time rows spent waiting, summed over rows, and time the whole pool was paused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waits {
    /// From ready (or the end of a backoff) to taking a permit.
    pub permit_us: u64,
    /// Holding a permit, before the gate admitted the attempt.
    pub gate_us: u64,
    /// The pool paused by servers' `retry_after_ms` (wall time, not per row); `None`
    /// when capacity answers came without it, so the trace cannot tell.
    pub paused_us: Option<u64>,
    /// Cooling down without a permit after a failure.
    pub backoff_us: u64,
}

/// The planning figures of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// From the first event to the last result; for a run cut off by its horizon, to
    /// the horizon (a lower bound: see `unfinished`).
    pub makespan_us: u64,
    /// Rows known: ended plus unfinished.
    pub rows: u64,
    /// Rows per result.
    pub results: BTreeMap<ResultKind, u64>,
    /// Rows without a result when the run ended.
    pub unfinished: u64,
    /// The horizon, when the run was cut off by it.
    pub horizon_us: Option<u64>,
    /// Rows ended `ok` per minute of makespan; `None` for a run of no duration.
    pub rows_per_min: Option<f64>,
    /// Tokens of rows ended `ok` per minute; `None` without `tokens` in the trace.
    pub tokens_per_min: Option<f64>,
    /// Attempts dispatched.
    pub dispatches: u64,
    /// Dispatches of a second or later attempt of a row.
    pub retries: u64,
    /// Failed answers.
    pub failures: Failures,
    /// Row latency, over rows that ended; `None` if none did.
    pub latency: Option<Latency>,
    /// Time spent waiting.
    pub waits: Waits,
    /// Most permits held at once.
    pub peak_permits: u64,
    /// Most attempts in flight at once.
    pub peak_in_flight: u64,
    /// The share of each budget and limit used.
    pub budgets: Vec<BudgetUse>,
}

impl Figures {
    /// Attempts per row; `None` for a run without rows.
    pub fn attempts_per_row(&self) -> Option<f64> {
        (self.rows > 0).then(|| self.dispatches as f64 / self.rows as f64)
    }

    /// Rows that ended with `kind`.
    pub fn rows_with(&self, kind: ResultKind) -> u64 {
        self.results.get(&kind).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::{Latencies, Latency};

    fn of(values: impl IntoIterator<Item = u64>) -> Option<Latency> {
        let mut l = Latencies::default();
        values.into_iter().for_each(|v| l.push(v));
        l.sort();
        Latency::of(&l)
    }

    #[test]
    fn percentiles_are_nearest_rank_values_of_actual_rows() {
        let l = of([590, 100, 490, 200]).expect("rows");
        assert_eq!(
            (l.p50_us, l.p95_us, l.p99_us, l.max_us),
            (200, 590, 590, 590)
        );
        let l = of((1..=100).rev()).expect("rows");
        assert_eq!((l.p50_us, l.p95_us, l.p99_us, l.max_us), (50, 95, 99, 100));
        assert_eq!(of([]), None);
    }
}
