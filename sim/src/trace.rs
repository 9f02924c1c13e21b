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
///
/// Lines are assembled here rather than by the `csv` crate's writer, which spent 40% of a
/// simulation scanning numeric fields for quoting. Text fields are quoted by RFC 4180's
/// rules when they hold a comma, quote or line break; the `csv` crate reads the result
/// back exactly (tested).
pub struct CsvTrace<W: io::Write> {
    out: W,
    /// Lines waiting to be written; flushed in blocks of about `FLUSH_AT` bytes.
    buf: Vec<u8>,
    numbers: itoa::Buffer,
    /// Several events share an instant, a batch and a `D`: their text is kept.
    t_us: Cached<u64>,
    batch: Cached<u64>,
    delay: Cached<u64>,
}

const FLUSH_AT: usize = 1 << 16;

/// A value and its text, kept while the value repeats.
#[derive(Default)]
struct Cached<K> {
    key: Option<K>,
    text: Vec<u8>,
}

impl<K: PartialEq + Copy> Cached<K> {
    fn text(&mut self, key: K, render: impl FnOnce(&mut Vec<u8>)) -> &[u8] {
        if self.key != Some(key) {
            self.text.clear();
            render(&mut self.text);
            self.key = Some(key);
        }
        &self.text
    }
}

impl<W: io::Write> CsvTrace<W> {
    /// Write the header now; records follow as they come.
    pub fn new(out: W) -> io::Result<Self> {
        let mut buf = Vec::with_capacity(FLUSH_AT + 1024);
        buf.extend_from_slice(HEADER.join(",").as_bytes());
        buf.push(b'\n');
        Ok(CsvTrace {
            out,
            buf,
            numbers: itoa::Buffer::new(),
            t_us: Cached::default(),
            batch: Cached::default(),
            delay: Cached::default(),
        })
    }

    /// Flush and hand back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn integer<I: itoa::Integer>(&mut self, value: Option<I>) {
        if let Some(v) = value {
            self.buf
                .extend_from_slice(self.numbers.format(v).as_bytes());
        }
        self.buf.push(b',');
    }

    fn text(&mut self, field: &str, last: bool) {
        // The four bytes that need quoting are all below b'-': one compare rules most out.
        if field
            .bytes()
            .any(|b| b < b'-' && matches!(b, b',' | b'"' | b'\n' | b'\r'))
        {
            self.buf.push(b'"');
            for part in field.split_inclusive('"') {
                self.buf.extend_from_slice(part.as_bytes());
                if part.ends_with('"') {
                    self.buf.push(b'"');
                }
            }
            self.buf.push(b'"');
        } else {
            self.buf.extend_from_slice(field.as_bytes());
        }
        self.buf.push(if last { b'\n' } else { b',' });
    }
}

fn render_int<I: itoa::Integer>(value: I) -> impl FnOnce(&mut Vec<u8>) {
    move |out| out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes())
}

impl<W: io::Write> TraceSink for CsvTrace<W> {
    fn record(&mut self, r: &TraceRecord<'_>) -> io::Result<()> {
        let t = self.t_us.text(r.t_us, render_int(r.t_us));
        self.buf.extend_from_slice(t);
        self.buf.push(b',');
        self.text(r.event, false);
        if let Some(batch) = r.batch {
            let b = self.batch.text(batch, render_int(batch));
            self.buf.extend_from_slice(b);
        }
        self.buf.push(b',');
        self.integer(r.row);
        self.text(r.id, false);
        self.integer(r.attempt);
        if let Some(d) = r.delay_ms {
            let text = self.delay.text(d.to_bits(), |out| {
                out.extend_from_slice(d.to_string().as_bytes())
            });
            self.buf.extend_from_slice(text);
        }
        self.buf.push(b',');
        self.text(r.detail, true);
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
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
    Detail(buf).write(&event.kind);
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

/// Builds the `detail` column: `key=value` pairs separated by `;`.
struct Detail<'a>(&'a mut String);

impl Detail<'_> {
    fn pair(&mut self, key: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push(';');
        }
        self.0.push_str(key);
        self.0.push('=');
        self.0.push_str(value);
    }

    fn int<I: itoa::Integer>(&mut self, key: &str, value: I) {
        self.pair(key, itoa::Buffer::new().format(value));
    }

    fn micros(&mut self, key: &str, value: std::time::Duration) {
        self.int(key, crate::time::us(value));
    }

    fn float(&mut self, key: &str, value: f64) {
        // Writing to a String cannot fail.
        let _ = write!(
            self.0,
            "{}{key}={value}",
            if self.0.is_empty() { "" } else { ";" }
        );
    }

    fn write(&mut self, kind: &EventKind) {
        match kind {
            EventKind::BatchStart { rows } => self.int("rows", *rows),
            EventKind::Answer {
                status: Some(status),
                ..
            } => self.int("status", *status),
            // Rounded up: the simulator wakes the row at the next whole microsecond.
            EventKind::Backoff { length } => self.int("backoff_us", crate::time::ceil_us(*length)),
            EventKind::RetryTimeout { elapsed, budget } => {
                self.micros("elapsed_us", *elapsed);
                self.micros("budget_us", *budget);
            }
            EventKind::Emit(meta) => {
                self.pair("result", meta.end.as_str());
                self.int("submit_index", meta.submit_index);
                self.int("complete_index", meta.complete_index);
                self.micros("submit_us", meta.submitted_at);
                self.micros("complete_us", meta.completed_at);
                self.micros("buffer_wait_us", meta.buffer_wait());
                let status = match meta.end {
                    RowEnd::Permanent { status } => status,
                    RowEnd::RetryTimeout { last, .. } => last.status,
                    _ => None,
                };
                if let Some(s) = status {
                    self.int("status", s);
                }
            }
            EventKind::BatchEnd(s) => {
                self.int("capacity_retries", s.capacity_retries);
                self.int("successes", s.successes);
                self.float("peak_delay_ms", s.peak_delay_ms);
                self.micros("total_throttle_time_us", s.total_throttle_time);
                self.int("max_concurrent", s.max_concurrent);
                self.float("delay_at_completion_ms", s.delay_at_completion_ms);
            }
            _ => {}
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(id: &'a str, detail: &'a str) -> TraceRecord<'a> {
        TraceRecord {
            t_us: 590_000,
            event: "dispatch",
            batch: Some(0),
            row: Some(0),
            id,
            attempt: Some(2),
            delay_ms: Some(0.5),
            detail,
        }
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_leaves_numbers_bare() {
        let mut trace = CsvTrace::new(Vec::new()).expect("in memory");
        trace.record(&record("A,\"x\"", "")).expect("in memory");
        trace.record(&record("B", "status=429")).expect("in memory");
        let text = String::from_utf8(trace.finish().expect("in memory")).expect("utf-8");
        assert_eq!(
            text,
            "t_us,event,batch,row,id,attempt,delay_ms,detail\n\
             590000,dispatch,0,0,\"A,\"\"x\"\"\",2,0.5,\n\
             590000,dispatch,0,0,B,2,0.5,status=429\n"
        );
    }

    #[test]
    fn the_csv_crate_reads_every_field_back() {
        let tricky = [
            "plain",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "",
            "\"",
            "x\r\ny",
        ];
        let mut trace = CsvTrace::new(Vec::new()).expect("in memory");
        for (i, id) in tricky.iter().enumerate() {
            trace
                .record(&TraceRecord {
                    t_us: i as u64,
                    event: "emit",
                    batch: Some(3),
                    row: None,
                    id,
                    attempt: None,
                    delay_ms: Some(1.0 / 3.0),
                    detail: id,
                })
                .expect("in memory");
        }
        let bytes = trace.finish().expect("in memory");
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(reader.headers().expect("header"), HEADER.as_slice());
        let rows: Vec<csv::StringRecord> =
            reader.records().map(|r| r.expect("valid CSV")).collect();
        assert_eq!(rows.len(), tricky.len());
        for (row, id) in rows.iter().zip(tricky) {
            assert_eq!(&row[4], id);
            assert_eq!(&row[7], id);
            assert_eq!(&row[3], "");
            assert_eq!(row[6].parse::<f64>().expect("number"), 1.0 / 3.0);
        }
    }

    #[test]
    fn details_name_their_values() {
        let mut buf = String::new();
        let mut detail = Detail(&mut buf);
        detail.write(&EventKind::RetryTimeout {
            elapsed: std::time::Duration::from_millis(2),
            budget: std::time::Duration::from_secs(1),
        });
        assert_eq!(buf, "elapsed_us=2000;budget_us=1000000");
        assert_eq!(detail_value(&buf, "budget_us"), Some("1000000"));
    }

    #[test]
    fn detail_values_are_found_by_key() {
        assert_eq!(detail_value("a=1;bb=2;c=", "bb"), Some("2"));
        assert_eq!(detail_value("a=1;bb=2;c=", "c"), Some(""));
        assert_eq!(detail_value("a=1", "b"), None);
    }
}
