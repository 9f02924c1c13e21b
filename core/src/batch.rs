//! One batch inside the pool: its rows' machines, the queues for permits, the timers of
//! backoffs and deadlines, and the reorder buffer that returns entries in row order.
//! The order of steps within one instant is [`crate::pool`]'s; the steps are here.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::time::Duration;

use crate::Time;
use crate::event::{BatchId, BatchStats, EntryMeta, EventKind};
use crate::gate::Head;
use crate::pace::Pace;
use crate::reorder::ReorderBuffer;
use crate::row::{RowEnd, RowMachine, RowState};

/// At most this many rows become ready in one step; the rest follow in the next steps of
/// the same instant, in row order.
const READY_PER_STEP: usize = 1024;

#[derive(Debug)]
pub(crate) struct QueuedBatch {
    pub(crate) id: BatchId,
    pub(crate) called_at: Time,
    pub(crate) ready_after: Vec<Duration>,
    pub(crate) tokens: Option<Vec<u64>>,
}

#[derive(Debug)]
pub(crate) struct ActiveBatch {
    pub(crate) id: BatchId,
    pub(crate) called_at: Time,
    /// When it left the single-flight queue: its rows' readiness counts from here.
    pub(crate) started_at: Time,
    pub(crate) rows: Vec<RowMachine>,
    /// Rows whose work is not available yet, by (time, index).
    pub(crate) not_ready: VecDeque<(Time, usize)>,
    /// Rows back from backoff, queued for a permit ahead of `fresh`.
    pub(crate) returning: VecDeque<usize>,
    pub(crate) fresh: VecDeque<usize>,
    /// Backoff ends and retry deadlines; an entry whose row has moved on is skipped.
    pub(crate) timers: BinaryHeap<Reverse<(Time, usize)>>,
    /// How late the backoff timers of rows now in backoff fire, where they are late
    /// (timer slack): kept out of the statistics, which count the backoff asked for.
    pub(crate) late: BTreeMap<usize, Duration>,
    pub(crate) buffer: ReorderBuffer<Completion>,
    pub(crate) completed: usize,
    /// Each row's input tokens, where the batch counts tokens.
    pub(crate) tokens: Option<Vec<u64>>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Completion {
    pub(crate) complete_index: usize,
    pub(crate) completed_at: Time,
    pub(crate) end: RowEnd,
}

impl ActiveBatch {
    pub(crate) fn start(pace: &mut Pace, now: Time, batch: QueuedBatch) -> Self {
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
        // Rows ready at one instant arrive in row order, or in any order a race allows.
        pace.races.shuffle_runs(&mut not_ready, |&(at, _)| at);
        let mut active = ActiveBatch {
            id: batch.id,
            called_at: batch.called_at,
            started_at: now,
            rows: vec![RowMachine::new(); len],
            not_ready: not_ready.into(),
            returning: VecDeque::new(),
            fresh: VecDeque::new(),
            timers: BinaryHeap::new(),
            late: BTreeMap::new(),
            buffer: ReorderBuffer::new(len),
            completed: 0,
            tokens: batch.tokens,
        };
        if pace.shut_down {
            active.shut_down(pace, now);
        }
        active
    }

    /// D3: take another batch's rows into this one, behind its own.
    #[cfg(feature = "mutants")]
    pub(crate) fn absorb(&mut self, now: Time, batch: QueuedBatch) {
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
    pub(crate) fn make_ready(&mut self, pace: &mut Pace, now: Time) {
        for _ in 0..READY_PER_STEP {
            let Some(&(at, row)) = self.not_ready.front() else {
                break;
            };
            if at > now {
                break;
            }
            self.not_ready.pop_front();
            self.rows[row].ready();
            pace.push(now, self.id, Some(row), None, EventKind::Ready);
            let tokens = self.row_tokens(row).unwrap_or(0);
            if !pace.gate.fits_token_budget(tokens) {
                // It could never be sent: no permit, no deadline, a permanent end now.
                let end = self.rows[row].too_large(tokens);
                self.finish(pace, now, row, end);
                continue;
            }
            self.fresh.push_back(row);
        }
    }

    pub(crate) fn fire_timers(&mut self, pace: &mut Pace, now: Time) {
        let returned_before = self.returning.len();
        while let Some(&Reverse((at, row))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let machine = &mut self.rows[row];
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
            && self
                .timers
                .peek()
                .is_some_and(|&Reverse((at, _))| at <= now)
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
            let machine = &mut self.rows[row];
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

    /// A row's input tokens, where the batch counts tokens.
    pub(crate) fn row_tokens(&self, row: usize) -> Option<u64> {
        self.tokens.as_ref().and_then(|t| t.get(row)).copied()
    }

    /// What the gate needs to know of a row waiting at it.
    pub(crate) fn head(&self, row: usize) -> Head {
        Head {
            tokens: self.row_tokens(row).unwrap_or(0),
            retry: self.rows.get(row).is_some_and(|r| r.attempts() > 0),
        }
    }

    pub(crate) fn admit(&mut self, pace: &mut Pace, now: Time) {
        let delay = pace.throttle.delay();
        while let Some(row) = pace.gate.admit(now, delay, |r| self.head(r)) {
            let machine = &mut self.rows[row];
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
