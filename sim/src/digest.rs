//! The digest of the trace a run writes, taken from the pool's events without writing
//! the trace: what I8 compares between two runs under one seed.
//!
//! A trace record is a function of the pool's event, the row's id and the limit that
//! refused the answer ([`record_of`](crate::record_of)), and its CSV line a function of
//! the record. So a digest of those, in order, stands for the trace's bytes: the
//! event's fields go in as numbers, the id and text values byte by byte, and the detail
//! through the very code that writes it ([`describe`]), as (key, value) pairs instead of
//! text. A run that only checks determinism digests its events and formats nothing.
//!
//! Equal traces give equal digests within a process (the mixing is fixed, not keyed), so
//! a sweep also counts the distinct timelines its seeds produced.

use paceline_core::Event;

use crate::record::{Detail, describe, event_name};

/// A digest of a run's records and how many they were: equal digests stand for equal
/// trace bytes.
#[derive(Debug, Default)]
pub(crate) struct EventDigest {
    hash: u64,
    records: u64,
}

impl EventDigest {
    /// The hash and the number of records.
    pub(crate) fn fingerprint(&self) -> (u64, u64) {
        (self.hash, self.records)
    }

    /// Add the record that `event` at `t_us` of the row named `id`, refused by
    /// `refused_by`, writes. Inlined into the simulator's loop, which has `t_us` at hand.
    #[inline(always)]
    pub(crate) fn event(&mut self, event: &Event, t_us: u64, id: &str, refused_by: Option<&str>) {
        // Which optional fields are there, and the event's name, in one word (a
        // simulated record always has a batch and a `D`).
        let present = u64::from(event.row.is_some())
            | u64::from(event.attempt.is_some()) << 1
            | u64::from(!id.is_empty()) << 2;
        let name = event_name(&event.kind) as u64;
        let mut blocks = Blocks::default();
        blocks.pair(
            t_us,
            present | name << 8 | u64::from(event.attempt.unwrap_or(0)) << 32,
        );
        blocks.pair(event.batch, event.row.map_or(0, |row| row as u64));
        blocks.pair(event.delay_ms.to_bits(), self.records);
        // Generated rows have no id: nothing for them. An id's length says where its
        // blocks end and the detail's pairs begin.
        if !id.is_empty() {
            blocks.text(id);
            blocks.pair(id.len() as u64, K3);
        }
        describe(&mut blocks, &event.kind, refused_by);
        // The records are chained: the same records in another order give another hash.
        self.hash = fold(self.hash ^ blocks.sum ^ K1, self.records ^ K2);
        self.records += 1;
    }
}

/// Three constants (digits of pi) that keep a folded multiply away from zero.
const K1: u64 = 0x243f_6a88_85a3_08d3;
const K2: u64 = 0x1319_8a2e_0370_7344;
const K3: u64 = 0xa409_3822_299f_31d0;

/// One 64 x 64 -> 128-bit multiply, its halves folded together (the step of foldhash
/// and wyhash).
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// One record's sixteen-byte blocks, each folded on its own with constants of its place in
/// the record and the results summed: the multiplies do not wait on each other, so a
/// record costs about one multiply's latency, not one per block.
#[derive(Default)]
struct Blocks {
    sum: u64,
    /// The next block's place in the record, times `K3`.
    place: u64,
}

impl Blocks {
    fn pair(&mut self, a: u64, b: u64) {
        let at = self.place;
        self.sum = self.sum.wrapping_add(fold(a ^ K1 ^ at, b ^ K2 ^ at));
        self.place = at.wrapping_add(K3);
    }

    /// Sixteen bytes as one block.
    fn block(&mut self, block: &[u8; 16]) {
        let both = u128::from_le_bytes(*block);
        self.pair(both as u64, (both >> 64) as u64);
    }

    /// Text, sixteen bytes a block; the last block of a text longer than sixteen bytes
    /// is its last sixteen bytes (overlapping the one before), and a shorter text is read
    /// the same way in words of eight, four or single bytes. Every byte is read, and with
    /// the length (which the caller folds in) the blocks spell the text.
    fn text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        if let Some(last) = bytes.last_chunk::<16>() {
            let (blocks, rest) = bytes.as_chunks::<16>();
            for block in blocks {
                self.block(block);
            }
            if !rest.is_empty() {
                self.block(last);
            }
        } else if let (Some(a), Some(b)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
            self.pair(u64::from_le_bytes(*a), u64::from_le_bytes(*b));
        } else if let (Some(a), Some(b)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
            self.pair(
                u64::from(u32::from_le_bytes(*a)),
                u64::from(u32::from_le_bytes(*b)),
            );
        } else if let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) {
            let middle = bytes.get(bytes.len() / 2).copied().unwrap_or(0);
            self.pair(
                u64::from(first) << 16 | u64::from(middle) << 8 | u64::from(last),
                0,
            );
        }
    }
}

/// A detail key as one word: its length, and its first and last eight bytes (fewer for
/// a shorter key), which tell every key of the format apart (a test holds it). Called
/// with constants, so it folds away where it is inlined.
#[inline(always)]
fn key_word(key: &str) -> u64 {
    let bytes = key.as_bytes();
    let word = |chunk: &[u8]| {
        let mut word = [0u8; 8];
        let n = chunk.len().min(8);
        word[..n].copy_from_slice(&chunk[..n]);
        u64::from_le_bytes(word)
    };
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    word(bytes) ^ word(tail).rotate_left(29) ^ (bytes.len() as u64) << 56
}

/// The detail as pairs: a key's word with an integer value, or with a float's bits (a
/// float is written from its bits alone), or with a text's length and then the text.
/// Types are told apart by their keys: a key always has the one type.
impl Detail for Blocks {
    #[inline(always)]
    fn text(&mut self, key: &'static str, value: &str) -> &mut Self {
        self.pair(key_word(key), value.len() as u64);
        Blocks::text(self, value);
        self
    }

    #[inline(always)]
    fn int(&mut self, key: &'static str, value: u64) -> &mut Self {
        self.pair(key_word(key), value);
        self
    }

    #[inline(always)]
    fn float(&mut self, key: &'static str, value: f64) -> &mut Self {
        self.pair(key_word(key), value.to_bits());
        self
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use paceline_core::{BatchStats, EntryMeta, EventKind, Outcome, RowEnd};
    use paceline_trace::{CsvTrace, TraceSink, key};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::record::record_of;
    use crate::time::us;

    /// The record's CSV line, as the trace writes it.
    fn line(event: &Event, id: &str, refused_by: Option<&str>) -> Vec<u8> {
        let mut buf = String::new();
        let mut csv = CsvTrace::new(Vec::new()).expect("in memory");
        csv.record(&record_of(event, us(event.at), id, refused_by, &mut buf))
            .expect("in memory");
        csv.finish().expect("in memory")
    }

    fn digest(records: &[(Event, &str, Option<&str>)]) -> (u64, u64) {
        let mut d = EventDigest::default();
        for (event, id, by) in records {
            d.event(event, us(event.at), id, *by);
        }
        d.fingerprint()
    }

    fn event(kind: EventKind) -> Event {
        Event {
            at: Duration::from_micros(7),
            batch: 0,
            row: Some(0),
            attempt: Some(1),
            delay_ms: 0.0,
            kind,
        }
    }

    /// Every byte of an id of any length is read, whichever word or block reads it, and
    /// the length counts: one byte changed, or one more byte, gives another digest.
    #[test]
    fn every_byte_of_a_text_counts() {
        let ready = event(EventKind::Ready);
        let one = |id: &str, by: Option<&str>| digest(&[(ready.clone(), id, by)]);
        for len in 0..50 {
            let text = "a".repeat(len);
            let base = one(&text, None);
            assert_ne!(base, one(&"a".repeat(len + 1), None), "length {len}");
            assert_ne!(
                base,
                one("", Some(&text)),
                "the text as a value, length {len}"
            );
            for at in 0..len {
                let mut changed = text.clone().into_bytes();
                changed[at] = b'b';
                let changed = String::from_utf8(changed).expect("ASCII");
                assert_ne!(base, one(&changed, None), "byte {at} of {len}");
                assert_ne!(
                    one("", Some(&text)),
                    one("", Some(&changed)),
                    "value byte {at} of {len}"
                );
            }
        }
    }

    #[test]
    fn every_key_of_the_format_has_a_word_of_its_own() {
        let words: std::collections::BTreeSet<u64> = key::ALL.iter().map(|k| key_word(k)).collect();
        assert_eq!(words.len(), key::ALL.len());
    }

    /// An event, its id and its refusal, every choice made by one number of `c` (taken
    /// modulo the choices): changing one number changes one field, or nothing written.
    fn built(c: &[u64; 24]) -> (Event, &'static str, Option<&'static str>) {
        let pick = |i: usize, n: u64| c[i] % n;
        let micros = |i: usize| Duration::from_micros(pick(i, 3));
        let maybe = |i: usize| pick(i, 2) == 1;
        let outcome = [Outcome::Ok, Outcome::Capacity, Outcome::Retryable][pick(5, 3) as usize];
        let end = [
            RowEnd::Ok,
            RowEnd::Permanent { status: Some(400) },
            RowEnd::Permanent { status: None },
            RowEnd::Shutdown,
        ][pick(6, 4) as usize];
        let kind = match pick(7, 9) {
            0 => EventKind::BatchStart {
                rows: pick(8, 3) as usize,
            },
            1 => EventKind::Ready,
            2 => EventKind::Dispatch {
                tokens: maybe(9).then_some(pick(8, 3)),
            },
            3 => EventKind::Answer {
                outcome,
                status: maybe(9).then_some(429 + pick(8, 2) as u16),
                retry_after: maybe(10).then_some(Duration::from_millis(pick(11, 3))),
            },
            4 => EventKind::Backoff { length: micros(8) },
            5 => EventKind::RetryTimeout {
                elapsed: micros(8),
                budget: micros(9),
            },
            // The tokens of a row too large are not written.
            6 => EventKind::TooLarge { tokens: pick(8, 3) },
            // Nor when the entry left, only how long it waited (none, if it left early).
            7 => EventKind::Emit(Box::new(EntryMeta {
                submit_index: pick(8, 2) as usize,
                complete_index: pick(9, 2) as usize,
                submitted_at: micros(10),
                completed_at: micros(11),
                emitted_at: micros(12),
                end,
            })),
            _ => EventKind::BatchEnd(Box::new(BatchStats {
                capacity_retries: pick(8, 2),
                successes: pick(9, 2),
                peak_delay_ms: [0.0, 0.5, 1.0][pick(10, 3) as usize],
                total_throttle_time: micros(11),
                max_concurrent: pick(12, 2) as usize,
                delay_at_completion_ms: [0.0, 0.5][pick(13, 2) as usize],
            })),
        };
        let event = Event {
            at: micros(0),
            batch: pick(1, 2),
            row: maybe(2).then_some(pick(14, 2) as usize),
            attempt: maybe(3).then_some(1 + pick(15, 2) as u32),
            delay_ms: [0.0, 2.5][pick(4, 2) as usize],
            kind,
        };
        let id = ["", "a", "b", "a much longer row id"][pick(16, 4) as usize];
        let by = [None, Some("requests"), Some("tokens")][pick(17, 3) as usize];
        (event, id, by)
    }

    /// Pairs of records one choice apart: the same line or another, or another field or
    /// none: two records digest alike exactly when their lines are the same bytes.
    #[test]
    fn records_digest_alike_exactly_when_their_lines_are_the_same() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let (mut same, mut different) = (0, 0);
        for _ in 0..20_000 {
            let a: [u64; 24] = std::array::from_fn(|_| rng.random());
            let mut b = a;
            b[rng.random_range(0..18)] = rng.random();
            let (a, b) = (built(&a), built(&b));
            let equal_lines = line(&a.0, a.1, a.2) == line(&b.0, b.1, b.2);
            assert_eq!(
                equal_lines,
                digest(std::slice::from_ref(&a)) == digest(std::slice::from_ref(&b)),
                "{a:?} {b:?}"
            );
            if equal_lines {
                same += 1;
            } else {
                different += 1;
            }
        }
        assert!(
            same > 5_000 && different > 5_000,
            "{same} same, {different} different"
        );
    }

    #[test]
    fn records_are_chained_in_order() {
        let (a, b) = (event(EventKind::Ready), event(EventKind::Permit));
        assert_ne!(
            digest(&[(a.clone(), "", None), (b.clone(), "", None)]),
            digest(&[(b, "", None), (a, "", None)])
        );
    }
}
