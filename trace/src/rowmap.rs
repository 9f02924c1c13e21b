//! What a reader of a trace keeps per open row, by (batch, row): looked up on nearly
//! every event, so by position where it can be, else in a hash map.
//!
//! A pool's open rows are a few rows around the newest of one batch: the rows at work,
//! and those that ended waiting for an earlier one to be returned. So the map keeps a
//! window of [`WINDOW`] consecutive rows of one batch in a ring of slots, found by the
//! row number alone, and every other row in a hash map. The window follows the rows
//! forward: a row past its end moves it on, half a window at a time, and the rows it
//! leaves behind (a row in a long backoff, say) go to the hash map. Each lookup is then an index for most events,
//! where a hash map's was a hash and a probe; the verifier, the figures and the charts'
//! data each make several per event.
//!
//! Memory is the ring (a constant per map) and one entry per row outside it, so it still
//! follows the open rows, never the trace's length or its row numbers: a recorded trace
//! may name row 9 999 999 on its first line, and that costs one entry. Moving the window
//! scans a bitmap of the occupied slots, a word per 64 slots, never the rows skipped. The
//! hash map's keys come from traces that may be hostile, so its hasher is keyed at
//! random per map (foldhash's `RandomState`), and since that makes its order differ from
//! one process to the next, this type offers no unordered iteration at all: whatever is
//! read out of it in bulk comes sorted by row, so output built from it stays
//! byte-identical run to run.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use foldhash::fast::RandomState;

use crate::ready::RowKey;

/// Rows the window holds: far more than a pool's rows at work, so that rows ending out
/// of order and awaiting their turn stay in it.
pub const WINDOW: usize = 1024;
const WORDS: usize = WINDOW / 64;
const _: () = assert!(WINDOW.is_power_of_two() && WINDOW >= 64);

/// A value per open row; if made with [`RowMap::counting_batches`], also how many rows
/// each batch has open.
#[derive(Clone)]
pub struct RowMap<V> {
    /// The window's batch and first row.
    batch: u64,
    base: usize,
    /// Row `base + i` of `batch` is in slot `(base + i) % WINDOW`, if anywhere in the
    /// window (allocated with the first row).
    slots: Vec<Option<V>>,
    /// Which slots hold a value, a bit each.
    occupied: [u64; WORDS],
    in_window: usize,
    /// Every row held outside the window. A row inside the window's range may be here
    /// too, put here before the window reached it: never in both places.
    far: HashMap<RowKey, V, RandomState>,
    /// Rows held per batch (batches with none are removed), where counted: answers "has
    /// this batch rows open" without a scan, for a small cost on every insertion and
    /// removal that only a reader asking it should pay.
    per_batch: Option<BTreeMap<u64, usize>>,
}

/// Its size and the rows open per batch: not its entries, which would come in hash order.
impl<V> fmt::Debug for RowMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowMap")
            .field("rows", &self.len())
            .field("per_batch", &self.per_batch)
            .finish()
    }
}

impl<V> Default for RowMap<V> {
    fn default() -> Self {
        RowMap {
            batch: 0,
            base: 0,
            slots: Vec::new(),
            occupied: [0; WORDS],
            in_window: 0,
            far: HashMap::default(),
            per_batch: None,
        }
    }
}

impl<V> RowMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        RowMap::default()
    }

    /// An empty map that counts each batch's rows, so that [`RowMap::any_in`] costs a
    /// lookup rather than a scan.
    pub fn counting_batches() -> Self {
        RowMap {
            per_batch: Some(BTreeMap::new()),
            ..RowMap::default()
        }
    }

    /// One more row of `batch` held.
    fn counted_in(&mut self, batch: u64) {
        if let Some(counts) = &mut self.per_batch {
            *counts.entry(batch).or_default() += 1;
        }
    }

    /// One row fewer of `batch` held.
    fn counted_out(&mut self, batch: u64) {
        if let Some(counts) = &mut self.per_batch
            && let Some(count) = counts.get_mut(&batch)
        {
            *count -= 1;
            if *count == 0 {
                counts.remove(&batch);
            }
        }
    }

    /// `key`'s slot, if the window's range holds its row.
    #[inline(always)]
    fn slot(&self, (batch, row): RowKey) -> Option<usize> {
        // `checked_sub`: near the end of the numbers the range does not wrap to row 0.
        let in_range = row.checked_sub(self.base).is_some_and(|k| k < WINDOW);
        (batch == self.batch && in_range && !self.slots.is_empty()).then_some(row % WINDOW)
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.in_window + self.far.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is held.
    pub fn contains_key(&self, key: &RowKey) -> bool {
        self.get(key).is_some()
    }

    /// `key`'s value.
    #[inline]
    pub fn get(&self, key: &RowKey) -> Option<&V> {
        match self.slot(*key) {
            Some(at) => match &self.slots[at] {
                Some(value) => Some(value),
                None if self.far.is_empty() => None,
                None => self.far.get(key),
            },
            None => self.far.get(key),
        }
    }

    /// `key`'s value, to change.
    #[inline]
    pub fn get_mut(&mut self, key: &RowKey) -> Option<&mut V> {
        match self.slot(*key) {
            Some(at) if self.slots[at].is_some() => self.slots[at].as_mut(),
            _ => self.far.get_mut(key),
        }
    }

    /// `key`'s value, a default one kept if it had none.
    pub fn get_or_default(&mut self, key: RowKey) -> &mut V
    where
        V: Default,
    {
        if !self.contains_key(&key) {
            self.insert(key, V::default());
        }
        // Held now, if it was not before: `get_mut` finds it.
        self.get_mut(&key).expect("a row just inserted is held")
    }

    /// Hold `value` for `key`; the value it replaces, if any.
    pub fn insert(&mut self, key: RowKey, value: V) -> Option<V> {
        if self.slot(key).is_none() {
            self.reach(key);
        }
        let before = match self.slot(key) {
            Some(at) => {
                // Put here before the window reached it: it moves into the window.
                let before = if self.far.is_empty() {
                    None
                } else {
                    self.far.remove(&key)
                };
                match self.slots[at].replace(value) {
                    Some(old) => Some(old),
                    None => {
                        self.occupied[at / 64] |= 1 << (at % 64);
                        self.in_window += 1;
                        before
                    }
                }
            }
            None => self.far.insert(key, value),
        };
        if before.is_none() {
            self.counted_in(key.0);
        }
        before
    }

    /// Stop holding `key`; its value, if it had one.
    pub fn remove(&mut self, key: &RowKey) -> Option<V> {
        let value = match self.slot(*key) {
            Some(at) if self.slots[at].is_some() => {
                self.occupied[at / 64] &= !(1 << (at % 64));
                self.in_window -= 1;
                self.slots[at].take()
            }
            _ => self.far.remove(key),
        }?;
        self.counted_out(key.0);
        Some(value)
    }

    /// Bring `key` into the window's range where that is a step forward: an empty window
    /// starts at it, and a row past the end of its batch's window moves the window on
    /// (the rows it leaves go to the hash map). A row behind the window, or of another
    /// batch while the window holds rows, stays out.
    fn reach(&mut self, (batch, row): RowKey) {
        if self.slots.is_empty() {
            self.slots = std::iter::repeat_with(|| None).take(WINDOW).collect();
        } else if self.in_window > 0 && !(batch == self.batch && row >= self.base) {
            return;
        }
        let base = if self.in_window == 0 {
            row
        } else {
            // Past the end (`row >= self.base + WINDOW`): the row is at the middle, so the
            // window moves once per half a window of rows, not at every new row.
            row - WINDOW / 2
        };
        self.leave_before(base);
        self.batch = batch;
        self.base = base;
    }

    /// Move the window's rows before `base` to the hash map, scanning only the words of
    /// the bitmap that cover their slots (two runs of slots, where the ring wraps).
    fn leave_before(&mut self, base: usize) {
        if self.in_window == 0 {
            return;
        }
        let leaving = base.saturating_sub(self.base).min(WINDOW);
        let start = self.base % WINDOW;
        let first_run = leaving.min(WINDOW - start);
        self.leave_slots(start, start + first_run);
        self.leave_slots(0, leaving - first_run);
    }

    /// Move the values of slots `from..to` to the hash map.
    fn leave_slots(&mut self, from: usize, to: usize) {
        if from >= to {
            return;
        }
        let mut word = from / 64;
        while word * 64 < to {
            let low = (word * 64).max(from) - word * 64;
            let high = (to - word * 64).min(64);
            // Bits low..high of this word.
            let mask = (u64::MAX >> (64 - (high - low))) << low;
            let mut held = self.occupied[word] & mask;
            self.occupied[word] &= !mask;
            while held != 0 {
                let at = word * 64 + held.trailing_zeros() as usize;
                held &= held - 1;
                self.in_window -= 1;
                let row = self.row_of(at);
                if let Some(value) = self.slots[at].take() {
                    self.far.insert((self.batch, row), value);
                }
            }
            word += 1;
        }
    }

    /// Whether `batch` has a row held: a lookup where batches are counted, else a scan.
    pub fn any_in(&self, batch: u64) -> bool {
        match &self.per_batch {
            Some(counts) => counts.contains_key(&batch),
            None => {
                (self.batch == batch && self.in_window > 0)
                    || self.far.keys().any(|&(b, _)| b == batch)
            }
        }
    }

    /// Every row held, in (batch, row) order.
    pub fn sorted(&self) -> Vec<(RowKey, &V)> {
        let mut rows: Vec<(RowKey, &V)> = self.far.iter().map(|(&key, v)| (key, v)).collect();
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(v) = slot {
                rows.push(((self.batch, self.row_of(i)), v));
            }
        }
        rows.sort_unstable_by_key(|&(key, _)| key);
        rows
    }

    /// Every value, in (batch, row) order; the map is emptied.
    pub fn drain_sorted(&mut self) -> Vec<(RowKey, V)> {
        if let Some(counts) = &mut self.per_batch {
            counts.clear();
        }
        let mut rows: Vec<(RowKey, V)> = self.far.drain().collect();
        for i in 0..self.slots.len() {
            if let Some(v) = self.slots[i].take() {
                rows.push(((self.batch, self.row_of(i)), v));
            }
        }
        self.occupied = [0; WORDS];
        self.in_window = 0;
        rows.sort_unstable_by_key(|&(key, _)| key);
        rows
    }

    /// The row of the window's range that slot `at` holds.
    fn row_of(&self, at: usize) -> usize {
        self.base + (at + WINDOW - self.base % WINDOW) % WINDOW
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_count_their_open_rows_through_every_way_in_and_out() {
        // Counted or not, the answers are the same.
        for mut map in [RowMap::counting_batches(), RowMap::new()] {
            ways_in_and_out(&mut map);
        }
    }

    fn ways_in_and_out(map: &mut RowMap<char>) {
        assert!(map.insert((1, 5), 'a').is_none());
        assert_eq!(map.insert((1, 5), 'b'), Some('a'));
        assert!(map.insert((1, 2), 'c').is_none());
        assert_eq!(*map.get_or_default((1, 2)), 'c', "a value held is kept");
        assert_eq!(*map.get_or_default((3, 1)), '\0');
        assert!(map.any_in(3));
        assert_eq!(map.remove(&(3, 1)), Some('\0'));
        assert!(!map.contains_key(&(2, 0)));
        assert!(map.any_in(1) && !map.any_in(2));
        assert_eq!(map.len(), 2);
        assert_eq!(map.sorted(), [((1, 2), &'c'), ((1, 5), &'b')]);
        assert_eq!(map.remove(&(1, 5)), Some('b'));
        assert!(map.any_in(1));
        assert_eq!(map.remove(&(1, 5)), None);
        assert_eq!(map.remove(&(1, 2)), Some('c'));
        assert!(!map.any_in(1) && map.is_empty());
    }

    /// Against an ordered map, through every way in and out: rows mostly moving
    /// forward through one batch as a pool's do, with rows left behind, jumps past the
    /// window, rows far behind or ahead, other batches, and rows put in before the
    /// window reached them.
    #[test]
    fn the_window_and_the_hash_map_answer_as_one_ordered_map() {
        use crate::draws::draws;
        for counting in [false, true] {
            let mut map = if counting {
                RowMap::counting_batches()
            } else {
                RowMap::new()
            };
            let mut plain: BTreeMap<RowKey, u64> = BTreeMap::new();
            let mut draw = draws();
            let (mut batch, mut front) = (0u64, 0usize);
            for step in 0..200_000u64 {
                let pick = draw(100);
                // The row a pool would be at, now and then a jump or another batch.
                match pick {
                    0 => front += WINDOW / 2 + draw(3 * WINDOW as u64) as usize,
                    1 => batch = draw(3),
                    _ => front += usize::from(pick < 40),
                }
                let row = match draw(20) {
                    // Far behind, far ahead, or at the very end of the numbers.
                    0 => front.saturating_sub(draw(5000) as usize),
                    1 => front + draw(5000) as usize,
                    2 => usize::MAX - draw(3) as usize,
                    _ => front.saturating_sub(draw(48) as usize),
                };
                let key = (batch, row);
                match draw(6) {
                    0 | 1 => assert_eq!(map.insert(key, step), plain.insert(key, step)),
                    2 | 3 => assert_eq!(map.remove(&key), plain.remove(&key)),
                    4 => {
                        *map.get_or_default(key) += 1;
                        *plain.entry(key).or_default() += 1;
                    }
                    _ => {
                        if let Some(v) = map.get_mut(&key) {
                            *v += 7;
                        }
                        if let Some(v) = plain.get_mut(&key) {
                            *v += 7;
                        }
                    }
                }
                assert_eq!(map.get(&key), plain.get(&key));
                assert_eq!(map.contains_key(&key), plain.contains_key(&key));
                assert_eq!(map.len(), plain.len());
                if step % 1000 == 0 {
                    let b = draw(3);
                    assert_eq!(map.any_in(b), plain.keys().any(|&(x, _)| x == b));
                }
                if step % 10_000 == 0 {
                    let all: Vec<(RowKey, u64)> =
                        map.sorted().into_iter().map(|(k, &v)| (k, v)).collect();
                    assert_eq!(all, plain.iter().map(|(&k, &v)| (k, v)).collect::<Vec<_>>());
                }
            }
            let all = map.drain_sorted();
            assert_eq!(all, plain.into_iter().collect::<Vec<_>>());
            assert!(map.is_empty() && !map.any_in(0));
        }
    }

    #[test]
    fn bulk_reads_come_in_row_order_whatever_the_insertion_order() {
        let mut map = RowMap::counting_batches();
        for row in [7, 3, 900, 0, 42] {
            map.insert((row as u64 % 2, row), row);
        }
        let rows: Vec<RowKey> = map.sorted().into_iter().map(|(k, _)| k).collect();
        assert_eq!(rows, [(0, 0), (0, 42), (0, 900), (1, 3), (1, 7)]);
        let all: Vec<RowKey> = map.drain_sorted().into_iter().map(|(k, _)| k).collect();
        assert_eq!(all, [(0, 0), (0, 42), (0, 900), (1, 3), (1, 7)]);
        assert!(map.is_empty() && !map.any_in(1));
    }
}
