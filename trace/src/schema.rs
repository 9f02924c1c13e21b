//! What a trace must be beyond well-formed CSV, checked row by row as it is read.
//!
//! These break the format itself, whatever pool wrote it, so a reader refuses them with
//! the line: time going backwards (a trace is in the order the pool saw its events); in a
//! trace with a `batch` column, an event of a batch that has no `batch_start` before it,
//! a batch started twice or an event with no batch; a row index or declared row count
//! beyond [`TraceLimits::max_rows_per_batch`]; too many batches, or too many open at
//! once; and a detail value that a check reads but cannot parse (`rows`, `backoff_us`,
//! an `emit`'s `result`, a `batch_end`'s statistics). What a pool can do wrong inside the
//! format (a second `batch_end`, events after a row or a batch ended) is the verifier's to
//! report as a violation.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;

use crate::detail::{detail_value, key};
use crate::event::EventName;
use crate::idset::IdSet;
use crate::limits::{LimitHit, TraceLimits, shown};
use crate::record::TraceRecord;
use crate::result::ResultKind;

/// The statistics of a `batch_end`, each a number.
const STATISTICS: [&str; 6] = [
    key::CAPACITY_RETRIES,
    key::SUCCESSES,
    key::PEAK_DELAY_MS,
    key::TOTAL_THROTTLE_TIME_US,
    key::MAX_CONCURRENT,
    key::DELAY_AT_COMPLETION_MS,
];

/// The reader's memory of a trace: the last time and the batches.
#[derive(Debug)]
pub(crate) struct Schema {
    batch_column: bool,
    last_t: Option<u64>,
    /// Batches started (with a batch column): one range while they come in order.
    started: IdSet,
    /// Batches started and not ended.
    open: BTreeSet<u64>,
    /// `batch_start` events (without a batch column).
    starts: u64,
}

impl Schema {
    pub(crate) fn new(batch_column: bool) -> Self {
        Schema {
            batch_column,
            last_t: None,
            started: IdSet::new(),
            open: BTreeSet::new(),
            starts: 0,
        }
    }

    /// `Err` with the message if `row` breaks the format.
    pub(crate) fn check(
        &mut self,
        row: &TraceRecord<'_>,
        limits: &TraceLimits,
    ) -> Result<(), String> {
        if let Some(last) = self.last_t
            && row.t_us < last
        {
            return Err(format!(
                "t_us = {} comes before the previous event's {last}: a trace lists events in time order",
                row.t_us
            ));
        }
        self.last_t = Some(row.t_us);
        if let Some(index) = row.row
            && index as u64 >= limits.max_rows_per_batch
        {
            return Err(LimitHit {
                what: format!("row index {index} (rows per batch)"),
                limit: limits.max_rows_per_batch,
                flag: "--max-rows-per-batch",
            }
            .to_string());
        }
        self.batches(row, limits)?;
        detail_problem(row, limits)
    }

    fn batches(&mut self, row: &TraceRecord<'_>, limits: &TraceLimits) -> Result<(), String> {
        let too_many =
            |what: String, limit: u64, flag| Err(LimitHit { what, limit, flag }.to_string());
        if !self.batch_column {
            if row.event == EventName::BatchStart {
                self.starts += 1;
                if self.starts > limits.max_batches {
                    return too_many(
                        format!("{} batches", self.starts),
                        limits.max_batches,
                        "--max-batches",
                    );
                }
            }
            return Ok(());
        }
        let Some(batch) = row.batch else {
            return Err(format!(
                "a {} event with no batch: in a trace with a `batch` column every event names its batch",
                row.event
            ));
        };
        match row.event {
            EventName::BatchStart => {
                if self.started.contains(batch) {
                    return Err(format!("batch {batch} starts a second time"));
                }
                if self.started.len() >= limits.max_batches {
                    return too_many(
                        format!("{} batches", self.started.len() + 1),
                        limits.max_batches,
                        "--max-batches",
                    );
                }
                if self.open.len() as u64 >= limits.max_open_batches {
                    return too_many(
                        format!("{} batches started and not ended", self.open.len() + 1),
                        limits.max_open_batches,
                        "--max-open-batches",
                    );
                }
                self.started.insert(batch);
                self.open.insert(batch);
            }
            _ if !self.started.contains(batch) => {
                return Err(format!(
                    "a {} event of batch {batch}, which has no batch_start before it",
                    row.event
                ));
            }
            EventName::BatchEnd => {
                self.open.remove(&batch);
            }
            _ => {}
        }
        Ok(())
    }
}

/// A detail value a check reads that does not parse, in words.
fn detail_problem(row: &TraceRecord<'_>, limits: &TraceLimits) -> Result<(), String> {
    let bad = |key: &str, value: &str, why: &str| {
        Err(format!(
            "{} detail `{key}` = {}: {why}",
            row.event,
            shown(value)
        ))
    };
    let value = |key: &str| detail_value(row.detail, key);
    match row.event {
        EventName::BatchStart => {
            if let Some(v) = value(key::ROWS) {
                let Ok(rows) = v.parse::<u64>() else {
                    return bad(key::ROWS, v, "expected a whole number of rows");
                };
                if rows > limits.max_rows_per_batch {
                    return Err(LimitHit {
                        what: format!("batch_start declares {rows} rows"),
                        limit: limits.max_rows_per_batch,
                        flag: "--max-rows-per-batch",
                    }
                    .to_string());
                }
            }
        }
        EventName::Backoff => {
            if let Some(v) = value(key::BACKOFF_US)
                && v.parse::<u64>().is_err()
            {
                return bad(key::BACKOFF_US, v, "expected whole microseconds");
            }
        }
        EventName::Emit => {
            if let Some(v) = value(key::RESULT)
                && ResultKind::parse(v).is_none()
            {
                return bad(
                    key::RESULT,
                    v,
                    "a result is ok, permanent, retry_timeout or shutdown",
                );
            }
        }
        EventName::BatchEnd => {
            for key in STATISTICS {
                if let Some(v) = value(key)
                    && !v.parse::<f64>().is_ok_and(f64::is_finite)
                {
                    return bad(key, v, "expected a number");
                }
            }
        }
        _ => {}
    }
    Ok(())
}
