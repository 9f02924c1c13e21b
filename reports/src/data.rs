//! What the charts need from a trace, gathered in one pass.
//!
//! Series record only changes (of `D`, of permits and calls), and every series, span and
//! marker is kept one by one only while a run is short: beyond that, what a chart can
//! show of it (`thin`), so memory stays bounded however long the run. The timeline keeps
//! one lane per row while a run has few rows, and one lane per permit slot (the pool's
//! workers) beyond that.

mod thin;

use std::collections::BTreeMap;

use paceline_trace::{EventName, ResultKind, RowKey, RowMap, TraceRecord, key};
use paceline_verify::PoolRules;

pub use thin::{Busy, FINE};
use thin::{Pauses, Sampled, Thinned};

/// Batches whose statistics the pages show; the rest are counted.
pub const STATS_SHOWN: usize = 100;

/// Beyond this many rows the timeline shows workers instead of rows.
pub const ROW_LANES: usize = 60;
/// At most this many worker lanes are drawn (the free ones are the bits of a word).
pub const SLOT_LANES: usize = 64;
const _: () = assert!(SLOT_LANES <= u64::BITS as usize);

/// What a lane is doing over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// Holding a permit, waiting at the gate.
    Gate,
    /// An attempt in flight.
    Call,
    /// Cooling down without a permit (row lanes only).
    Backoff,
}

/// An event worth a marker on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    Ok,
    Capacity,
    Retryable,
    Permanent,
    RetryTimeout,
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub lane: u32,
    pub from_us: u64,
    pub to_us: u64,
    pub kind: SpanKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub lane: u32,
    pub t_us: u64,
    pub kind: MarkKind,
}

/// Spans drawn one by one; beyond, the timeline shows each lane's share of time busy.
pub const EXACT_SPANS: usize = 20_000;
/// Markers of one kind drawn (an evenly spread sample beyond).
pub const MARKS_SHOWN: usize = 20_000;

/// One of the timeline's two views.
#[derive(Debug, Default, Clone)]
pub struct Lanes {
    pub names: Vec<String>,
    /// Every span, while there are at most [`EXACT_SPANS`].
    pub spans: Vec<Span>,
    /// Beyond that, time in flight and at the gate per lane and fine bucket of time.
    pub busy: Option<Busy>,
    /// An evenly spread sample of each kind's markers (all of them while few).
    pub marks: Vec<Mark>,
}

/// A view's spans and markers as they come.
#[derive(Debug, Clone)]
struct LaneBuilder {
    names: Vec<String>,
    spans: Vec<Span>,
    busy: Option<Busy>,
    marks: [Sampled<Mark>; 6],
}

impl LaneBuilder {
    fn new(names: Vec<String>) -> Self {
        LaneBuilder {
            names,
            spans: Vec::new(),
            busy: None,
            marks: std::array::from_fn(|_| Sampled::new(MARKS_SHOWN)),
        }
    }

    fn span(&mut self, span: Span) {
        if self.busy.is_none() {
            self.spans.push(span);
            if self.spans.len() <= EXACT_SPANS {
                return;
            }
            let mut busy = Busy::new(self.names.len());
            for s in std::mem::take(&mut self.spans) {
                add_busy(&mut busy, &s);
            }
            self.busy = Some(busy);
        } else if let Some(busy) = &mut self.busy {
            busy.ensure_lanes(self.names.len());
            add_busy(busy, &span);
        }
    }

    fn mark(&mut self, mark: Mark) {
        if let Some(sample) = self.marks.get_mut(mark.kind as usize) {
            sample.push(mark);
        }
    }

    fn finish(self) -> Lanes {
        Lanes {
            names: self.names,
            spans: self.spans,
            busy: self.busy,
            marks: self.marks.into_iter().flat_map(Sampled::finish).collect(),
        }
    }
}

/// A span's time in `busy`: calls as kind 0, gate waits as kind 1 (backoffs are not
/// summed: the aggregated timeline shows workers busy, not rows resting).
fn add_busy(busy: &mut Busy, s: &Span) {
    let kind = match s.kind {
        SpanKind::Call => 0,
        SpanKind::Gate => 1,
        SpanKind::Backoff => return,
    };
    busy.add(s.lane as usize, kind, s.from_us, s.to_us);
}

/// Everything the charts and pages show, from one trace.
#[derive(Debug, Clone)]
pub struct TraceData {
    pub events: u64,
    pub end_us: u64,
    /// Each dispatch after the first: its time, the gap since the one before it and the
    /// spacing required (ms), thinned to each bucket's smallest gap on long runs.
    pub gaps: Vec<(u64, (f64, f64))>,
    /// Those gaps below the spacing required, one by one (the first [`thin::EXACT`]).
    pub broken: Vec<(u64, (f64, f64))>,
    /// `D` after each change.
    pub delay: Vec<(u64, f64)>,
    /// Permits held after each change of permits or calls.
    pub held: Vec<(u64, f64)>,
    /// Attempts in flight after each change of permits or calls.
    pub flying: Vec<(u64, f64)>,
    /// The timeline: rows while there are at most `ROW_LANES`, else workers.
    pub lanes: Lanes,
    pub per_row: bool,
    pub outcomes: BTreeMap<&'static str, u64>,
    /// The first [`STATS_SHOWN`] batches' statistics, as `batch_end` reported them.
    pub batch_stats: Vec<(u64, String)>,
    /// Server pauses owed (a capacity answer's wait, under `honour_retry_after`), merged
    /// where they overlap: (from, until) in microseconds.
    pub pauses: Vec<(u64, u64)>,
    /// Batches that ended beyond those: counted, so that a trace of a million batches
    /// neither grows the report's memory nor its pages.
    pub batch_stats_more: u64,
}

/// A lane's spans still open: at the gate since, in a call since.
#[derive(Debug, Clone, Copy, Default)]
struct Open {
    gate_from: Option<u64>,
    call_from: Option<u64>,
}

/// Whether a gap between dispatches is below the spacing required: (gap, required) in ms.
pub fn below_spacing(&(gap, required): &(f64, f64)) -> bool {
    gap + 1e-9 < required
}

/// Gathers a `TraceData` event by event.
pub struct Collector {
    data: TraceData,
    rules: PoolRules,
    held: u32,
    in_flight: u32,
    last_dispatch: Option<u64>,
    last_delay: Option<f64>,
    gaps: Thinned<(f64, f64)>,
    delay: Thinned<f64>,
    held_series: Thinned<f64>,
    flying_series: Thinned<f64>,
    pauses: Pauses,
    rows: LaneBuilder,
    row_lane: BTreeMap<RowKey, u32>,
    row_open: RowMap<Open>,
    slots: LaneBuilder,
    /// Rows' results counted by kind, `unknown` last: `TraceData::outcomes` at the end.
    outcomes: [u64; ResultKind::ALL.len() + 1],
    /// Worker lanes free, one bit each: a permit takes the lowest.
    free_slots: u64,
    slot_of: RowMap<u32>,
    /// Each worker lane's open spans, by lane.
    slot_open: Vec<Open>,
}

impl Collector {
    pub fn new(rules: &PoolRules) -> Self {
        let slots = usize::try_from(rules.pool_size)
            .unwrap_or(usize::MAX)
            .min(SLOT_LANES);
        let mut held_series = Thinned::new(true);
        let mut flying_series = Thinned::new(true);
        held_series.push(0, 0.0);
        flying_series.push(0, 0.0);
        Collector {
            data: TraceData {
                events: 0,
                end_us: 0,
                gaps: Vec::new(),
                broken: Vec::new(),
                delay: Vec::new(),
                held: Vec::new(),
                flying: Vec::new(),
                lanes: Lanes::default(),
                per_row: true,
                outcomes: BTreeMap::new(),
                batch_stats: Vec::new(),
                pauses: Vec::new(),
                batch_stats_more: 0,
            },
            rules: rules.clone(),
            held: 0,
            in_flight: 0,
            last_dispatch: None,
            last_delay: None,
            gaps: Thinned::new(false),
            delay: Thinned::new(true),
            held_series,
            flying_series,
            pauses: Pauses::default(),
            rows: LaneBuilder::new(Vec::new()),
            row_lane: BTreeMap::new(),
            row_open: RowMap::new(),
            slots: LaneBuilder::new((0..slots).map(|s| format!("worker {}", s + 1)).collect()),
            outcomes: [0; ResultKind::ALL.len() + 1],
            free_slots: u64::MAX.checked_shr(u64::BITS - slots as u32).unwrap_or(0),
            slot_of: RowMap::new(),
            slot_open: vec![Open::default(); slots],
        }
    }

    pub fn observe(&mut self, r: &TraceRecord<'_>) {
        let t = r.t_us;
        self.data.events += 1;
        self.data.end_us = self.data.end_us.max(t);
        if let Some(d) = r.delay_ms
            && self.last_delay != Some(d)
        {
            self.last_delay = Some(d);
            self.delay.push(t, d);
        }
        let key = r.row.map(|row| (r.batch.unwrap_or(0), row));
        if r.event == EventName::Capacity
            && self.rules.honour_retry_after
            && let Some(ms) = r
                .detail_value(key::RETRY_AFTER_MS)
                .and_then(|v| v.parse::<u64>().ok())
        {
            let until =
                t.saturating_add(ms.saturating_mul(1000).min(self.rules.max_retry_after_us));
            self.pauses.push(t, until);
        }
        let before = (self.held, self.in_flight);
        match r.event {
            EventName::Permit => self.held += 1,
            EventName::Release => self.held = self.held.saturating_sub(1),
            EventName::Dispatch => {
                self.in_flight += 1;
                // The spacing the gate required, as the trace reports `D`.
                let d = r.delay_ms.unwrap_or(self.rules.min_ms);
                if let Some(previous) = self.last_dispatch {
                    let gap = ((t - previous) as f64 / 1000.0, self.rules.spacing_ms(d));
                    self.gaps.push(t, gap);
                    if below_spacing(&gap) && self.data.broken.len() < thin::EXACT {
                        self.data.broken.push((t, gap));
                    }
                }
                self.last_dispatch = Some(t);
            }
            e if e.is_answer() => self.in_flight = self.in_flight.saturating_sub(1),
            EventName::BatchEnd => {
                if self.data.batch_stats.len() < STATS_SHOWN {
                    self.data
                        .batch_stats
                        .push((r.batch.unwrap_or(0), r.detail.to_string()));
                } else {
                    self.data.batch_stats_more += 1;
                }
            }
            EventName::Emit => {
                let kind = r.detail_value(key::RESULT).and_then(ResultKind::parse);
                let known = |k| ResultKind::ALL.iter().position(|&x| x == k);
                let at = kind.and_then(known).unwrap_or(ResultKind::ALL.len());
                if let Some(count) = self.outcomes.get_mut(at) {
                    *count += 1;
                }
            }
            _ => {}
        }
        if (self.held, self.in_flight) != before {
            self.held_series.push(t, f64::from(self.held));
            self.flying_series.push(t, f64::from(self.in_flight));
        }
        if let Some(key) = key {
            self.row_lanes(key, r);
            self.slot_lanes(key, r);
        }
    }

    fn row_lanes(&mut self, key: RowKey, r: &TraceRecord<'_>) {
        if !self.data.per_row {
            return;
        }
        let lane = match self.row_lane.get(&key) {
            Some(&lane) => lane,
            None => {
                if self.row_lane.len() >= ROW_LANES {
                    // Too many rows to draw one by one: workers it is.
                    self.data.per_row = false;
                    self.rows = LaneBuilder::new(Vec::new());
                    self.row_open = RowMap::new();
                    return;
                }
                let lane = self.row_lane.len() as u32;
                self.row_lane.insert(key, lane);
                let name = if r.id.is_empty() {
                    format!("b{} r{}", key.0, key.1)
                } else {
                    r.id.to_string()
                };
                self.rows.names.push(name);
                lane
            }
        };
        let open = self.row_open.get_or_default(key);
        record(&mut self.rows, open, lane, r);
        if r.event == EventName::Backoff {
            let length = r
                .detail_value(key::BACKOFF_US)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            self.rows.span(Span {
                lane,
                from_us: r.t_us,
                to_us: r.t_us.saturating_add(length),
                kind: SpanKind::Backoff,
            });
        }
    }

    fn slot_lanes(&mut self, key: RowKey, r: &TraceRecord<'_>) {
        let slot = match r.event {
            EventName::Permit => {
                if self.free_slots == 0 {
                    return;
                }
                let slot = self.free_slots.trailing_zeros();
                self.free_slots &= !(1 << slot);
                self.slot_of.insert(key, slot);
                slot
            }
            _ => match self.slot_of.get(&key) {
                Some(&slot) => slot,
                None => return,
            },
        };
        let Some(open) = self.slot_open.get_mut(slot as usize) else {
            return;
        };
        record(&mut self.slots, open, slot, r);
        if r.event == EventName::Release {
            *open = Open::default();
            self.slot_of.remove(&key);
            self.free_slots |= 1 << slot;
        }
    }

    pub fn finish(mut self) -> TraceData {
        self.data.lanes = if self.data.per_row {
            self.rows.finish()
        } else {
            self.slots.finish()
        };
        self.data.gaps = self.gaps.finish();
        self.data.delay = self.delay.finish();
        self.data.held = self.held_series.finish();
        self.data.flying = self.flying_series.finish();
        self.data.pauses = self.pauses.finish();
        let names = ResultKind::ALL.map(ResultKind::as_str).into_iter();
        for (name, &n) in names.chain(["unknown"]).zip(&self.outcomes) {
            if n > 0 {
                self.data.outcomes.insert(name, n);
            }
        }
        self.data
    }
}

/// Open and close a lane's gate and call spans, and place its markers.
fn record(lanes: &mut LaneBuilder, open: &mut Open, lane: u32, r: &TraceRecord<'_>) {
    let t = r.t_us;
    let close = |from: Option<u64>, kind: SpanKind, lanes: &mut LaneBuilder| {
        if let Some(from) = from {
            lanes.span(Span {
                lane,
                from_us: from,
                to_us: t,
                kind,
            });
        }
    };
    let mark = match r.event {
        EventName::Permit => {
            open.gate_from = Some(t);
            None
        }
        EventName::Dispatch => {
            close(open.gate_from.take(), SpanKind::Gate, lanes);
            open.call_from = Some(t);
            None
        }
        EventName::Release => {
            close(open.gate_from.take(), SpanKind::Gate, lanes);
            None
        }
        EventName::Ok => Some(MarkKind::Ok),
        EventName::Capacity => Some(MarkKind::Capacity),
        EventName::Retryable => Some(MarkKind::Retryable),
        EventName::Permanent => Some(MarkKind::Permanent),
        EventName::RetryTimeout => Some(MarkKind::RetryTimeout),
        EventName::Shutdown => Some(MarkKind::Shutdown),
        _ => None,
    };
    if r.event.is_answer() {
        close(open.call_from.take(), SpanKind::Call, lanes);
    }
    if let Some(kind) = mark {
        lanes.mark(Mark {
            lane,
            t_us: t,
            kind,
        });
    }
}
