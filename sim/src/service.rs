//! The simulated API: how an attempt is answered and how long the answer takes.
//!
//! A row's script answers first, for itself: no phase or limit applies to a scripted
//! attempt, and it counts in no limit. Past the script, the scenario's `[service]` model
//! answers, as of the attempt's dispatch time: the phase in force (if any) replaces the
//! service's keys; an outage phase fails every attempt (`capacity`, 503 unless given,
//! with its wait if given, counted in no limit); otherwise every limit must admit the
//! attempt (the legacy `rate_limit` first, then `[[service.limits]]` in file order, or the
//! phase's own limits with their own counters), then a random `capacity` at
//! `capacity_rate`, otherwise `ok`. A successful answer takes `latency_per_output_token`
//! longer per output token. Random draws come from the run's seeded generator and are
//! made only where a model asks for them, so a scenario without randomness gives the same
//! answers under every seed.

use std::borrow::Borrow;

use paceline_core::Outcome;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::provider::{LimitState, LogNormal, Measure, Verdict, accept_all, admit_all};
use crate::scenario::{Distribution, Phase, ScriptedAttempt, ServiceModel};

/// The API's answer to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// What it said.
    pub outcome: Outcome,
    /// Its HTTP status, if any.
    pub status: Option<u16>,
    /// How long it took.
    pub latency_us: u64,
    /// The wait it asks for, in milliseconds, if any.
    pub retry_after_ms: Option<u64>,
    /// What refused the attempt: `requests`, `tokens` (a limit) or `outage` (a phase).
    pub refused_by: Option<&'static str>,
}

/// What the limits in force have left (see [`Service::remaining`]): `(amount,
/// remaining)` of the first request limit and of the first token limit, where there is
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Remaining {
    /// The first request limit's amount and what is left of it.
    pub requests: Option<(u64, u64)>,
    /// The first token limit's amount and what is left of it.
    pub tokens: Option<(u64, u64)>,
}

/// What the service knows of the row an attempt belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowLoad {
    /// Input tokens: what token limits count.
    pub tokens: u64,
    /// Output tokens: they lengthen a successful answer.
    pub output_tokens: u64,
}

/// The state of the simulated API during one run.
///
/// `M` holds the model: a borrow (`&ServiceModel`, as the simulator holds its scenario)
/// or a shared handle (`Arc<ServiceModel>`, as a server that outlives any borrow does).
#[derive(Debug)]
pub struct Service<M> {
    model: M,
    rng: ChaCha8Rng,
    /// The legacy `rate_limit` and `[[service.limits]]`, with their counters.
    limits: Vec<LimitState>,
    /// Each phase's own limits, with their own counters (`None`: the phase keeps the
    /// service's).
    phase_limits: Vec<Option<Vec<LimitState>>>,
}

fn states(specs: impl IntoIterator<Item = crate::provider::LimitSpec>) -> Vec<LimitState> {
    specs.into_iter().map(LimitState::new).collect()
}

/// Draw from `d` with `rng`.
pub fn draw(d: &Distribution, rng: &mut ChaCha8Rng) -> u64 {
    match *d {
        Distribution::Fixed(v) => v,
        Distribution::Uniform { min, max } => rng.random_range(min..=max),
        // Validated when the scenario was read: p99 >= p50 > 0.
        Distribution::LogNormal { p50, p99 } => LogNormal::from_p50_p99(p50 as f64, p99 as f64)
            .map_or(p50, |l| l.sample(rng).round() as u64),
    }
}

/// The phase of `model` in force at `now_us`: the latest-starting, the last listed on a
/// tie.
fn phase_at(model: &ServiceModel, now_us: u64) -> Option<(usize, &Phase)> {
    model
        .phases
        .iter()
        .enumerate()
        .filter(|(_, p)| p.covers(now_us))
        .max_by_key(|(i, p)| (p.from_us, *i))
}

impl<M: Borrow<ServiceModel> + Clone> Service<M> {
    /// The API at the start of a run under `seed`: empty windows, full buckets.
    pub fn new(model: M, seed: u64) -> Self {
        let m: &ServiceModel = model.borrow();
        let legacy = m.rate_limit.map(|r| r.as_limit());
        let limits = states(legacy.into_iter().chain(m.limits.iter().copied()));
        let phase_limits = m
            .phases
            .iter()
            .map(|p| p.limits.as_ref().map(|l| states(l.iter().copied())))
            .collect();
        Service {
            model,
            rng: ChaCha8Rng::seed_from_u64(seed),
            limits,
            phase_limits,
        }
    }

    /// Draw from `d` with the service's own generator (a server draws a request's output
    /// tokens this way when the request does not say).
    pub fn draw(&mut self, d: &Distribution) -> u64 {
        draw(d, &mut self.rng)
    }

    /// What the limits in force at `now_us` (the phase's own, or the service's) have left,
    /// as of the latest attempt they saw: the first request limit and the first token
    /// limit in file order, each as `(amount, remaining)`. Read-only: for headers such as
    /// `x-ratelimit-remaining-requests`, not for deciding anything.
    pub fn remaining(&self, now_us: u64) -> Remaining {
        let model = self.model.clone();
        let limits = match phase_at(model.borrow(), now_us) {
            Some((i, _)) => match self.phase_limits.get(i) {
                Some(Some(own)) => own,
                _ => &self.limits,
            },
            None => &self.limits,
        };
        let first = |measure: Measure| {
            limits
                .iter()
                .find(|l| l.spec().measure == measure)
                .map(|l| (l.spec().amount, l.remaining()))
        };
        Remaining {
            requests: first(Measure::Requests),
            tokens: first(Measure::Tokens),
        }
    }

    /// Answer an attempt dispatched at `now_us` for a row with `load`.
    pub fn answer(
        &mut self,
        now_us: u64,
        script: Option<&ScriptedAttempt>,
        load: RowLoad,
    ) -> Answer {
        // A handle of the model apart from `self`, so the phase can be read while the
        // limits and the generator change.
        let model = self.model.clone();
        let phase = phase_at(model.borrow(), now_us);
        let latency = phase
            .and_then(|(_, p)| p.latency)
            .unwrap_or(model.borrow().latency);
        let per_token_ns = phase
            .and_then(|(_, p)| p.latency_per_output_token_ns)
            .unwrap_or(model.borrow().latency_per_output_token_ns);
        let mut answer = match script {
            Some(s) => Answer {
                outcome: s.outcome,
                status: s.status,
                latency_us: 0,
                retry_after_ms: s.retry_after_ms,
                refused_by: None,
            },
            None => self.model_answer(now_us, phase, load),
        };
        answer.latency_us = match script.and_then(|s| s.latency_us) {
            Some(us) => us,
            None => draw(&latency, &mut self.rng),
        };
        if answer.outcome == Outcome::Ok {
            let extra_ns = u128::from(load.output_tokens) * u128::from(per_token_ns);
            let extra_us = u64::try_from(extra_ns.div_ceil(1000)).unwrap_or(u64::MAX);
            answer.latency_us = answer.latency_us.saturating_add(extra_us);
        }
        answer
    }

    fn model_answer(
        &mut self,
        now_us: u64,
        phase: Option<(usize, &Phase)>,
        load: RowLoad,
    ) -> Answer {
        let refuse = |status: u16, retry_after_ms: Option<u64>, by: Option<&'static str>| Answer {
            outcome: Outcome::Capacity,
            status: Some(status),
            latency_us: 0,
            retry_after_ms,
            refused_by: by,
        };
        if let Some(outage) = phase.and_then(|(_, p)| p.outage) {
            return refuse(outage.status, outage.retry_after_ms, Some("outage"));
        }
        let limits = match phase {
            Some((i, _)) => match self.phase_limits.get_mut(i) {
                Some(Some(own)) => own,
                _ => &mut self.limits,
            },
            None => &mut self.limits,
        };
        let name = |limits: &[LimitState], i: usize| match limits.get(i).map(|l| l.spec().measure) {
            Some(Measure::Tokens) => "tokens",
            _ => "requests",
        };
        match admit_all(limits, now_us, load.tokens) {
            Verdict::Fits => {}
            Verdict::Refused {
                status,
                limit_index,
                retry_after_ms,
                ..
            } => return refuse(status, retry_after_ms, Some(name(limits, limit_index))),
            // A request larger than a limit is not worth retrying: a permanent refusal.
            Verdict::Never {
                status,
                limit_index,
            } => {
                return Answer {
                    outcome: Outcome::Permanent,
                    refused_by: Some(name(limits, limit_index)),
                    ..refuse(status, None, None)
                };
            }
        }
        let rate = phase
            .and_then(|(_, p)| p.capacity_rate)
            .unwrap_or(self.model.borrow().capacity_rate);
        if rate > 0.0 && self.rng.random::<f64>() < rate {
            let status = phase
                .and_then(|(_, p)| p.capacity_status)
                .unwrap_or(self.model.borrow().capacity_status);
            // Not accepted: `counts = "accepted"` limits do not count it.
            return refuse(status, None, None);
        }
        accept_all(limits, now_us, load.tokens);
        Answer {
            outcome: Outcome::Ok,
            status: None,
            latency_us: 0,
            retry_after_ms: None,
            refused_by: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{LimitSpec, RetryAfter};
    use crate::scenario::{Outage, RateLimit};

    const MS: u64 = 1000;

    fn no_load() -> RowLoad {
        RowLoad::default()
    }

    #[test]
    fn the_legacy_rate_limit_is_a_sliding_window_over_accepted_attempts() {
        let model = ServiceModel {
            rate_limit: Some(RateLimit {
                requests: 2,
                per_us: 1000,
            }),
            ..ServiceModel::default()
        };
        let mut s = Service::new(&model, 0);
        let answers: Vec<Answer> = [0, 10, 20, 999, 1000, 1010, 1011]
            .into_iter()
            .map(|t| s.answer(t, None, no_load()))
            .collect();
        use Outcome::{Capacity as C, Ok as K};
        // Accepted at 0 and 10; refusals do not count; 0 leaves the window at 1000,
        // 10 at 1010.
        let outcomes: Vec<Outcome> = answers.iter().map(|a| a.outcome).collect();
        assert_eq!(outcomes, [K, K, C, C, K, K, C]);
        let refused = answers[2];
        assert_eq!(
            (refused.status, refused.retry_after_ms, refused.refused_by),
            (Some(429), None, Some("requests")),
            "as it always answered: a 429 without a wait"
        );
    }

    #[test]
    fn scripts_answer_first_and_latency_follows_the_model() {
        let model = ServiceModel {
            latency: Distribution::Uniform { min: 5, max: 9 },
            capacity_rate: 1.0,
            ..ServiceModel::default()
        };
        let mut s = Service::new(&model, 7);
        let script = ScriptedAttempt {
            outcome: Outcome::Permanent,
            status: Some(400),
            latency_us: Some(3),
            retry_after_ms: None,
        };
        let a = s.answer(0, Some(&script), no_load());
        assert_eq!(
            (a.outcome, a.status, a.latency_us),
            (Outcome::Permanent, Some(400), 3)
        );
        let a = s.answer(0, None, no_load());
        assert_eq!((a.outcome, a.status), (Outcome::Capacity, Some(503)));
        assert!((5..=9).contains(&a.latency_us));
    }

    #[test]
    fn the_same_seed_gives_the_same_answers() {
        let model = ServiceModel {
            latency: Distribution::Uniform {
                min: 0,
                max: 1_000_000,
            },
            capacity_rate: 0.3,
            ..ServiceModel::default()
        };
        let draw = |seed| {
            let mut s = Service::new(&model, seed);
            (0..50)
                .map(|t| s.answer(t, None, no_load()))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    fn phase(from_ms: u64, until_ms: u64) -> Phase {
        Phase {
            from_us: from_ms * MS,
            until_us: until_ms * MS,
            ..Phase::default()
        }
    }

    #[test]
    fn phases_switch_on_and_off_exactly_at_their_bounds() {
        // An outage [100, 200) ms with a 30 s wait, and a 529 burst [150, 160) listed
        // after it: the later start wins inside it.
        let model = ServiceModel {
            phases: vec![
                Phase {
                    outage: Some(Outage {
                        status: 503,
                        retry_after_ms: Some(30_000),
                    }),
                    ..phase(100, 200)
                },
                Phase {
                    capacity_rate: Some(1.0),
                    capacity_status: Some(529),
                    ..phase(150, 160)
                },
            ],
            ..ServiceModel::default()
        };
        let mut s = Service::new(&model, 0);
        let mut at = |ms: u64| {
            let a = s.answer(ms * MS, None, no_load());
            (a.outcome, a.status, a.retry_after_ms, a.refused_by)
        };
        let ok = (Outcome::Ok, None, None, None);
        let outage = (Outcome::Capacity, Some(503), Some(30_000), Some("outage"));
        let burst = (Outcome::Capacity, Some(529), None, None);
        assert_eq!(at(99), ok);
        assert_eq!(at(100), outage, "from_ms is included");
        assert_eq!(at(149), outage);
        assert_eq!(at(150), burst, "the later start wins");
        assert_eq!(at(159), burst);
        assert_eq!(at(160), outage, "until_ms is excluded");
        assert_eq!(at(199), outage);
        assert_eq!(at(200), ok);
    }

    #[test]
    fn an_equal_start_goes_to_the_phase_listed_last_and_its_limits_count_apart() {
        let one_per_second = LimitSpec {
            retry_after: RetryAfter::Ms,
            ..LimitSpec::new(Measure::Requests, 1, 1_000 * MS)
        };
        let model = ServiceModel {
            limits: vec![one_per_second],
            phases: vec![
                Phase {
                    capacity_rate: Some(1.0),
                    ..phase(10, 20)
                },
                Phase {
                    limits: Some(vec![one_per_second]),
                    ..phase(10, 20)
                },
            ],
            ..ServiceModel::default()
        };
        let mut s = Service::new(&model, 0);
        // The service's own limit admits one at 0; the phase's own counter admits one at
        // 10 ms (the service's would refuse it), then refuses at 11 ms. Counting every
        // attempt, the refusal itself sits in the window until 1011 ms: a resend fits only
        // once both 10 and 11 have left, R = 1011 - 11 = 1000 ms.
        assert_eq!(s.answer(0, None, no_load()).outcome, Outcome::Ok);
        assert_eq!(s.answer(10 * MS, None, no_load()).outcome, Outcome::Ok);
        let refused = s.answer(11 * MS, None, no_load());
        assert_eq!(
            (refused.outcome, refused.retry_after_ms),
            (Outcome::Capacity, Some(1000))
        );
        assert_eq!(
            s.answer(500 * MS, None, no_load()).outcome,
            Outcome::Capacity
        );
    }

    #[test]
    fn output_tokens_lengthen_only_successful_answers() {
        let model = ServiceModel {
            latency: Distribution::Fixed(100 * MS),
            latency_per_output_token_ns: 20_000, // 0.02 ms a token
            phases: vec![Phase {
                outage: Some(Outage {
                    status: 503,
                    retry_after_ms: None,
                }),
                ..phase(1_000, 2_000)
            }],
            ..ServiceModel::default()
        };
        let mut s = Service::new(&model, 0);
        let load = RowLoad {
            tokens: 0,
            output_tokens: 500,
        };
        assert_eq!(
            s.answer(0, None, load).latency_us,
            110 * MS,
            "100 ms + 500 x 0.02 ms"
        );
        assert_eq!(
            s.answer(1_500 * MS, None, load).latency_us,
            100 * MS,
            "an outage answer takes the plain latency"
        );
    }

    #[test]
    fn a_request_larger_than_a_token_limit_is_refused_for_good() {
        let model = ServiceModel {
            limits: vec![LimitSpec::new(Measure::Tokens, 1000, 60_000 * MS)],
            ..ServiceModel::default()
        };
        let mut s = Service::new(&model, 0);
        let a = s.answer(
            0,
            None,
            RowLoad {
                tokens: 1001,
                output_tokens: 0,
            },
        );
        assert_eq!(
            (a.outcome, a.status, a.refused_by),
            (Outcome::Permanent, Some(429), Some("tokens"))
        );
    }

    #[test]
    fn the_log_normal_latency_hits_its_percentiles() {
        let d = Distribution::LogNormal {
            p50: 800_000,
            p99: 6_000_000,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut v: Vec<u64> = (0..100_000).map(|_| draw(&d, &mut rng)).collect();
        v.sort_unstable();
        let p50 = v[50_000] as f64;
        let p99 = v[99_000] as f64;
        assert!((p50 / 800_000.0 - 1.0).abs() < 0.02, "p50 {p50}");
        assert!((p99 / 6_000_000.0 - 1.0).abs() < 0.02, "p99 {p99}");
    }
}
