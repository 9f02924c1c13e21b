//! What a reader of a trace keeps per open row, by (batch, row): looked up on nearly
//! every event, so a hash map, not an ordered one.
//!
//! An ordered map of a few dozen open rows costs a search of a few nodes per lookup and
//! shifts its neighbours' values on every insertion and removal; the verifier and the
//! figures do both several times per event. A hash map does neither. Its keys come from
//! traces that may be hostile, so the hasher is keyed at random per map (foldhash's
//! `RandomState`), and since that makes its order differ from one process to the next,
//! this type offers no unordered iteration at all: whatever is read out of it in bulk
//! comes sorted by row, so output built from it stays byte-identical run to run.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use foldhash::fast::RandomState;

use crate::ready::RowKey;

/// A value per open row; if made with [`RowMap::counting_batches`], also how many rows
/// each batch has open.
#[derive(Clone)]
pub struct RowMap<V> {
    rows: HashMap<RowKey, V, RandomState>,
    /// Rows held per batch (batches with none are removed), where counted: answers "has
    /// this batch rows open" without a scan, for a small cost on every insertion and
    /// removal that only a reader asking it should pay.
    per_batch: Option<BTreeMap<u64, usize>>,
}

/// Its size and the rows open per batch: not its entries, which would come in hash order.
impl<V> fmt::Debug for RowMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowMap")
            .field("rows", &self.rows.len())
            .field("per_batch", &self.per_batch)
            .finish()
    }
}

impl<V> Default for RowMap<V> {
    fn default() -> Self {
        RowMap {
            rows: HashMap::default(),
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
            rows: HashMap::default(),
            per_batch: Some(BTreeMap::new()),
        }
    }

    /// One more row of `batch` held.
    fn counted_in(per_batch: &mut Option<BTreeMap<u64, usize>>, batch: u64) {
        if let Some(counts) = per_batch {
            *counts.entry(batch).or_default() += 1;
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Whether `key` is held.
    pub fn contains_key(&self, key: &RowKey) -> bool {
        self.rows.contains_key(key)
    }

    /// `key`'s value.
    pub fn get(&self, key: &RowKey) -> Option<&V> {
        self.rows.get(key)
    }

    /// `key`'s value, to change.
    pub fn get_mut(&mut self, key: &RowKey) -> Option<&mut V> {
        self.rows.get_mut(key)
    }

    /// `key`'s value, a default one kept if it had none.
    pub fn get_or_default(&mut self, key: RowKey) -> &mut V
    where
        V: Default,
    {
        let counts = &mut self.per_batch;
        self.rows.entry(key).or_insert_with(|| {
            Self::counted_in(counts, key.0);
            V::default()
        })
    }

    /// Hold `value` for `key`; the value it replaces, if any.
    pub fn insert(&mut self, key: RowKey, value: V) -> Option<V> {
        let before = self.rows.insert(key, value);
        if before.is_none() {
            Self::counted_in(&mut self.per_batch, key.0);
        }
        before
    }

    /// Stop holding `key`; its value, if it had one.
    pub fn remove(&mut self, key: &RowKey) -> Option<V> {
        let value = self.rows.remove(key)?;
        if let Some(counts) = &mut self.per_batch
            && let Some(count) = counts.get_mut(&key.0)
        {
            *count -= 1;
            if *count == 0 {
                counts.remove(&key.0);
            }
        }
        Some(value)
    }

    /// Whether `batch` has a row held: a lookup where batches are counted, else a scan.
    pub fn any_in(&self, batch: u64) -> bool {
        match &self.per_batch {
            Some(counts) => counts.contains_key(&batch),
            None => self.rows.keys().any(|&(b, _)| b == batch),
        }
    }

    /// Every row held, in (batch, row) order.
    pub fn sorted(&self) -> Vec<(RowKey, &V)> {
        let mut rows: Vec<(RowKey, &V)> = self.rows.iter().map(|(&key, v)| (key, v)).collect();
        rows.sort_unstable_by_key(|&(key, _)| key);
        rows
    }

    /// Every value, in (batch, row) order; the map is emptied.
    pub fn drain_sorted(&mut self) -> Vec<(RowKey, V)> {
        if let Some(counts) = &mut self.per_batch {
            counts.clear();
        }
        let mut rows: Vec<(RowKey, V)> = self.rows.drain().collect();
        rows.sort_unstable_by_key(|&(key, _)| key);
        rows
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
