//! The gate: the one pacer in front of every dispatch of the pool.
//!
//! It remembers when the pool last dispatched (`None` before the first dispatch, since a
//! virtual clock legitimately starts at zero) and holds the waiters in arrival order. It is
//! plain state: callers tell it the time and the current delay, and it says who may go.
//! Because the spacing is recomputed on every call, a change of `D` takes effect on the
//! head waiter the next time anyone asks.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Time;
use crate::config::{GatePolicy, PoolConfig};

/// The pacer, with its first-come-first-served queue of row indices.
#[derive(Debug, Clone)]
pub struct Gate {
    policy: GatePolicy,
    min_spacing: Duration,
    last_dispatch: Option<Time>,
    waiters: VecDeque<usize>,
}

impl Gate {
    pub fn new(config: &PoolConfig) -> Self {
        Gate {
            policy: config.gate(),
            min_spacing: Duration::from_millis(config.min_dispatch_delay_ms()),
            last_dispatch: None,
            waiters: VecDeque::new(),
        }
    }

    /// The spacing required before the next dispatch, given the throttle's current delay.
    pub fn spacing(&self, delay: Duration) -> Duration {
        match self.policy {
            GatePolicy::Aimd if !defect!(D2) => delay,
            GatePolicy::Aimd | GatePolicy::Min => self.min_spacing,
        }
    }

    /// When the next dispatch may happen: `None` if the pool never dispatched.
    pub fn opens_at(&self, delay: Duration) -> Option<Time> {
        self.last_dispatch
            .filter(|last| !(defect!(D7) && last.is_zero()))
            .map(|last| last.saturating_add(self.spacing(delay)))
    }

    /// Queue a row behind the rows already waiting.
    pub fn join(&mut self, row: usize) {
        self.waiters.push_back(row);
    }

    /// Take a row out of the queue (its deadline passed, or the pool shut down).
    pub fn leave(&mut self, row: usize) {
        self.waiters.retain(|&r| r != row);
    }

    /// Admit the head waiter if the spacing allows it now, recording the dispatch.
    pub fn admit(&mut self, now: Time, delay: Duration) -> Option<usize> {
        if self.opens_at(delay).is_some_and(|t| now < t) {
            return None;
        }
        let row = self.waiters.pop_front()?;
        self.last_dispatch = Some(now);
        Some(row)
    }

    /// When the head waiter can next be admitted, if anyone waits.
    pub fn next_admission(&self, delay: Duration) -> Option<Time> {
        if self.waiters.is_empty() {
            return None;
        }
        Some(self.opens_at(delay).unwrap_or(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawPoolConfig;

    fn gate(policy: &str, min: i64) -> Gate {
        let raw = RawPoolConfig {
            min_dispatch_delay_ms: min,
            gate: policy.into(),
            ..RawPoolConfig::default()
        };
        Gate::new(&PoolConfig::try_from(raw).expect("valid test config"))
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_dispatch_at_time_zero_passes_and_counts() {
        let mut g = gate("min", 100);
        g.join(0);
        g.join(1);
        assert_eq!(g.admit(Duration::ZERO, MS), Some(0));
        assert_eq!(g.admit(50 * MS, MS), None, "zero is a real dispatch time");
        assert_eq!(g.next_admission(MS), Some(100 * MS));
        assert_eq!(g.admit(100 * MS, MS), Some(1));
    }

    #[test]
    fn aimd_spaces_by_the_delay_it_is_given_each_time() {
        let mut g = gate("aimd", 100);
        g.join(0);
        g.join(1);
        assert_eq!(g.admit(Duration::ZERO, 500 * MS), Some(0));
        assert_eq!(g.next_admission(500 * MS), Some(500 * MS));
        // The delay fell meanwhile: the head passes as soon as the lower spacing allows.
        assert_eq!(g.admit(200 * MS, 100 * MS), Some(1));
    }

    #[test]
    fn waiters_pass_in_arrival_order_and_can_leave() {
        let mut g = gate("min", 0);
        for r in [3, 1, 2] {
            g.join(r);
        }
        g.leave(1);
        assert_eq!(g.admit(Duration::ZERO, Duration::ZERO), Some(3));
        assert_eq!(g.admit(Duration::ZERO, Duration::ZERO), Some(2));
        assert_eq!(g.admit(Duration::ZERO, Duration::ZERO), None, "nobody left");
    }
}
