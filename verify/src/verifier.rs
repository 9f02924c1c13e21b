//! The verifier: feeds a trace, event by event, to the invariant checks.
//!
//! It keeps what several checks need (each row's progress, permits and attempts in
//! flight, the reference throttle) so that no check re-derives it. One subtlety: whether
//! the throttle recorded a `capacity` or `retryable` answer is known only from the row's
//! next event (a `backoff` means yes; `retry_timeout` or `shutdown` means no). Events are
//! held back from the first unresolved answer until it is resolved, so every check sees
//! the reference `D` exactly as it stood after each event. Memory stays flat otherwise.

use std::collections::{BTreeMap, VecDeque};
use std::io;

use paceline_trace::{
    Ending, EventName, SERVER_VANTAGE, TraceRecord, TraceRow, TraceSink, detail_value, key,
};

use crate::checks::Checks;
use crate::reference::{PoolRules, ReferenceThrottle};
use crate::step::{Ev, RowTrack, Step, update};
use crate::verdict::Report;

/// Events held back waiting for a failure's resolution before one is forced (recorded).
const MAX_HELD: usize = 100_000;

/// Checks invariants I1 to I7 on a stream of trace records.
pub struct Verifier {
    rules: PoolRules,
    tolerance_us: u64,
    throttle: ReferenceThrottle,
    rows: BTreeMap<u64, Vec<RowTrack>>,
    permits_held: u64,
    in_flight: u64,
    batches_started: u64,
    held: VecDeque<(Ev, Option<bool>)>,
    checks: Checks,
    complete_details: bool,
    server_side: bool,
}

impl Verifier {
    /// A verifier for a pool with these rules; `tolerance_us` absorbs clock jitter of
    /// real runs in time comparisons (0 for simulated traces).
    pub fn new(rules: PoolRules, tolerance_us: u64) -> Self {
        Verifier {
            throttle: ReferenceThrottle::new(&rules),
            rules,
            tolerance_us,
            rows: BTreeMap::new(),
            permits_held: 0,
            in_flight: 0,
            batches_started: 0,
            held: VecDeque::new(),
            checks: Checks::default(),
            complete_details: false,
            server_side: false,
        }
    }

    /// Declare that the trace writes every detail key of the format wherever it applies
    /// (paceline's simulator does): a capacity answer without `retry_after_ms` then asked
    /// for no wait, and a dispatch without `tokens` carried none, so I10 and I11 hold on
    /// their absence instead of being skipped.
    pub fn with_complete_details(mut self) -> Self {
        self.complete_details = true;
        self
    }

    /// Judge the trace as the provider's side recorded it (`paceline serve`): each
    /// `dispatch` is a request as it arrived, each answer what the server said, every
    /// detail key written where it applies. A trace says so itself with
    /// `vantage=server` on its `batch_start`, which switches this on.
    ///
    /// A server sees requests, not the pool: I3 to I7 are skipped (they need the pool's
    /// own events); I1 spaces arrivals by the floor `min_dispatch_delay_ms` (the pool's
    /// `D` moves when the *client* reads an answer, which the server cannot see); I2
    /// counts requests in flight at the server; and in I10 a request arriving within the
    /// tolerance after the answer that asked for a pause may have been sent before that
    /// answer reached the client, so the pause is owed from the answer's time plus the
    /// tolerance. Client traces are judged as before.
    pub fn server_side(mut self) -> Self {
        self.server_side = true;
        self.complete_details = true;
        self
    }

    /// Feed one record.
    pub fn observe(&mut self, record: &TraceRecord<'_>) {
        let kind = record.event;
        if kind == EventName::BatchStart
            && detail_value(record.detail, key::VANTAGE) == Some(SERVER_VANTAGE)
        {
            self.server_side = true;
            self.complete_details = true;
        }
        if kind == EventName::BatchStart && record.batch.is_none() {
            self.batches_started += 1;
        }
        let ev = Ev {
            t_us: record.t_us,
            kind,
            // Without a batch column, batches are counted from their starts.
            batch: record
                .batch
                .unwrap_or(self.batches_started.saturating_sub(1)),
            row: record.row,
            id: record.id.to_string(),
            attempt: record.attempt,
            delay_ms: record.delay_ms,
            detail: record.detail.to_string(),
        };
        // A server's rows are requests: no later event resolves a failure, and whether
        // the pool recorded it matters only to checks a server-side trace skips.
        if self.held.is_empty() && (self.server_side || !ev.awaits_resolution()) {
            self.process(&ev, false);
            return;
        }
        if ev.kind != EventName::Release
            && let Some(row) = ev.row
        {
            // The row's next event (a release excepted) resolves its pending failure.
            let recorded = !matches!(ev.kind, EventName::RetryTimeout | EventName::Shutdown);
            if let Some(pending) = self.held.iter_mut().find(|(e, resolved)| {
                resolved.is_none() && e.row == Some(row) && e.batch == ev.batch
            }) {
                pending.1 = Some(recorded);
            }
        }
        let resolved = if ev.awaits_resolution() {
            None
        } else {
            Some(false)
        };
        self.held.push_back((ev, resolved));
        self.release_held(false);
    }

    /// Process held events up to the first unresolved failure (all of them if `all`,
    /// treating unresolved failures as recorded).
    fn release_held(&mut self, all: bool) {
        while let Some((_, resolved)) = self.held.front() {
            let recorded = match resolved {
                Some(r) => *r,
                None if all || self.held.len() > MAX_HELD => true,
                None => break,
            };
            if let Some((ev, _)) = self.held.pop_front() {
                self.process(&ev, recorded);
            }
        }
    }

    fn process(&mut self, ev: &Ev, recorded: bool) {
        match ev.kind {
            EventName::Ok => self.throttle.success(&self.rules),
            EventName::Capacity | EventName::Retryable if recorded => {
                self.throttle.failure(&self.rules)
            }
            _ => {}
        }
        let key = ev.row.map(|row| (ev.batch, row));
        if let Some((batch, row)) = key {
            let rows = self.rows.entry(batch).or_default();
            if rows.len() <= row {
                rows.resize_with(row + 1, RowTrack::default);
            }
        }
        let before = key.and_then(|(b, r)| self.rows.get(&b).and_then(|rows| rows.get(r)));
        let holds = before.is_some_and(|t| t.holds_permit);
        match ev.kind {
            EventName::Permit => self.permits_held += 1,
            EventName::Release if holds => self.permits_held = self.permits_held.saturating_sub(1),
            EventName::Dispatch => self.in_flight += 1,
            k if k.is_answer() && before.is_some_and(|t| t.in_flight) => {
                self.in_flight = self.in_flight.saturating_sub(1)
            }
            _ => {}
        }
        let step = Step {
            ev,
            row: before,
            d_ms: self.throttle.d_ms(),
            recorded,
            permits_held: self.permits_held,
            in_flight: self.in_flight,
            rules: &self.rules,
            tolerance_us: self.tolerance_us,
            server_side: self.server_side,
        };
        self.checks.on(&step);
        if let Some((batch, row)) = key
            && let Some(track) = self.rows.get_mut(&batch).and_then(|rows| rows.get_mut(row))
        {
            update(track, ev);
        }
    }

    /// Conclude, given how the run ended where a simulator knows it.
    pub fn finish(mut self, ending: Option<&Ending>) -> Report {
        self.release_held(true);
        let mut report = Report::default();
        self.checks.finish(
            &self.rows,
            ending,
            &self.rules,
            self.complete_details,
            self.server_side,
            &mut report,
        );
        report
    }
}

impl TraceSink for Verifier {
    fn record(&mut self, record: &TraceRecord<'_>) -> io::Result<()> {
        self.observe(record);
        Ok(())
    }
}

/// Check a whole in-memory trace.
pub fn verify_rows(rules: PoolRules, rows: &[TraceRow], ending: Option<&Ending>) -> Report {
    let mut verifier = Verifier::new(rules, 0);
    for row in rows {
        verifier.observe(&row.as_record());
    }
    verifier.finish(ending)
}
