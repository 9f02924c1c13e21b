//! The pool's rules as one state machine that never touches a clock or a thread.
//!
//! A driver tells the [`Pool`] what happened (a batch was called, an attempt was answered,
//! shutdown) and at what time, then drains [`Pool::poll`] for the events that follow; a
//! `Dispatch` event is the pool asking the driver to call the API. [`Pool::next_wake`] says
//! when time alone will change something (a gate opens, a backoff ends, a deadline passes).
//! The threaded executor drives it on the system clock, the simulator on virtual time;
//! neither knows a rule of the pool.
//!
//! Order within one instant is fixed: start a queued batch, make rows ready, fire timers
//! (backoff ends, deadlines), grant permits (rows back from backoff first), admit at the
//! gate, release entries in row order, end the batch.
//! Where a real pool would leave the order to its threads (rows ready together, backoffs
//! ending together, a fresh row against a returning one) and where its timers could fire
//! late, the pool asks its [`Races`] if it has one (see `races.rs`); without, it keeps
//! causal order and exact timers.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Time;
use crate::batch::{ActiveBatch, QueuedBatch};
use crate::config::PoolConfig;
use crate::event::{ApiAnswer, BatchId, BatchStats, Event, EventKind};
use crate::gate::Gate;
use crate::pace::Pace;
use crate::races::{Choices, Races};
use crate::row::{AfterAttempt, Outcome, RowEnd, RowState};
use crate::rows::BatchRows;
use crate::throttle::Throttle;

/// A report of an answer the pool did not ask for: a driver bug, never a user error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("batch {batch} row {row} has no attempt in flight")]
#[non_exhaustive]
pub struct NotInFlight {
    /// The batch named.
    pub batch: BatchId,
    /// The row named.
    pub row: usize,
}

/// A row that has not ended, and where it is; for deadlock and stall reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Waiting {
    /// The row's batch.
    pub batch: BatchId,
    /// The row's index in its batch.
    pub row: usize,
    /// Where it is in its life.
    pub state: RowState,
}

/// A time at which waiting alone changes something, and what caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wake {
    /// When.
    pub at: Time,
    /// Why.
    pub cause: Cause,
}

/// What caused a wake-up, ordered as a seed-0 run orders simultaneous happenings: the
/// gate's alarm first, then rows becoming ready (caused when their batch started), then
/// timers (caused when armed), each by when it was caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// The gate may admit its head waiter.
    Gate,
    /// Rows become ready; their batch started at this time.
    Ready(Time),
    /// A backoff ends or a deadline passes; armed at this time.
    Timer(Time),
}

/// What calling a batch did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BatchCall {
    /// Queued behind the batches called before it (single-flight); its events follow.
    Queued(BatchId),
    /// An empty batch returns at once, without waiting for a running batch, with fresh
    /// statistics at the current `D`; it has no events.
    Done(BatchStats),
}

impl BatchCall {
    /// The batch's id, if it was queued.
    pub fn id(self) -> Option<BatchId> {
        match self {
            BatchCall::Queued(id) => Some(id),
            BatchCall::Done(_) => None,
        }
    }
}

/// The paced pool, as plain state.
#[derive(Debug)]
pub struct Pool {
    pace: Pace,
    queued: VecDeque<QueuedBatch>,
    active: Option<ActiveBatch>,
    next_batch: BatchId,
}

impl Pool {
    /// A pool at rest: every permit free, `D` at the floor, no batch.
    pub fn new(config: PoolConfig) -> Self {
        let throttle = Throttle::new(&config);
        let stats = BatchStats::starting_at(throttle.delay_ms());
        Pool {
            pace: Pace {
                gate: Gate::new(&config),
                free_permits: config.pool_size(),
                throttle,
                stats,
                shut_down: false,
                events: VecDeque::new(),
                joined: Vec::new(),
                races: Choices::default(),
                config,
            },
            queued: VecDeque::new(),
            active: None,
            next_batch: 0,
        }
    }

    /// The same pool asking `races` at every choice point a real pool leaves to its
    /// threads and timers (see [`Races`]): the order of simultaneous contenders, and how
    /// late each timer fires. Without it, simultaneous contenders go in causal order and
    /// timers fire on time.
    pub fn with_races(mut self, races: Box<dyn Races>) -> Self {
        self.pace.races = Choices::new(Some(races));
        self
    }

    /// The configuration it runs by.
    pub fn config(&self) -> &PoolConfig {
        &self.pace.config
    }

    /// The throttle's current delay `D` in milliseconds.
    pub fn delay_ms(&self) -> f64 {
        self.pace.throttle.delay_ms()
    }

    /// Queue a batch (single-flight: it starts when every batch called before it has
    /// ended). Row `i` becomes ready `ready_after[i]` after the batch starts.
    pub fn call_batch(&mut self, now: Time, ready_after: Vec<Duration>) -> BatchCall {
        self.call_batch_rows(now, BatchRows::listed(ready_after, None))
    }

    /// Like [`Pool::call_batch`], for rows that carry token counts (`tokens[i]` for row
    /// `i`): the token budget counts them, and a row whose tokens exceed the budget per
    /// minute ends at its ready time, never dispatched.
    pub fn call_batch_with_tokens(
        &mut self,
        now: Time,
        ready_after: Vec<Duration>,
        tokens: Option<Vec<u64>>,
    ) -> BatchCall {
        self.call_batch_rows(now, BatchRows::listed(ready_after, tokens))
    }

    /// Like [`Pool::call_batch`], for rows described rather than listed: a paced batch
    /// of millions of rows costs the pool only the rows at work and the entries waiting
    /// to be returned in order.
    pub fn call_batch_rows(&mut self, now: Time, rows: BatchRows) -> BatchCall {
        if rows.is_empty() {
            return BatchCall::Done(BatchStats::starting_at(self.delay_ms()));
        }
        let id = self.next_batch;
        self.next_batch += 1;
        self.queued.push_back(QueuedBatch {
            id,
            called_at: now,
            rows,
        });
        BatchCall::Queued(id)
    }

    /// Permits not held by any row; `pool_size` whenever the pool is idle.
    pub fn free_permits(&self) -> usize {
        self.pace.free_permits
    }

    /// Whether no batch is running or queued.
    pub fn is_idle(&self) -> bool {
        self.active.is_none() && self.queued.is_empty()
    }

    /// Whether [`Pool::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.pace.shut_down
    }

    /// The API answered the attempt in flight for `row` of `batch`.
    ///
    /// A capacity answer carrying a wait pauses the whole pool (under
    /// `honour_retry_after`): no dispatch of any row before `now + min(wait,
    /// max_retry_after)`, even when the failing row itself then ends. The limit belongs
    /// to the API key, not the row.
    pub fn attempt_done(
        &mut self,
        now: Time,
        batch: BatchId,
        row: usize,
        answer: ApiAnswer,
    ) -> Result<(), NotInFlight> {
        let ApiAnswer {
            outcome,
            status,
            retry_after,
        } = answer;
        let not_in_flight = NotInFlight { batch, row };
        let active = self.active.as_mut().ok_or(not_in_flight.clone())?;
        let machine = active.rows.get_mut(&row).ok_or(not_in_flight.clone())?;
        if active.id != batch || machine.state() != RowState::InFlight {
            return Err(not_in_flight);
        }
        let pace = &mut self.pace;
        let attempt = Some(machine.attempts());
        if defect!(D18) {
            // The token budget is charged only now that the attempt completed.
            if let Some(tokens) = active.not_ready.rows().tokens(row) {
                pace.gate.charge_tokens(now, tokens);
            }
        }
        let wait = (outcome == Outcome::Capacity && pace.config.honour_retry_after())
            .then_some(retry_after)
            .flatten()
            .map(|r| r.min(pace.config.max_retry_after()))
            .filter(|_| !defect!(D16));
        if let Some(wait) = wait
            && !defect!(D17)
        {
            let late = pace.races.slack();
            pace.gate
                .pause(now.saturating_add(wait).saturating_add(late));
        }
        let after = if pace.shut_down && outcome.is_retried() {
            if machine.deadline_passed(now) {
                // The budget ran out before shutdown mattered: the same answer a run
                // without shutdown gives (the throttle untouched).
                AfterAttempt::Done(machine.time_out(now, outcome, status))
            } else {
                // No retry after shutdown, and no throttle update for an attempt never
                // retried.
                machine.shut_down();
                AfterAttempt::Done(RowEnd::Shutdown)
            }
        } else {
            machine.finish_attempt(now, outcome, status, wait, &mut pace.throttle)
        };
        let stats = &mut pace.stats;
        match (outcome, after) {
            (Outcome::Ok, _) => stats.successes += 1,
            (_, AfterAttempt::Backoff { .. }) => stats.capacity_retries += 1,
            _ => {}
        }
        stats.peak_delay_ms = stats.peak_delay_ms.max(pace.throttle.delay_ms());
        pace.push(
            now,
            batch,
            Some(row),
            attempt,
            EventKind::Answer {
                outcome,
                status,
                retry_after,
            },
        );
        let backoff = matches!(after, AfterAttempt::Backoff { .. });
        // Under D13 the row keeps its permit through the backoff (released at its end).
        if !(backoff && defect!(D13)) {
            // Under D8 the permit reserved at submission stays taken: the row will need
            // a second one for its retry.
            if !(backoff && defect!(D8)) {
                pace.free_permits += 1;
            }
            pace.push(now, batch, Some(row), attempt, EventKind::Release);
        }
        match after {
            AfterAttempt::Backoff { length } => {
                pace.push(
                    now,
                    batch,
                    Some(row),
                    attempt,
                    EventKind::Backoff { length },
                );
                // The row sleeps: its wake-up may overshoot, but never past its deadline.
                let until = now.saturating_add(length);
                let late = until.saturating_add(pace.races.slack());
                let wake = machine
                    .retry_deadline()
                    .map_or(late, |d| late.min(d.max(until)));
                if wake > until {
                    active.late.insert(row, wake - until);
                }
                active.timers.insert(wake, row);
            }
            AfterAttempt::Done(end) => active.finish(pace, now, row, end),
        }
        Ok(())
    }

    /// Stop the pool: every row not in flight ends with `shutdown` now, rows in flight end
    /// when answered (with `shutdown` if the answer asks for a retry), and every batch
    /// queued or called later ends each of its rows with `shutdown`.
    pub fn shutdown(&mut self, now: Time) {
        self.pace.shut_down = true;
        if let Some(active) = self.active.as_mut() {
            active.shut_down(&mut self.pace, now);
        }
    }

    /// The next event, after applying everything due at `now`.
    pub fn poll(&mut self, now: Time) -> Option<Event> {
        if self.pace.events.is_empty() {
            self.advance(now);
        }
        self.pace.events.pop_front()
    }

    /// The earliest time at which waiting alone changes something, if any; `now` is the
    /// current time (a budget's wait is counted from it).
    pub fn next_wake(&mut self, now: Time) -> Option<Time> {
        self.next_wake_caused(now).map(|w| w.at)
    }

    /// Like [`Pool::next_wake`], with when that wake-up was caused, for a driver that
    /// orders simultaneous happenings by cause (the simulator's seed 0): a row's
    /// readiness counts as caused when its batch started, a backoff's end when the
    /// failure came, a deadline when the budget started; the gate's alarm counts as
    /// caused before anything else at its instant (the gate admits every waiter that may
    /// pass before any answer arriving at that instant is handled).
    pub fn next_wake_caused(&mut self, now: Time) -> Option<Wake> {
        let active = self.active.as_ref()?;
        let delay = self.pace.throttle.delay();
        let gate = self
            .pace
            .gate
            .next_admission(now, delay, |row| active.head(row))
            .map(|at| Wake {
                at,
                cause: Cause::Gate,
            });
        let ready = active.not_ready.front().map(|(at, _)| Wake {
            at,
            cause: Cause::Ready(active.started_at),
        });
        let budget = self.pace.config.retry_budget();
        let timer = active.timers.first().map(|(at, row)| {
            let armed = match active.rows.get(&row).map(|r| r.state()) {
                Some(RowState::Backoff { since, .. }) => since,
                _ => at.saturating_sub(budget),
            };
            Wake {
                at,
                cause: Cause::Timer(armed),
            }
        });
        [gate, ready, timer].into_iter().flatten().min()
    }

    /// Every row that has not ended, in batch and row order.
    pub fn waiting(&self) -> Vec<Waiting> {
        self.waiting_first(usize::MAX)
    }

    /// The first `n` rows of [`Pool::waiting`], in memory for `n` rows however many are
    /// left.
    pub fn waiting_first(&self, n: usize) -> Vec<Waiting> {
        let mut waiting = Vec::new();
        if let Some(a) = &self.active {
            // The machines come in no order: all of them, cut to the first `n` below.
            let at_work = a.rows.iter().map(|(&row, r)| (row, r.state()));
            // Within a run of row numbers only the first `n` can be among the first `n`.
            let fresh = a
                .fresh
                .iter()
                .flat_map(|run| run.clone().take(n))
                .map(|row| (row, RowState::WaitingPermit { returning: false }));
            let not_ready = a.not_ready.remaining().map(|row| (row, RowState::NotReady));
            let mut rows: Vec<(usize, RowState)> = Vec::new();
            for row in at_work.chain(fresh).chain(not_ready) {
                rows.push(row);
                if rows.len() >= n.saturating_mul(2).max(1024) {
                    rows.sort_unstable_by_key(|&(row, _)| row);
                    rows.truncate(n);
                }
            }
            rows.sort_unstable_by_key(|&(row, _)| row);
            rows.truncate(n);
            waiting.extend(rows.into_iter().map(|(row, state)| Waiting {
                batch: a.id,
                row,
                state,
            }));
        }
        let queued = self.queued.iter().flat_map(|q| {
            (0..q.rows.len()).map(|row| Waiting {
                batch: q.id,
                row,
                state: RowState::NotReady,
            })
        });
        let room = n.saturating_sub(waiting.len());
        waiting.extend(queued.take(room));
        waiting
    }

    /// How many rows have not ended: [`Pool::waiting`]'s length, counted.
    pub fn rows_left(&self) -> u64 {
        let active = self.active.as_ref().map_or(0, |a| {
            let fresh: usize = a.fresh.iter().map(ExactSizeIterator::len).sum();
            a.rows.len() + fresh + a.not_ready.remaining_count()
        });
        let queued: usize = self.queued.iter().map(|q| q.rows.len()).sum();
        (active + queued) as u64
    }

    fn advance(&mut self, now: Time) {
        #[cfg(feature = "mutants")]
        if defect!(D3)
            && let Some(active) = self.active.as_mut()
        {
            // No single-flight: a batch called meanwhile shares the running one's buffer.
            while let Some(next) = self.queued.pop_front() {
                active.absorb(now, next);
            }
        }
        if self.active.is_none() {
            let Some(next) = self.queued.pop_front() else {
                return;
            };
            self.active = Some(ActiveBatch::start(&mut self.pace, now, next));
        }
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let pace = &mut self.pace;
        active.make_ready(pace, now);
        if active.fresh_may_go_first(pace, now) && pace.races.second_first() {
            // A fresh row reached the permit queue before the rows whose backoff ends now.
            active.grant_permits(pace, now);
        }
        active.fire_timers(pace, now);
        active.grant_permits(pace, now);
        active.admit(pace, now);
        let mut joined = std::mem::take(&mut pace.joined);
        for row in joined.drain(..) {
            if let Some(machine) = active.rows.get(&row)
                && matches!(machine.state(), RowState::AtGate { .. })
            {
                let attempt = Some(machine.attempts() + 1);
                pace.push(now, active.id, Some(row), attempt, EventKind::GateWait);
            }
        }
        pace.joined = joined;
        if active.release_entries(pace, now) {
            self.active = None;
        }
    }
}
