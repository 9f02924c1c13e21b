//! Budgets and limits: how much of each a run used. A client budget is the pool's own
//! ceiling (requests or tokens per minute); a provider limit is the API's. Both are
//! measured from the dispatches of the trace, in half-open windows `(t - per, t]`, as the
//! trace streams by: an attempt waits until its answer says whether the API refused it,
//! then each budget's window takes it, so memory holds the attempts of one window and
//! those still in flight, not every dispatch of the run.

use std::collections::VecDeque;

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

/// Attempts waiting for their answer before the budgets take them in dispatch order; at
/// most this many, then the oldest is taken as accepted (an attempt never answered).
const MAX_PENDING: usize = 100_000;

impl Budget {
    fn cost(&self, a: &Attempt) -> Option<u64> {
        if self.counts == Counts::Accepted && a.refused {
            return Some(0);
        }
        match self.measure {
            Measure::Requests => Some(1),
            Measure::Tokens => a.tokens,
        }
    }
}

/// One budget's use so far: its sliding window, the busiest window and the total.
#[derive(Debug, Clone)]
struct Meter {
    budget: Budget,
    /// Attempts in the window ending at the latest: time and cost.
    window: VecDeque<(u64, u64)>,
    in_window: u64,
    peak: u64,
    total: u64,
    /// An attempt without the measure (no `tokens` for a token budget): use unknown.
    unknown: bool,
}

impl Meter {
    fn new(budget: Budget) -> Self {
        Meter {
            budget,
            window: VecDeque::new(),
            in_window: 0,
            peak: 0,
            total: 0,
            unknown: false,
        }
    }

    /// Take the next attempt in dispatch order.
    fn take(&mut self, a: &Attempt) {
        if self.unknown {
            return;
        }
        let Some(cost) = self.budget.cost(a) else {
            self.unknown = true;
            self.window.clear();
            return;
        };
        self.window.push_back((a.t_us, cost));
        self.in_window += cost;
        while let Some(&(t, c)) = self.window.front()
            && t.saturating_add(self.budget.per_us) <= a.t_us
        {
            self.in_window -= c;
            self.window.pop_front();
        }
        self.peak = self.peak.max(self.in_window);
        self.total += cost;
    }

    fn finish(self, makespan_us: u64) -> BudgetUse {
        let (amount, per_us) = (self.budget.amount, self.budget.per_us);
        if self.unknown || amount == 0 || per_us == 0 {
            return BudgetUse {
                budget: self.budget,
                mean: None,
                peak: None,
            };
        }
        // The most a half-open window lets through in a stretch of the makespan's
        // length: a full window's worth at the start, and one more per window after.
        let windows = (makespan_us / per_us + 1) as f64;
        BudgetUse {
            mean: Some(self.total as f64 / (amount as f64 * windows)),
            peak: Some(self.peak as f64 / amount as f64),
            budget: self.budget,
        }
    }
}

/// Every budget's use, measured as attempts are dispatched and answered.
#[derive(Debug, Clone)]
pub(crate) struct Meters {
    /// Attempts from the oldest not yet taken, in dispatch order; `true` once answered.
    pending: VecDeque<(Attempt, bool)>,
    /// The number of the front attempt.
    base: u64,
    meters: Vec<Meter>,
}

impl Meters {
    pub(crate) fn new(budgets: &[Budget]) -> Self {
        Meters {
            pending: VecDeque::new(),
            base: 0,
            meters: budgets.iter().cloned().map(Meter::new).collect(),
        }
    }

    /// Whether there is anything to measure.
    pub(crate) fn any(&self) -> bool {
        !self.meters.is_empty()
    }

    /// An attempt dispatched at `t_us`: its number, for its answer.
    pub(crate) fn dispatch(&mut self, t_us: u64, tokens: Option<u64>) -> u64 {
        let number = self.base + self.pending.len() as u64;
        let attempt = Attempt {
            t_us,
            tokens,
            refused: false,
        };
        self.pending.push_back((attempt, false));
        if self.pending.len() > MAX_PENDING {
            self.take_front();
        }
        number
    }

    /// Attempt `number` was answered; `refused` if the API refused it.
    pub(crate) fn answer(&mut self, number: u64, refused: bool) {
        let Some(at) = number.checked_sub(self.base) else {
            return;
        };
        if let Some((attempt, answered)) = usize::try_from(at)
            .ok()
            .and_then(|at| self.pending.get_mut(at))
        {
            attempt.refused = refused;
            *answered = true;
        }
        while self.pending.front().is_some_and(|(_, answered)| *answered) {
            self.take_front();
        }
    }

    fn take_front(&mut self) {
        if let Some((attempt, _)) = self.pending.pop_front() {
            self.base += 1;
            for meter in &mut self.meters {
                meter.take(&attempt);
            }
        }
    }

    /// Each budget's use over a run of `makespan_us`; attempts never answered count as
    /// accepted.
    pub(crate) fn finish(&mut self, makespan_us: u64) -> Vec<BudgetUse> {
        while !self.pending.is_empty() {
            self.take_front();
        }
        std::mem::take(&mut self.meters)
            .into_iter()
            .map(|m| m.finish(makespan_us))
            .collect()
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

    /// The budget's use of `attempts` (refused as marked), answered in dispatch order.
    fn used(budget: Budget, attempts: &[Attempt], makespan_us: u64) -> BudgetUse {
        let mut meters = Meters::new(&[budget]);
        for a in attempts {
            let n = meters.dispatch(a.t_us, a.tokens);
            meters.answer(n, a.refused);
        }
        meters.finish(makespan_us).remove(0)
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
        let all = used(
            budget(Measure::Requests, Counts::All, 4),
            &attempts,
            2_000_000,
        );
        assert_eq!(all.peak, Some(0.75));
        // 4 requests where 2 s let through at most 3 windows of 4.
        assert_eq!(all.mean, Some(4.0 / 12.0));
        let accepted = used(
            budget(Measure::Requests, Counts::Accepted, 4),
            &attempts,
            2_000_000,
        );
        assert_eq!(accepted.peak, Some(0.5));
        let tokens = used(
            budget(Measure::Tokens, Counts::All, 100),
            &attempts,
            1_000_000,
        );
        assert_eq!(tokens.peak, Some(0.9));
        // 100 tokens where 1 s lets through at most 2 windows of 100.
        assert_eq!(tokens.mean, Some(0.5));
    }

    #[test]
    fn answers_out_of_order_are_taken_in_dispatch_order_and_nothing_stays() {
        // Two attempts 10 ms apart; the second is refused and answered first. Counting
        // accepted requests, the busiest window holds one; all requests, two.
        let b = |counts| budget(Measure::Requests, counts, 2);
        let mut meters = Meters::new(&[b(Counts::Accepted), b(Counts::All)]);
        let first = meters.dispatch(0, None);
        let second = meters.dispatch(10_000, None);
        meters.answer(second, true);
        assert_eq!(meters.pending.len(), 2, "the first is still in flight");
        meters.answer(first, false);
        assert!(meters.pending.is_empty());
        // A window long past is forgotten: only attempts within one `per` are kept.
        for i in 0..1000u64 {
            let n = meters.dispatch(2_000_000 + i * 100_000, None);
            meters.answer(n, false);
        }
        assert!(meters.meters.iter().all(|m| m.window.len() <= 10));
        let used = meters.finish(100_000_000);
        assert_eq!(used[0].peak, Some(5.0), "ten accepted a second, of 2");
        assert_eq!(used[1].peak, Some(5.0));
    }

    #[test]
    fn a_token_budget_without_tokens_in_the_trace_is_unknown() {
        let attempts = [attempt(0, None, false)];
        let used = used(
            budget(Measure::Tokens, Counts::All, 100),
            &attempts,
            1_000_000,
        );
        assert_eq!((used.mean, used.peak), (None, None));
    }
}
