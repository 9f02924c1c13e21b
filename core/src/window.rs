//! A sliding window of costs over integer time: how much was spent in `(t - per, t]`,
//! and exactly when an amount will fit again.
//!
//! The pool's client budget (requests and tokens per minute) and the simulated
//! provider's window limits both need "does this fit now, and if not, when": the answer
//! is one data structure, kept here. Time is any integer unit (the pool uses nanoseconds,
//! the simulator microseconds); each call costs O(log n) for n entries in the window
//! (amortised O(1) expiry, one binary search for a wait), so a window of a million
//! entries is never scanned.

use std::collections::VecDeque;

/// Costs recorded at instants, of which those inside `(now - per, now]` count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlidingWindow {
    per: u64,
    /// (instant, total cost ever recorded up to and including it), oldest first: the cost
    /// of any prefix is `cum - expired`, increasing along the queue.
    entries: VecDeque<(u64, u128)>,
    total: u128,
    expired: u128,
}

impl SlidingWindow {
    /// An empty window of length `per`.
    pub fn new(per: u64) -> Self {
        SlidingWindow {
            per,
            ..SlidingWindow::default()
        }
    }

    /// Forget what left the window by `now`: an entry at `s` counts while `s + per > now`.
    /// Time must not go backwards between calls (callers keep a monotonic clock).
    pub fn expire(&mut self, now: u64) {
        while let Some(&(at, cum)) = self.entries.front() {
            if at.saturating_add(self.per) > now {
                break;
            }
            self.expired = cum;
            self.entries.pop_front();
        }
    }

    /// The cost inside the window (as of the last `expire`).
    pub fn inside(&self) -> u128 {
        self.total - self.expired
    }

    /// How many entries the window keeps (attempts at one instant share one entry).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it keeps nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Record `cost` at `now` (not before the last entry).
    pub fn record(&mut self, now: u64, cost: u64) {
        if cost == 0 {
            return;
        }
        self.total += u128::from(cost);
        match self.entries.back_mut() {
            // Costs at the same instant share one entry: they leave together.
            Some(back) if back.0 == now => back.1 = self.total,
            _ => self.entries.push_back((now, self.total)),
        }
    }

    /// How long after `now` a further `cost` fits under `amount` (0: it fits now), if
    /// nothing else is recorded meanwhile; `None` if `cost > amount` (it never fits).
    /// Expects `expire(now)` first.
    pub fn wait(&self, now: u64, cost: u64, amount: u64) -> Option<u64> {
        let allowed = u128::from(amount.checked_sub(cost)?);
        let inside = self.inside();
        if inside <= allowed {
            return Some(0);
        }
        // The oldest entries must leave until `excess` has left; the entry that completes
        // it leaves at its instant + per.
        let excess = inside - allowed;
        let expired = self.expired;
        let idx = self
            .entries
            .partition_point(|&(_, cum)| cum - expired < excess);
        // The queue holds `inside >= excess` in all, so some entry completes it.
        let leaves_at = self
            .entries
            .get(idx)
            .map_or(now, |&(at, _)| at.saturating_add(self.per));
        Some(leaves_at.saturating_sub(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_counts_until_exactly_per_after_it() {
        // 2 per 1000: entries at 0 and 300; at 600 a third does not fit; the one at 0
        // leaves at 1000, so it fits 400 later; at 999 it still counts.
        let mut w = SlidingWindow::new(1000);
        w.record(0, 1);
        w.record(300, 1);
        w.expire(600);
        assert_eq!(w.wait(600, 1, 2), Some(400));
        w.expire(999);
        assert_eq!(w.inside(), 2);
        w.expire(1000);
        assert_eq!((w.inside(), w.wait(1000, 1, 2)), (1, Some(0)));
    }

    #[test]
    fn a_large_cost_waits_for_enough_to_leave_and_too_large_never_fits() {
        let mut w = SlidingWindow::new(60);
        for (t, c) in [(0, 10), (10, 10), (20, 10)] {
            w.record(t, c);
        }
        w.expire(30);
        // 30 inside, 25 allowed: 15 more must leave; 0 and 10 leave at 60 and 70.
        assert_eq!(w.wait(30, 10, 25), Some(40));
        assert_eq!(w.wait(30, 26, 25), None);
        w.record(30, 0);
        assert_eq!(w.len(), 3, "a zero cost records nothing");
    }
}
