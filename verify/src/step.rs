//! What every check sees: one event ([`Ev`]), what the trace has shown of its row so far
//! ([`RowTrack`]), the shared state around it ([`Step`]) and every open row and batch
//! ([`Tracks`]). The verifier builds these; the checks only read them, so neither imports
//! the other's internals.

use std::borrow::Cow;
use std::collections::BTreeMap;

use paceline_trace::{EventName, IdSet, ReadyRuns, RowKey, RowMap, detail_value, key};

use crate::reference::PoolRules;
use crate::verdict::RowRef;

/// One event as the checks see it: its text borrowed from the record while it is judged
/// at once, owned while it is held back ([`Ev::into_owned`]).
#[derive(Debug, Clone)]
pub(crate) struct Ev<'a> {
    pub t_us: u64,
    pub kind: EventName,
    pub batch: u64,
    pub row: Option<usize>,
    pub id: Cow<'a, str>,
    pub attempt: Option<u32>,
    pub delay_ms: Option<f64>,
    pub detail: Cow<'a, str>,
}

impl Ev<'_> {
    /// The event with its own copy of its text, to be held back.
    pub(crate) fn into_owned(self) -> Ev<'static> {
        Ev {
            id: Cow::Owned(self.id.into_owned()),
            detail: Cow::Owned(self.detail.into_owned()),
            ..self
        }
    }

    pub(crate) fn detail(&self, key: &str) -> Option<&str> {
        detail_value(&self.detail, key)
    }

    pub(crate) fn row_ref(&self) -> Option<RowRef> {
        self.row.map(|row| RowRef {
            batch: self.batch,
            row,
            id: self.id.to_string(),
            attempt: self.attempt,
        })
    }

    pub(crate) fn awaits_resolution(&self) -> bool {
        self.kind.is_failure() && self.row.is_some()
    }
}

/// What the trace has shown of one row so far.
#[derive(Debug, Clone, Default, PartialEq)]
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
    pub terminal: Option<(EventName, u64)>,
    pub emitted: bool,
    /// The last event seen for the row.
    pub last: Option<(EventName, u64)>,
}

impl RowTrack {
    /// The track of a row whose only event so far was `ready` at `t_us`.
    pub(crate) fn ready_at(t_us: u64) -> Self {
        RowTrack {
            last: Some((EventName::Ready, t_us)),
            ..RowTrack::default()
        }
    }

    /// When the row was made ready, if that is all the track holds.
    pub(crate) fn only_ready(&self) -> Option<u64> {
        match self.last {
            Some((EventName::Ready, t)) if *self == RowTrack::ready_at(t) => Some(t),
            _ => None,
        }
    }

    /// When the retry budget started: the first permit, or the first dispatch in a trace
    /// without permit events.
    pub(crate) fn budget_start(&self) -> Option<u64> {
        self.first_permit_us.or(self.first_dispatch_us)
    }

    /// Ended, returned, holding nothing: the trace has nothing more to say about it, so
    /// its track can go (the batch remembers it among its finished rows).
    pub(crate) fn is_finished(&self) -> bool {
        self.terminal.is_some() && self.emitted && !self.holds_permit && !self.in_flight
    }
}

/// What the verifier keeps of a batch while it is open, and of a batch that ended with
/// rows missing until the end of the trace.
#[derive(Debug, Clone, Default)]
pub(crate) struct BatchTrack {
    /// Whether its `batch_start` was seen.
    pub started: bool,
    /// Rows its `batch_start` declared.
    pub declared: Option<u64>,
    /// Rows that ended and were returned, whose tracks were dropped: one range while
    /// they finish in order.
    pub finished: IdSet,
}

/// One event with the shared state around it, as handed to every check.
pub(crate) struct Step<'a> {
    pub ev: &'a Ev<'a>,
    /// The row's state before this event; `None` for events of no row, and for rows that
    /// had finished (ended and were returned) before it.
    pub row: Option<&'a RowTrack>,
    /// The row had finished before this event: anything but a release is too late.
    pub finished: bool,
    /// The event's batch, while it is open (or ended incomplete).
    pub batch: Option<&'a BatchTrack>,
    /// The batch had ended (its first `batch_end`) before this event.
    pub batch_closed: bool,
    /// The reference `D` after this event.
    pub d_ms: f64,
    /// For `capacity` and `retryable`: whether the throttle recorded the failure.
    pub recorded: bool,
    /// Permits held and attempts in flight in the whole pool, after this event.
    pub permits_held: u64,
    pub in_flight: u64,
    pub rules: &'a PoolRules,
    pub tolerance_us: u64,
    /// The trace was recorded by the server (see `Verifier::server_side`).
    pub server_side: bool,
}

/// Record `ev` in its row's track.
pub(crate) fn update(track: &mut RowTrack, ev: &Ev<'_>) {
    let t = ev.t_us;
    // Most rows have no id: an empty copy is still a call.
    if track.id.is_empty() && !ev.id.is_empty() {
        track.id.push_str(&ev.id);
    }
    match ev.kind {
        EventName::Permit => {
            track.first_permit_us.get_or_insert(t);
            track.holds_permit = true;
            track.gate_since = Some(t);
            track.backoff = None;
        }
        EventName::Dispatch => {
            track.first_dispatch_us.get_or_insert(t);
            track.dispatches = track.dispatches.saturating_add(1);
            track.in_flight = true;
            track.gate_since = None;
        }
        EventName::Release => {
            track.holds_permit = false;
            track.gate_since = None;
        }
        EventName::Backoff => {
            let length = ev
                .detail(key::BACKOFF_US)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            track.backoff = Some((t, length));
        }
        EventName::Emit => track.emitted = true,
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

/// What the verifier knows of rows and batches, shared by every check.
#[derive(Debug, Default)]
pub(crate) struct Tracks {
    /// Rows seen and not finished, but for those only made ready; the verifier makes
    /// it count its batches' rows (it asks at every `batch_end`).
    pub rows: RowMap<RowTrack>,
    /// Rows only made ready so far.
    pub ready: ReadyRuns,
    /// Batches open, or ended with rows missing.
    pub batches: BTreeMap<u64, BatchTrack>,
    /// Batches that ended (their first `batch_end`).
    pub closed: IdSet,
}

impl Tracks {
    /// The track of `key`, if it is open: kept, or rebuilt from its ready run.
    pub(crate) fn track(&self, key: RowKey) -> Option<Cow<'_, RowTrack>> {
        match self.rows.get(&key) {
            Some(track) => Some(Cow::Borrowed(track)),
            None => self
                .ready
                .get(key)
                .map(|t| Cow::Owned(RowTrack::ready_at(t))),
        }
    }

    /// Keep `key`'s track one by one from now on if it was only made ready; whether
    /// `key` has a track now.
    pub(crate) fn unpack(&mut self, key: RowKey) -> bool {
        if self.rows.contains_key(&key) {
            return true;
        }
        if self.ready.runs() > 0
            && let Some(t) = self.ready.take(key)
        {
            self.rows.insert(key, RowTrack::ready_at(t));
            return true;
        }
        false
    }

    /// Rows open: each kept track, and each run of ready rows.
    pub(crate) fn open(&self) -> usize {
        self.rows.len() + self.ready.runs()
    }

    /// Whether `key` ended and was returned, its track dropped.
    pub(crate) fn finished(&self, (batch, row): RowKey) -> bool {
        self.batches
            .get(&batch)
            .is_some_and(|b| b.finished.contains(row as u64))
    }
}
