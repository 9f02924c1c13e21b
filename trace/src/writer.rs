//! The CSV writer: streams records as the trace format's CSV, memory flat however long
//! the run.

use std::io::{self, Write as _};

use crate::event::EventName;
use crate::record::{HEADER, TraceRecord};
use crate::sink::TraceSink;

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
    /// Each event's name, by the event's number (`None`: written from `as_str`).
    names: [Option<Short>; EventName::ALL.len()],
    /// Several events share an instant, a batch and a `D`: their text is kept.
    t_us: Cached<u64>,
    batch: Cached<u64>,
    delay: Cached<u64>,
}

const FLUSH_AT: usize = 1 << 16;

/// How long a [`Short`] text may be.
const SHORT: usize = 32;

/// A text of at most [`SHORT`] bytes kept in a block of that size, so that it is
/// appended with one copy of a fixed size: a few moves, where a copy of the text's own
/// length is a call (a line's fields were seven such calls, a fifth of the writer).
#[derive(Clone, Copy)]
struct Short {
    block: [u8; SHORT],
    len: usize,
}

impl Short {
    /// `text`, if it is short enough.
    fn new(text: &[u8]) -> Option<Short> {
        let mut block = [0; SHORT];
        block.get_mut(..text.len())?.copy_from_slice(text);
        Some(Short {
            block,
            len: text.len(),
        })
    }

    /// Append the text: the whole block, then cut back to the text.
    #[inline]
    fn append_to(&self, buf: &mut Vec<u8>) {
        let end = buf.len() + self.len;
        buf.extend_from_slice(&self.block);
        buf.truncate(end);
    }
}

/// A value and its text, kept while the value repeats (a text too long for a [`Short`]
/// is rendered each time).
struct Cached<K> {
    key: Option<K>,
    text: Option<Short>,
}

impl<K> Default for Cached<K> {
    fn default() -> Self {
        Cached {
            key: None,
            text: None,
        }
    }
}

impl<K: PartialEq + Copy> Cached<K> {
    /// Append the text of `key` to `buf`, rendered by `render` when the key changed.
    #[inline]
    fn append(&mut self, buf: &mut Vec<u8>, key: K, render: impl FnOnce(&mut Vec<u8>)) {
        if self.key == Some(key)
            && let Some(text) = &self.text
        {
            text.append_to(buf);
            return;
        }
        let start = buf.len();
        render(buf);
        self.text = buf.get(start..).and_then(Short::new);
        self.key = Some(key);
    }
}

impl<W: io::Write> CsvTrace<W> {
    /// Write the header now; records follow as they come.
    pub fn new(out: W) -> io::Result<Self> {
        let mut buf = Vec::with_capacity(FLUSH_AT + 1024);
        buf.extend_from_slice(HEADER.join(",").as_bytes());
        buf.push(b'\n');
        let mut names = [None; EventName::ALL.len()];
        for event in EventName::ALL {
            if let Some(slot) = names.get_mut(event as usize) {
                *slot = Short::new(event.as_str().as_bytes());
            }
        }
        Ok(CsvTrace {
            out,
            buf,
            numbers: itoa::Buffer::new(),
            names,
            t_us: Cached::default(),
            batch: Cached::default(),
            delay: Cached::default(),
        })
    }

    /// Write out every line so far and flush the writer, keeping it open: a live
    /// recorder calls it when idle, so the file on disk is a readable trace meanwhile.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
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
        // The four bytes that need quoting are all below b'-': the field's least byte
        // (a reduction the compiler vectorises) rules most fields out at once.
        if field.bytes().fold(u8::MAX, u8::min) < b'-'
            && field
                .bytes()
                .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        {
            self.buf.push(b'"');
            for part in field.split_inclusive('"') {
                self.buf.extend_from_slice(part.as_bytes());
                if part.ends_with('"') {
                    self.buf.push(b'"');
                }
            }
            self.buf.push(b'"');
        } else if !field.is_empty() {
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
        self.t_us.append(&mut self.buf, r.t_us, render_int(r.t_us));
        self.buf.push(b',');
        // An event's name is a word of the format: never quoted.
        match self.names.get(r.event as usize) {
            Some(Some(name)) => name.append_to(&mut self.buf),
            _ => self.buf.extend_from_slice(r.event.as_str().as_bytes()),
        }
        self.buf.push(b',');
        if let Some(batch) = r.batch {
            self.batch.append(&mut self.buf, batch, render_int(batch));
        }
        self.buf.push(b',');
        self.integer(r.row);
        self.text(r.id, false);
        self.integer(r.attempt);
        if let Some(d) = r.delay_ms {
            self.delay.append(&mut self.buf, d.to_bits(), |out| {
                // Writing to memory cannot fail.
                let _ = write!(out, "{d}");
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(id: &'a str, detail: &'a str) -> TraceRecord<'a> {
        TraceRecord {
            t_us: 590_000,
            event: EventName::Dispatch,
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

    /// Every event's name, the longest numbers, and a `D` too long to keep, each written
    /// again and after another value: the kept texts are the values' own.
    #[test]
    fn names_and_kept_numbers_are_written_whole() {
        let mut trace = CsvTrace::new(Vec::new()).expect("in memory");
        let mut written = Vec::new();
        for (i, event) in EventName::ALL.into_iter().enumerate() {
            for delay in [0.5, 1e300, 1e300, 0.25, 0.25] {
                let t_us = u64::MAX - i as u64 / 2;
                let batch = if i % 3 == 0 { u64::MAX } else { i as u64 };
                trace
                    .record(&TraceRecord {
                        t_us,
                        event,
                        batch: Some(batch),
                        row: Some(i),
                        id: "",
                        attempt: Some(u32::MAX),
                        delay_ms: Some(delay),
                        detail: "",
                    })
                    .expect("in memory");
                written.push((t_us, event, batch, delay));
            }
        }
        let bytes = trace.finish().expect("in memory");
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let rows: Vec<csv::StringRecord> =
            reader.records().map(|r| r.expect("valid CSV")).collect();
        assert_eq!(rows.len(), written.len());
        for (row, (t_us, event, batch, delay)) in rows.iter().zip(written) {
            assert_eq!(row[0].parse::<u64>().expect("a time"), t_us);
            assert_eq!(&row[1], event.as_str());
            assert_eq!(row[2].parse::<u64>().expect("a batch"), batch);
            assert_eq!(row[6].parse::<f64>().expect("a number"), delay);
        }
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
                    event: EventName::Emit,
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
}
