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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use crate::Time;
use crate::config::PoolConfig;
use crate::event::{BatchId, BatchStats, EntryMeta, Event, EventKind};
use crate::gate::Gate;
use crate::reorder::ReorderBuffer;
use crate::row::{AfterAttempt, Outcome, RowEnd, RowMachine, RowState};
use crate::throttle::Throttle;

/// At most this many rows become ready in one step; the rest follow in the next steps of
/// the same instant, in row order.
const READY_PER_STEP: usize = 1024;

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

/// What every batch shares: the throttle, the gate, the permits, and the event outbox.
#[derive(Debug)]
struct Pace {
    config: PoolConfig,
    throttle: Throttle,
    gate: Gate,
    free_permits: usize,
    stats: BatchStats,
    shut_down: bool,
    events: VecDeque<Event>,
    /// Rows that went to the gate during the current step (kept to reuse its memory).
    joined: Vec<usize>,
}

#[derive(Debug)]
struct QueuedBatch {
    id: BatchId,
    called_at: Time,
    ready_after: Vec<Duration>,
}

#[derive(Debug)]
struct ActiveBatch {
    id: BatchId,
    called_at: Time,
    rows: Vec<RowMachine>,
    /// Rows whose work is not available yet, by (time, index).
    not_ready: VecDeque<(Time, usize)>,
    /// Rows back from backoff, queued for a permit ahead of `fresh`.
    returning: VecDeque<usize>,
    fresh: VecDeque<usize>,
    /// Backoff ends and retry deadlines; an entry whose row has moved on is skipped.
    timers: BinaryHeap<Reverse<(Time, usize)>>,
    buffer: ReorderBuffer<Completion>,
    completed: usize,
}

#[derive(Debug, Clone, Copy)]
struct Completion {
    complete_index: usize,
    completed_at: Time,
    end: RowEnd,
}

impl Pace {
    fn push(
        &mut self,
        at: Time,
        batch: BatchId,
        row: Option<usize>,
        attempt: Option<u32>,
        kind: EventKind,
    ) {
        self.events.push_back(Event {
            at,
            batch,
            row,
            attempt,
            delay_ms: self.throttle.delay_ms(),
            kind,
        });
    }

    fn held_permits(&self) -> usize {
        self.config.pool_size() - self.free_permits
    }
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
                config,
            },
            queued: VecDeque::new(),
            active: None,
            next_batch: 0,
        }
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
        if ready_after.is_empty() {
            return BatchCall::Done(BatchStats::starting_at(self.delay_ms()));
        }
        let id = self.next_batch;
        self.next_batch += 1;
        self.queued.push_back(QueuedBatch {
            id,
            called_at: now,
            ready_after,
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
    pub fn attempt_done(
        &mut self,
        now: Time,
        batch: BatchId,
        row: usize,
        outcome: Outcome,
        status: Option<u16>,
    ) -> Result<(), NotInFlight> {
        let not_in_flight = NotInFlight { batch, row };
        let active = self.active.as_mut().ok_or(not_in_flight.clone())?;
        let machine = active.rows.get_mut(row).ok_or(not_in_flight.clone())?;
        if active.id != batch || machine.state() != RowState::InFlight {
            return Err(not_in_flight);
        }
        let pace = &mut self.pace;
        let attempt = Some(machine.attempts());
        // A failure after shutdown is not retried: it ends the row with `shutdown`, or with
        // `retry_timeout` once the deadline has passed (`finish_attempt` then leaves the
        // throttle alone, as a timed-out row says nothing about the pool's pace).
        let after = if pace.shut_down && outcome.is_retried() && !machine.out_of_budget(now) {
            // No throttle update for an attempt never retried.
            machine.shut_down();
            AfterAttempt::Done(RowEnd::Shutdown)
        } else {
            machine.finish_attempt(now, outcome, status, &mut pace.throttle)
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
            EventKind::Answer { outcome, status },
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
                active
                    .timers
                    .push(Reverse((now.saturating_add(length), row)));
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

    /// The earliest time at which waiting alone changes something, if any.
    pub fn next_wake(&self) -> Option<Time> {
        let active = self.active.as_ref()?;
        let gate = self.pace.gate.next_admission(self.pace.throttle.delay());
        let ready = active.not_ready.front().map(|&(t, _)| t);
        let timer = active.timers.peek().map(|&Reverse((t, _))| t);
        [gate, ready, timer].into_iter().flatten().min()
    }

    /// Every row that has not ended, in batch and row order.
    pub fn waiting(&self) -> Vec<Waiting> {
        let active = self.active.iter().flat_map(|a| {
            a.rows
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.is_done())
                .map(|(row, r)| Waiting {
                    batch: a.id,
                    row,
                    state: r.state(),
                })
        });
        let queued = self.queued.iter().flat_map(|q| {
            (0..q.ready_after.len()).map(|row| Waiting {
                batch: q.id,
                row,
                state: RowState::NotReady,
            })
        });
        active.chain(queued).collect()
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
        active.fire_timers(pace, now);
        active.grant_permits(pace, now);
        active.admit(pace, now);
        let mut joined = std::mem::take(&mut pace.joined);
        for row in joined.drain(..) {
            if matches!(active.rows[row].state(), RowState::AtGate { .. }) {
                let attempt = Some(active.rows[row].attempts() + 1);
                pace.push(now, active.id, Some(row), attempt, EventKind::GateWait);
            }
        }
        pace.joined = joined;
        if active.release_entries(pace, now) {
            self.active = None;
        }
    }
}

impl ActiveBatch {
    fn start(pace: &mut Pace, now: Time, batch: QueuedBatch) -> Self {
        let len = batch.ready_after.len();
        if !defect!(D6) {
            pace.stats = BatchStats::starting_at(pace.throttle.delay_ms());
        }
        pace.push(
            now,
            batch.id,
            None,
            None,
            EventKind::BatchStart { rows: len },
        );
        let mut not_ready: Vec<(Time, usize)> = batch
            .ready_after
            .iter()
            .enumerate()
            .map(|(row, &after)| (now.saturating_add(after), row))
            .collect();
        not_ready.sort_unstable();
        let mut active = ActiveBatch {
            id: batch.id,
            called_at: batch.called_at,
            rows: vec![RowMachine::new(); len],
            not_ready: not_ready.into(),
            returning: VecDeque::new(),
            fresh: VecDeque::new(),
            timers: BinaryHeap::new(),
            buffer: ReorderBuffer::new(len),
            completed: 0,
        };
        if pace.shut_down {
            active.shut_down(pace, now);
        }
        active
    }

    /// D3: take another batch's rows into this one, behind its own.
    #[cfg(feature = "mutants")]
    fn absorb(&mut self, now: Time, batch: QueuedBatch) {
        let offset = self.rows.len();
        let len = batch.ready_after.len();
        self.rows
            .extend(std::iter::repeat_n(RowMachine::new(), len));
        self.buffer.grow(len);
        let mut ready: Vec<(Time, usize)> = self.not_ready.drain(..).collect();
        ready.extend(
            batch
                .ready_after
                .iter()
                .enumerate()
                .map(|(row, &after)| (now.saturating_add(after), offset + row)),
        );
        ready.sort_unstable();
        self.not_ready = ready.into();
    }

    /// Rows due by `now` become ready, a chunk at a time: a million rows due at once
    /// would otherwise fill the outbox with a million events before any is handled.
    fn make_ready(&mut self, pace: &mut Pace, now: Time) {
        for _ in 0..READY_PER_STEP {
            let Some(&(at, row)) = self.not_ready.front() else {
                break;
            };
            if at > now {
                break;
            }
            self.not_ready.pop_front();
            self.rows[row].ready();
            self.fresh.push_back(row);
            pace.push(now, self.id, Some(row), None, EventKind::Ready);
        }
    }

    fn fire_timers(&mut self, pace: &mut Pace, now: Time) {
        while let Some(&Reverse((at, row))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let machine = &mut self.rows[row];
            let attempt = Some(machine.attempts());
            match machine.state() {
                RowState::Backoff { since, until } if until <= now => {
                    pace.stats.total_throttle_time += now - since;
                    if defect!(D13) {
                        // The permit kept through the backoff goes back only now.
                        pace.free_permits += 1;
                        pace.push(now, self.id, Some(row), attempt, EventKind::Release);
                    }
                    match machine.end_backoff(now) {
                        Some(end) => self.finish(pace, now, row, end),
                        None => {
                            self.returning.push_back(row);
                            if let Some(deadline) = machine.retry_deadline() {
                                self.timers.push(Reverse((deadline, row)));
                            }
                        }
                    }
                }
                RowState::WaitingPermit { returning: true }
                    if machine.out_of_budget(now) && !defect!(D12) =>
                {
                    let end = machine.expire(now);
                    self.finish(pace, now, row, end);
                }
                RowState::AtGate { since } if machine.out_of_budget(now) && !defect!(D12) => {
                    let end = machine.expire(now);
                    pace.gate.leave(row);
                    pace.stats.total_throttle_time += now - since;
                    pace.free_permits += 1;
                    pace.push(now, self.id, Some(row), attempt, EventKind::Release);
                    self.finish(pace, now, row, end);
                }
                _ => {}
            }
        }
    }

    /// Hand free permits to waiting rows; the rows that went to the gate are noted in
    /// `pace.joined`.
    fn grant_permits(&mut self, pace: &mut Pace, now: Time) {
        while pace.free_permits > 0 {
            let Some(row) = self.next_for_permit() else {
                break;
            };
            pace.free_permits -= 1;
            pace.stats.max_concurrent = pace.stats.max_concurrent.max(pace.held_permits());
            let machine = &mut self.rows[row];
            machine.take_permit(now, pace.config.retry_budget());
            let attempt = Some(machine.attempts() + 1);
            pace.push(now, self.id, Some(row), attempt, EventKind::Permit);
            if defect!(D1) && machine.attempts() > 0 {
                // "It already slept in backoff": the retry goes out without the gate.
                machine.dispatch();
                pace.push(now, self.id, Some(row), attempt, EventKind::Dispatch);
                continue;
            }
            pace.gate.join(row);
            pace.joined.push(row);
        }
    }

    fn next_for_permit(&mut self) -> Option<usize> {
        let mut queues = [(&mut self.returning, true), (&mut self.fresh, false)];
        if defect!(D15) {
            queues.reverse();
        }
        for (queue, returning) in queues {
            while let Some(row) = queue.pop_front() {
                if self.rows[row].state() == (RowState::WaitingPermit { returning }) {
                    return Some(row);
                }
            }
        }
        None
    }

    fn admit(&mut self, pace: &mut Pace, now: Time) {
        while let Some(row) = pace.gate.admit(now, pace.throttle.delay()) {
            let machine = &mut self.rows[row];
            if let RowState::AtGate { since } = machine.state() {
                pace.stats.total_throttle_time += now - since;
            }
            machine.dispatch();
            let attempt = Some(machine.attempts());
            pace.push(now, self.id, Some(row), attempt, EventKind::Dispatch);
        }
    }

    /// Record a row's end; its entry waits in the reorder buffer.
    fn finish(&mut self, pace: &mut Pace, now: Time, row: usize, end: RowEnd) {
        let attempts = self.rows[row].attempts();
        let attempt = (attempts > 0).then_some(attempts);
        match end {
            RowEnd::RetryTimeout {
                elapsed, budget, ..
            } => pace.push(
                now,
                self.id,
                Some(row),
                attempt,
                EventKind::RetryTimeout { elapsed, budget },
            ),
            RowEnd::Shutdown => pace.push(now, self.id, Some(row), attempt, EventKind::Shutdown),
            RowEnd::Ok | RowEnd::Permanent { .. } => {}
        }
        let completion = Completion {
            complete_index: self.completed,
            completed_at: now,
            end,
        };
        if defect!(D11) {
            // Returned as soon as it completes, whatever rows before it are doing.
            self.emit(pace, row, completion, now);
        }
        // A row ends once: every caller moves it out of a live state first.
        if self.buffer.insert(row, completion).is_ok() {
            self.completed += 1;
        }
    }

    /// Return the row's entry to the caller.
    fn emit(&self, pace: &mut Pace, row: usize, c: Completion, now: Time) {
        let meta = EntryMeta {
            submit_index: row,
            complete_index: c.complete_index,
            submitted_at: self.called_at,
            completed_at: c.completed_at,
            emitted_at: now,
            end: c.end,
        };
        pace.push(
            now,
            self.id,
            Some(row),
            None,
            EventKind::Emit(Box::new(meta)),
        );
    }

    /// Release the entries that are next in row order; true when the batch has ended.
    fn release_entries(&mut self, pace: &mut Pace, now: Time) -> bool {
        while let Some((row, c)) = self.buffer.pop_ready() {
            if !defect!(D11) {
                self.emit(pace, row, c, now);
            }
        }
        if !self.buffer.is_drained() {
            return false;
        }
        pace.stats.delay_at_completion_ms = pace.throttle.delay_ms();
        let stats = pace.stats;
        pace.push(
            now,
            self.id,
            None,
            None,
            EventKind::BatchEnd(Box::new(stats)),
        );
        true
    }

    fn shut_down(&mut self, pace: &mut Pace, now: Time) {
        self.not_ready.clear();
        for row in 0..self.rows.len() {
            let machine = &mut self.rows[row];
            let attempt = Some(machine.attempts());
            match machine.state() {
                RowState::InFlight | RowState::Done(_) => continue,
                RowState::AtGate { since } => {
                    pace.gate.leave(row);
                    pace.stats.total_throttle_time += now - since;
                    pace.free_permits += 1;
                    pace.push(now, self.id, Some(row), attempt, EventKind::Release);
                }
                RowState::Backoff { since, .. } => {
                    pace.stats.total_throttle_time += now - since;
                }
                // Rows not yet handed to the pool are forgotten: no result ever.
                RowState::NotReady if defect!(D14) => continue,
                RowState::NotReady | RowState::WaitingPermit { .. } => {}
            }
            machine.shut_down();
            self.finish(pace, now, row, RowEnd::Shutdown);
        }
    }
}
