//! A row's life as a state machine: waiting for its work, for a permit, at the gate, in
//! flight, in backoff, done.
//!
//! The machine owns the rules that belong to one row: when its retry budget starts, what a
//! failure leads to, and when the budget forbids another attempt. It is told the time and
//! what happened; the pool decides which row moves when.

use std::time::Duration;

use crate::Time;
use crate::throttle::Throttle;

/// How the remote API answered one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Success.
    Ok,
    /// Slow down (429, 503, 529 and the like).
    Capacity,
    /// Network or server trouble: try again.
    Retryable,
    /// Never retry.
    Permanent,
}

impl Outcome {
    /// Whether the throttle records this answer as a failure (and the row may retry).
    pub fn is_retried(self) -> bool {
        matches!(self, Outcome::Capacity | Outcome::Retryable)
    }
}

/// The last failed attempt of a row: what it was and its status code, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// `Capacity` or `Retryable`.
    pub outcome: Outcome,
    /// The HTTP status, where the API gave one.
    pub status: Option<u16>,
}

/// How a row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowEnd {
    /// An attempt succeeded.
    Ok,
    /// An answer not worth retrying.
    Permanent {
        /// The HTTP status, where the API gave one.
        status: Option<u16>,
    },
    /// The retry budget ran out; carries the last failure so a caller can tell a capacity
    /// problem (with its status code) from flaky infrastructure.
    RetryTimeout {
        /// The last failure.
        last: Failure,
        /// Time since the budget started.
        elapsed: Duration,
        /// The budget.
        budget: Duration,
    },
    /// The pool shut down first.
    Shutdown,
    /// The row's tokens exceed the pool's token budget per minute: it can never be sent,
    /// so it ended at its ready time, never dispatched (a permanent result, reason
    /// `too_large`).
    TooLarge {
        /// The row's tokens.
        tokens: u64,
    },
}

/// Where a row is in its life.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowState {
    /// Its work is not available yet.
    NotReady,
    /// Queued for a permit; `returning` rows come back from backoff and go first.
    WaitingPermit {
        /// Back from backoff (first in line) rather than fresh.
        returning: bool,
    },
    /// Holding a permit, queued at the gate since `since`.
    AtGate {
        /// When it took its permit.
        since: Time,
    },
    /// Its attempt is with the API.
    InFlight,
    /// Cooling down without a permit, from `since` until `until`.
    Backoff {
        /// When the backoff began.
        since: Time,
        /// When it ends.
        until: Time,
    },
    /// It ended, and how.
    Done(RowEnd),
}

/// What a row in this state waits for, in words, for deadlock and stall reports.
impl std::fmt::Display for RowState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowState::NotReady => f.write_str("its work to arrive"),
            RowState::WaitingPermit { returning: false } => f.write_str("a permit"),
            RowState::WaitingPermit { returning: true } => {
                f.write_str("a permit, back from backoff")
            }
            RowState::AtGate { since } => write!(f, "the gate, since {since:?}"),
            RowState::InFlight => f.write_str("the answer to its attempt"),
            RowState::Backoff { until, .. } => write!(f, "the end of its backoff at {until:?}"),
            RowState::Done(end) => write!(f, "nothing: it ended ({end:?})"),
        }
    }
}

/// What a finished attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AfterAttempt {
    Done(RowEnd),
    /// Release the permit and cool down for `length`.
    Backoff {
        length: Duration,
    },
}

/// One row: its state, attempts so far and retry budget.
#[derive(Debug, Clone)]
pub struct RowMachine {
    state: RowState,
    attempts: u32,
    started: Option<Time>,
    deadline: Option<Time>,
    last_failure: Option<Failure>,
}

impl Default for RowMachine {
    fn default() -> Self {
        RowMachine::new()
    }
}

impl RowMachine {
    pub fn new() -> Self {
        RowMachine {
            state: RowState::NotReady,
            attempts: 0,
            started: None,
            deadline: None,
            last_failure: None,
        }
    }

    pub fn state(&self) -> RowState {
        self.state
    }

    /// Attempts dispatched so far; the one in flight included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When the retry budget runs out (set by the first permit).
    #[cfg(test)]
    fn deadline(&self) -> Option<Time> {
        self.deadline
    }

    /// The row's work became available: it queues for its first permit.
    pub fn ready(&mut self) {
        if self.state == RowState::NotReady {
            self.state = RowState::WaitingPermit { returning: false };
        }
    }

    /// The row got a permit and goes to the gate. The first permit starts the budget.
    pub fn take_permit(&mut self, now: Time, budget: Duration) {
        if self.started.is_none() {
            self.started = Some(now);
            self.deadline = Some(now.saturating_add(budget));
        }
        self.state = RowState::AtGate { since: now };
    }

    /// The gate admitted the row: the next attempt is in flight.
    pub fn dispatch(&mut self) {
        self.attempts += 1;
        self.state = RowState::InFlight;
    }

    /// Whether the row may not dispatch at `now`: the first attempt always may, a retry
    /// only before its deadline.
    pub fn out_of_budget(&self, now: Time) -> bool {
        self.attempts > 0 && self.deadline.is_some_and(|d| now >= d)
    }

    /// The instant at which waiting would exhaust the budget, for rows waiting to retry.
    pub fn retry_deadline(&self) -> Option<Time> {
        if self.attempts > 0 {
            self.deadline
        } else {
            None
        }
    }

    /// The attempt in flight ended with `outcome`. The throttle learns of it unless the row
    /// is out of budget (a timed-out row says nothing about the pool's pace). A server
    /// wait `wait` (a `Retry-After`, already clamped, `None` where not honoured) makes the
    /// backoff at least that long: `min(max(D, wait), deadline - now)`.
    pub fn finish_attempt(
        &mut self,
        now: Time,
        outcome: Outcome,
        status: Option<u16>,
        wait: Option<Duration>,
        throttle: &mut Throttle,
    ) -> AfterAttempt {
        let after = match outcome {
            Outcome::Ok => {
                throttle.on_success();
                AfterAttempt::Done(RowEnd::Ok)
            }
            Outcome::Permanent => AfterAttempt::Done(RowEnd::Permanent { status }),
            Outcome::Capacity | Outcome::Retryable => {
                self.last_failure = Some(Failure { outcome, status });
                let deadline = self.deadline.unwrap_or(now);
                if now >= deadline {
                    AfterAttempt::Done(self.timeout(now))
                } else {
                    throttle.on_failure();
                    let length = throttle
                        .delay()
                        .max(wait.unwrap_or_default())
                        .min(deadline - now);
                    AfterAttempt::Backoff { length }
                }
            }
        };
        self.state = match after {
            AfterAttempt::Done(end) => RowState::Done(end),
            AfterAttempt::Backoff { length } => RowState::Backoff {
                since: now,
                until: now.saturating_add(length),
            },
        };
        after
    }

    /// The backoff is over: queue for a permit again, or time out at the deadline.
    pub fn end_backoff(&mut self, now: Time) -> Option<RowEnd> {
        if self.out_of_budget(now) && !defect!(D12) {
            return Some(self.expire(now));
        }
        self.state = RowState::WaitingPermit { returning: true };
        None
    }

    /// End the row with `retry_timeout` (its deadline passed while it waited).
    pub fn expire(&mut self, now: Time) -> RowEnd {
        let end = self.timeout(now);
        self.state = RowState::Done(end);
        end
    }

    /// End the row with `shutdown`.
    pub fn shut_down(&mut self) {
        self.state = RowState::Done(RowEnd::Shutdown);
    }

    /// End the row before it starts: its `tokens` never fit the token budget.
    pub fn too_large(&mut self, tokens: u64) -> RowEnd {
        let end = RowEnd::TooLarge { tokens };
        self.state = RowState::Done(end);
        end
    }

    /// Whether the row's deadline has passed at `now` (false before its first permit).
    pub fn deadline_passed(&self, now: Time) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// End the row with `retry_timeout` at `now`, its last failure recorded first: a
    /// failing attempt after shutdown whose budget had already run out.
    pub fn time_out(&mut self, now: Time, outcome: Outcome, status: Option<u16>) -> RowEnd {
        self.last_failure = Some(Failure { outcome, status });
        self.expire(now)
    }

    fn timeout(&self, now: Time) -> RowEnd {
        let started = self.started.unwrap_or(now);
        let deadline = self.deadline.unwrap_or(now);
        RowEnd::RetryTimeout {
            last: self.last_failure.unwrap_or(Failure {
                outcome: Outcome::Capacity,
                status: None,
            }),
            elapsed: now.saturating_sub(started),
            budget: deadline - started,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PoolConfig, RawPoolConfig};

    const MS: Duration = Duration::from_millis(1);

    fn throttle() -> Throttle {
        let raw = RawPoolConfig {
            min_dispatch_delay_ms: 100,
            recovery_step_ms: 500,
            ..RawPoolConfig::default()
        };
        Throttle::new(&PoolConfig::try_from(raw).expect("valid"))
    }

    #[test]
    fn capacity_failure_backs_off_by_the_new_delay_within_the_budget() {
        let mut t = throttle();
        let mut row = RowMachine::new();
        row.ready();
        row.take_permit(Duration::ZERO, 700 * MS);
        row.dispatch();
        let after = row.finish_attempt(Duration::ZERO, Outcome::Capacity, Some(429), None, &mut t);
        assert_eq!(after, AfterAttempt::Backoff { length: 500 * MS });
        assert_eq!(t.delay_ms(), 500.0);
        assert_eq!(row.end_backoff(500 * MS), None);
        assert_eq!(row.state(), RowState::WaitingPermit { returning: true });
        row.take_permit(500 * MS, 700 * MS);
        assert_eq!(
            row.deadline(),
            Some(700 * MS),
            "budget starts at the first permit only"
        );
        row.dispatch();
        // Second failure: D doubles to 1000 but only 100 ms of budget remain.
        let after = row.finish_attempt(600 * MS, Outcome::Retryable, None, None, &mut t);
        assert_eq!(after, AfterAttempt::Backoff { length: 100 * MS });
        let end = row
            .end_backoff(700 * MS)
            .expect("deadline reached in backoff");
        assert_eq!(
            end,
            RowEnd::RetryTimeout {
                last: Failure {
                    outcome: Outcome::Retryable,
                    status: None
                },
                elapsed: 700 * MS,
                budget: 700 * MS,
            }
        );
    }

    #[test]
    fn failure_at_the_deadline_times_out_without_touching_the_throttle() {
        let mut t = throttle();
        let mut row = RowMachine::new();
        row.ready();
        row.take_permit(Duration::ZERO, 100 * MS);
        row.dispatch();
        let after = row.finish_attempt(100 * MS, Outcome::Capacity, Some(503), None, &mut t);
        assert!(matches!(
            after,
            AfterAttempt::Done(RowEnd::RetryTimeout {
                last: Failure {
                    status: Some(503),
                    ..
                },
                ..
            })
        ));
        assert_eq!(t.delay_ms(), 100.0);
    }

    #[test]
    fn the_first_attempt_is_never_out_of_budget() {
        let mut row = RowMachine::new();
        row.ready();
        row.take_permit(Duration::ZERO, MS);
        assert!(!row.out_of_budget(10 * MS));
        assert_eq!(row.retry_deadline(), None);
        row.dispatch();
        assert!(row.out_of_budget(MS));
        assert_eq!(row.retry_deadline(), Some(MS));
    }

    #[test]
    fn permanent_and_ok_end_the_row() {
        let mut t = throttle();
        let mut row = RowMachine::new();
        row.ready();
        row.take_permit(Duration::ZERO, MS);
        row.dispatch();
        let after = row.finish_attempt(Duration::ZERO, Outcome::Permanent, Some(400), None, &mut t);
        assert_eq!(
            after,
            AfterAttempt::Done(RowEnd::Permanent { status: Some(400) })
        );
        assert!(matches!(row.state(), RowState::Done(_)));
        assert_eq!(t.delay_ms(), 100.0, "permanent failures leave D alone");
    }
}
