//! The verifier: feeds a trace, event by event, to the invariant checks.
//!
//! It keeps what several checks need (each row's progress, permits and attempts in
//! flight, the reference throttle) so that no check re-derives it. One subtlety: whether
//! the throttle recorded a `capacity` or `retryable` answer is known only from the row's
//! next event (a `backoff` means yes; `retry_timeout` or `shutdown` means no). Events are
//! held back from the first unresolved answer until it is resolved, so every check sees
//! the reference `D` exactly as it stood after each event.
//!
//! Memory is kept per *open* row and per *open* batch, never per row index or per
//! declared count: a row's track is dropped once it has ended, been returned and holds
//! nothing (its batch remembers it in a range set), and a batch's state is dropped when
//! it ends complete (the ended batches are a range set too). A trace can make the
//! verifier hold at most `max_open_rows` tracks.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::io;

use paceline_trace::{
    Ending, EventName, LimitHit, NoTrace, ReadError, RowKey, RowMap, SERVER_VANTAGE, TraceLimits,
    TraceReader, TraceRecord, TraceRow, TraceSink, detail_value, key, pipeline,
};

use crate::checks::Checks;
use crate::reference::{PoolRules, ReferenceThrottle};
use crate::step::{Ev, RowTrack, Step, Tracks, update};
use crate::verdict::Report;

/// Events held back waiting for a failure's resolution before one is forced (recorded).
const MAX_HELD: usize = 100_000;

/// Checks invariants I1 to I7 on a stream of trace records.
pub struct Verifier {
    rules: PoolRules,
    tolerance_us: u64,
    max_open_rows: u64,
    throttle: ReferenceThrottle,
    tracks: Tracks,
    permits_held: u64,
    in_flight: u64,
    batches_started: u64,
    /// Events held back, the front one numbered `held_base`, with their resolution.
    held: VecDeque<(Ev<'static>, Option<bool>)>,
    held_base: u64,
    /// Each row's unresolved failure among the held events, by number.
    unresolved: BTreeMap<RowKey, u64>,
    checks: Checks,
    complete_details: bool,
    server_side: bool,
}

impl Verifier {
    /// A verifier for a pool with these rules; `tolerance_us` absorbs clock jitter of
    /// real runs in time comparisons (0 for simulated traces). It tracks as many rows as
    /// the trace opens: a simulated run is bounded by its scenario.
    pub fn new(rules: PoolRules, tolerance_us: u64) -> Self {
        Verifier::with_limits(rules, tolerance_us, u64::MAX)
    }

    /// A verifier that refuses (through [`Verifier::try_observe`]) to track more than
    /// `max_open_rows` rows at once, for traces from elsewhere.
    pub fn with_limits(rules: PoolRules, tolerance_us: u64, max_open_rows: u64) -> Self {
        Verifier {
            throttle: ReferenceThrottle::new(&rules),
            rules,
            tolerance_us,
            max_open_rows,
            tracks: Tracks {
                rows: RowMap::counting_batches(),
                ..Tracks::default()
            },
            permits_held: 0,
            in_flight: 0,
            batches_started: 0,
            held: VecDeque::new(),
            held_base: 0,
            unresolved: BTreeMap::new(),
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
    /// tolerance. A request is done with once answered, so the verifier's state stays per
    /// request in flight. Client traces are judged as before.
    pub fn server_side(mut self) -> Self {
        self.server_side = true;
        self.complete_details = true;
        self
    }

    /// Feed one record; past the open-row limit the record is dropped (use
    /// [`Verifier::try_observe`] to hear of it).
    pub fn observe(&mut self, record: &TraceRecord<'_>) {
        let _ = self.try_observe(record);
    }

    /// Feed one record, or refuse it when it would open a row beyond the limit.
    pub fn try_observe(&mut self, record: &TraceRecord<'_>) -> Result<(), LimitHit> {
        let kind = record.event;
        if kind == EventName::BatchStart
            && detail_value(record.detail, key::VANTAGE) == Some(SERVER_VANTAGE)
        {
            self.server_side = true;
            self.complete_details = true;
        }
        // Without a batch column, batches are counted from their starts.
        let batch = record.batch.unwrap_or(
            self.batches_started
                .saturating_sub(u64::from(kind != EventName::BatchStart)),
        );
        // Most events are judged at once, their text borrowed from the record; only an
        // event held back is given its own.
        let ev = Ev {
            t_us: record.t_us,
            kind,
            batch,
            row: record.row,
            id: Cow::Borrowed(record.id),
            attempt: record.attempt,
            delay_ms: record.delay_ms,
            detail: Cow::Borrowed(record.detail),
        };
        // A server's rows are requests: no later event resolves a failure, and whether
        // the pool recorded it matters only to checks a server-side trace skips.
        let at_once = self.held.is_empty() && (self.server_side || !ev.awaits_resolution());
        let mut opens = false;
        if let Some(row) = record.row {
            let key = (batch, row);
            let t = &mut self.tracks;
            if !t.unpack(key) && !t.finished(key) && !t.closed.contains(batch) {
                if t.open() as u64 >= self.max_open_rows {
                    return Err(LimitHit {
                        what: format!("{} rows seen and not yet ended and returned", t.open() + 1),
                        limit: self.max_open_rows,
                        flag: "--max-open-rows",
                    });
                }
                // An event judged at once opens its row's track as it is judged (and
                // keeps it only if the row is more than ready); a held one opens it now.
                opens = at_once;
                if !at_once {
                    t.rows.insert(key, RowTrack::default());
                }
            }
        }
        if kind == EventName::BatchStart && record.batch.is_none() {
            self.batches_started += 1;
        }
        if at_once {
            self.process(&ev, false, opens);
            return Ok(());
        }
        if ev.kind != EventName::Release
            && let Some(row) = ev.row
            && let Some(seq) = self.unresolved.remove(&(ev.batch, row))
        {
            // The row's next event (a release excepted) resolves its pending failure.
            let recorded = !matches!(ev.kind, EventName::RetryTimeout | EventName::Shutdown);
            let at = usize::try_from(seq.saturating_sub(self.held_base)).unwrap_or(usize::MAX);
            if let Some(pending) = self.held.get_mut(at) {
                pending.1 = Some(recorded);
            }
        }
        let resolved = if ev.awaits_resolution() {
            if let Some(row) = ev.row {
                let seq = self.held_base + self.held.len() as u64;
                self.unresolved.insert((ev.batch, row), seq);
            }
            None
        } else {
            Some(false)
        };
        self.held.push_back((ev.into_owned(), resolved));
        self.release_held(false);
        Ok(())
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
            if let Some((ev, resolved)) = self.held.pop_front() {
                let seq = self.held_base;
                self.held_base += 1;
                if resolved.is_none()
                    && let Some(row) = ev.row
                    && self.unresolved.get(&(ev.batch, row)) == Some(&seq)
                {
                    self.unresolved.remove(&(ev.batch, row));
                }
                self.process(&ev, recorded, false);
            }
        }
    }

    /// Judge `ev`; `opens` when its row's track was found openable as it was observed
    /// and is to be opened now.
    fn process(&mut self, ev: &Ev<'_>, recorded: bool, opens: bool) {
        match ev.kind {
            EventName::Ok => self.throttle.success(&self.rules),
            EventName::Capacity | EventName::Retryable if recorded => {
                self.throttle.failure(&self.rules)
            }
            _ => {}
        }
        let Tracks {
            rows,
            ready,
            batches,
            closed,
        } = &mut self.tracks;
        let batch_closed = closed.contains(ev.batch);
        if ev.kind == EventName::BatchStart && !batch_closed {
            let track = batches.entry(ev.batch).or_default();
            track.started = true;
            track.declared = detail_value(&ev.detail, key::ROWS).and_then(|v| v.parse().ok());
        }
        let key = ev.row.map(|row| (ev.batch, row));
        // The row's track: kept, or built here (kept afterwards only if the event leaves
        // more than readiness in it): opened as observed, rebuilt from its ready run (a
        // held event may come after the row's `ready` went to one), or opened again (a
        // held event finished it meanwhile), unless the row or its batch is done with.
        let mut finished = false;
        let mut built = None;
        let mut kept = None;
        if let Some(k) = key {
            match rows.get_mut(&k) {
                Some(track) => kept = Some(track),
                None if opens => built = Some(RowTrack::default()),
                None => {
                    if let Some(at) = ready.take(k) {
                        if !batch_closed {
                            batches.entry(ev.batch).or_default();
                        }
                        built = Some(RowTrack::ready_at(at));
                    } else {
                        finished = batches
                            .get(&ev.batch)
                            .is_some_and(|b| b.finished.contains(k.1 as u64));
                        if !finished && !batch_closed {
                            batches.entry(ev.batch).or_default();
                            built = Some(RowTrack::default());
                        }
                    }
                }
            }
        }
        let was_kept = kept.is_some();
        let track = kept.or(built.as_mut());
        let holds = track.as_ref().is_some_and(|t| t.holds_permit);
        if !finished {
            match ev.kind {
                EventName::Permit => self.permits_held += 1,
                EventName::Release if holds => {
                    self.permits_held = self.permits_held.saturating_sub(1)
                }
                EventName::Dispatch => self.in_flight += 1,
                k if k.is_answer() && track.as_ref().is_some_and(|t| t.in_flight) => {
                    self.in_flight = self.in_flight.saturating_sub(1)
                }
                _ => {}
            }
        }
        let step = Step {
            ev,
            row: track.as_deref(),
            finished,
            batch: batches.get(&ev.batch),
            batch_closed,
            d_ms: self.throttle.d_ms(),
            recorded,
            permits_held: self.permits_held,
            in_flight: self.in_flight,
            rules: &self.rules,
            tolerance_us: self.tolerance_us,
            server_side: self.server_side,
        };
        self.checks.on(&step);
        if let Some(k) = key
            && let Some(track) = track
        {
            update(track, ev);
            // A server's request is over once answered: nothing more comes for it.
            let answered = self.server_side && !track.in_flight && track.last_answer_us.is_some();
            if track.is_finished() || answered {
                if was_kept {
                    rows.remove(&k);
                }
                if let Some(batch) = batches.get_mut(&ev.batch) {
                    batch.finished.insert(k.1 as u64);
                }
            } else if let Some(at) = track.only_ready() {
                if was_kept {
                    rows.remove(&k);
                }
                ready.insert(k, at);
            } else if let Some(track) = built {
                rows.insert(k, track);
            }
        }
        let t = &mut self.tracks;
        if ev.kind == EventName::BatchEnd && !batch_closed {
            t.closed.insert(ev.batch);
            // A batch whose declared rows all finished is done with: forget it.
            let complete = t.batches.get(&ev.batch).is_some_and(|b| {
                b.declared.is_some_and(|n| {
                    b.finished.len() == n && (n == 0 || b.finished.next_missing(0) == Some(n))
                })
            }) && !t.rows.any_in(ev.batch)
                && t.ready.count_in(ev.batch) == 0;
            if complete {
                t.batches.remove(&ev.batch);
            }
        }
    }

    /// What the verifier holds now: rows tracked, batches tracked, and ranges of ended
    /// batches. Each is bounded by the trace's open rows and batches, never by its length
    /// or its indexes (the README's resource bounds; the bounds tests read it).
    pub fn held(&self) -> (usize, usize, usize) {
        let t = &self.tracks;
        (t.open(), t.batches.len(), t.closed.ranges())
    }

    /// Conclude, given how the run ended where a simulator knows it.
    pub fn finish(mut self, ending: Option<&Ending>) -> Report {
        self.release_held(true);
        let mut report = Report::default();
        self.checks.finish(
            &self.tracks,
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
        self.try_observe(record)
            .map_err(|hit| io::Error::other(hit.to_string()))
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

/// Check a trace CSV read from `input` (a file, a pipe, bytes) held to `limits`: every
/// verdict and how many events it has, or the first line that breaks the format or a
/// limit. Memory stays within the limits whatever the input.
pub fn verify_trace<R: io::Read>(
    input: R,
    rules: PoolRules,
    tolerance_us: u64,
    limits: &TraceLimits,
) -> Result<(Report, u64), ReadError> {
    verify_trace_with(input, rules, tolerance_us, limits, &mut NoTrace)
}

/// [`verify_trace`], each event also streamed into `extra` (the planning figures, say), so
/// that one read of the trace serves both; an error `extra` returns stops the read at
/// its line.
///
/// The reading (CSV, numbers, the format's rules) runs on this thread and the judging
/// (the verifier, then `extra`) on another, the rows passing between them in bounded
/// chunks ([`pipeline`]; hence `extra` is `Send`): on two cores the halves overlap. The
/// verdicts, the error and its line are those of reading and judging one row after the
/// other.
pub fn verify_trace_with<R: io::Read, S: TraceSink + Send>(
    input: R,
    rules: PoolRules,
    tolerance_us: u64,
    limits: &TraceLimits,
    extra: &mut S,
) -> Result<(Report, u64), ReadError> {
    let mut reader = TraceReader::with_limits(input, limits.clone())?;
    let mut verifier = Verifier::with_limits(rules, tolerance_us, limits.max_open_rows);
    let mut events = 0u64;
    pipeline(
        |judge| {
            while let Some(row) = reader.next_numbered() {
                let (line, row) = row?;
                judge.send(line, &row).map_err(|stopped| ReadError {
                    line,
                    message: stopped.to_string(),
                })?;
            }
            Ok(())
        },
        |line, row| {
            let refused = match verifier.try_observe(row) {
                Err(hit) => Some(hit.to_string()),
                Ok(()) => extra.record(row).err().map(|e| e.to_string()),
            };
            if let Some(message) = refused {
                return Err(ReadError { line, message });
            }
            events += 1;
            Ok(())
        },
    )?;
    Ok((verifier.finish(None), events))
}
