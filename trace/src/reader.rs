//! Reading trace CSV written by paceline or by any other implementation, one row at a
//! time, in bounded memory.
//!
//! Only `t_us`, `event` and `row` are required, in any column order; the other columns
//! of the format are used when present. Anything that breaks the format is an error
//! naming its line: CSV syntax, a value that does not parse, a duplicated header column,
//! a header with no events, bytes that are not UTF-8 (with their offset), and the rules
//! in [`schema`](crate::schema) (time order, batches started before use, detail values a
//! check needs). Every quantity is bounded by [`TraceLimits`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io;

use crate::event::EventName;
use crate::guard::{Guard, stopped};
use crate::limits::{TraceLimits, shown};
use crate::record::{HEADER, TraceRow};
use crate::schema::Schema;

/// A line of a trace that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ReadError {
    /// 1-based line of the file.
    pub line: u64,
    /// What is wrong, in words.
    pub message: String,
}

/// Which optional columns a trace has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Columns {
    /// `batch`: without it, batches are counted from their `batch_start` events.
    pub batch: bool,
    /// `id`.
    pub id: bool,
    /// `attempt`.
    pub attempt: bool,
    /// `delay_ms`: without it, the throttle law cannot be checked.
    pub delay_ms: bool,
    /// `detail`: without it, statistics and budgets cannot be checked.
    pub detail: bool,
}

/// The CSV parser's buffer: also how far it may read past the record it is reading.
const CSV_BUFFER: usize = 1 << 16;

/// Reads trace rows one at a time.
pub struct TraceReader<R: io::Read> {
    reader: csv::Reader<Guard<R>>,
    index: [Option<usize>; 8],
    record: csv::StringRecord,
    columns: Columns,
    limits: TraceLimits,
    schema: Schema,
    rows: u64,
    line: u64,
    ended: bool,
}

impl<R: io::Read> TraceReader<R> {
    /// Read the header under the default [`TraceLimits`]; the rows follow through
    /// [`TraceReader::next_row`].
    pub fn new(input: R) -> Result<Self, ReadError> {
        TraceReader::with_limits(input, TraceLimits::default())
    }

    /// Read the header; every row after it is held to `limits`.
    pub fn with_limits(input: R, limits: TraceLimits) -> Result<Self, ReadError> {
        let guard = Guard::new(
            input,
            limits.max_file_bytes,
            limits.max_line_bytes(),
            CSV_BUFFER as u64,
        );
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .buffer_capacity(CSV_BUFFER)
            .from_reader(guard);
        let header = reader
            .headers()
            .map_err(|e| csv_error(&e, 1, "cannot read the header"))?
            .clone();
        let mut index = [None; 8];
        for (slot, name) in index.iter_mut().zip(HEADER) {
            let mut at = header
                .iter()
                .enumerate()
                .filter(|(_, h)| h.trim() == name)
                .map(|(i, _)| i);
            *slot = at.next();
            if at.next().is_some() {
                return Err(ReadError {
                    line: 1,
                    message: format!("the header names the column `{name}` twice"),
                });
            }
        }
        let [t_us, event, batch, row, id, attempt, delay_ms, detail] = index;
        for (present, name) in [(t_us, "t_us"), (event, "event"), (row, "row")] {
            if present.is_none() {
                return Err(ReadError {
                    line: 1,
                    message: format!(
                        "the header lacks the required column `{name}` (required: t_us, event, row)"
                    ),
                });
            }
        }
        let columns = Columns {
            batch: batch.is_some(),
            id: id.is_some(),
            attempt: attempt.is_some(),
            delay_ms: delay_ms.is_some(),
            detail: detail.is_some(),
        };
        Ok(TraceReader {
            reader,
            index,
            record: csv::StringRecord::new(),
            columns,
            schema: Schema::new(columns.batch),
            limits,
            rows: 0,
            line: 1,
            ended: false,
        })
    }

    /// Which optional columns the header has.
    pub fn columns(&self) -> Columns {
        self.columns
    }

    /// The line of the row last returned (1 for the header).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next row, `None` at the end. A trace with a header and no events ends with an
    /// error: there is nothing to judge.
    pub fn next_row(&mut self) -> Option<Result<TraceRow, ReadError>> {
        if self.ended {
            return None;
        }
        self.reader.get_mut().mark();
        let next_line = self.reader.position().line();
        let read = self.reader.read_record(&mut self.record);
        let result = match read {
            Ok(false) => {
                self.ended = true;
                if self.rows > 0 {
                    return None;
                }
                Err(ReadError {
                    line: next_line,
                    message: "the trace has a header but no events".into(),
                })
            }
            Ok(true) => {
                self.line = self.record.position().map_or(next_line, |p| p.line());
                self.rows += 1;
                self.parse().and_then(|row| {
                    self.schema
                        .check(&row, &self.limits)
                        .map(|()| row)
                        .map_err(|message| ReadError {
                            line: self.line,
                            message,
                        })
                })
            }
            Err(e) => Err(csv_error(&e, next_line, "cannot read the line")),
        };
        if result.is_err() {
            // Nothing after a broken line can be trusted.
            self.ended = true;
        }
        Some(result)
    }

    fn parse(&self) -> Result<TraceRow, ReadError> {
        let line = self.line;
        let max = self.limits.max_value_bytes;
        for (i, value) in self.record.iter().enumerate() {
            if value.len() as u64 > max {
                let name = self
                    .index
                    .iter()
                    .zip(HEADER)
                    .find(|(c, _)| **c == Some(i))
                    .map_or_else(|| format!("column {}", i + 1), |(_, n)| format!("`{n}`"));
                return Err(ReadError {
                    line,
                    message: format!(
                        "{name}: a value of {} bytes, beyond the limit of {max} (raise it with --max-value-bytes)",
                        value.len()
                    ),
                });
            }
        }
        let field = |column: usize| {
            self.index
                .get(column)
                .copied()
                .flatten()
                .and_then(|c| self.record.get(c))
                .map(str::trim)
        };
        let bad = |column: &str, value: &str, why: &str| ReadError {
            line,
            message: format!("column `{column}` = {}: {why}", shown(value)),
        };
        fn opt<T: std::str::FromStr>(v: Option<&str>) -> Result<Option<T>, ()> {
            match v {
                None | Some("") => Ok(None),
                Some(s) => s.parse().map(Some).map_err(|_| ()),
            }
        }
        let t = field(0).unwrap_or_default();
        let t_us = t
            .parse()
            .map_err(|_| bad("t_us", t, "expected whole microseconds (0 or more)"))?;
        let name = field(1).unwrap_or_default();
        let event = EventName::parse(name)
            .ok_or_else(|| bad("event", name, "not an event of the trace format"))?;
        let whole = "expected a whole number (0 or more)";
        let batch = opt(field(2)).map_err(|_| bad("batch", field(2).unwrap_or(""), whole))?;
        let row = opt(field(3)).map_err(|_| bad("row", field(3).unwrap_or(""), whole))?;
        let attempt = opt(field(5)).map_err(|_| {
            bad(
                "attempt",
                field(5).unwrap_or(""),
                "expected a whole number from 0 to 4294967295",
            )
        })?;
        let delay_ms: Option<f64> = opt(field(6))
            .map_err(|_| bad("delay_ms", field(6).unwrap_or(""), "expected a number"))?;
        if delay_ms.is_some_and(|d| !d.is_finite()) {
            return Err(bad(
                "delay_ms",
                field(6).unwrap_or(""),
                "expected a finite number",
            ));
        }
        Ok(TraceRow {
            t_us,
            event,
            batch,
            row,
            id: field(4).unwrap_or_default().to_string(),
            attempt,
            delay_ms,
            detail: field(7).unwrap_or_default().to_string(),
        })
    }
}

/// A CSV error as a read error: the guard's reasons in its own words, with their line.
fn csv_error(e: &csv::Error, line: u64, what: &str) -> ReadError {
    if let csv::ErrorKind::Io(io) = e.kind()
        && let Some(stop) = stopped(io)
    {
        let line = match stop {
            crate::guard::Stop::Utf8 { line, .. } => *line,
            _ => line,
        };
        return ReadError {
            line,
            message: stop.to_string(),
        };
    }
    let line = e.position().map_or(line, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => format!("{what}: {e}"),
    };
    ReadError { line, message }
}
