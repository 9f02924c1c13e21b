//! The gate: the one pacer in front of every dispatch of the pool.
//!
//! It remembers when the pool last dispatched (`None` before the first dispatch, since a
//! virtual clock legitimately starts at zero) and holds the waiters in arrival order. It is
//! plain state: callers tell it the time and the current delay, and it says who may go.
//! Because the spacing is recomputed on every call, a change of `D` takes effect on the
//! head waiter the next time anyone asks.
//!
//! Two more rules decide when the head may go, both for the whole pool, never one row:
//! a server pause (a `Retry-After` tells the API key, not the row, to wait: nobody passes
//! before it ends) and the client budget (at most `requests_per_minute` dispatches, and
//! `tokens_per_minute` tokens, in any window `(t - 60 s, t]`, every attempt counted from
//! its dispatch, retries included). Waiters stay first come, first served: a head that
//! does not fit the budget holds the line.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Time;
use crate::config::{GatePolicy, PoolConfig};
use crate::window::SlidingWindow;

/// The client budget's window: one minute, in the nanoseconds the gate counts in.
const MINUTE_NS: u64 = 60_000_000_000;

/// A pool time in the budget windows' unit.
fn ns(t: Time) -> u64 {
    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
}

/// One budget: its window and its amount per minute.
#[derive(Debug, Clone)]
struct Budget {
    window: SlidingWindow,
    per_minute: u64,
}

impl Budget {
    fn new(per_minute: Option<u64>) -> Option<Self> {
        per_minute.map(|per_minute| Budget {
            window: SlidingWindow::new(MINUTE_NS),
            per_minute,
        })
    }

    /// When, at or after `now`, `cost` more fits (`now` itself if it fits).
    fn fits_at(&mut self, now: Time, cost: u64) -> Time {
        self.window.expire(ns(now));
        let wait = self.window.wait(ns(now), cost, self.per_minute);
        // A cost above the budget never fits: the pool ends such rows before the gate.
        now.saturating_add(Duration::from_nanos(wait.unwrap_or(u64::MAX)))
    }

    fn charge(&mut self, now: Time, cost: u64) {
        self.window.expire(ns(now));
        self.window.record(ns(now), cost);
    }
}

/// What the gate needs to know of the head waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The row's input tokens (0 without a token count).
    pub tokens: u64,
    /// Whether this dispatch is a retry.
    pub retry: bool,
}

/// A row in the gate's line, and how late its alarm fires should it have to sleep.
#[derive(Debug, Clone, Copy)]
struct Waiter {
    row: usize,
    late: Duration,
    /// The opening it last went to sleep until, if the gate held it.
    asleep_until: Option<Time>,
}

impl Waiter {
    /// When it may pass, the gate opening for it at `opens` (never before `now`). Held,
    /// it sleeps until the opening and its alarm fires `late` after it; woken before
    /// that opening (the gate opened sooner: a success lowered `D`), it passes at once.
    /// Without lateness this is the opening itself.
    fn passes_at(&mut self, opens: Time, now: Time) -> Time {
        if opens > now {
            self.asleep_until = Some(opens);
            return opens.saturating_add(self.late);
        }
        match self.asleep_until {
            Some(until) if now >= until => until.saturating_add(self.late).max(opens),
            _ => opens,
        }
    }
}

/// The pacer, with its first-come-first-served queue of row indices.
#[derive(Debug, Clone)]
pub struct Gate {
    policy: GatePolicy,
    min_spacing: Duration,
    last_dispatch: Option<Time>,
    waiters: VecDeque<Waiter>,
    /// No dispatch before this (a server's `Retry-After`).
    pause_until: Option<Time>,
    requests: Option<Budget>,
    tokens: Option<Budget>,
}

impl Gate {
    /// An open gate: nobody dispatched, nobody waits, no pause, empty budgets.
    pub fn new(config: &PoolConfig) -> Self {
        Gate {
            policy: config.gate(),
            min_spacing: Duration::from_millis(config.min_dispatch_delay_ms()),
            last_dispatch: None,
            waiters: VecDeque::new(),
            pause_until: None,
            requests: Budget::new(config.requests_per_minute()),
            tokens: Budget::new(config.tokens_per_minute()),
        }
    }

    /// The server asked the whole pool to wait: no dispatch before `until`.
    pub fn pause(&mut self, until: Time) {
        self.pause_until = Some(self.pause_until.map_or(until, |p| p.max(until)));
    }

    /// Whether `tokens` can ever fit the token budget.
    pub fn fits_token_budget(&self, tokens: u64) -> bool {
        self.tokens.as_ref().is_none_or(|b| tokens <= b.per_minute)
    }

    /// Count an attempt's tokens in the budget now (D18 charges at completion).
    pub fn charge_tokens(&mut self, now: Time, tokens: u64) {
        if let Some(b) = self.tokens.as_mut() {
            b.charge(now, tokens);
        }
    }

    /// The spacing required before the next dispatch, given the throttle's current delay.
    pub fn spacing(&self, delay: Duration) -> Duration {
        match self.policy {
            GatePolicy::Aimd if !defect!(D2) => delay,
            GatePolicy::Aimd | GatePolicy::Min => self.min_spacing,
        }
    }

    /// When the next dispatch may happen, by spacing and pause: `None` if the pool never
    /// dispatched and is not paused.
    pub fn opens_at(&self, delay: Duration) -> Option<Time> {
        let spaced = self
            .last_dispatch
            .filter(|last| !(defect!(D7) && last.is_zero()))
            .map(|last| last.saturating_add(self.spacing(delay)));
        match (spaced, self.pause_until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// When `head` may pass, by spacing, pause and budgets, at or after `now`.
    fn head_opens_at(&mut self, now: Time, delay: Duration, head: Head) -> Time {
        let mut at = self.opens_at(delay).unwrap_or(now).max(now);
        // D19: a retry is not the budget's business at all, neither checked nor charged.
        if head.retry && defect!(D19) {
            return at;
        }
        if let Some(b) = self.requests.as_mut() {
            at = at.max(b.fits_at(now, 1));
        }
        if let Some(b) = self.tokens.as_mut() {
            at = at.max(b.fits_at(now, head.tokens));
        }
        at
    }

    /// Queue a row behind the rows already waiting; its alarm fires on time.
    #[cfg(test)]
    pub fn join(&mut self, row: usize) {
        self.join_late(row, Duration::ZERO);
    }

    /// Queue a row behind the rows already waiting: should the gate hold it, its alarm
    /// fires `late` after the gate opens for it (a sleep's overshoot; a gate open when
    /// it comes to the head lets it pass at once).
    pub fn join_late(&mut self, row: usize, late: Duration) {
        self.waiters.push_back(Waiter {
            row,
            late,
            asleep_until: None,
        });
    }

    /// Take a row out of the queue (its deadline passed, or the pool shut down).
    pub fn leave(&mut self, row: usize) {
        self.waiters.retain(|w| w.row != row);
    }

    /// Admit the head waiter if spacing, pause and budgets allow it now, recording the
    /// dispatch (and charging the budgets). `head` describes a row by its index.
    pub fn admit(
        &mut self,
        now: Time,
        delay: Duration,
        head: impl Fn(usize) -> Head,
    ) -> Option<usize> {
        let row = self.waiters.front()?.row;
        let h = head(row);
        let opens = self.head_opens_at(now, delay, h);
        if self.waiters.front_mut()?.passes_at(opens, now) > now {
            return None;
        }
        let waiter = self.waiters.pop_front()?;
        self.last_dispatch = Some(if defect!(D20) {
            // The slot it slept until, as a "next slot" pacer books it: right only when
            // the alarm fires on time.
            waiter.asleep_until.map_or(now, |slot| slot.min(now))
        } else {
            now
        });
        if !(h.retry && defect!(D19)) {
            if let Some(b) = self.requests.as_mut() {
                b.charge(now, 1);
            }
            // D18: tokens are charged when the attempt completes instead.
            if !defect!(D18) {
                self.charge_tokens(now, h.tokens);
            }
        }
        Some(row)
    }

    /// When the head waiter can next be admitted, if anyone waits; `now` is the current
    /// time (budgets are counted from it).
    pub fn next_admission(
        &mut self,
        now: Time,
        delay: Duration,
        head: impl Fn(usize) -> Head,
    ) -> Option<Time> {
        let row = self.waiters.front()?.row;
        let opens = self.head_opens_at(now, delay, head(row));
        Some(self.waiters.front_mut()?.passes_at(opens, now))
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
    const S: Duration = Duration::from_secs(1);

    /// A first attempt of a row without tokens.
    fn fresh(_: usize) -> Head {
        Head {
            tokens: 0,
            retry: false,
        }
    }

    fn budget_gate(rpm: Option<i64>, tpm: Option<i64>) -> Gate {
        let raw = RawPoolConfig {
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            gate: "min".into(),
            min_dispatch_delay_ms: 0,
            recovery_step_ms: 50,
            ..RawPoolConfig::default()
        };
        Gate::new(&PoolConfig::try_from(raw).expect("valid test config"))
    }

    #[test]
    fn first_dispatch_at_time_zero_passes_and_counts() {
        let mut g = gate("min", 100);
        g.join(0);
        g.join(1);
        assert_eq!(g.admit(Duration::ZERO, MS, fresh), Some(0));
        assert_eq!(
            g.admit(50 * MS, MS, fresh),
            None,
            "zero is a real dispatch time"
        );
        assert_eq!(g.next_admission(50 * MS, MS, fresh), Some(100 * MS));
        assert_eq!(g.admit(100 * MS, MS, fresh), Some(1));
    }

    #[test]
    fn aimd_spaces_by_the_delay_it_is_given_each_time() {
        let mut g = gate("aimd", 100);
        g.join(0);
        g.join(1);
        assert_eq!(g.admit(Duration::ZERO, 500 * MS, fresh), Some(0));
        assert_eq!(
            g.next_admission(Duration::ZERO, 500 * MS, fresh),
            Some(500 * MS)
        );
        // The delay fell meanwhile: the head passes as soon as the lower spacing allows.
        assert_eq!(g.admit(200 * MS, 100 * MS, fresh), Some(1));
    }

    #[test]
    fn waiters_pass_in_arrival_order_and_can_leave() {
        let mut g = gate("min", 0);
        for r in [3, 1, 2] {
            g.join(r);
        }
        g.leave(1);
        assert_eq!(g.admit(Duration::ZERO, Duration::ZERO, fresh), Some(3));
        assert_eq!(g.admit(Duration::ZERO, Duration::ZERO, fresh), Some(2));
        assert_eq!(
            g.admit(Duration::ZERO, Duration::ZERO, fresh),
            None,
            "nobody left"
        );
    }

    #[test]
    fn a_pause_holds_every_waiter_until_it_ends_even_before_any_dispatch() {
        let mut g = gate("min", 0);
        g.pause(300 * MS);
        g.pause(200 * MS); // an earlier end never shortens a pause
        g.join(0);
        assert_eq!(g.admit(299 * MS, MS, fresh), None);
        assert_eq!(g.next_admission(Duration::ZERO, MS, fresh), Some(300 * MS));
        assert_eq!(g.admit(300 * MS, MS, fresh), Some(0));
    }

    #[test]
    fn the_request_budget_admits_the_next_dispatch_when_the_oldest_leaves_the_minute() {
        // 3 per minute: dispatches at 0, 10 and 20 s; the 4th fits at 60 s, when the one at
        // 0 leaves the window (0 > 60 - 60 is false).
        let mut g = budget_gate(Some(3), None);
        for (row, at) in [(0, 0), (1, 10), (2, 20)] {
            g.join(row);
            assert_eq!(g.admit(at * S, MS, fresh), Some(row));
        }
        g.join(3);
        assert_eq!(g.admit(30 * S, MS, fresh), None);
        assert_eq!(g.next_admission(30 * S, MS, fresh), Some(60 * S));
        assert_eq!(g.admit(60 * S - Duration::from_nanos(1), MS, fresh), None);
        assert_eq!(g.admit(60 * S, MS, fresh), Some(3));
    }

    #[test]
    fn the_token_budget_counts_retries_and_holds_the_line_for_a_heavy_head() {
        // 1000 tokens a minute. Row 0 (600 tokens) at 0; its retry (600) must wait for
        // the first charge to leave at 60 s; row 1 (100 tokens) queued behind it waits too.
        let mut g = budget_gate(None, Some(1000));
        let head = |row: usize| Head {
            tokens: if row == 0 { 600 } else { 100 },
            retry: row == 0,
        };
        g.join(0);
        assert_eq!(g.admit(Duration::ZERO, MS, fresh_with(600)), Some(0));
        g.join(0);
        g.join(1);
        assert_eq!(g.admit(S, MS, head), None, "600 + 600 > 1000");
        assert_eq!(g.next_admission(S, MS, head), Some(60 * S));
        assert_eq!(g.admit(60 * S, MS, head), Some(0));
        assert_eq!(g.admit(60 * S, MS, head), Some(1), "700 of 1000 now");
        assert!(g.fits_token_budget(1000) && !g.fits_token_budget(1001));
    }

    fn fresh_with(tokens: u64) -> impl Fn(usize) -> Head {
        move |_| Head {
            tokens,
            retry: false,
        }
    }
}
