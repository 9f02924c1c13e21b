//! The figures of a run, gathered from its trace as it streams past: a little state per
//! row still open (where it waits since when), running totals, and the latencies of rows
//! that ended.
//!
//! State is kept per row *seen*, in maps, never in a vector indexed by row number: a
//! recorded trace may name row 9 999 999 on its first line, and that must cost one
//! entry, not ten million.

use std::collections::BTreeMap;
use std::io;

use paceline_trace::{
    Ending, EventName, ReadyRuns, ResultKind, RowMap, TraceRecord, TraceSink, detail_value,
    detail_values, key,
};

use super::budget::Meters;
use super::{Failures, Figures, Latencies, Latency, Limits, Waits};

/// One row as the figures follow it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Row {
    /// Waiting for a permit since (ready, or back from backoff).
    permit_from: Option<u64>,
    /// Holding a permit at the gate since.
    gate_from: Option<u64>,
    /// In backoff: start and end.
    backoff: Option<(u64, u64)>,
    holds_permit: bool,
    in_flight: bool,
    dispatches: u32,
    /// Tokens of the attempt in flight, where the trace says.
    tokens: Option<u64>,
    /// Index of its attempt in flight in the budgets' log.
    attempt: Option<u64>,
    /// It has a result; kept only until it gives its permit back.
    ended: bool,
}

/// One batch: when it started (its rows' submit time, unless `emit` says otherwise), the
/// rows its `batch_start` declared, and the rows seen.
#[derive(Debug, Clone, Copy, Default)]
struct Batch {
    start_us: u64,
    declared: u64,
    seen: u64,
}

impl Row {
    /// A row made ready at `t_us`, nothing else yet.
    fn ready_at(t_us: u64) -> Self {
        Row {
            permit_from: Some(t_us),
            ..Row::default()
        }
    }

    /// When it was made ready, if that is all it holds.
    fn only_ready(&self) -> Option<u64> {
        self.permit_from.filter(|&t| *self == Row::ready_at(t))
    }
}

/// Gathers the [`Figures`] of a run from its trace.
#[derive(Debug)]
pub struct FiguresSink {
    batches: BTreeMap<u64, Batch>,
    /// Rows seen that have not ended (or ended still holding their permit), but for
    /// those only made ready, kept as runs.
    open: RowMap<Row>,
    ready: ReadyRuns,
    /// Rows that ended and are not yet returned, with their latency from the batch's
    /// start: an `emit` corrects it (from the batch call's submit time) before it counts.
    unreturned: RowMap<u64>,
    /// Latency of every row that ended and was returned, submit to result.
    latencies: Latencies,
    batches_started: u64,
    first_us: Option<u64>,
    last_us: u64,
    /// Apart from the rows, so that a row kept open is updated where it is while the
    /// totals change beside it.
    totals: Totals,
}

/// The run's totals, which the rows' events add to.
#[derive(Debug)]
struct Totals {
    limits: Limits,
    last_result_us: u64,
    results: BTreeMap<ResultKind, u64>,
    dispatches: u64,
    retries: u64,
    failures: Failures,
    waits: Waits,
    permits: u64,
    in_flight: u64,
    peak_permits: u64,
    peak_in_flight: u64,
    ok_tokens: u64,
    tokens_seen: bool,
    /// Capacity answers, and those that carried a server's wait.
    capacity_answers: u64,
    waits_given: u64,
    /// The pause in force: union of `[t, t + R)` so far, as (start, end).
    pause: Option<(u64, u64)>,
    paused_us: u64,
    /// Each budget's use so far, attempts in flight waiting for their answer.
    meters: Meters,
}

impl FiguresSink {
    /// Figures measured against `limits`.
    pub fn new(limits: Limits) -> Self {
        let meters = Meters::new(&limits.budgets);
        FiguresSink {
            batches: BTreeMap::new(),
            open: RowMap::new(),
            ready: ReadyRuns::default(),
            unreturned: RowMap::new(),
            latencies: Latencies::default(),
            batches_started: 0,
            first_us: None,
            last_us: 0,
            totals: Totals {
                limits,
                last_result_us: 0,
                results: ResultKind::ALL.into_iter().map(|k| (k, 0)).collect(),
                dispatches: 0,
                retries: 0,
                failures: Failures::default(),
                waits: Waits::default(),
                permits: 0,
                in_flight: 0,
                peak_permits: 0,
                peak_in_flight: 0,
                ok_tokens: 0,
                tokens_seen: false,
                capacity_answers: 0,
                waits_given: 0,
                pause: None,
                paused_us: 0,
                meters,
            },
        }
    }

    fn observe(&mut self, r: &TraceRecord<'_>) {
        let t = r.t_us;
        self.first_us.get_or_insert(t);
        self.last_us = self.last_us.max(t);
        if r.event == EventName::BatchStart && r.batch.is_none() {
            self.batches_started += 1;
        }
        // Without a batch column, batches are counted from their starts.
        let batch = r.batch.unwrap_or(self.batches_started.saturating_sub(1));
        match r.event {
            EventName::BatchStart => {
                let b = self.batches.entry(batch).or_default();
                b.start_us = t;
                b.declared = detail_value(r.detail, key::ROWS)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                return;
            }
            EventName::Emit => {
                self.totals.last_result_us = self.totals.last_result_us.max(t);
                let [submit, complete] =
                    detail_values(r.detail, [key::SUBMIT_US, key::COMPLETE_US])
                        .map(|v| v.and_then(|v| v.parse::<u64>().ok()));
                if let Some(latency) = r.row.and_then(|row| self.unreturned.remove(&(batch, row))) {
                    self.latencies.push(match (submit, complete) {
                        (Some(submit), Some(complete)) => complete.saturating_sub(submit),
                        _ => latency,
                    });
                }
                return;
            }
            EventName::BatchEnd => {
                self.totals.last_result_us = self.totals.last_result_us.max(t);
                return;
            }
            _ => {}
        }
        let Some(index) = r.row else {
            return;
        };
        let key = (batch, index);
        // A row kept open is updated where it is, beside the totals, and leaves the
        // open rows only when it is done with; a row new to them is built here.
        let mut fresh = None;
        let row = match self.open.get_mut(&key) {
            Some(row) => row,
            // Ended and released: what follows is I4's business, not the figures'.
            None if self.unreturned.contains_key(&key) => return,
            None => {
                let row = match self.ready.take(key) {
                    Some(at) => Row::ready_at(at),
                    None => {
                        self.batches.entry(batch).or_default().seen += 1;
                        Row::default()
                    }
                };
                fresh.insert(row)
            }
        };
        if row.ended {
            // Ended while holding its permit: only the permit's release is left.
            if r.event == EventName::Release {
                self.totals.permits = self.totals.permits.saturating_sub(1);
                self.open.remove(&key);
            }
            return;
        }
        if let Some(ended_us) = self.totals.row_event(row, r) {
            let start_us = self.batches.get(&batch).map_or(0, |b| b.start_us);
            self.unreturned
                .insert(key, ended_us.saturating_sub(start_us));
            row.ended = true;
        }
        let only_ready = row.only_ready();
        let stays = only_ready.is_none() && (!row.ended || row.holds_permit);
        if let Some(at) = only_ready {
            self.ready.insert(key, at);
        }
        // A row built here joins the open rows if it stays; a kept one leaves if not.
        match (stays, fresh) {
            (true, Some(row)) => {
                self.open.insert(key, row);
            }
            (false, None) => {
                self.open.remove(&key);
            }
            _ => {}
        }
    }

    /// The figures, given how the run ended where its driver knows (`None` for a
    /// recorded trace: rows without a result are then unfinished).
    pub fn finish(self, ending: Option<&Ending>) -> Figures {
        self.finish_with_latencies(ending).0
    }

    /// The figures and the ended rows' latencies, sorted, for a distribution chart.
    pub fn finish_with_latencies(mut self, ending: Option<&Ending>) -> (Figures, Latencies) {
        let first = self.first_us.unwrap_or(0);
        let horizon_us = match ending {
            Some(Ending::Unfinished { horizon_us, .. }) => Some(*horizon_us),
            _ => None,
        };
        let end = horizon_us.unwrap_or(self.totals.last_result_us.max(first));
        let makespan_us = end.saturating_sub(first);
        let mut latencies = std::mem::take(&mut self.latencies);
        // Rows ended and never returned count from their batch's start.
        for (_, latency) in self.unreturned.drain_sorted() {
            latencies.push(latency);
        }
        latencies.sort();
        let seen: u64 = self.batches.values().map(|b| b.declared.max(b.seen)).sum();
        let ended: u64 = self.totals.results.values().sum();
        let unfinished = match ending {
            // The driver knows rows the trace never showed (batches never called).
            Some(Ending::Unfinished { left, .. } | Ending::Deadlock { left, .. }) => *left,
            _ => seen.saturating_sub(ended),
        };
        if let Some((start, until)) = self.totals.pause.take() {
            self.totals.paused_us += until.min(end).saturating_sub(start);
        }
        let minutes = makespan_us as f64 / 60e6;
        let per_min = |n: u64| (makespan_us > 0).then(|| n as f64 / minutes);
        let budgets = self.totals.meters.finish(makespan_us);
        let latency = Latency::of(&latencies);
        let figures = Figures {
            makespan_us,
            rows: ended + unfinished,
            unfinished,
            horizon_us,
            rows_per_min: per_min(self.totals.rows_ok()),
            tokens_per_min: if self.totals.tokens_seen {
                per_min(self.totals.ok_tokens)
            } else {
                None
            },
            results: self.totals.results,
            dispatches: self.totals.dispatches,
            retries: self.totals.retries,
            failures: self.totals.failures,
            latency,
            waits: Waits {
                paused_us: (self.totals.capacity_answers == 0 || self.totals.waits_given > 0)
                    .then_some(self.totals.paused_us),
                ..self.totals.waits
            },
            peak_permits: self.totals.peak_permits,
            peak_in_flight: self.totals.peak_in_flight,
            budgets,
        };
        (figures, latencies)
    }
}

impl Totals {
    /// A server asked for a wait of `ms` at `t`: the pool pauses until `t + ms`.
    fn pause(&mut self, t: u64, ms: u64) {
        let ms = self.limits.max_retry_after_ms.map_or(ms, |cap| ms.min(cap));
        let end = t.saturating_add(ms.saturating_mul(1000));
        self.pause = match self.pause {
            Some((start, until)) if t <= until => Some((start, until.max(end))),
            Some((start, until)) => {
                self.paused_us += until - start;
                Some((t, end))
            }
            None => Some((t, end)),
        };
    }

    /// What `r` does to its row, and to the totals; when `r` ended the row, its time.
    fn row_event(&mut self, row: &mut Row, r: &TraceRecord<'_>) -> Option<u64> {
        let t = r.t_us;
        // A row's next event ends its backoff (early, if it ends the row).
        if r.event != EventName::Backoff
            && r.event != EventName::Release
            && let Some((from, until)) = row.backoff.take()
        {
            self.waits.backoff_us += until.min(t).saturating_sub(from);
            if until < t {
                row.permit_from = Some(until);
            }
        }
        match r.event {
            EventName::Ready => row.permit_from = Some(t),
            EventName::Permit => {
                if let Some(from) = row.permit_from.take() {
                    self.waits.permit_us += t.saturating_sub(from);
                }
                row.gate_from = Some(t);
                row.holds_permit = true;
                self.permits += 1;
                self.peak_permits = self.peak_permits.max(self.permits);
            }
            EventName::Dispatch => {
                if let Some(from) = row.gate_from.take() {
                    self.waits.gate_us += t.saturating_sub(from);
                }
                self.dispatches += 1;
                row.dispatches += 1;
                if row.dispatches > 1 {
                    self.retries += 1;
                }
                row.in_flight = true;
                self.in_flight += 1;
                self.peak_in_flight = self.peak_in_flight.max(self.in_flight);
                row.tokens = detail_value(r.detail, key::TOKENS).and_then(|v| v.parse().ok());
                self.tokens_seen |= row.tokens.is_some();
                if self.meters.any() {
                    row.attempt = Some(self.meters.dispatch(t, row.tokens));
                }
            }
            EventName::Backoff => {
                let length: u64 = detail_value(r.detail, key::BACKOFF_US)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                row.backoff = Some((t, t.saturating_add(length)));
            }
            EventName::Release => {
                // A permit given back without an attempt: the row waited at the gate.
                if let Some(from) = row.gate_from.take() {
                    self.waits.gate_us += t.saturating_sub(from);
                }
                if row.holds_permit {
                    row.holds_permit = false;
                    self.permits = self.permits.saturating_sub(1);
                }
            }
            _ => {}
        }
        if r.event.is_answer() {
            if row.in_flight {
                row.in_flight = false;
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            if let Some(attempt) = row.attempt.take() {
                self.meters.answer(attempt, r.event == EventName::Capacity);
            }
            self.answer(r);
        }
        if !r.event.is_terminal() {
            return None;
        }
        self.last_result_us = self.last_result_us.max(t);
        // Ended while waiting: the wait counts up to the end.
        if let Some(from) = row.permit_from.take() {
            self.waits.permit_us += t.saturating_sub(from);
        }
        if let Some(from) = row.gate_from.take() {
            self.waits.gate_us += t.saturating_sub(from);
        }
        if let Some(kind) = ResultKind::of_event(r.event) {
            *self.results.entry(kind).or_default() += 1;
            if kind == ResultKind::Ok {
                self.ok_tokens += row.tokens.unwrap_or(0);
            }
        }
        Some(t)
    }

    /// A failed answer counted by kind and status; a `capacity` one may pause the pool.
    fn answer(&mut self, r: &TraceRecord<'_>) {
        let f = &mut self.failures;
        match r.event {
            EventName::Capacity => f.capacity += 1,
            EventName::Retryable => f.retryable += 1,
            EventName::Permanent => f.permanent += 1,
            _ => return,
        }
        match detail_value(r.detail, key::STATUS) {
            Some("429") => f.status_429 += 1,
            Some("503") => f.status_503 += 1,
            Some("529") => f.status_529 += 1,
            _ => f.other += 1,
        }
        if r.event == EventName::Capacity {
            self.capacity_answers += 1;
            if let Some(ms) =
                detail_value(r.detail, key::RETRY_AFTER_MS).and_then(|v| v.parse().ok())
            {
                self.waits_given += 1;
                self.pause(r.t_us, ms);
            }
        }
    }

    fn rows_ok(&self) -> u64 {
        self.results.get(&ResultKind::Ok).copied().unwrap_or(0)
    }
}

impl TraceSink for FiguresSink {
    fn record(&mut self, record: &TraceRecord<'_>) -> io::Result<()> {
        self.observe(record);
        Ok(())
    }
}
