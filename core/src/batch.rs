//! One batch inside the pool: its rows' machines, the queues for permits, the timers of
//! backoffs and deadlines, and the reorder buffer that returns entries in row order.
//! The order of steps within one instant is [`crate::pool`]'s; the steps are here.
//!
//! State is kept for the rows at work only. A row not ready yet is a place in
//! [`NotReady`]; a fresh row waiting for its first permit is a place in a run of row
//! numbers; a row gets a machine with its first permit and loses it when it ends (its
//! entry then waits in the reorder buffer). So a batch's memory follows the pool's size
//! and the rows waiting to be returned, not the batch's length.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::time::Duration;

use crate::Time;
use crate::event::{BatchId, BatchStats, EntryMeta, EventKind};
use crate::gate::Head;
use crate::machines::Machines;
use crate::pace::Pace;
use crate::reorder::ReorderBuffer;
use crate::row::{RowEnd, RowMachine, RowState};
use crate::rows::{BatchRows, NotReady};
use crate::timers::Timers;

/// At most this many rows become ready in one step; the rest follow in the next steps of
/// the same instant, in row order.
const READY_PER_STEP: usize = 1024;

#[derive(Debug)]
pub(crate) struct QueuedBatch {
    pub(crate) id: BatchId,
    pub(crate) called_at: Time,
    pub(crate) rows: BatchRows,
}

#[derive(Debug)]
pub(crate) struct ActiveBatch {
    pub(crate) id: BatchId,
    pub(crate) called_at: Time,
    /// When it left the single-flight queue: its rows' readiness counts from here.
    pub(crate) started_at: Time,
    /// Machines of the rows that took a permit and have not ended.
    pub(crate) rows: Machines,
    /// Rows whose work is not available yet, in the order it becomes available.
    pub(crate) not_ready: NotReady,
    /// Rows back from backoff, queued for a permit ahead of `fresh`.
    pub(crate) returning: VecDeque<usize>,
    /// Rows ready for their first permit, in the order they became ready, as runs of
    /// consecutive row numbers.
    pub(crate) fresh: VecDeque<Range<usize>>,
    /// Backoff ends and retry deadlines, earliest first; an entry whose row has moved on
    /// is skipped.
    pub(crate) timers: Timers,
    /// How late the backoff timers of rows now in backoff fire, where they are late
    /// (timer slack): kept out of the statistics, which count the backoff asked for.
    pub(crate) late: BTreeMap<usize, Duration>,
    pub(crate) buffer: ReorderBuffer<Completion>,
    pub(crate) completed: usize,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Completion {
    pub(crate) complete_index: usize,
    pub(crate) completed_at: Time,
    pub(crate) end: RowEnd,
}

impl ActiveBatch {
    pub(crate) fn start(pace: &mut Pace, now: Time, batch: QueuedBatch) -> Self {
        let len = batch.rows.len();
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
        let mut active = ActiveBatch {
            id: batch.id,
            called_at: batch.called_at,
            started_at: now,
            rows: Machines::default(),
            not_ready: NotReady::new(batch.rows, now),
            returning: VecDeque::new(),
            fresh: VecDeque::new(),
            timers: Timers::default(),
            late: BTreeMap::new(),
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
    pub(crate) fn absorb(&mut self, now: Time, batch: QueuedBatch) {
        // The new rows count their readiness from now, behind this batch's own; rows
        // already taken keep their place at the front of the ready order (they were ready
        // by now, and at a tie this batch's rows come first).
        let elapsed = now.saturating_sub(self.started_at);
        let rows = self.not_ready.rows().followed_by(&batch.rows, elapsed);
        self.buffer.grow(batch.rows.len());
        self.not_ready = self.not_ready.with_rows(rows);
    }

    /// Rows due by `now` become ready, a chunk at a time: a million rows due at once
    /// would otherwise fill the outbox with a million events before any is handled.
    /// Rows ready at one instant arrive in row order, or in any order the pool's races
    /// pick within the chunk.
    pub(crate) fn make_ready(&mut self, pace: &mut Pace, now: Time) {
        let mut due = Vec::new();
        for _ in 0..READY_PER_STEP {
            let Some((at, row)) = self.not_ready.front() else {
                break;
            };
            if at > now {
                break;
            }
            self.not_ready.pop_front();
            due.push((at, row));
        }
        pace.races.shuffle_runs(&mut due, |&(at, _)| at);
        for (_, row) in due {
            pace.push(now, self.id, Some(row), None, EventKind::Ready);
            let tokens = self.row_tokens(row).unwrap_or(0);
            if !pace.gate.fits_token_budget(tokens) {
                // It could never be sent: no permit, no deadline, a permanent end now.
                let mut machine = RowMachine::new();
                machine.ready();
                let end = machine.too_large(tokens);
                self.finish(pace, now, row, end);
                continue;
            }
            match self.fresh.back_mut() {
                Some(run) if run.end == row => run.end += 1,
                _ => self.fresh.push_back(row..row + 1),
            }
        }
    }

    pub(crate) fn fire_timers(&mut self, pace: &mut Pace, now: Time) {
        let returned_before = self.returning.len();
        while let Some((at, row)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            // A timer of a row that has ended since is stale.
            let Some(machine) = self.rows.get_mut(&row) else {
                continue;
            };
            let attempt = Some(machine.attempts());
            match machine.state() {
                RowState::Backoff { since, until } if until <= now => {
                    // Time in backoff, less the timer's overshoot: the backoff asked for.
                    let late = self.late.remove(&row).unwrap_or_default();
                    pace.stats.total_throttle_time += (now - since).saturating_sub(late);
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
                                self.timers.insert(deadline, row);
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
        // Rows whose backoffs ended at this instant queue in any order a race allows.
        let returned = self.returning.make_contiguous();
        pace.races.shuffle(&mut returned[returned_before..]);
    }

    /// Whether a fresh row could take a permit before the rows whose backoff ends at
    /// `now`: a permit is free, fresh rows wait, no row back from backoff waits already,
    /// and a timer is due.
    pub(crate) fn fresh_may_go_first(&self, pace: &Pace, now: Time) -> bool {
        pace.free_permits > 0
            && !self.fresh.is_empty()
            && self.returning.is_empty()
            && self.timers.first().is_some_and(|(at, _)| at <= now)
    }

    /// Hand free permits to waiting rows; the rows that went to the gate are noted in
    /// `pace.joined`.
    pub(crate) fn grant_permits(&mut self, pace: &mut Pace, now: Time) {
        while pace.free_permits > 0 {
            let Some(row) = self.next_for_permit() else {
                break;
            };
            pace.free_permits -= 1;
            pace.stats.max_concurrent = pace.stats.max_concurrent.max(pace.held_permits());
            let machine = self.rows.entry(row).or_insert_with(|| {
                let mut fresh = RowMachine::new();
                fresh.ready();
                fresh
            });
            machine.take_permit(now, pace.config.retry_budget());
            let attempt = Some(machine.attempts() + 1);
            pace.push(now, self.id, Some(row), attempt, EventKind::Permit);
            if defect!(D1) && machine.attempts() > 0 {
                // "It already slept in backoff": the retry goes out without the gate.
                machine.dispatch();
                let tokens = self.row_tokens(row);
                pace.push(
                    now,
                    self.id,
                    Some(row),
                    attempt,
                    EventKind::Dispatch { tokens },
                );
                continue;
            }
            let late = pace.races.slack();
            pace.gate.join_late(row, late);
            pace.joined.push(row);
        }
    }

    pub(crate) fn next_for_permit(&mut self) -> Option<usize> {
        if defect!(D15) {
            return self.next_fresh().or_else(|| self.next_returning());
        }
        self.next_returning().or_else(|| self.next_fresh())
    }

    fn next_returning(&mut self) -> Option<usize> {
        while let Some(row) = self.returning.pop_front() {
            let waiting = RowState::WaitingPermit { returning: true };
            if self.rows.get(&row).is_some_and(|r| r.state() == waiting) {
                return Some(row);
            }
        }
        None
    }

    fn next_fresh(&mut self) -> Option<usize> {
        let run = self.fresh.front_mut()?;
        let row = run.next();
        if run.start >= run.end {
            self.fresh.pop_front();
        }
        row
    }

    /// A row's input tokens, where the batch counts tokens.
    pub(crate) fn row_tokens(&self, row: usize) -> Option<u64> {
        self.not_ready.rows().tokens(row)
    }

    /// What the gate needs to know of a row waiting at it.
    pub(crate) fn head(&self, row: usize) -> Head {
        Head {
            tokens: self.row_tokens(row).unwrap_or(0),
            retry: self.rows.get(&row).is_some_and(|r| r.attempts() > 0),
        }
    }

    pub(crate) fn admit(&mut self, pace: &mut Pace, now: Time) {
        let delay = pace.throttle.delay();
        while let Some(row) = pace.gate.admit(now, delay, |r| self.head(r)) {
            // Only rows holding a permit wait at the gate, and they have machines.
            let Some(machine) = self.rows.get_mut(&row) else {
                continue;
            };
            if let RowState::AtGate { since } = machine.state() {
                pace.stats.total_throttle_time += now - since;
            }
            machine.dispatch();
            let attempt = Some(machine.attempts());
            let tokens = self.row_tokens(row);
            pace.push(
                now,
                self.id,
                Some(row),
                attempt,
                EventKind::Dispatch { tokens },
            );
        }
    }

    /// Record a row's end; its entry waits in the reorder buffer.
    pub(crate) fn finish(&mut self, pace: &mut Pace, now: Time, row: usize, end: RowEnd) {
        // The row's machine goes: what is left of it is its entry.
        let attempts = self.rows.remove(&row).map_or(0, |m| m.attempts());
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
            RowEnd::TooLarge { tokens } => pace.push(
                now,
                self.id,
                Some(row),
                attempt,
                EventKind::TooLarge { tokens },
            ),
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
    pub(crate) fn emit(&self, pace: &mut Pace, row: usize, c: Completion, now: Time) {
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
    pub(crate) fn release_entries(&mut self, pace: &mut Pace, now: Time) -> bool {
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

    pub(crate) fn shut_down(&mut self, pace: &mut Pace, now: Time) {
        // Every row not ended, in row order: the machines, the fresh rows and the rows not
        // ready yet (these last are forgotten under D14: no result ever).
        let mut ending: Vec<usize> = self.rows.keys().copied().collect();
        ending.extend(self.fresh.drain(..).flatten());
        if !defect!(D14) {
            ending.extend(self.not_ready.remaining());
        }
        self.not_ready.clear();
        ending.sort_unstable();
        for row in ending {
            let machine = self.rows.entry(row).or_default();
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
                RowState::NotReady | RowState::WaitingPermit { .. } => {}
            }
            machine.shut_down();
            self.finish(pace, now, row, RowEnd::Shutdown);
        }
    }
}
