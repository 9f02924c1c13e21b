//! Budgets and limits: how much of each a run used. A client budget is the pool's own
//! ceiling (requests or tokens per minute); a provider limit is the API's. Both are
//! measured from the dispatches of the trace, in half-open windows `(t - per, t]`.

/// Whose limit it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The pool's own budget.
    Client,
    /// The API's limit.
    Provider,
}

/// What a budget counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Each attempt costs 1.
    Requests,
    /// Each attempt costs its `tokens` (from the dispatch's detail).
    Tokens,
}

/// Which attempts a budget counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// Every attempt dispatched.
    All,
    /// Attempts the API did not refuse with `capacity` (a sliding window over accepted
    /// attempts, as the simulator's `rate_limit` keeps it).
    Accepted,
}

/// A budget or limit to measure a run against: `amount` per `per_us`.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// How users name it: `service.rate_limit`, `pool.requests_per_minute`.
    pub name: String,
    /// Client or provider.
    pub side: Side,
    /// Requests or tokens.
    pub measure: Measure,
    /// Which attempts count.
    pub counts: Counts,
    /// How many fit in a window.
    pub amount: u64,
    /// The window, in microseconds.
    pub per_us: u64,
}

/// How much of a budget a run used.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetUse {
    /// The budget.
    pub budget: Budget,
    /// Used over the run: what was counted, over the most the budget lets through in a
    /// stretch as long as the makespan (`amount` per started window). `None` for a token
    /// budget on a trace without `tokens`.
    pub mean: Option<f64>,
    /// Used in the busiest window, over the amount.
    pub peak: Option<f64>,
}

/// One dispatch as budgets see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    pub(crate) t_us: u64,
    pub(crate) tokens: Option<u64>,
    pub(crate) refused: bool,
}

impl Budget {
    /// What `a` costs under this budget; `None` when the trace does not say (tokens).
    fn cost(&self, a: &Attempt) -> Option<u64> {
        if self.counts == Counts::Accepted && a.refused {
            return Some(0);
        }
        match self.measure {
            Measure::Requests => Some(1),
            Measure::Tokens => a.tokens,
        }
    }

    /// Measure `attempts` (in dispatch order) against the budget, over `makespan_us`.
    pub(crate) fn used(&self, attempts: &[Attempt], makespan_us: u64) -> BudgetUse {
        let unknown = BudgetUse {
            budget: self.clone(),
            mean: None,
            peak: None,
        };
        let Some(costs) = attempts
            .iter()
            .map(|a| self.cost(a))
            .collect::<Option<Vec<u64>>>()
        else {
            return unknown;
        };
        if self.amount == 0 || self.per_us == 0 {
            return unknown;
        }
        let mut peak = 0u64;
        let mut in_window = 0u64;
        let mut left = 0;
        for (i, a) in attempts.iter().enumerate() {
            in_window += costs[i];
            while attempts[left].t_us.saturating_add(self.per_us) <= a.t_us {
                in_window -= costs[left];
                left += 1;
            }
            peak = peak.max(in_window);
        }
        let total: u64 = costs.iter().sum();
        // The most a half-open window lets through in a stretch of the makespan's
        // length: a full window's worth at the start, and one more per window after.
        let windows = (makespan_us / self.per_us + 1) as f64;
        BudgetUse {
            budget: self.clone(),
            mean: Some(total as f64 / (self.amount as f64 * windows)),
            peak: Some(peak as f64 / self.amount as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(t_ms: u64, tokens: Option<u64>, refused: bool) -> Attempt {
        Attempt {
            t_us: t_ms * 1000,
            tokens,
            refused,
        }
    }

    fn budget(measure: Measure, counts: Counts, amount: u64) -> Budget {
        Budget {
            name: "b".into(),
            side: Side::Provider,
            measure,
            counts,
            amount,
            per_us: 1_000_000,
        }
    }

    #[test]
    fn the_busiest_half_open_window_and_the_mean_over_the_run() {
        // Dispatches at 0, 400, 999 and 1000 ms. The window ending at 999 ms holds the
        // first three; the one ending at 1000 ms, (0, 1000], the last three.
        let attempts = [
            attempt(0, Some(10), false),
            attempt(400, Some(20), true),
            attempt(999, Some(30), false),
            attempt(1000, Some(40), false),
        ];
        let all = budget(Measure::Requests, Counts::All, 4).used(&attempts, 2_000_000);
        assert_eq!(all.peak, Some(0.75));
        // 4 requests where 2 s let through at most 3 windows of 4.
        assert_eq!(all.mean, Some(4.0 / 12.0));
        let accepted = budget(Measure::Requests, Counts::Accepted, 4).used(&attempts, 2_000_000);
        assert_eq!(accepted.peak, Some(0.5));
        let tokens = budget(Measure::Tokens, Counts::All, 100).used(&attempts, 1_000_000);
        assert_eq!(tokens.peak, Some(0.9));
        // 100 tokens where 1 s lets through at most 2 windows of 100.
        assert_eq!(tokens.mean, Some(0.5));
    }

    #[test]
    fn a_token_budget_without_tokens_in_the_trace_is_unknown() {
        let attempts = [attempt(0, None, false)];
        let used = budget(Measure::Tokens, Counts::All, 100).used(&attempts, 1_000_000);
        assert_eq!((used.mean, used.peak), (None, None));
    }
}
