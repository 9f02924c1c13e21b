//! A batch's timers: backoff ends and retry deadlines, earliest first.

use std::collections::BTreeSet;

use crate::Time;

/// The timers of a batch's rows as (time, row), earliest first, each once: a row's
/// deadline, armed again at the end of every backoff, is one entry however many times
/// it retries. The earliest is kept at hand: the pool asks for it at every step, and
/// finding it in the set is a walk down the tree, while the set changes far less often.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    set: BTreeSet<(Time, usize)>,
    first: Option<(Time, usize)>,
}

impl Timers {
    /// The earliest timer.
    pub(crate) fn first(&self) -> Option<(Time, usize)> {
        self.first
    }

    /// Arm a timer for `row` at `at` (once: a timer already armed is not doubled).
    pub(crate) fn insert(&mut self, at: Time, row: usize) {
        let timer = (at, row);
        if self.set.insert(timer) && self.first.is_none_or(|first| timer < first) {
            self.first = Some(timer);
        }
    }

    /// Take the earliest timer.
    pub(crate) fn pop_first(&mut self) -> Option<(Time, usize)> {
        let first = self.set.pop_first();
        self.first = self.set.first().copied();
        first
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Against a plain set: the same timers come out in the same order, and the one at
    /// hand is always the set's first.
    #[test]
    fn the_earliest_at_hand_is_the_sets_first_through_any_arming_and_firing() {
        let mut timers = Timers::default();
        let mut plain = BTreeSet::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(3) {
                assert_eq!(timers.pop_first(), plain.pop_first());
            } else {
                // Few distinct times and rows: the same timer is armed again often.
                let (at, row) = (Duration::from_micros(x % 64), (x >> 8) as usize % 8);
                timers.insert(at, row);
                plain.insert((at, row));
            }
            assert_eq!(timers.first(), plain.first().copied());
        }
    }
}
