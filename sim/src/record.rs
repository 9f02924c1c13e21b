//! The pool's events as trace records: the one place where the core's words meet the
//! trace's (`paceline-core` knows nothing of traces, `paceline-trace` nothing of pools).

use std::time::Duration;

use paceline_core::{Event, EventKind, Outcome, RowEnd};
use paceline_trace::{DetailWriter, EventName, ResultKind, TraceRecord, key};

use crate::time::{ceil_us, us};

/// The pool's event as a trace record: `detail` is filled into `buf`.
pub fn record_of<'a>(
    event: &Event,
    t_us: u64,
    id: &'a str,
    refused_by: Option<&str>,
    buf: &'a mut String,
) -> TraceRecord<'a> {
    describe(&mut DetailWriter::new(buf), &event.kind, refused_by);
    TraceRecord {
        t_us,
        event: event_name(&event.kind),
        batch: Some(event.batch),
        row: event.row,
        id,
        attempt: event.attempt,
        delay_ms: Some(event.delay_ms),
        detail: buf,
    }
}

/// Where an event's detail goes, pair by pair: into the trace's text, or into the digest
/// that stands for it ([`EventDigest`](crate::digest::EventDigest)). Both are fed by
/// [`describe`], so the digest covers exactly what the text says.
pub(crate) trait Detail {
    /// `key` has a text value.
    fn text(&mut self, key: &'static str, value: &str) -> &mut Self;
    /// `key` has an integer value.
    fn int(&mut self, key: &'static str, value: u64) -> &mut Self;
    /// `key` has a number value, written the shortest way that reads back exactly.
    fn float(&mut self, key: &'static str, value: f64) -> &mut Self;
}

impl Detail for DetailWriter<'_> {
    #[inline(always)]
    fn text(&mut self, key: &'static str, value: &str) -> &mut Self {
        DetailWriter::text(self, key, value)
    }

    #[inline(always)]
    fn int(&mut self, key: &'static str, value: u64) -> &mut Self {
        DetailWriter::int(self, key, value)
    }

    fn float(&mut self, key: &'static str, value: f64) -> &mut Self {
        DetailWriter::float(self, key, value)
    }
}

/// The event's `detail` column, and the limit that refused an answer where one did.
///
/// Numbers are given as `u64`: a simulated run's counts, indexes and times fit one, and a
/// server's wait is built from whole milliseconds of a `u64`. Inlined: most events have
/// no detail, which then costs a jump.
#[inline(always)]
pub(crate) fn describe<D: Detail>(d: &mut D, kind: &EventKind, refused_by: Option<&str>) {
    let micros = |t: Duration| us(t);
    match kind {
        EventKind::BatchStart { rows } => {
            d.int(key::ROWS, *rows as u64);
        }
        EventKind::Dispatch {
            tokens: Some(tokens),
        } => {
            d.int(key::TOKENS, *tokens);
        }
        EventKind::Answer {
            status,
            retry_after,
            ..
        } => {
            if let Some(status) = status {
                d.int(key::STATUS, u64::from(*status));
            }
            if let Some(wait) = retry_after {
                d.int(
                    key::RETRY_AFTER_MS,
                    u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                );
            }
        }
        EventKind::TooLarge { .. } => {
            d.text(key::REASON, "too_large");
        }
        // Rounded up: the simulator wakes the row at the next whole microsecond.
        EventKind::Backoff { length } => {
            d.int(key::BACKOFF_US, ceil_us(*length));
        }
        EventKind::RetryTimeout { elapsed, budget } => {
            d.int(key::ELAPSED_US, micros(*elapsed))
                .int(key::BUDGET_US, micros(*budget));
        }
        EventKind::Emit(meta) => {
            d.text(key::RESULT, result_kind(meta.end).as_str())
                .int(key::SUBMIT_INDEX, meta.submit_index as u64)
                .int(key::COMPLETE_INDEX, meta.complete_index as u64)
                .int(key::SUBMIT_US, micros(meta.submitted_at))
                .int(key::COMPLETE_US, micros(meta.completed_at))
                .int(key::BUFFER_WAIT_US, micros(meta.buffer_wait()));
            let status = match meta.end {
                RowEnd::Permanent { status } => status,
                RowEnd::RetryTimeout { last, .. } => last.status,
                _ => None,
            };
            if let Some(s) = status {
                d.int(key::STATUS, u64::from(s));
            }
        }
        EventKind::BatchEnd(s) => {
            d.int(key::CAPACITY_RETRIES, s.capacity_retries)
                .int(key::SUCCESSES, s.successes)
                .float(key::PEAK_DELAY_MS, s.peak_delay_ms)
                .int(key::TOTAL_THROTTLE_TIME_US, micros(s.total_throttle_time))
                .int(key::MAX_CONCURRENT, s.max_concurrent as u64)
                .float(key::DELAY_AT_COMPLETION_MS, s.delay_at_completion_ms);
        }
        _ => {}
    }
    if let Some(by) = refused_by {
        d.text(key::LIMIT, by);
    }
}

/// The trace's name for a pool event.
pub fn event_name(kind: &EventKind) -> EventName {
    match kind {
        EventKind::BatchStart { .. } => EventName::BatchStart,
        EventKind::Ready => EventName::Ready,
        EventKind::Permit => EventName::Permit,
        EventKind::GateWait => EventName::GateWait,
        EventKind::Dispatch { .. } => EventName::Dispatch,
        EventKind::Answer { outcome, .. } => answer_name(*outcome),
        EventKind::Release => EventName::Release,
        EventKind::Backoff { .. } => EventName::Backoff,
        EventKind::RetryTimeout { .. } => EventName::RetryTimeout,
        EventKind::Shutdown => EventName::Shutdown,
        EventKind::TooLarge { .. } => EventName::Permanent,
        EventKind::Emit(_) => EventName::Emit,
        EventKind::BatchEnd(_) => EventName::BatchEnd,
    }
}

/// The trace's name for an answer of the API.
pub fn answer_name(outcome: Outcome) -> EventName {
    match outcome {
        Outcome::Ok => EventName::Ok,
        Outcome::Capacity => EventName::Capacity,
        Outcome::Retryable => EventName::Retryable,
        Outcome::Permanent => EventName::Permanent,
    }
}

/// The outcome an answer's name spells, `None` for events that are not answers.
pub fn outcome_of(name: EventName) -> Option<Outcome> {
    [
        Outcome::Ok,
        Outcome::Capacity,
        Outcome::Retryable,
        Outcome::Permanent,
    ]
    .into_iter()
    .find(|o| answer_name(*o) == name)
}

/// The result kind of a row's end.
pub fn result_kind(end: RowEnd) -> ResultKind {
    match end {
        RowEnd::Ok => ResultKind::Ok,
        RowEnd::Permanent { .. } | RowEnd::TooLarge { .. } => ResultKind::Permanent,
        RowEnd::RetryTimeout { .. } => ResultKind::RetryTimeout,
        RowEnd::Shutdown => ResultKind::Shutdown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_name_their_values() {
        let mut buf = String::new();
        describe(
            &mut DetailWriter::new(&mut buf),
            &EventKind::RetryTimeout {
                elapsed: Duration::from_millis(2),
                budget: Duration::from_secs(1),
            },
            None,
        );
        assert_eq!(buf, "elapsed_us=2000;budget_us=1000000");
    }

    #[test]
    fn every_outcome_has_an_answer_name_and_back() {
        for name in EventName::ANSWERS {
            let outcome = outcome_of(name).expect("an answer");
            assert_eq!(answer_name(outcome), name);
        }
        assert_eq!(outcome_of(EventName::Dispatch), None);
    }
}
