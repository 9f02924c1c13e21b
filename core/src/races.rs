//! The choices a real pool does not make itself: which of several contenders that reach
//! the same point at the same instant goes first, and how late a timer fires.
//!
//! A threaded pool leaves both to the scheduler and the operating system. The sans-IO
//! [`crate::Pool`] makes them explicit, so that a driver can explore them: without
//! [`Races`] (the default, and a simulator's seed 0) simultaneous contenders go in causal
//! order and timers fire on time; with it, the pool asks at each choice point. The rules
//! stay the pool's own; only the answers to these questions come from outside.
//!
//! The choice points, each asked only where more than one order is possible:
//!
//! | choice point | what is permuted |
//! | --- | --- |
//! | rows of a batch ready at the same instant | the order they queue for a permit (and reach the gate) |
//! | backoffs ending at the same instant | the order the rows queue again for a permit |
//! | a fresh row and a row back from backoff, with a permit free at that instant | whether the fresh row takes it first |
//!
//! Timer slack: a backoff's end, a server pause's end and the gate's alarm for a row that
//! had to wait each fire late by [`Races::slack`]. A backoff never overshoots its row's
//! deadline (the budget is checked exactly, I5), and slack only ever delays.

use std::fmt;
use std::time::Duration;

/// Answers to the pool's choice points (see the module's table).
pub trait Races: Send + fmt::Debug {
    /// Which of `n` (at least 2) simultaneous contenders goes first: an index below `n`.
    fn pick(&mut self, n: usize) -> usize;
    /// How late a timer set now will fire (zero: on time).
    fn slack(&mut self) -> Duration;
}

/// The pool's handle on its [`Races`], if any: every choice point asks through it.
#[derive(Debug, Default)]
pub(crate) struct Choices(Option<Box<dyn Races>>);

impl Choices {
    pub(crate) fn new(races: Option<Box<dyn Races>>) -> Self {
        Choices(races)
    }

    /// Permute each run of neighbours with equal `key` (items already sorted by it); a
    /// no-op in causal order.
    pub(crate) fn shuffle_runs<T, K: PartialEq>(&mut self, items: &mut [T], key: impl Fn(&T) -> K) {
        let Some(races) = self.0.as_mut() else {
            return;
        };
        let mut start = 0;
        while start < items.len() {
            let mut end = start + 1;
            while end < items.len() && key(&items[end]) == key(&items[start]) {
                end += 1;
            }
            shuffle(races.as_mut(), &mut items[start..end]);
            start = end;
        }
    }

    /// Permute `items` (contenders of one instant); a no-op in causal order.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        if let Some(races) = self.0.as_mut() {
            shuffle(races.as_mut(), items);
        }
    }

    /// Whether the second of two contenders goes first (never, in causal order).
    pub(crate) fn second_first(&mut self) -> bool {
        self.0.as_mut().is_some_and(|r| r.pick(2) == 1)
    }

    /// How late a timer set now fires (zero, in causal order).
    pub(crate) fn slack(&mut self) -> Duration {
        self.0.as_mut().map_or(Duration::ZERO, |r| r.slack())
    }
}

/// Fisher-Yates by `pick`.
fn shuffle<T>(races: &mut dyn Races, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = races.pick(i + 1).min(i);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Always picks the last contender; no slack.
    #[derive(Debug)]
    struct Last;
    impl Races for Last {
        fn pick(&mut self, n: usize) -> usize {
            n - 1
        }
        fn slack(&mut self) -> Duration {
            Duration::from_micros(7)
        }
    }

    #[test]
    fn causal_order_permutes_nothing_and_never_delays() {
        let mut c = Choices::default();
        let mut v = [(1, 'a'), (1, 'b'), (2, 'c')];
        c.shuffle_runs(&mut v, |x| x.0);
        assert_eq!(v, [(1, 'a'), (1, 'b'), (2, 'c')]);
        assert!(!c.second_first());
        assert_eq!(c.slack(), Duration::ZERO);
    }

    #[test]
    fn runs_are_permuted_within_themselves_only() {
        let mut c = Choices::new(Some(Box::new(Last)));
        let mut v = [(1, 'a'), (1, 'b'), (2, 'c'), (3, 'd'), (3, 'e')];
        c.shuffle_runs(&mut v, |x| x.0);
        // Picking the last each time swaps nothing (j = i): Fisher-Yates' identity...
        assert_eq!(v, [(1, 'a'), (1, 'b'), (2, 'c'), (3, 'd'), (3, 'e')]);
        assert!(c.second_first());
        assert_eq!(c.slack(), Duration::from_micros(7));
    }

    /// Always picks the first contender.
    #[derive(Debug)]
    struct First;
    impl Races for First {
        fn pick(&mut self, _: usize) -> usize {
            0
        }
        fn slack(&mut self) -> Duration {
            Duration::ZERO
        }
    }

    #[test]
    fn picking_the_first_rotates_each_run() {
        let mut c = Choices::new(Some(Box::new(First)));
        let mut v = [(1, 'a'), (1, 'b'), (1, 'c'), (2, 'd')];
        c.shuffle_runs(&mut v, |x| x.0);
        // i = 2 swaps with 0: c b a; i = 1 swaps with 0: b c a.
        assert_eq!(v, [(1, 'b'), (1, 'c'), (1, 'a'), (2, 'd')]);
        let mut w = ['x', 'y'];
        c.shuffle(&mut w);
        assert_eq!(w, ['y', 'x']);
    }
}
