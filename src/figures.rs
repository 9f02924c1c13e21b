//! The planning figures of a scenario's runs: what the scenario says the run is measured
//! against (its provider's limit; the pool's own budgets once the pool has them), and
//! how the figures read on a terminal.

use paceline_reports::figures::{Budget, Counts, Figures, Limits, Measure, Side};
use paceline_sim::Scenario;

/// The budgets and limits of `scenario`, for its planning figures.
pub fn limits_of(scenario: &Scenario) -> Limits {
    let mut budgets = Vec::new();
    if let Some(limit) = scenario.service.rate_limit {
        // The simulated API's sliding window counts the attempts it accepted.
        budgets.push(Budget {
            name: "service.rate_limit".into(),
            side: Side::Provider,
            measure: Measure::Requests,
            counts: Counts::Accepted,
            amount: limit.requests,
            per_us: limit.per_us,
        });
    }
    Limits {
        budgets,
        max_retry_after_ms: None,
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
