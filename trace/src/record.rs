//! One event of a trace, borrowed (as writers stream it) or owned (as tests keep it).

use crate::detail::detail_value;
use crate::event::EventName;

/// One event of a trace, borrowed: writing a trace allocates nothing per event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceRecord<'a> {
    /// Microseconds since the start of the run.
    pub t_us: u64,
    /// What happened.
    pub event: EventName,
    /// Batch number from 0, where the trace has the column.
    pub batch: Option<u64>,
    /// The row's index in its batch, for row events.
    pub row: Option<usize>,
    /// The row's id (may be empty).
    pub id: &'a str,
    /// Attempt number from 1, where one applies.
    pub attempt: Option<u32>,
    /// The throttle's `D` after the event.
    pub delay_ms: Option<f64>,
    /// `key=value` pairs separated by `;`.
    pub detail: &'a str,
}

/// One event of a trace, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    /// Microseconds since the start of the run.
    pub t_us: u64,
    /// What happened.
    pub event: EventName,
    /// Batch number from 0, where the trace has the column.
    pub batch: Option<u64>,
    /// The row's index in its batch, for row events.
    pub row: Option<usize>,
    /// The row's id (may be empty).
    pub id: String,
    /// Attempt number from 1, where one applies.
    pub attempt: Option<u32>,
    /// The throttle's `D` after the event.
    pub delay_ms: Option<f64>,
    /// `key=value` pairs separated by `;`.
    pub detail: String,
}

impl TraceRow {
    /// Borrow it as a record, to feed a sink.
    pub fn as_record(&self) -> TraceRecord<'_> {
        TraceRecord {
            t_us: self.t_us,
            event: self.event,
            batch: self.batch,
            row: self.row,
            id: &self.id,
            attempt: self.attempt,
            delay_ms: self.delay_ms,
            detail: &self.detail,
        }
    }

    /// The value of `key` in the detail column.
    pub fn detail_value(&self, key: &str) -> Option<&str> {
        detail_value(&self.detail, key)
    }
}

impl TraceRecord<'_> {
    /// Keep it.
    pub fn to_row(&self) -> TraceRow {
        TraceRow {
            t_us: self.t_us,
            event: self.event,
            batch: self.batch,
            row: self.row,
            id: self.id.to_string(),
            attempt: self.attempt,
            delay_ms: self.delay_ms,
            detail: self.detail.to_string(),
        }
    }

    /// The value of `key` in the detail column.
    pub fn detail_value(&self, key: &str) -> Option<&str> {
        detail_value(self.detail, key)
    }
}

/// The CSV header, in column order. Readers accept the columns in any order and need only
/// `t_us`, `event` and `row`.
pub const HEADER: [&str; 8] = [
    "t_us", "event", "batch", "row", "id", "attempt", "delay_ms", "detail",
];
