//! The simulator's answers to the pool's choice points ([`paceline_core::Races`]): drawn
//! from the run's seed, so every seed but 0 explores another order of simultaneous
//! contenders, and `timer_slack_us` makes every timer of the pool fire late by a seeded
//! amount in `[0, timer_slack_us]` microseconds.

use std::time::Duration;

use paceline_core::Races;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Seeded answers: permutations under seeds other than 0, slack where asked for.
#[derive(Debug)]
pub(crate) struct SeededRaces {
    /// Draws the order of contenders; `None` under seed 0 (causal order).
    order: Option<ChaCha8Rng>,
    /// Draws timers' lateness, and its bound in microseconds; `None` without slack.
    slack: Option<(ChaCha8Rng, u64)>,
}

impl SeededRaces {
    /// The answers for `seed` with timers late by up to `slack_us`; `None` when there
    /// is nothing to explore (seed 0 without slack: causal order, timers on time).
    pub(crate) fn new(seed: u64, slack_us: u64) -> Option<Self> {
        let stream = |n| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            // Apart from the queue's, the service's and the tokens' draws.
            rng.set_stream(n);
            rng
        };
        let races = SeededRaces {
            order: (seed != 0).then(|| stream(3)),
            slack: (slack_us > 0).then(|| (stream(4), slack_us)),
        };
        (races.order.is_some() || races.slack.is_some()).then_some(races)
    }
}

impl Races for SeededRaces {
    fn pick(&mut self, n: usize) -> usize {
        self.order.as_mut().map_or(0, |rng| rng.random_range(0..n))
    }

    fn slack(&mut self) -> Duration {
        self.slack.as_mut().map_or(Duration::ZERO, |(rng, max)| {
            Duration::from_micros(rng.random_range(0..=*max))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_zero_without_slack_explores_nothing() {
        assert!(SeededRaces::new(0, 0).is_none());
    }

    #[test]
    fn seed_zero_with_slack_keeps_causal_order_and_bounds_the_lateness() {
        let mut r = SeededRaces::new(0, 300).expect("slack to draw");
        assert!((0..100).all(|_| r.pick(5) == 0));
        let late: Vec<Duration> = (0..1000).map(|_| r.slack()).collect();
        assert!(late.iter().all(|d| *d <= Duration::from_micros(300)));
        assert!(late.iter().any(|d| *d > Duration::from_micros(150)));
    }

    #[test]
    fn other_seeds_pick_every_contender_reproducibly() {
        let picks = |seed| {
            let mut r = SeededRaces::new(seed, 0).expect("a seed to draw from");
            (0..200).map(|_| r.pick(3)).collect::<Vec<_>>()
        };
        assert_eq!(picks(7), picks(7));
        assert_ne!(picks(7), picks(8));
        assert!((0..3).all(|i| picks(7).contains(&i)));
        assert_eq!(
            SeededRaces::new(7, 0).map(|mut r| r.slack()),
            Some(Duration::ZERO)
        );
    }
}
