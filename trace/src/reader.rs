//! Reading trace CSV written by paceline or by any other implementation, one row at a
//! time.
//!
//! Only `t_us`, `event` and `row` are required, in any column order; the other columns
//! of the format are used when present. A malformed line is an error naming its line.

use std::io;

use crate::event::EventName;
use crate::record::{HEADER, TraceRow};

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

/// Reads trace rows one at a time.
pub struct TraceReader<R: io::Read> {
    reader: csv::Reader<R>,
    index: [Option<usize>; 8],
    record: csv::StringRecord,
    columns: Columns,
}

impl<R: io::Read> TraceReader<R> {
    /// Read the header; the rows follow through [`TraceReader::next_row`].
    pub fn new(input: R) -> Result<Self, ReadError> {
        let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
        let header = reader.headers().map_err(|e| ReadError {
            line: 1,
            message: format!("cannot read the header: {e}"),
        })?;
        let mut index = [None; 8];
        for (i, name) in HEADER.iter().enumerate() {
            index[i] = header.iter().position(|h| h.trim() == *name);
        }
        for required in [0, 1, 3] {
            if index[required].is_none() {
                return Err(ReadError {
                    line: 1,
                    message: format!(
                        "the header lacks the required column `{}` (required: t_us, event, row)",
                        HEADER[required]
                    ),
                });
            }
        }
        let columns = Columns {
            batch: index[2].is_some(),
            id: index[4].is_some(),
            attempt: index[5].is_some(),
            delay_ms: index[6].is_some(),
            detail: index[7].is_some(),
        };
        Ok(TraceReader {
            reader,
            index,
            record: csv::StringRecord::new(),
            columns,
        })
    }

    /// Which optional columns the header has.
    pub fn columns(&self) -> Columns {
        self.columns
    }

    /// The next row, `None` at the end.
    pub fn next_row(&mut self) -> Option<Result<TraceRow, ReadError>> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => Some(self.parse()),
            Err(e) => Some(Err(ReadError {
                line: e.position().map_or(0, |p| p.line()),
                message: e.to_string(),
            })),
        }
    }

    fn parse(&self) -> Result<TraceRow, ReadError> {
        let line = self.record.position().map_or(0, |p| p.line());
        let field = |i: usize| {
            self.index[i]
                .and_then(|c| self.record.get(c))
                .map(str::trim)
        };
        let bad = |column: &str, value: &str, why: &str| ReadError {
            line,
            message: format!("column `{column}` = {value:?}: {why}"),
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
            .map_err(|_| bad("t_us", t, "expected whole microseconds"))?;
        let name = field(1).unwrap_or_default();
        let event = EventName::parse(name)
            .ok_or_else(|| bad("event", name, "not an event of the trace format"))?;
        let batch = opt(field(2))
            .map_err(|_| bad("batch", field(2).unwrap_or(""), "expected an integer"))?;
        let row =
            opt(field(3)).map_err(|_| bad("row", field(3).unwrap_or(""), "expected an integer"))?;
        let attempt = opt(field(5))
            .map_err(|_| bad("attempt", field(5).unwrap_or(""), "expected an integer"))?;
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
