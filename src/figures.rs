//! The planning figures of a scenario's runs: what the scenario says the run is measured
//! against (the pool's own budgets, the provider's limits, how long a server's wait may
//! pause the pool), and how the figures read on a terminal.

use paceline_core::PoolConfig;
use paceline_reports::figures::{Budget, Counts, Figures, Limits, Measure, Side};
use paceline_sim::{self as sim, Scenario};

/// The window of the pool's own budgets: they are per minute.
const MINUTE_US: u64 = 60_000_000;

/// The budgets and limits of `scenario`, for its planning figures.
///
/// A provider limit kept as a bucket (refilled continuously) is measured as a window of
/// the same length: its share over the run is exact, the busiest window may exceed 100%
/// by the burst a full bucket allows. Limits of `[[service.phases]]` are not measured.
pub fn limits_of(scenario: &Scenario) -> Limits {
    let mut limits = pool_limits(&scenario.pool);
    if let Some(limit) = scenario.service.rate_limit {
        // The legacy sliding window counts the attempts it accepted.
        limits.budgets.push(Budget {
            name: "service.rate_limit".into(),
            side: Side::Provider,
            measure: Measure::Requests,
            counts: Counts::Accepted,
            amount: limit.requests,
            per_us: limit.per_us,
        });
    }
    limits.budgets.extend(
        scenario
            .service
            .limits
            .iter()
            .enumerate()
            .map(|(i, limit)| Budget {
                name: format!("service.limits.{i}"),
                side: Side::Provider,
                measure: match limit.measure {
                    sim::Measure::Requests => Measure::Requests,
                    sim::Measure::Tokens => Measure::Tokens,
                },
                counts: match limit.counts {
                    sim::Counts::All => Counts::All,
                    sim::Counts::Accepted => Counts::Accepted,
                },
                amount: limit.amount,
                per_us: limit.per_us,
            }),
    );
    limits
}

/// What a pool's own configuration says a run is measured against: its budgets and the
/// longest server wait it honours. All a recorded trace's `[pool]` table can tell.
pub fn pool_limits(pool: &PoolConfig) -> Limits {
    let client = |name: &str, measure: Measure, amount: Option<u64>| {
        amount.map(|amount| Budget {
            name: name.into(),
            side: Side::Client,
            measure,
            // The pool counts every dispatch, a retry included.
            counts: Counts::All,
            amount,
            per_us: MINUTE_US,
        })
    };
    let budgets: Vec<Budget> = [
        client(
            "pool.requests_per_minute",
            Measure::Requests,
            pool.requests_per_minute(),
        ),
        client(
            "pool.tokens_per_minute",
            Measure::Tokens,
            pool.tokens_per_minute(),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let max_wait_ms = u64::try_from(pool.max_retry_after().as_millis()).unwrap_or(u64::MAX);
    Limits {
        budgets,
        // A pool that does not honour a server's wait never pauses for one.
        max_retry_after_ms: Some(if pool.honour_retry_after() {
            max_wait_ms
        } else {
            0
        }),
    }
}

/// The figures as indented `name: value` lines.
pub fn text(figures: &Figures) -> String {
    figures
        .lines()
        .into_iter()
        .map(|(name, value)| format!("  {name}: {value}\n"))
        .collect()
}
