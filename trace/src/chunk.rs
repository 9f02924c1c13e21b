//! Records in chunks, and the stages of a trace's stream on threads of their own.
//!
//! On a machine with cores to spare, the stage that makes a trace (the simulator, the
//! CSV reader) and the stages that take it in (the verifier, the figures, the CSV writer)
//! can run side by side: [`pipeline`] runs the first on the calling thread and a second
//! on another, [`pipeline_stages`] several later ones each on its own, records passing
//! a [`RecordChunk`] at a time. Memory stays flat: at most [`CHUNKS_IN_FLIGHT`] chunks
//! exist at once (filled, waiting, being taken in), each of [`CHUNK_RECORDS`] records
//! (96 bytes each) and [`CHUNK_TEXT_BYTES`] of ids and details reserved, more only while
//! a longer record passes through: under 11 MB however long the trace.

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use crate::event::EventName;
use crate::record::TraceRecord;
use crate::sink::TraceSink;

/// Records a chunk holds before it is handed on. Measured on a million-row replay, chunks
/// of 16 384 records went faster than chunks of 4 096 (1.52-1.55 s against 1.60-1.75 s),
/// and chunks of 1 024 slower (1.77 s against 1.56 s): fewer hand-overs, fewer waits.
pub const CHUNK_RECORDS: usize = 16384;

/// Bytes of ids and details a chunk holds before it is handed on (a single record may
/// take it past this: a chunk always takes at least one).
pub const CHUNK_TEXT_BYTES: usize = 1 << 20;

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
        // Most records have no id and no detail: an empty copy is still a call.
        if !record.id.is_empty() {
            self.text.push_str(record.id);
        }
        let id_end = self.text.len();
        if !record.detail.is_empty() {
            self.text.push_str(record.detail);
        }
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
            // The ends were taken from `text` as it grew: in order and within it. Most
            // texts are empty, and need no look at the bytes.
            let text = |from: usize, to: usize| {
                if from == to {
                    ""
                } else {
                    self.text.get(from..to).unwrap_or_default()
                }
            };
            let id = text(start, p.id_end);
            let detail = text(p.id_end, p.detail_end);
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

/// Hands a full chunk to the later stages and gives an empty one back.
type HandOn<'a> = dyn FnMut(RecordChunk) -> Result<RecordChunk, Stopped> + 'a;

/// The first stage's end of a [`pipeline`]: records pushed here reach the later stages
/// in order. As a [`TraceSink`] it tags each record with its number from 0.
pub struct ChunkSender<'a> {
    filling: RecordChunk,
    hand_on: &'a mut HandOn<'a>,
    sent: u64,
}

/// A later stage of a [`pipeline`] stopped (it failed); what it said is the pipeline's
/// error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a stage taking in the trace stopped")]
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
/// answer is the one of every stage run here, chunk after chunk: a refusal (or a panic,
/// which goes on in the caller) in the earliest chunk, at the earliest stage, wins over
/// any later one and over `produce`'s result; a stage before a refusing one stops when
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
        // chunk is taken in: the refusal or panic in the earliest chunk, at the earliest
        // stage (a stage may have run ahead of a later one that refused).
        let mut first: Option<(usize, Ended<E>)> = None;
        for thread in running {
            let ended = thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            if let Err(ended) = ended
                && let Some(chunk) = ended.chunk()
                && first.as_ref().is_none_or(|(earliest, _)| chunk < *earliest)
            {
                first = Some((chunk, ended));
            }
        }
        Ok(match first {
            Some((_, Ended::Panicked(_, panic))) => std::panic::resume_unwind(panic),
            Some((_, Ended::Refused(_, e))) => Err(e),
            Some((_, Ended::Downstream)) | None => produced,
        })
    });
    threaded.unwrap_or_else(|produce| judged_here(produce, stages))
}

/// Why a later stage ended before its input did.
enum Ended<E> {
    /// It refused a record of chunk number `.0`.
    Refused(usize, E),
    /// It panicked in chunk number `.0`.
    Panicked(usize, Box<dyn Any + Send>),
    /// A stage after it stopped, so it could not hand a chunk on.
    Downstream,
}

impl<E> Ended<E> {
    /// The chunk it ended in, where it ended of itself.
    fn chunk(&self) -> Option<usize> {
        match self {
            Ended::Refused(chunk, _) | Ended::Panicked(chunk, _) => Some(*chunk),
            Ended::Downstream => None,
        }
    }
}

/// A later stage on its own thread: each chunk from `input` taken in by `stage` and
/// handed to `output`, chunks numbered from 0 in the order they come.
fn later_stage<E>(
    stage: &mut Stage<'_, E>,
    input: Receiver<RecordChunk>,
    output: SyncSender<RecordChunk>,
) -> Result<(), Ended<E>> {
    for (number, chunk) in input.into_iter().enumerate() {
        // A panic is caught to be ordered against the other stages' refusals; the stage
        // is not used again after it.
        let taken = panic::catch_unwind(AssertUnwindSafe(|| {
            chunk
                .iter()
                .try_for_each(|(tag, record)| stage(tag, &record))
        }));
        match taken {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Ended::Refused(number, e)),
            Err(panic) => return Err(Ended::Panicked(number, panic)),
        }
        output.send(chunk).map_err(|_| Ended::Downstream)?;
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
    // What is left of the last chunk; if a later stage stopped, its error says why.
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
    use std::collections::BTreeSet;

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
        // the run: distinct text buffers are distinct chunks, with one later stage or two.
        let n = 40 * CHUNK_RECORDS as u64;
        let buffers = |tag: u64, r: &TraceRecord<'_>, seen: &mut BTreeSet<usize>| {
            if tag.is_multiple_of(CHUNK_RECORDS as u64) {
                seen.insert(r.detail.as_ptr() as usize);
            }
            Ok::<(), String>(())
        };
        let (mut one, mut first, mut second) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let sending_x = |tx: &mut ChunkSender<'_>| {
            for i in 0..n {
                tx.send(i, &record(i, "", "x")).map_err(|e| e.to_string())?;
            }
            Ok(())
        };
        let out = pipeline(sending_x, |tag, r| buffers(tag, r, &mut one));
        assert_eq!(out, Ok(()));
        let out = pipeline_stages(
            sending_x,
            &mut [
                &mut |tag, r: &TraceRecord<'_>| buffers(tag, r, &mut first),
                &mut |tag, r: &TraceRecord<'_>| buffers(tag, r, &mut second),
            ],
        );
        assert_eq!(out, Ok(()));
        assert_eq!(first, second, "both stages saw the same chunks");
        for seen in [one, first] {
            assert!(
                (1..=CHUNKS_IN_FLIGHT).contains(&seen.len()),
                "{} chunks",
                seen.len()
            );
        }
    }

    /// A stage that ran ahead and panicked on a chunk the one-thread run never reaches
    /// loses to a later stage's refusal of an earlier chunk; a panic in the earliest chunk
    /// goes on in the caller, as on one thread.
    #[test]
    fn a_panic_is_ordered_against_refusals_as_on_one_thread() {
        let n = 6 * CHUNK_RECORDS as u64;
        // The first stage can run three chunks ahead of the second (four in flight): the
        // second waits for it to get there before it refuses its first chunk.
        let ahead = 3 * CHUNK_RECORDS as u64;
        let (there, wait) = std::sync::mpsc::channel();
        let mut ran_ahead = move |tag: u64, _: &TraceRecord<'_>| {
            if tag == ahead {
                let _ = there.send(());
                panic!("a stage's bug at {tag}");
            }
            Ok::<(), String>(())
        };
        let mut refuses_later = move |tag: u64, _: &TraceRecord<'_>| {
            if tag == 3 {
                let _ = wait.recv();
                return Err(format!("refused at {tag}"));
            }
            Ok(())
        };
        let out = pipeline_stages(sending(n), &mut [&mut ran_ahead, &mut refuses_later]);
        assert_eq!(out, Err("refused at 3".to_string()));
        let panicking = |tag: u64, _: &TraceRecord<'_>| {
            assert!(tag != 3, "a stage's bug at {tag}");
            Ok::<(), String>(())
        };
        let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
            pipeline_stages(
                sending(n),
                &mut [&mut { panicking }, &mut refusing(Some(ahead))],
            )
        }));
        assert!(caught.is_err(), "the panic went on: {caught:?}");
    }
}
