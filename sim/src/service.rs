//! The simulated API: how an attempt is answered and how long the answer takes.
//!
//! A row's script answers first; past the script, the scenario's `[service]` model does:
//! a sliding-window rate limit over accepted attempts (beyond it: `capacity`, status 429),
//! then a random `capacity` (status 503) at `capacity_rate`, otherwise `ok`. Random draws
//! come from the run's seeded generator and are made only where a model asks for them,
//! so a scenario without randomness gives the same answers under every seed.

use std::collections::VecDeque;

use paceline_core::Outcome;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::{Latency, ScriptedAttempt, ServiceModel};

/// The API's answer to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub latency_us: u64,
}

/// The state of the simulated API during one run.
#[derive(Debug)]
pub struct Service<'a> {
    model: &'a ServiceModel,
    rng: ChaCha8Rng,
    /// Times of accepted attempts still inside the rate-limit window.
    accepted: VecDeque<u64>,
}

impl<'a> Service<'a> {
    pub fn new(model: &'a ServiceModel, seed: u64) -> Self {
        Service {
            model,
            rng: ChaCha8Rng::seed_from_u64(seed),
            accepted: VecDeque::new(),
        }
    }

    /// Answer an attempt dispatched at `now_us`.
    pub fn answer(&mut self, now_us: u64, script: Option<&ScriptedAttempt>) -> Answer {
        let (outcome, status) = match script {
            Some(s) => (s.outcome, s.status),
            None => self.model_outcome(now_us),
        };
        if outcome != Outcome::Capacity && self.model.rate_limit.is_some() {
            self.accepted.push_back(now_us);
        }
        let latency_us = match script.and_then(|s| s.latency_us) {
            Some(us) => us,
            None => match self.model.latency {
                Latency::Fixed { us } => us,
                Latency::Uniform { min_us, max_us } => self.rng.random_range(min_us..=max_us),
            },
        };
        Answer {
            outcome,
            status,
            latency_us,
        }
    }

    fn model_outcome(&mut self, now_us: u64) -> (Outcome, Option<u16>) {
        if let Some(limit) = self.model.rate_limit {
            while self
                .accepted
                .front()
                .is_some_and(|&t| t.saturating_add(limit.per_us) <= now_us)
            {
                self.accepted.pop_front();
            }
            if self.accepted.len() as u64 >= limit.requests {
                return (Outcome::Capacity, Some(429));
            }
        }
        if self.model.capacity_rate > 0.0 && self.rng.random::<f64>() < self.model.capacity_rate {
            return (Outcome::Capacity, Some(503));
        }
        (Outcome::Ok, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::RateLimit;

    #[test]
    fn the_rate_limit_is_a_sliding_window_over_accepted_attempts() {
        let model = ServiceModel {
            rate_limit: Some(RateLimit {
                requests: 2,
                per_us: 1000,
            }),
            ..ServiceModel::default()
        };
        let mut s = Service::new(&model, 0);
        let outcomes: Vec<Outcome> = [0, 10, 20, 999, 1000, 1010, 1011]
            .into_iter()
            .map(|t| s.answer(t, None).outcome)
            .collect();
        use Outcome::{Capacity as C, Ok as K};
        // Accepted at 0 and 10; rejections do not count; 0 leaves the window at 1000,
        // 10 at 1010.
        assert_eq!(outcomes, [K, K, C, C, K, K, C]);
    }

    #[test]
    fn scripts_answer_first_and_latency_follows_the_model() {
        let model = ServiceModel {
            latency: Latency::Uniform {
                min_us: 5,
                max_us: 9,
            },
            capacity_rate: 1.0,
            ..ServiceModel::default()
        };
        let mut s = Service::new(&model, 7);
        let script = ScriptedAttempt {
            outcome: Outcome::Permanent,
            status: Some(400),
            latency_us: Some(3),
        };
        assert_eq!(
            s.answer(0, Some(&script)),
            Answer {
                outcome: Outcome::Permanent,
                status: Some(400),
                latency_us: 3
            }
        );
        let a = s.answer(0, None);
        assert_eq!((a.outcome, a.status), (Outcome::Capacity, Some(503)));
        assert!((5..=9).contains(&a.latency_us));
    }

    #[test]
    fn the_same_seed_gives_the_same_answers() {
        let model = ServiceModel {
            latency: Latency::Uniform {
                min_us: 0,
                max_us: 1_000_000,
            },
            capacity_rate: 0.3,
            ..ServiceModel::default()
        };
        let draw = |seed| {
            let mut s = Service::new(&model, seed);
            (0..50).map(|t| s.answer(t, None)).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }
}
