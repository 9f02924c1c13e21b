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
use crate::record::{HEADER, TraceRecord, TraceRow};
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
    record: csv::ByteRecord,
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
            record: csv::ByteRecord::new(),
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
        self.next_record().map(|r| r.map(|r| r.to_row()))
    }

    /// The next row, borrowed from the reader until the next call: what a reader that
    /// keeps nothing per event uses, since it allocates nothing per row.
    pub fn next_record(&mut self) -> Option<Result<TraceRecord<'_>, ReadError>> {
        self.next_numbered().map(|read| read.map(|(_, row)| row))
    }

    /// [`TraceReader::next_record`] with the row's line, for a reader that hands the row
    /// on before it is done with the line.
    pub fn next_numbered(&mut self) -> Option<Result<(u64, TraceRecord<'_>), ReadError>> {
        if self.ended {
            return None;
        }
        self.reader.get_mut().mark();
        let next_line = self.reader.position().line();
        let read = self.reader.read_byte_record(&mut self.record);
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
                let line = self.line;
                match parse(&self.record, &self.index, &self.limits, line) {
                    Ok(row) => match self.schema.check(&row, &self.limits) {
                        Ok(()) => return Some(Ok((line, row))),
                        Err(message) => Err(ReadError { line, message }),
                    },
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(csv_error(&e, next_line, "cannot read the line")),
        };
        // Nothing after a broken line can be trusted.
        self.ended = true;
        Some(result)
    }
}

/// A field without the blanks around it, as `str::trim` removes them; most fields have
/// none at either end, and are returned without a scan.
fn trimmed(value: &[u8]) -> &[u8] {
    let plain = |b: Option<&u8>| b.is_none_or(|&b| b.is_ascii() && !(b as char).is_whitespace());
    if plain(value.first()) && plain(value.last()) {
        return value;
    }
    match std::str::from_utf8(value) {
        Ok(text) => text.trim().as_bytes(),
        Err(_) => value.trim_ascii(),
    }
}

/// A whole number written in decimal digits, read from the bytes as they are: the
/// general parser would first need them as text.
fn whole(value: &[u8]) -> Option<u64> {
    // As `u64::from_str` reads them: an optional `+`, digits, leading zeros allowed.
    let digits = value.strip_prefix(b"+").unwrap_or(value);
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// A number of `delay_ms`: whole numbers of up to 15 digits (most of them) are read as
/// integers, exactly, without the general decimal parser.
fn number(value: &[u8]) -> Option<f64> {
    match whole(value) {
        // At most 15 digits: below 2^53, so exact as a float.
        Some(n) if value.len() <= 15 => Some(n as f64),
        // The field is already trimmed.
        _ => std::str::from_utf8(value).ok()?.parse().ok(),
    }
}

/// One CSV record as a trace row, each value checked and parsed.
fn parse<'r>(
    record: &'r csv::ByteRecord,
    index: &[Option<usize>; 8],
    limits: &TraceLimits,
    line: u64,
) -> Result<TraceRecord<'r>, ReadError> {
    let max = limits.max_value_bytes;
    for (i, value) in record.iter().enumerate() {
        if value.len() as u64 > max {
            let name = index
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
    let mut fields: [&'r [u8]; 8] = [b""; 8];
    for (slot, column) in fields.iter_mut().zip(index) {
        if let Some(bytes) = column.and_then(|c| record.get(c)) {
            *slot = trimmed(bytes);
        }
    }
    let [t, name, batch, row, id, attempt, delay_ms, detail] = fields;
    let bad = |column: &str, value: &[u8], why: &str| ReadError {
        line,
        message: format!(
            "column `{column}` = {}: {why}",
            shown(&String::from_utf8_lossy(value))
        ),
    };
    // The guard let only UTF-8 through, and fields are cut at ASCII bytes.
    let text = |column: &str, value: &'r [u8]| {
        std::str::from_utf8(value).map_err(|_| bad(column, value, "not UTF-8 text"))
    };
    let opt = |column: &str, value: &[u8], why: &str| {
        if value.is_empty() {
            Ok(None)
        } else {
            whole(value)
                .map(Some)
                .ok_or_else(|| bad(column, value, why))
        }
    };
    let t_us = whole(t).ok_or_else(|| bad("t_us", t, "expected whole microseconds (0 or more)"))?;
    let event = EventName::parse(text("event", name)?)
        .ok_or_else(|| bad("event", name, "not an event of the trace format"))?;
    let expected_whole = "expected a whole number (0 or more)";
    let batch = opt("batch", batch, expected_whole)?;
    let row = opt("row", row, expected_whole)?
        .map(|r| usize::try_from(r).map_err(|_| bad("row", row, expected_whole)))
        .transpose()?;
    let attempt = opt(
        "attempt",
        attempt,
        "expected a whole number from 0 to 4294967295",
    )?
    .map(|a| {
        u32::try_from(a).map_err(|_| {
            bad(
                "attempt",
                attempt,
                "expected a whole number from 0 to 4294967295",
            )
        })
    })
    .transpose()?;
    let delay = if delay_ms.is_empty() {
        None
    } else {
        Some(number(delay_ms).ok_or_else(|| bad("delay_ms", delay_ms, "expected a number"))?)
    };
    if delay.is_some_and(|d| !d.is_finite()) {
        return Err(bad("delay_ms", delay_ms, "expected a finite number"));
    }
    Ok(TraceRecord {
        t_us,
        event,
        batch,
        row,
        id: text("id", id)?,
        attempt,
        delay_ms: delay,
        detail: text("detail", detail)?,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_digits_that_fit() {
        assert_eq!(whole(b"0"), Some(0));
        assert_eq!(whole(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(whole(b"18446744073709551616"), None, "one past u64");
        assert_eq!(whole(b""), None);
        assert_eq!(whole(b"-1"), None);
        assert_eq!(whole(b"1.5"), None);
        assert_eq!(whole(b"12 3"), None);
        // What `u64::from_str` took before: a plus sign, leading zeros however many.
        assert_eq!(whole(b"+5"), Some(5));
        assert_eq!(whole(b"0000000000000000000000001"), Some(1));
        assert_eq!(whole(b"+"), None);
        assert_eq!(whole(b"++5"), None);
    }

    #[test]
    fn delays_read_as_integers_or_decimals_give_the_same_number() {
        assert_eq!(number(b"250"), Some(250.0));
        assert_eq!(number(b"12.5"), Some(12.5));
        assert_eq!(number(b"1e3"), Some(1000.0));
        // Sixteen digits and more go through the decimal parser, rounded as it rounds.
        assert_eq!(number(b"9007199254740993"), "9007199254740993".parse().ok());
        assert_eq!(number(b"abc"), None);
    }

    #[test]
    fn fields_are_trimmed_of_ascii_blanks_only_at_their_ends() {
        assert_eq!(trimmed(b"  7 "), b"7");
        assert_eq!(trimmed(b"a b"), b"a b");
        // Blanks beyond ASCII's, as `str::trim` sees them.
        assert_eq!(trimmed("7\u{a0}".as_bytes()), b"7");
        assert_eq!(trimmed(b"\x0b7"), b"7");
    }
}
