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

use paceline_sim::{Ending, TraceRecord, TraceRow, TraceSink};

use crate::checks::Checks;
use crate::reference::{PoolRules, ReferenceThrottle};
use crate::verdict::{Report, RowRef};

/// Events held back waiting for a failure's resolution before one is forced (recorded).
const MAX_HELD: usize = 100_000;

/// An event kind of the trace format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    BatchStart,
    Ready,
    Permit,
    GateWait,
    Dispatch,
    Ok,
    Capacity,
    Retryable,
    Permanent,
    Backoff,
    Release,
    RetryTimeout,
    Shutdown,
    Emit,
    BatchEnd,
}

impl Kind {
    fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "batch_start" => Kind::BatchStart,
            "ready" => Kind::Ready,
            "permit" => Kind::Permit,
            "gate_wait" => Kind::GateWait,
            "dispatch" => Kind::Dispatch,
            "ok" => Kind::Ok,
            "capacity" => Kind::Capacity,
            "retryable" => Kind::Retryable,
            "permanent" => Kind::Permanent,
            "backoff" => Kind::Backoff,
            "release" => Kind::Release,
            "retry_timeout" => Kind::RetryTimeout,
            "shutdown" => Kind::Shutdown,
            "emit" => Kind::Emit,
            "batch_end" => Kind::BatchEnd,
            _ => return None,
        })
    }

    /// An answer of the API to an attempt.
    pub(crate) fn is_answer(self) -> bool {
        matches!(
            self,
            Kind::Ok | Kind::Capacity | Kind::Retryable | Kind::Permanent
        )
    }

    /// An event that ends a row.
    pub(crate) fn is_terminal(self) -> bool {
        matches!(
            self,
            Kind::Ok | Kind::Permanent | Kind::RetryTimeout | Kind::Shutdown
        )
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::BatchStart => "batch_start",
            Kind::Ready => "ready",
            Kind::Permit => "permit",
            Kind::GateWait => "gate_wait",
            Kind::Dispatch => "dispatch",
            Kind::Ok => "ok",
            Kind::Capacity => "capacity",
            Kind::Retryable => "retryable",
            Kind::Permanent => "permanent",
            Kind::Backoff => "backoff",
            Kind::Release => "release",
            Kind::RetryTimeout => "retry_timeout",
            Kind::Shutdown => "shutdown",
            Kind::Emit => "emit",
            Kind::BatchEnd => "batch_end",
        }
    }
}

/// One event as the checks see it.
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub t_us: u64,
    pub kind: Kind,
    pub batch: u64,
    pub row: Option<usize>,
    pub id: String,
    pub attempt: Option<u32>,
    pub delay_ms: Option<f64>,
    pub detail: String,
}

impl Ev {
    pub(crate) fn detail(&self, key: &str) -> Option<&str> {
        paceline_sim::trace::detail_value(&self.detail, key)
    }

    pub(crate) fn row_ref(&self) -> Option<RowRef> {
        self.row.map(|row| RowRef {
            batch: self.batch,
            row,
            id: self.id.clone(),
            attempt: self.attempt,
        })
    }

    fn awaits_resolution(&self) -> bool {
        matches!(self.kind, Kind::Capacity | Kind::Retryable) && self.row.is_some()
    }
}

/// What the trace has shown of one row so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct RowTrack {
    pub id: String,
    pub first_permit_us: Option<u64>,
    pub first_dispatch_us: Option<u64>,
    pub holds_permit: bool,
    /// When the row took the permit it holds, while it has not dispatched on it.
    pub gate_since: Option<u64>,
    pub in_flight: bool,
    pub dispatches: u32,
    pub last_answer_us: Option<u64>,
    /// Start and length of the row's latest backoff, until it takes a permit or ends.
    pub backoff: Option<(u64, u64)>,
    pub terminal: Option<(Kind, u64)>,
    pub emitted: bool,
    /// The last event seen for the row.
    pub last: Option<(Kind, u64)>,
}

impl RowTrack {
    /// When the retry budget started: the first permit, or the first dispatch in a trace
    /// without permit events.
    pub(crate) fn budget_start(&self) -> Option<u64> {
        self.first_permit_us.or(self.first_dispatch_us)
    }
}

/// One event with the shared state around it, as handed to every check.
pub(crate) struct Step<'a> {
    pub ev: &'a Ev,
    /// The row's state before this event.
    pub row: Option<&'a RowTrack>,
    /// The reference `D` after this event.
    pub d_ms: f64,
    /// For `capacity` and `retryable`: whether the throttle recorded the failure.
    pub recorded: bool,
    /// Permits held and attempts in flight in the whole pool, after this event.
    pub permits_held: u64,
    pub in_flight: u64,
    pub rules: &'a PoolRules,
    pub tolerance_us: u64,
}

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
    /// A record that could not be used (unknown event name).
    unreadable: Option<String>,
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
            unreadable: None,
        }
    }

    /// Feed one record.
    pub fn observe(&mut self, record: &TraceRecord<'_>) {
        let Some(kind) = Kind::parse(record.event) else {
            self.unreadable
                .get_or_insert_with(|| format!("unknown event {:?}", record.event));
            return;
        };
        if kind == Kind::BatchStart && record.batch.is_none() {
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
        if self.held.is_empty() && !ev.awaits_resolution() {
            self.process(&ev, false);
            return;
        }
        if ev.kind != Kind::Release
            && let Some(row) = ev.row
        {
            // The row's next event (a release excepted) resolves its pending failure.
            let recorded = !matches!(ev.kind, Kind::RetryTimeout | Kind::Shutdown);
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
            Kind::Ok => self.throttle.success(&self.rules),
            Kind::Capacity | Kind::Retryable if recorded => self.throttle.failure(&self.rules),
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
            Kind::Permit => self.permits_held += 1,
            Kind::Release if holds => self.permits_held = self.permits_held.saturating_sub(1),
            Kind::Dispatch => self.in_flight += 1,
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
        };
        self.checks.on(&step);
        if let Some((batch, row)) = key
            && let Some(track) = self.rows.get_mut(&batch).and_then(|rows| rows.get_mut(row))
        {
            update(track, ev);
        }
    }

    /// Conclude, given how the run ended where a simulator knows it.
    pub fn finish(mut self, ending: Option<&Ending>) -> Result<Report, String> {
        self.release_held(true);
        if let Some(problem) = self.unreadable {
            return Err(problem);
        }
        let mut report = Report::default();
        self.checks.finish(&self.rows, ending, &mut report);
        Ok(report)
    }
}

/// Record `ev` in its row's track.
fn update(track: &mut RowTrack, ev: &Ev) {
    let t = ev.t_us;
    if track.id.is_empty() {
        track.id.clone_from(&ev.id);
    }
    match ev.kind {
        Kind::Permit => {
            track.first_permit_us.get_or_insert(t);
            track.holds_permit = true;
            track.gate_since = Some(t);
            track.backoff = None;
        }
        Kind::Dispatch => {
            track.first_dispatch_us.get_or_insert(t);
            track.dispatches += 1;
            track.in_flight = true;
            track.gate_since = None;
        }
        Kind::Release => {
            track.holds_permit = false;
            track.gate_since = None;
        }
        Kind::Backoff => {
            let length = ev
                .detail("backoff_us")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            track.backoff = Some((t, length));
        }
        Kind::Emit => track.emitted = true,
        _ => {}
    }
    if ev.kind.is_answer() {
        track.in_flight = false;
        track.last_answer_us = Some(t);
    }
    if ev.kind.is_terminal() && track.terminal.is_none() {
        track.terminal = Some((ev.kind, t));
        track.backoff = None;
        track.gate_since = None;
    }
    track.last = Some((ev.kind, t));
}

impl TraceSink for Verifier {
    fn record(&mut self, record: &TraceRecord<'_>) -> io::Result<()> {
        self.observe(record);
        Ok(())
    }
}

/// Check a whole in-memory trace.
pub fn verify_rows(
    rules: PoolRules,
    rows: &[TraceRow],
    ending: Option<&Ending>,
) -> Result<Report, String> {
    let mut verifier = Verifier::new(rules, 0);
    for row in rows {
        verifier.observe(&row.as_record());
    }
    verifier.finish(ending)
}
