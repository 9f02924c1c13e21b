//! Records in chunks, and a stage of a trace's stream on a thread of its own.
//!
//! On a machine with a core to spare, the stage that makes a trace (the simulator, the
//! CSV reader) and the stage that judges it (the verifier, the figures) can run side by
//! side: [`pipeline`] runs the first on the calling thread and the second on another,
//! records passing between them a [`RecordChunk`] at a time. Memory stays flat: at most
//! [`CHUNKS_IN_FLIGHT`] chunks of at most [`CHUNK_RECORDS`] records (and
//! [`CHUNK_TEXT_BYTES`] of ids and details, past one long record) exist at once, however
//! long the trace.

use std::io;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use crate::event::EventName;
use crate::record::TraceRecord;
use crate::sink::TraceSink;

/// Records a chunk holds before it is handed on.
pub const CHUNK_RECORDS: usize = 4096;

/// Bytes of ids and details a chunk holds before it is handed on (a single record may
/// take it past this: a chunk always takes at least one).
pub const CHUNK_TEXT_BYTES: usize = 1 << 18;

/// Chunks filled and not yet judged, at most: two waiting, one being judged and one
/// being filled.
pub const CHUNKS_IN_FLIGHT: usize = 4;

/// A record's fixed fields; its texts are ranges of the chunk's text.
#[derive(Debug, Clone, Copy)]
struct Packed {
    tag: u64,
    t_us: u64,
    event: EventName,
    batch: Option<u64>,
    row: Option<usize>,
    attempt: Option<u32>,
    delay_ms: Option<f64>,
    id_end: usize,
    detail_end: usize,
}

/// Records owned in one allocation of fixed fields and one of text, each with a tag
/// (a line number, say) that travels with it.
#[derive(Debug, Default)]
pub struct RecordChunk {
    records: Vec<Packed>,
    text: String,
}

impl RecordChunk {
    /// An empty chunk.
    pub fn new() -> Self {
        RecordChunk::default()
    }

    /// Keep `record`, tagged.
    pub fn push(&mut self, tag: u64, record: &TraceRecord<'_>) {
        self.text.push_str(record.id);
        let id_end = self.text.len();
        self.text.push_str(record.detail);
        self.records.push(Packed {
            tag,
            t_us: record.t_us,
            event: record.event,
            batch: record.batch,
            row: record.row,
            attempt: record.attempt,
            delay_ms: record.delay_ms,
            id_end,
            detail_end: self.text.len(),
        });
    }

    /// Whether it should be handed on before it takes another record.
    pub fn is_full(&self) -> bool {
        self.records.len() >= CHUNK_RECORDS || self.text.len() >= CHUNK_TEXT_BYTES
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Forget every record, keeping the allocations.
    pub fn clear(&mut self) {
        self.records.clear();
        self.text.clear();
    }

    /// The records in the order pushed, each with its tag.
    pub fn iter(&self) -> impl Iterator<Item = (u64, TraceRecord<'_>)> {
        let mut start = 0;
        self.records.iter().map(move |p| {
            // The ends were taken from `text` as it grew: in order and within it.
            let id = self.text.get(start..p.id_end).unwrap_or_default();
            let detail = self.text.get(p.id_end..p.detail_end).unwrap_or_default();
            start = p.detail_end;
            let record = TraceRecord {
                t_us: p.t_us,
                event: p.event,
                batch: p.batch,
                row: p.row,
                id,
                attempt: p.attempt,
                delay_ms: p.delay_ms,
                detail,
            };
            (p.tag, record)
        })
    }
}

/// The first stage's end of a [`pipeline`]: records pushed here reach the second stage
/// in order. As a [`TraceSink`] it tags each record with its number from 0.
#[derive(Debug)]
pub struct ChunkSender {
    filling: RecordChunk,
    full: SyncSender<RecordChunk>,
    empty: Receiver<RecordChunk>,
    sent: u64,
}

/// The second stage of a [`pipeline`] stopped (it failed); what it said is the
/// pipeline's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stage judging the trace stopped")]
pub struct Stopped;

impl From<Stopped> for io::Error {
    fn from(stopped: Stopped) -> Self {
        io::Error::other(stopped)
    }
}

impl ChunkSender {
    /// Pass `record` on, tagged.
    pub fn send(&mut self, tag: u64, record: &TraceRecord<'_>) -> Result<(), Stopped> {
        self.filling.push(tag, record);
        self.sent += 1;
        if self.filling.is_full() {
            self.hand_on()?;
        }
        Ok(())
    }

    fn hand_on(&mut self) -> Result<(), Stopped> {
        if self.filling.is_empty() {
            return Ok(());
        }
        // A chunk the second stage is done with, or a new one while fewer exist than
        // may be in flight (the channel's bound holds the rest back).
        let next = self.empty.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.filling, next);
        self.full.send(full).map_err(|_| Stopped)
    }
}

impl TraceSink for ChunkSender {
    fn record(&mut self, record: &TraceRecord<'_>) -> io::Result<()> {
        let tag = self.sent;
        Ok(self.send(tag, record)?)
    }
}

/// Run `produce` on this thread and `consume` on another, every record `produce` sends
/// reaching `consume` in order with its tag. The second stage's error wins (the first
/// stage then sees [`Stopped`] and should give up); otherwise `produce`'s result.
pub fn pipeline<T, E, P, C>(produce: P, mut consume: C) -> Result<T, E>
where
    E: Send,
    P: FnOnce(&mut ChunkSender) -> Result<T, E>,
    C: FnMut(u64, &TraceRecord<'_>) -> Result<(), E> + Send,
{
    let (full, filled) = sync_channel::<RecordChunk>(CHUNKS_IN_FLIGHT - 2);
    let (done, empty) = sync_channel::<RecordChunk>(CHUNKS_IN_FLIGHT);
    thread::scope(|scope| {
        let judge = scope.spawn(move || {
            for mut chunk in filled {
                for (tag, record) in chunk.iter() {
                    consume(tag, &record)?;
                }
                chunk.clear();
                // The first stage may have finished: the chunk is then not needed.
                let _ = done.try_send(chunk);
            }
            Ok(())
        });
        let mut sender = ChunkSender {
            filling: RecordChunk::new(),
            full,
            empty,
            sent: 0,
        };
        let produced = produce(&mut sender);
        let flushed = sender.hand_on();
        // Closing the channel ends the second stage's loop.
        drop(sender);
        let judged = judge
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        judged?;
        let out = produced?;
        // The second stage ended well, so it took every chunk.
        debug_assert!(flushed.is_ok());
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64, id: &'static str, detail: &'static str) -> TraceRecord<'static> {
        TraceRecord {
            t_us: i,
            event: EventName::Dispatch,
            batch: Some(i / 3),
            row: Some(i as usize),
            id,
            attempt: (i % 2 == 0).then_some(1),
            delay_ms: Some(i as f64 / 2.0),
            detail,
        }
    }

    #[test]
    fn a_chunk_gives_back_what_it_took_in_order_with_tags() {
        let mut chunk = RecordChunk::new();
        let ids = ["", "A", "longer id", ""];
        let details = ["rows=3", "", "status=429;retry_after_ms=5", "x=1"];
        for i in 0..4 {
            chunk.push(100 + i as u64, &record(i as u64, ids[i], details[i]));
        }
        let back: Vec<(u64, TraceRecord<'_>)> = chunk.iter().collect();
        assert_eq!(back.len(), 4);
        for (i, (tag, r)) in back.iter().enumerate() {
            assert_eq!(*tag, 100 + i as u64);
            assert_eq!(*r, record(i as u64, ids[i], details[i]));
        }
        chunk.clear();
        assert!(chunk.is_empty());
    }

    #[test]
    fn a_chunk_is_full_at_its_record_or_text_bound() {
        let mut chunk = RecordChunk::new();
        for i in 0..CHUNK_RECORDS - 1 {
            chunk.push(0, &record(i as u64, "", ""));
        }
        assert!(!chunk.is_full());
        chunk.push(0, &record(0, "", ""));
        assert!(chunk.is_full());
        let long = "k=v;".repeat(CHUNK_TEXT_BYTES / 4);
        let mut text = RecordChunk::new();
        text.push(
            0,
            &TraceRecord {
                detail: &long,
                ..record(0, "", "")
            },
        );
        assert!(text.is_full(), "one long record fills a chunk by itself");
    }

    #[test]
    fn every_record_crosses_in_order_and_the_second_stage_error_wins() {
        let n = 3 * CHUNK_RECORDS as u64 + 17;
        let mut seen = Vec::new();
        let sent = pipeline::<_, String, _, _>(
            |tx| {
                for i in 0..n {
                    tx.send(i * 2, &record(i, "", ""))
                        .map_err(|e| e.to_string())?;
                }
                Ok(n)
            },
            |tag, r| {
                assert_eq!(tag, r.t_us * 2);
                seen.push(r.t_us);
                Ok(())
            },
        );
        assert_eq!(sent, Ok(n));
        assert_eq!(seen, (0..n).collect::<Vec<_>>());

        let failed = pipeline::<u64, String, _, _>(
            |tx| {
                for i in 0..n {
                    tx.send(i, &record(i, "", "")).map_err(|e| e.to_string())?;
                }
                Ok(n)
            },
            |tag, _| {
                if tag == 5000 {
                    return Err(format!("refused at {tag}"));
                }
                Ok(())
            },
        );
        assert_eq!(failed, Err("refused at 5000".to_string()));
    }

    #[test]
    fn the_first_stage_error_stands_when_the_second_ends_well() {
        let out = pipeline::<u64, String, _, _>(
            |tx| {
                tx.send(0, &record(0, "", "")).map_err(|e| e.to_string())?;
                Err("no more input".to_string())
            },
            |_, _| Ok(()),
        );
        assert_eq!(out, Err("no more input".to_string()));
    }
}
