//! The seam between stages: the simulator writes records to a [`TraceSink`]; the CSV
//! writer, the in-memory recorder and the in-stream verifier all are one.

use std::io;

use crate::record::{TraceRecord, TraceRow};

/// Where trace records go.
pub trait TraceSink {
    /// Take one record; an error stops the run that writes it.
    fn record(&mut self, record: &TraceRecord<'_>) -> io::Result<()>;
}

/// Keeps every record; for tests and small runs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MemoryTrace {
    /// The records so far, in order.
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

/// Sends every record to two sinks.
#[derive(Debug, Default)]
pub struct Tee<A, B>(pub A, pub B);

impl<A: TraceSink, B: TraceSink> TraceSink for Tee<A, B> {
    fn record(&mut self, record: &TraceRecord<'_>) -> io::Result<()> {
        self.0.record(record)?;
        self.1.record(record)
    }
}

impl<S: TraceSink + ?Sized> TraceSink for &mut S {
    fn record(&mut self, record: &TraceRecord<'_>) -> io::Result<()> {
        (**self).record(record)
    }
}
