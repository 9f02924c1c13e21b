//! paceline-trace: the trace of a paced pool, and the words every stage of paceline
//! shares.
//!
//! A trace is one record per event of the pool, in the order the pool saw them: the
//! simulator writes it, the threaded executor can write it, any other implementation in
//! any language can write it, and the verifier and the reports read it. This crate holds
//! the format and nothing else of paceline's: the record ([`TraceRecord`], [`TraceRow`]),
//! the event names ([`EventName`]), the detail keys ([`key`]), a streaming CSV writer
//! ([`CsvTrace`]) and a reader bounded by [`TraceLimits`] ([`TraceReader`]), the [`TraceSink`] seam between stages,
//! and the vocabulary of verdicts ([`Invariant`], [`ResultKind`], [`DefectId`],
//! [`Ending`]). Each word is spelled in one place.
//!
//! ```
//! use paceline_trace::{CsvTrace, EventName, TraceReader, TraceRecord, TraceSink};
//!
//! let mut csv = CsvTrace::new(Vec::new())?;
//! let start = TraceRecord {
//!     t_us: 0,
//!     event: EventName::BatchStart,
//!     batch: Some(0),
//!     row: None,
//!     id: "",
//!     attempt: None,
//!     delay_ms: Some(100.0),
//!     detail: "rows=1",
//! };
//! csv.record(&start)?;
//! csv.record(&TraceRecord {
//!     event: EventName::Dispatch,
//!     row: Some(0),
//!     id: "A",
//!     attempt: Some(1),
//!     detail: "",
//!     ..start
//! })?;
//! let bytes = csv.finish()?;
//! let mut reader = TraceReader::new(bytes.as_slice())?;
//! let first = reader.next_row().expect("two rows")?;
//! assert_eq!(first.event, EventName::BatchStart);
//! let row = reader.next_row().expect("two rows")?;
//! assert_eq!((row.event, row.id.as_str()), (EventName::Dispatch, "A"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod chunk;
mod count;
mod defect;
mod detail;
#[cfg(test)]
mod draws;
mod ending;
mod event;
mod guard;
mod idset;
mod invariant;
mod limits;
mod reader;
mod ready;
mod record;
mod result;
mod rowmap;
mod schema;
mod sink;
mod time;
mod writer;

pub use chunk::{
    CHUNK_RECORDS, CHUNK_TEXT_BYTES, CHUNKS_IN_FLIGHT, ChunkSender, RecordChunk, Stage, Stopped,
    pipeline, pipeline_stages,
};
pub use count::counted;
pub use defect::DefectId;
pub use detail::{DetailWriter, SERVER_VANTAGE, detail_value, detail_values, key};
pub use ending::{Ending, STUCK_LISTED, Stuck};
pub use event::EventName;
pub use idset::IdSet;
pub use invariant::Invariant;
pub use limits::{LimitHit, SHOWN_CHARS, TraceLimits, shown};
pub use reader::{Columns, ReadError, TraceReader};
pub use ready::{ReadyRuns, RowKey};
pub use record::{HEADER, TraceRecord, TraceRow};
pub use result::ResultKind;
pub use rowmap::RowMap;
pub use sink::{MemoryTrace, NoTrace, Tee, TraceSink};
pub use time::ms;
pub use writer::CsvTrace;
