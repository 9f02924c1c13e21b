//! The simulator's event queue: integer virtual time with a total order.
//!
//! Events are ordered by time, then by a tie-break, then by when they were caused, then
//! by the order they were scheduled. Under seed 0 the tie-break is always 0, so
//! simultaneous events happen in the order they were caused; under any other seed it is
//! drawn from a seeded generator, which shuffles simultaneous events the way thread
//! scheduling would.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A min-queue of `T` keyed by virtual time in microseconds.
#[derive(Debug)]
pub struct EventQueue<T> {
    heap: BinaryHeap<Entry<T>>,
    next_seq: u64,
    shuffle: Option<ChaCha8Rng>,
}

#[derive(Debug)]
struct Entry<T> {
    at: u64,
    tie: u64,
    cause: u64,
    seq: u64,
    item: T,
}

impl<T> Entry<T> {
    fn key(&self) -> (u64, u64, u64, u64) {
        (self.at, self.tie, self.cause, self.seq)
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse for earliest first.
        other.key().cmp(&self.key())
    }
}

impl<T> EventQueue<T> {
    /// A queue whose simultaneous events keep their causal order (seed 0) or are
    /// shuffled by a generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            next_seq: 0,
            shuffle: (seed != 0).then(|| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                // A stream apart from the service model's draws under the same seed.
                rng.set_stream(1);
                rng
            }),
        }
    }

    /// Schedule `item` at `at`; `cause` is when the happening it stands for was caused
    /// (its dispatch, for an answer), which orders simultaneous events under seed 0.
    pub fn push(&mut self, at: u64, cause: u64, item: T) {
        let tie = self.shuffle.as_mut().map_or(0, |rng| rng.next_u64());
        self.heap.push(Entry {
            at,
            tie,
            cause,
            seq: self.next_seq,
            item,
        });
        self.next_seq += 1;
    }

    /// The earliest event and its time.
    pub fn pop(&mut self) -> Option<(u64, T)> {
        self.heap.pop().map(|e| (e.at, e.item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(mut q: EventQueue<char>) -> Vec<(u64, char)> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn seed_zero_keeps_causal_order_within_an_instant() {
        let mut q = EventQueue::new(0);
        for (t, c) in [(5, 'a'), (1, 'b'), (5, 'c'), (1, 'd'), (5, 'e')] {
            q.push(t, 0, c);
        }
        assert_eq!(drain(q), [(1, 'b'), (1, 'd'), (5, 'a'), (5, 'c'), (5, 'e')]);
    }

    #[test]
    fn other_seeds_shuffle_only_within_an_instant_and_reproducibly() {
        let fill = |seed| {
            let mut q = EventQueue::new(seed);
            for (i, c) in "abcdefgh".chars().enumerate() {
                q.push(10, 0, c);
                q.push(i as u64, 0, '.');
            }
            drain(q)
        };
        let first = fill(9);
        assert_eq!(first, fill(9));
        let at_ten: String = first.iter().filter(|e| e.0 == 10).map(|e| e.1).collect();
        assert_eq!(
            first.iter().filter(|e| e.0 < 10).count(),
            8,
            "earlier events first"
        );
        let mut sorted: Vec<char> = at_ten.chars().collect();
        sorted.sort();
        assert_eq!(sorted.into_iter().collect::<String>(), "abcdefgh");
        let orders: std::collections::BTreeSet<String> = (1..20)
            .map(|s| fill(s).iter().filter(|e| e.0 == 10).map(|e| e.1).collect())
            .collect();
        assert!(orders.len() > 1, "seeds explore different orders");
    }
}
