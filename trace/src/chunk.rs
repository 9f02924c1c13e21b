//! Records in chunks, and a stage of a trace's stream on a thread of its own.
//!
//! On a machine with a core to spare, the stage that makes a trace (the simulator, the
//! CSV reader) and the stage that judges it (the verifier, the figures) can run side by
//! side: [`pipeline`] runs the first on the calling thread and the second on another,
//! records passing between them a [`RecordChunk`] at a time. Memory stays flat: at most
//! [`CHUNKS_IN_FLIGHT`] chunks exist at once (filled, waiting, being judged), each of
//! [`CHUNK_RECORDS`] records (96 bytes each) and [`CHUNK_TEXT_BYTES`] of ids and details
//! reserved, more only while a longer record passes through: under 3 MB however long
//! the trace.

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

/// Room reserved beyond [`CHUNK_TEXT_BYTES`], so that the record that fills a chunk
/// does not make its text grow.
const TEXT_MARGIN: usize = 1 << 15;

/// Chunks that exist at once, at most: one being filled, the others waiting or being
/// judged. The first stage waits for a judged chunk before it makes more.
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
#[derive(Debug)]
pub struct RecordChunk {
    records: Vec<Packed>,
    text: String,
}

impl Default for RecordChunk {
    fn default() -> Self {
        RecordChunk::new()
    }
}

impl RecordChunk {
    /// An empty chunk, its room reserved once.
    pub fn new() -> Self {
        RecordChunk {
            records: Vec::with_capacity(CHUNK_RECORDS),
            text: String::with_capacity(CHUNK_TEXT_BYTES + TEXT_MARGIN),
        }
    }

    /// An empty chunk with no room reserved yet.
    fn unreserved() -> Self {
        RecordChunk {
            records: Vec::new(),
            text: String::new(),
        }
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

    /// Forget every record, keeping the room reserved (and giving back what a long
    /// record added to it).
    pub fn clear(&mut self) {
        self.records.clear();
        self.text.clear();
        self.text.shrink_to(CHUNK_TEXT_BYTES + TEXT_MARGIN);
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

/// Hands a full chunk to the second stage and gives an empty one back.
type HandOn<'a> = dyn FnMut(RecordChunk) -> Result<RecordChunk, Stopped> + 'a;

/// The first stage's end of a [`pipeline`]: records pushed here reach the second stage
/// in order. As a [`TraceSink`] it tags each record with its number from 0.
pub struct ChunkSender<'a> {
    filling: RecordChunk,
    hand_on: &'a mut HandOn<'a>,
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

impl ChunkSender<'_> {
    /// Pass `record` on, tagged.
    pub fn send(&mut self, tag: u64, record: &TraceRecord<'_>) -> Result<(), Stopped> {
        self.filling.push(tag, record);
        self.sent += 1;
        if self.filling.is_full() {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stopped> {
        if self.filling.is_empty() {
            return Ok(());
        }
        // The empty chunk in its place for the moment reserves nothing.
        let full = std::mem::replace(&mut self.filling, RecordChunk::unreserved());
        self.filling = (self.hand_on)(full)?;
        Ok(())
    }
}

impl TraceSink for ChunkSender<'_> {
    fn record(&mut self, record: &TraceRecord<'_>) -> io::Result<()> {
        let tag = self.sent;
        Ok(self.send(tag, record)?)
    }
}

/// A stage after the first of a [`pipeline_stages`]: every record in order, with its tag.
pub type Stage<'s, E> = dyn FnMut(u64, &TraceRecord<'_>) -> Result<(), E> + Send + 's;

/// Run `produce` on this thread and `consume` on another, every record `produce` sends
/// reaching `consume` in order with its tag, until `consume` refuses one. The second
/// stage's error wins (the first stage then sees [`Stopped`] and should give up);
/// otherwise `produce`'s result. A panic in either stage goes on in the caller. Where
/// the system will not start a thread, both stages run here, one chunk at a time.
pub fn pipeline<T, E, P, C>(produce: P, mut consume: C) -> Result<T, E>
where
    E: Send,
    P: FnOnce(&mut ChunkSender<'_>) -> Result<T, E>,
    C: FnMut(u64, &TraceRecord<'_>) -> Result<(), E> + Send,
{
    pipeline_stages(produce, &mut [&mut consume])
}

/// [`pipeline`] with several later stages, each on a thread of its own: a chunk goes
/// through them in turn (so each sees every record in order) and back to `produce`. The
/// error of the earliest stage that refused a record wins; a stage before it stops when
/// it cannot hand a chunk on. Where a thread will not start, every stage runs here.
pub fn pipeline_stages<T, E, P>(produce: P, stages: &mut [&mut Stage<'_, E>]) -> Result<T, E>
where
    E: Send,
    P: FnOnce(&mut ChunkSender<'_>) -> Result<T, E>,
{
    let threaded = thread::scope(|scope| {
        // Every chunk is in one of the channels, being filled or being judged, so no
        // channel can be full when sent to. Each thread owns its ends: when one stops,
        // the stages around it see a closed channel instead of waiting for ever.
        let (to_first, mut from_previous) = sync_channel::<RecordChunk>(CHUNKS_IN_FLIGHT);
        let mut running = Vec::with_capacity(stages.len());
        for (i, stage) in stages.iter_mut().enumerate() {
            let (to_next, from_this) = sync_channel::<RecordChunk>(CHUNKS_IN_FLIGHT);
            let input = std::mem::replace(&mut from_previous, from_this);
            let name = match i {
                0 => "paceline-judge".to_string(),
                _ => format!("paceline-stage-{}", i + 1),
            };
            let spawned = thread::Builder::new()
                .name(name)
                .spawn_scoped(scope, move || later_stage(&mut **stage, input, to_next));
            match spawned {
                Ok(thread) => running.push(thread),
                // Closing the first channel ends the threads already started; the
                // first stage, not begun, is handed back.
                Err(_) => return Err(produce),
            }
        }
        let back = from_previous;
        let mut made = 1;
        let mut send_there = |chunk: RecordChunk| {
            to_first.send(chunk).map_err(|_| Stopped)?;
            if made < CHUNKS_IN_FLIGHT {
                made += 1;
                return Ok(RecordChunk::new());
            }
            let mut chunk = back.recv().map_err(|_| Stopped)?;
            chunk.clear();
            Ok(chunk)
        };
        let produced = first_stage(produce, &mut send_there);
        // Closing the channel ends the stages' loops, one after the other.
        drop(to_first);
        // As on one thread, where each chunk goes through every stage before the next
        // chunk is judged: the refusal in the earliest chunk, at the earliest stage.
        let mut refused: Option<(usize, E)> = None;
        for thread in running {
            let ended = thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            if let Err(Some((chunk, e))) = ended
                && refused.as_ref().is_none_or(|(first, _)| chunk < *first)
            {
                refused = Some((chunk, e));
            }
        }
        Ok(match refused {
            Some((_, e)) => Err(e),
            None => produced,
        })
    });
    threaded.unwrap_or_else(|produce| judged_here(produce, stages))
}

/// A later stage on its own thread: each chunk from `input` judged by `stage` and handed
/// to `output`. `Err(Some)` when the stage refused a record, with the number of the
/// chunk it was in; `Err(None)` when a stage after it stopped.
fn later_stage<E>(
    stage: &mut Stage<'_, E>,
    input: Receiver<RecordChunk>,
    output: SyncSender<RecordChunk>,
) -> Result<(), Option<(usize, E)>> {
    for (number, chunk) in input.into_iter().enumerate() {
        for (tag, record) in chunk.iter() {
            stage(tag, &record).map_err(|e| Some((number, e)))?;
        }
        output.send(chunk).map_err(|_| None)?;
    }
    Ok(())
}

/// Run the first stage, its records handed on through `hand_on`, the last chunk too.
fn first_stage<'a, T, E, P>(produce: P, hand_on: &'a mut HandOn<'a>) -> Result<T, E>
where
    P: FnOnce(&mut ChunkSender<'_>) -> Result<T, E>,
{
    let mut sender = ChunkSender {
        filling: RecordChunk::new(),
        hand_on,
        sent: 0,
    };
    let produced = produce(&mut sender);
    // What is left of the last chunk; if the second stage stopped, its error says why.
    let _ = sender.flush();
    produced
}

/// Every stage of a pipeline on this thread: each chunk judged by each later stage in
/// turn as soon as it fills.
fn judged_here<T, E, P>(produce: P, stages: &mut [&mut Stage<'_, E>]) -> Result<T, E>
where
    P: FnOnce(&mut ChunkSender<'_>) -> Result<T, E>,
{
    let mut refused = None;
    let mut judge_here = |mut chunk: RecordChunk| {
        for stage in stages.iter_mut() {
            for (tag, record) in chunk.iter() {
                if let Err(e) = stage(tag, &record) {
                    refused = Some(e);
                    return Err(Stopped);
                }
            }
        }
        chunk.clear();
        Ok(chunk)
    };
    let produced = first_stage(produce, &mut judge_here);
    match refused {
        Some(e) => Err(e),
        None => produced,
    }
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
            attempt: i.is_multiple_of(2).then_some(1),
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

    /// A first stage that sends `n` records tagged 0 to `n - 1`.
    fn sending(n: u64) -> impl FnOnce(&mut ChunkSender<'_>) -> Result<u64, String> {
        move |tx: &mut ChunkSender<'_>| {
            for i in 0..n {
                tx.send(i, &record(i, "", "d")).map_err(|e| e.to_string())?;
            }
            Ok(n)
        }
    }

    /// A later stage that refuses the record tagged `refuse_at`.
    fn refusing(
        refuse_at: Option<u64>,
    ) -> impl FnMut(u64, &TraceRecord<'_>) -> Result<(), String> + Send {
        move |tag, _| match Some(tag) == refuse_at {
            true => Err(format!("refused at {tag}")),
            false => Ok(()),
        }
    }

    #[test]
    fn without_a_thread_every_stage_runs_here_with_the_same_answers() {
        let n = 2 * CHUNK_RECORDS as u64 + 5;
        assert_eq!(judged_here(sending(n), &mut [&mut refusing(None)]), Ok(n));
        assert_eq!(
            judged_here(sending(n), &mut [&mut refusing(Some(n - 1))]),
            Err(format!("refused at {}", n - 1)),
            "the last, partly filled chunk is judged too"
        );
        let late = CHUNK_RECORDS as u64 + 1;
        assert_eq!(
            judged_here(
                sending(n),
                &mut [&mut refusing(Some(late)), &mut refusing(Some(3))]
            ),
            Err("refused at 3".to_string()),
            "a chunk goes through every stage before the next"
        );
    }

    #[test]
    fn three_stages_see_every_record_in_order_and_refuse_as_on_one_thread() {
        let n = 5 * CHUNK_RECORDS as u64 + 3;
        let (mut first, mut second) = (Vec::new(), Vec::new());
        let sent = pipeline_stages(
            sending(n),
            &mut [
                &mut |tag, _: &TraceRecord<'_>| {
                    first.push(tag);
                    Ok::<(), String>(())
                },
                &mut |tag, r: &TraceRecord<'_>| {
                    assert_eq!(r.detail, "d");
                    second.push(tag);
                    Ok(())
                },
            ],
        );
        assert_eq!(sent, Ok(n));
        assert_eq!(first, (0..n).collect::<Vec<_>>());
        assert_eq!(second, first);
        // Whichever thread refuses first in time, the answer is the one-thread answer.
        let chunk = CHUNK_RECORDS as u64;
        for (a, b) in [
            (3 * chunk, 5),
            (5, 3 * chunk),
            (chunk + 7, chunk + 2),
            (9, 9),
        ] {
            let stages: &mut [&mut Stage<'_, String>] =
                &mut [&mut refusing(Some(a)), &mut refusing(Some(b))];
            let here = judged_here(sending(n), stages);
            assert_eq!(pipeline_stages(sending(n), stages), here, "{a} {b}");
        }
    }

    #[test]
    fn no_more_chunks_exist_than_may_be_in_flight() {
        // Every chunk's text is reserved once and chunks are recycled, never freed during
        // the run: distinct text buffers are distinct chunks.
        let mut buffers = std::collections::BTreeSet::new();
        let n = 40 * CHUNK_RECORDS as u64;
        let out = pipeline::<_, String, _, _>(
            |tx| {
                for i in 0..n {
                    tx.send(i, &record(i, "", "x")).map_err(|e| e.to_string())?;
                }
                Ok(())
            },
            |tag, r| {
                if tag % CHUNK_RECORDS as u64 == 0 {
                    buffers.insert(r.detail.as_ptr() as usize);
                }
                Ok(())
            },
        );
        assert_eq!(out, Ok(()));
        assert!(
            (1..=CHUNKS_IN_FLIGHT).contains(&buffers.len()),
            "{} chunks",
            buffers.len()
        );
    }
}
