//! A set of integers kept as ranges, so that members which follow one another cost no
//! more memory than one: batches end in order, rows are returned in order, and a reader
//! that remembers them must not grow with a trace's length.

use std::collections::BTreeMap;

/// A set of `u64` stored as disjoint inclusive ranges: memory grows with the gaps
/// between members, not with their number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdSet {
    /// First member of each range -> last member.
    ranges: BTreeMap<u64, u64>,
    members: u64,
}

impl IdSet {
    /// An empty set.
    pub fn new() -> Self {
        IdSet::default()
    }

    /// Whether `id` is a member.
    pub fn contains(&self, id: u64) -> bool {
        // Most questions are about the newest batch or row, past every member so far:
        // the last range answers them without a search.
        match self.ranges.last_key_value() {
            None => false,
            Some((_, &last)) if id > last => false,
            Some(_) => self
                .ranges
                .range(..=id)
                .next_back()
                .is_some_and(|(_, &last)| id <= last),
        }
    }

    /// Add `id`; `false` if it was a member already.
    pub fn insert(&mut self, id: u64) -> bool {
        // Members mostly come in order: the next one extends the last range.
        if let Some(mut last) = self.ranges.last_entry()
            && last.get().checked_add(1) == Some(id)
        {
            last.insert(id);
            self.members += 1;
            return true;
        }
        if self.contains(id) {
            return false;
        }
        let joins_before = id
            .checked_sub(1)
            .and_then(|before| self.ranges.range(..=before).next_back())
            .filter(|&(_, &last)| last.checked_add(1) == Some(id))
            .map(|(&first, _)| first);
        let joins_after = id
            .checked_add(1)
            .and_then(|after| self.ranges.get(&after).map(|&last| (after, last)));
        let first = joins_before.unwrap_or(id);
        let last = match joins_after {
            Some((after, last)) => {
                self.ranges.remove(&after);
                last
            }
            None => id,
        };
        self.ranges.insert(first, last);
        self.members += 1;
        true
    }

    /// How many members.
    pub fn len(&self) -> u64 {
        self.members
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.members == 0
    }

    /// How many members are below `bound`.
    pub fn count_below(&self, bound: u64) -> u64 {
        self.ranges
            .range(..bound)
            .map(|(&first, &last)| last.min(bound - 1) - first + 1)
            .sum()
    }

    /// How many ranges the members form: what the set costs in memory.
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }

    /// The smallest integer at or after `from` that is not a member, if any.
    pub fn next_missing(&self, from: u64) -> Option<u64> {
        match self.ranges.range(..=from).next_back() {
            Some((_, &last)) if from <= last => last.checked_add(1),
            _ => Some(from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_members_form_one_range() {
        let mut set = IdSet::new();
        for id in (0..1000).rev() {
            assert!(set.insert(id));
        }
        assert!(!set.insert(500));
        assert_eq!((set.len(), set.ranges()), (1000, 1));
        assert!(set.contains(0) && set.contains(999) && !set.contains(1000));
        assert_eq!(set.next_missing(0), Some(1000));
        assert_eq!(set.next_missing(2000), Some(2000));
    }

    #[test]
    fn gaps_cost_a_range_each_and_close_when_filled() {
        let mut set = IdSet::new();
        for id in [0, 2, 4] {
            set.insert(id);
        }
        assert_eq!(set.ranges(), 3);
        assert_eq!(set.next_missing(0), Some(1));
        assert_eq!(
            (set.count_below(0), set.count_below(3), set.count_below(99)),
            (0, 2, 3)
        );
        set.insert(1);
        set.insert(3);
        assert_eq!((set.len(), set.ranges()), (5, 1));
    }

    /// Inserts mostly in order with stragglers, and questions about every id near them,
    /// answered as a plain set answers them: the shortcuts on the last range agree with
    /// the search.
    #[test]
    fn it_answers_as_a_plain_set_does() {
        let mut next = crate::draws::draws();
        let (mut set, mut plain) = (IdSet::new(), std::collections::BTreeSet::new());
        let mut front = 0u64;
        for _ in 0..20_000 {
            let id = match next(4) {
                0 => front.saturating_sub(next(40)),
                1 => front + next(5),
                _ => front,
            };
            front = front.max(id + 1);
            assert_eq!(set.insert(id), plain.insert(id), "insert {id}");
            let probe = front.saturating_sub(next(50)) + next(3);
            assert_eq!(
                set.contains(probe),
                plain.contains(&probe),
                "contains {probe}"
            );
            assert_eq!(set.len(), plain.len() as u64);
        }
        assert!(
            set.ranges() < plain.len(),
            "consecutive members share ranges"
        );
    }

    #[test]
    fn the_extremes_do_not_overflow() {
        let mut set = IdSet::new();
        assert!(set.insert(u64::MAX));
        assert!(set.insert(u64::MAX - 1));
        assert!(set.insert(0));
        assert!(set.contains(u64::MAX) && set.contains(0) && !set.contains(1));
        assert_eq!(set.next_missing(u64::MAX - 1), None);
        assert_eq!(set.ranges(), 2);
    }
}
