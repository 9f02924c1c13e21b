//! Reading trace CSV written by paceline or by any other implementation.
//!
//! Only `t_us`, `event` and `row` are required, in any column order; the other columns
//! of the format are used when present. A malformed line is an error naming its line.

use std::io;

use paceline_sim::TraceRow;

/// The event names a trace may use.
pub const EVENTS: [&str; 15] = [
    "batch_start",
    "ready",
    "permit",
    "gate_wait",
    "dispatch",
    "ok",
    "capacity",
    "retryable",
    "permanent",
    "backoff",
    "release",
    "retry_timeout",
    "shutdown",
    "emit",
    "batch_end",
];

/// A line of a trace that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ReadError {
    pub line: u64,
    pub message: String,
}

/// Which optional columns a trace has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Columns {
    pub batch: bool,
    pub id: bool,
    pub attempt: bool,
    pub delay_ms: bool,
    pub detail: bool,
}

/// Reads trace rows one at a time.
pub struct TraceReader<R: io::Read> {
    reader: csv::Reader<R>,
    index: [Option<usize>; 8],
    record: csv::StringRecord,
    columns: Columns,
}

const NAMES: [&str; 8] = [
    "t_us", "event", "batch", "row", "id", "attempt", "delay_ms", "detail",
];

impl<R: io::Read> TraceReader<R> {
    pub fn new(input: R) -> Result<Self, ReadError> {
        let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
        let header = reader.headers().map_err(|e| ReadError {
            line: 1,
            message: format!("cannot read the header: {e}"),
        })?;
        let mut index = [None; 8];
        for (i, name) in NAMES.iter().enumerate() {
            index[i] = header.iter().position(|h| h.trim() == *name);
        }
        for required in [0, 1, 3] {
            if index[required].is_none() {
                return Err(ReadError {
                    line: 1,
                    message: format!(
                        "the header lacks the required column `{}` (required: t_us, event, row)",
                        NAMES[required]
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
        let event = field(1).unwrap_or_default();
        if !EVENTS.contains(&event) {
            return Err(bad("event", event, "not an event of the trace format"));
        }
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
            event: event.to_string(),
            batch,
            row,
            id: field(4).unwrap_or_default().to_string(),
            attempt,
            delay_ms,
            detail: field(7).unwrap_or_default().to_string(),
        })
    }
}
