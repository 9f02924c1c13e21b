//! Traces: one record per pool event, streamed as CSV or kept in memory.
//!
//! A [`TraceRecord`] borrows its text, so writing a trace allocates nothing per event;
//! sinks decide what to keep. The CSV layout is the contract other implementations write
//! too (see the README): `t_us,event,batch,row,id,attempt,delay_ms,detail`, where
//! `detail` holds `key=value` pairs separated by `;`.

use std::fmt::Write as _;
use std::io;

use paceline_core::{Event, EventKind, RowEnd};

/// The CSV header, in column order.
pub const HEADER: [&str; 8] = [
    "t_us", "event", "batch", "row", "id", "attempt", "delay_ms", "detail",
];

/// One event of a trace, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceRecord<'a> {
    pub t_us: u64,
    pub event: &'a str,
    pub batch: Option<u64>,
    pub row: Option<usize>,
    pub id: &'a str,
    pub attempt: Option<u32>,
    pub delay_ms: Option<f64>,
    pub detail: &'a str,
}

/// One event of a trace, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    pub t_us: u64,
    pub event: String,
    pub batch: Option<u64>,
    pub row: Option<usize>,
    pub id: String,
    pub attempt: Option<u32>,
    pub delay_ms: Option<f64>,
    pub detail: String,
}

impl TraceRow {
    pub fn as_record(&self) -> TraceRecord<'_> {
        TraceRecord {
            t_us: self.t_us,
            event: &self.event,
            batch: self.batch,
            row: self.row,
            id: &self.id,
            attempt: self.attempt,
            delay_ms: self.delay_ms,
            detail: &self.detail,
        }
    }
}

impl TraceRecord<'_> {
    pub fn to_row(&self) -> TraceRow {
        TraceRow {
            t_us: self.t_us,
            event: self.event.to_string(),
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

/// The value of `key` in a `key=value;key=value` detail string.
pub fn detail_value<'a>(detail: &'a str, key: &str) -> Option<&'a str> {
    detail
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Where trace records go.
pub trait TraceSink {
    fn record(&mut self, record: &TraceRecord<'_>) -> io::Result<()>;
}

/// Keeps every record; for tests and small runs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MemoryTrace {
    pub rows: Vec<TraceRow>,
}

impl TraceSink for MemoryTrace {
    fn record(&mut self, record: &TraceRecord<'_>) -> io::Result<()> {
        self.rows.push(record.to_row());
        Ok(())
    }
}

/// Discards every record; for runs that only want the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTrace;

impl TraceSink for NoTrace {
    fn record(&mut self, _: &TraceRecord<'_>) -> io::Result<()> {
        Ok(())
    }
}

/// Streams records as CSV; memory stays flat however long the run.
#[derive(Debug)]
pub struct CsvTrace<W: io::Write> {
    writer: csv::Writer<W>,
    field: String,
}

impl<W: io::Write> CsvTrace<W> {
    /// Write the header now; records follow as they come.
    pub fn new(out: W) -> io::Result<Self> {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(out);
        writer.write_record(HEADER).map_err(io::Error::other)?;
        Ok(CsvTrace {
            writer,
            field: String::new(),
        })
    }

    /// Flush and hand back the writer.
    pub fn finish(self) -> io::Result<W> {
        self.writer.into_inner().map_err(|e| e.into_error())
    }

    fn number(&mut self, value: Option<impl std::fmt::Display>) -> io::Result<()> {
        self.field.clear();
        if let Some(v) = value {
            // Writing to a String cannot fail.
            let _ = write!(self.field, "{v}");
        }
        self.writer
            .write_field(&self.field)
            .map_err(io::Error::other)
    }
}

impl<W: io::Write> TraceSink for CsvTrace<W> {
    fn record(&mut self, r: &TraceRecord<'_>) -> io::Result<()> {
        self.number(Some(r.t_us))?;
        self.writer.write_field(r.event).map_err(io::Error::other)?;
        self.number(r.batch)?;
        self.number(r.row)?;
        self.writer.write_field(r.id).map_err(io::Error::other)?;
        self.number(r.attempt)?;
        self.number(r.delay_ms)?;
        self.writer
            .write_field(r.detail)
            .map_err(io::Error::other)?;
        self.writer
            .write_record(None::<&[u8]>)
            .map_err(io::Error::other)
    }
}

/// The pool's event as a trace record: `detail` is filled into `buf`.
pub fn record_of<'a>(
    event: &Event,
    t_us: u64,
    id: &'a str,
    buf: &'a mut String,
) -> TraceRecord<'a> {
    buf.clear();
    write_detail(&event.kind, buf);
    TraceRecord {
        t_us,
        event: event.kind.name(),
        batch: Some(event.batch),
        row: event.row,
        id,
        attempt: event.attempt,
        delay_ms: Some(event.delay_ms),
        detail: buf,
    }
}

fn micros(d: std::time::Duration) -> u128 {
    d.as_micros()
}

/// The `detail` column of an event. Writing to a String cannot fail, hence the `let _`.
fn write_detail(kind: &EventKind, out: &mut String) {
    let _ = match kind {
        EventKind::BatchStart { rows } => write!(out, "rows={rows}"),
        EventKind::Answer {
            status: Some(status),
            ..
        } => write!(out, "status={status}"),
        EventKind::Backoff { length } => write!(out, "backoff_us={}", micros(*length)),
        EventKind::RetryTimeout { elapsed, budget } => write!(
            out,
            "elapsed_us={};budget_us={}",
            micros(*elapsed),
            micros(*budget)
        ),
        EventKind::Emit(meta) => {
            let status = match meta.end {
                RowEnd::Permanent { status: Some(s) } => Some(s),
                RowEnd::RetryTimeout { last, .. } => last.status,
                _ => None,
            };
            let _ = write!(
                out,
                "result={};submit_index={};complete_index={};submit_us={};complete_us={};buffer_wait_us={}",
                meta.end.as_str(),
                meta.submit_index,
                meta.complete_index,
                micros(meta.submitted_at),
                micros(meta.completed_at),
                micros(meta.buffer_wait()),
            );
            match status {
                Some(s) => write!(out, ";status={s}"),
                None => Ok(()),
            }
        }
        EventKind::BatchEnd(s) => write!(
            out,
            "capacity_retries={};successes={};peak_delay_ms={};total_throttle_time_us={};max_concurrent={};delay_at_completion_ms={}",
            s.capacity_retries,
            s.successes,
            s.peak_delay_ms,
            micros(s.total_throttle_time),
            s.max_concurrent,
            s.delay_at_completion_ms
        ),
        _ => Ok(()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting_and_leaves_numbers_bare() {
        let mut trace = CsvTrace::new(Vec::new()).expect("in memory");
        trace
            .record(&TraceRecord {
                t_us: 590_000,
                event: "dispatch",
                batch: Some(0),
                row: Some(0),
                id: "A,\"x\"",
                attempt: Some(2),
                delay_ms: Some(0.5),
                detail: "",
            })
            .expect("in memory");
        let text = String::from_utf8(trace.finish().expect("in memory")).expect("utf-8");
        assert_eq!(
            text,
            "t_us,event,batch,row,id,attempt,delay_ms,detail\n590000,dispatch,0,0,\"A,\"\"x\"\"\",2,0.5,\n"
        );
    }

    #[test]
    fn detail_values_are_found_by_key() {
        assert_eq!(detail_value("a=1;bb=2;c=", "bb"), Some("2"));
        assert_eq!(detail_value("a=1;bb=2;c=", "c"), Some(""));
        assert_eq!(detail_value("a=1", "b"), None);
    }
}

/// Sends every record to two sinks.
#[derive(Debug, Default)]
pub struct Tee<A, B>(pub A, pub B);

impl<A: TraceSink, B: TraceSink> TraceSink for Tee<A, B> {
    fn record(&mut self, record: &TraceRecord<'_>) -> io::Result<()> {
        self.0.record(record)?;
        self.1.record(record)
    }
}
