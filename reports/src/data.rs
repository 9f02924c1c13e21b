//! What the charts need from a trace, gathered in one pass.
//!
//! Series record only changes (of `D`, of permits and calls), so a long run costs memory
//! in proportion to what moved. The timeline keeps one lane per row while a run has few
//! rows, and one lane per permit slot (the pool's workers) beyond that.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use paceline_trace::{EventName, ResultKind, TraceRecord, key};
use paceline_verify::PoolRules;

/// Batches whose statistics the pages show; the rest are counted.
pub const STATS_SHOWN: usize = 100;

/// Beyond this many rows the timeline shows workers instead of rows.
pub const ROW_LANES: usize = 60;
/// At most this many worker lanes are drawn.
pub const SLOT_LANES: usize = 64;

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

/// One of the timeline's two views.
#[derive(Debug, Default, Clone)]
pub struct Lanes {
    pub names: Vec<String>,
    pub spans: Vec<Span>,
    pub marks: Vec<Mark>,
}

/// Everything the charts and pages show, from one trace.
#[derive(Debug, Clone)]
pub struct TraceData {
    pub events: u64,
    pub end_us: u64,
    /// Each dispatch: its time and the spacing required before it (ms).
    pub dispatches: Vec<(u64, f64)>,
    /// `D` after each change.
    pub delay: Vec<(u64, f64)>,
    /// Permits held and attempts in flight after each change.
    pub load: Vec<(u64, u32, u32)>,
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

type RowKey = (u64, usize);

#[derive(Default)]
struct Open {
    gate_from: Option<u64>,
    call_from: Option<u64>,
}

/// Gathers a `TraceData` event by event.
pub struct Collector {
    data: TraceData,
    rules: PoolRules,
    held: u32,
    in_flight: u32,
    rows: Lanes,
    row_lane: BTreeMap<RowKey, u32>,
    row_open: HashMap<RowKey, Open>,
    slots: Lanes,
    free_slots: BTreeSet<u32>,
    slot_of: HashMap<RowKey, u32>,
    slot_open: HashMap<u32, Open>,
}

impl Collector {
    pub fn new(rules: &PoolRules) -> Self {
        let slots = usize::try_from(rules.pool_size)
            .unwrap_or(usize::MAX)
            .min(SLOT_LANES);
        Collector {
            data: TraceData {
                events: 0,
                end_us: 0,
                dispatches: Vec::new(),
                delay: Vec::new(),
                load: vec![(0, 0, 0)],
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
            rows: Lanes::default(),
            row_lane: BTreeMap::new(),
            row_open: HashMap::new(),
            slots: Lanes {
                names: (0..slots).map(|s| format!("worker {}", s + 1)).collect(),
                ..Lanes::default()
            },
            free_slots: (0..slots as u32).collect(),
            slot_of: HashMap::new(),
            slot_open: HashMap::new(),
        }
    }

    pub fn observe(&mut self, r: &TraceRecord<'_>) {
        let t = r.t_us;
        self.data.events += 1;
        self.data.end_us = self.data.end_us.max(t);
        if let Some(d) = r.delay_ms
            && self.data.delay.last().is_none_or(|&(_, last)| last != d)
        {
            self.data.delay.push((t, d));
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
            match self.data.pauses.last_mut() {
                Some(last) if last.1 >= t => last.1 = last.1.max(until),
                _ => self.data.pauses.push((t, until)),
            }
        }
        match r.event {
            EventName::Permit => self.held += 1,
            EventName::Release => self.held = self.held.saturating_sub(1),
            EventName::Dispatch => {
                self.in_flight += 1;
                // The spacing the gate required, as the trace reports `D`.
                let d = r.delay_ms.unwrap_or(self.rules.min_ms);
                self.data.dispatches.push((t, self.rules.spacing_ms(d)));
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
                let name = r
                    .detail_value(key::RESULT)
                    .and_then(ResultKind::parse)
                    .map_or("unknown", ResultKind::as_str);
                *self.data.outcomes.entry(name).or_default() += 1;
            }
            _ => {}
        }
        if self
            .data
            .load
            .last()
            .is_none_or(|&(_, h, f)| (h, f) != (self.held, self.in_flight))
        {
            self.data.load.push((t, self.held, self.in_flight));
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
                    self.rows = Lanes::default();
                    self.row_open.clear();
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
        let open = self.row_open.entry(key).or_default();
        record(&mut self.rows, open, lane, r);
        if r.event == EventName::Backoff {
            let length = r
                .detail_value(key::BACKOFF_US)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            self.rows.spans.push(Span {
                lane,
                from_us: r.t_us,
                to_us: r.t_us.saturating_add(length),
                kind: SpanKind::Backoff,
            });
        }
    }

    fn slot_lanes(&mut self, key: RowKey, r: &TraceRecord<'_>) {
        let slot = match r.event {
            EventName::Permit => match self.free_slots.pop_first() {
                Some(slot) => {
                    self.slot_of.insert(key, slot);
                    slot
                }
                None => return,
            },
            _ => match self.slot_of.get(&key) {
                Some(&slot) => slot,
                None => return,
            },
        };
        let open = self.slot_open.entry(slot).or_default();
        record(&mut self.slots, open, slot, r);
        if r.event == EventName::Release {
            self.slot_of.remove(&key);
            self.slot_open.remove(&slot);
            self.free_slots.insert(slot);
        }
    }

    pub fn finish(mut self) -> TraceData {
        self.data.lanes = if self.data.per_row {
            self.rows
        } else {
            self.slots
        };
        self.data
    }
}

/// Open and close a lane's gate and call spans, and place its markers.
fn record(lanes: &mut Lanes, open: &mut Open, lane: u32, r: &TraceRecord<'_>) {
    let t = r.t_us;
    let close = |from: Option<u64>, kind: SpanKind, lanes: &mut Lanes| {
        if let Some(from) = from {
            lanes.spans.push(Span {
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
        lanes.marks.push(Mark {
            lane,
            t_us: t,
            kind,
        });
    }
}
