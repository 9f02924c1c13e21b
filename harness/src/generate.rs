//! Random scenarios and configurations, as proptest strategies.
//!
//! The same strategies drive the property tests and `paceline explore`, so a failure
//! found either way shrinks the same way: fewer batches, fewer rows, shorter scripts,
//! smaller numbers. `explore` draws [`case`]s (small scenarios and near-valid
//! configurations) or, with `--large`, [`large_scenario`]s.

use paceline_core::{Outcome, PoolConfig, RawPoolConfig};
use paceline_sim::{
    BatchSpec, DEFAULT_MAX_EVENTS, Distribution, Expect, RateLimit, RowSpec, Rows, Scenario,
    ScriptedAttempt, ServiceModel,
};
use paceline_trace::{Invariant, ResultKind};
use proptest::prelude::*;

/// An integer in `range`, or often one of the `edges` where rules change their answer.
fn edgy(edges: Vec<i64>, range: std::ops::Range<i64>) -> impl Strategy<Value = i64> {
    prop_oneof![prop::sample::select(edges), range]
}

/// Any configuration a user could write, valid or not (for I9); values cluster at the
/// edges of the rules (0, 1, -1, equal floor and ceiling), where mistakes hide.
pub fn raw_config() -> impl Strategy<Value = RawPoolConfig> {
    (
        edgy(vec![0, 1, -1], -2..8),
        edgy(vec![0, 0, 1, -1, 200, 300], -20..300),
        edgy(vec![0, 1, -1, 200, 300], -20..6000),
        prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            -1.0,
            0.5,
            1.0,
            1.000001,
            1.5,
            2.0,
            10.0,
        ]),
        edgy(vec![0, 0, 1, -1], -5..300),
        edgy(vec![0, 1, -1], -2..5),
        prop::sample::select(vec!["aimd", "min", "AIMD", "", "sideways"]),
        edgy(vec![0, 1, -1, 60_000], -5..100),
        prop::option::of(edgy(vec![0, 1, -1], -3..600)),
        prop::option::of(edgy(vec![0, 1, -1], -3..40_000)),
    )
        .prop_map(
            |(pool_size, min, max, mult, step, budget, gate, wait, rpm, tpm)| RawPoolConfig {
                pool_size,
                min_dispatch_delay_ms: min,
                max_dispatch_delay_ms: max,
                backoff_multiplier: mult,
                recovery_step_ms: step,
                max_capacity_retry_seconds: budget,
                gate: gate.to_string(),
                max_retry_after_ms: wait,
                requests_per_minute: rpm,
                tokens_per_minute: tpm,
                ..RawPoolConfig::default()
            },
        )
}

/// A valid configuration with small numbers, so runs stay short.
pub fn pool_config() -> impl Strategy<Value = PoolConfig> {
    (
        1i64..6,
        0i64..150,
        1i64..3000,
        prop::sample::select(vec![1.5, 2.0, 3.0]),
        0i64..300,
        1i64..20,
        prop::bool::ANY,
        // Client budgets, sometimes: a few requests or a few hundred tokens a minute.
        prop::option::weighted(0.15, 1i64..12),
        prop::option::weighted(0.15, 100i64..2000),
    )
        .prop_filter_map(
            "valid configurations only",
            |(size, min, span, mult, step, budget, aimd, rpm, tpm)| {
                PoolConfig::try_from(RawPoolConfig {
                    pool_size: size,
                    min_dispatch_delay_ms: min,
                    max_dispatch_delay_ms: min + span,
                    backoff_multiplier: mult,
                    recovery_step_ms: step,
                    max_capacity_retry_seconds: budget,
                    gate: if aimd { "aimd" } else { "min" }.to_string(),
                    requests_per_minute: rpm,
                    tokens_per_minute: tpm,
                    ..RawPoolConfig::default()
                })
                .ok()
            },
        )
}

/// An API's answer to one attempt, capacity twice as likely as each other outcome.
pub fn outcome() -> impl Strategy<Value = Outcome> {
    prop::sample::select(vec![
        Outcome::Ok,
        Outcome::Capacity,
        Outcome::Capacity,
        Outcome::Retryable,
        Outcome::Permanent,
    ])
}

fn attempt() -> impl Strategy<Value = ScriptedAttempt> {
    (
        outcome(),
        prop::option::of(0u64..400),
        // A server wait, on some capacity answers.
        prop::option::weighted(0.3, 0u64..2000),
    )
        .prop_map(|(outcome, latency_ms, wait)| {
            let capacity = outcome == Outcome::Capacity;
            ScriptedAttempt {
                outcome,
                status: capacity.then_some(429),
                latency_us: latency_ms.map(|ms| ms * 1000),
                retry_after_ms: wait.filter(|_| capacity),
            }
        })
}

fn service() -> impl Strategy<Value = ServiceModel> {
    let latency = prop_oneof![
        (0u64..200).prop_map(|ms| Distribution::Fixed(ms * 1000)),
        (0u64..100, 0u64..300).prop_map(|(a, b)| Distribution::Uniform {
            min: a * 1000,
            max: (a + b) * 1000,
        }),
    ];
    let limit = prop::option::of(
        (1u64..6, 50u64..1000).prop_map(|(requests, per_ms)| RateLimit {
            requests,
            per_us: per_ms * 1000,
        }),
    );
    (
        latency,
        prop::sample::select(vec![0.0, 0.0, 0.05, 0.3]),
        limit,
    )
        .prop_map(|(latency, capacity_rate, rate_limit)| ServiceModel {
            latency,
            capacity_rate,
            rate_limit,
            ..ServiceModel::default()
        })
}

fn batch() -> impl Strategy<Value = BatchSpec> {
    let ready_ms = prop_oneof![Just(0u64), 0u64..600];
    let row = (
        ready_ms,
        prop::collection::vec(attempt(), 0..4),
        prop::option::weighted(0.3, 0u64..600),
    )
        .prop_map(|(ready_ms, attempts, tokens)| RowSpec {
            // Named once the batches are drawn (`named`).
            id: String::new(),
            ready_us: ready_ms * 1000,
            attempts,
            tokens,
            output_tokens: None,
        });
    // From one row up: shrinking drops rows one by one down to a single row.
    let rows = prop::collection::vec(row, 1..10).prop_map(Rows::Listed);
    // Time 0 is special (D7): make it common.
    let at_ms = prop_oneof![Just(0u64), 0u64..3000];
    (at_ms, rows).prop_map(|(at_ms, rows)| BatchSpec {
        at_us: at_ms * 1000,
        rows,
    })
}

/// The batches with their rows named by place (`b0r0`, `b0r1`, `b1r0`, ...).
fn named(mut batches: Vec<BatchSpec>) -> Vec<BatchSpec> {
    for (b, batch) in batches.iter_mut().enumerate() {
        if let Rows::Listed(rows) = &mut batch.rows {
            for (r, row) in rows.iter_mut().enumerate() {
                row.id = format!("b{b}r{r}");
            }
        }
    }
    batches
}

/// A scenario around `pool`, `service` and `batches` whose expectations are the
/// defaults: every invariant holds.
fn explored(
    pool: PoolConfig,
    service: ServiceModel,
    batches: Vec<BatchSpec>,
    shutdowns_us: Vec<u64>,
    seed: u64,
) -> Scenario {
    Scenario {
        name: "explore".to_string(),
        description: "found by paceline explore".to_string(),
        seed,
        horizon_us: 3_600_000_000,
        timer_slack_us: 0,
        pool,
        service,
        batches,
        shutdowns_us,
        expect: Expect {
            holds: Invariant::ALL.into_iter().collect(),
            ..Expect::default()
        },
        max_events: DEFAULT_MAX_EVENTS,
    }
}

/// A random scenario: a pool, a service, one to three batches, maybe a shutdown. Its
/// expectations are the defaults: every invariant holds.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    (
        pool_config(),
        service(),
        // From one batch up, each shrinking on its own: a failure shrinks to its rows.
        prop::collection::vec(batch(), 1..4),
        prop::option::weighted(0.2, 0u64..6000),
        0u64..1000,
    )
        .prop_map(|(pool, service, batches, shutdown_ms, seed)| {
            let shutdowns_us = shutdown_ms.map(|ms| ms * 1000).into_iter().collect();
            explored(pool, service, named(batches), shutdowns_us, seed)
        })
}

/// An integer field of the configuration.
#[derive(Debug, Clone, Copy)]
enum Field {
    PoolSize,
    Floor,
    Ceiling,
    Step,
    Budget,
    LongestWait,
    RequestsPerMinute,
    TokensPerMinute,
}

/// A rule's edge, where a valid configuration is pushed to by one field or two.
#[derive(Debug, Clone, Copy)]
enum Edge {
    /// The floor `by` above the ceiling (0: equal, still valid).
    FloorAboveCeiling(i64),
    /// Floor and recovery step both 0.
    ZeroFloorAndStep,
    /// A field at a value next to where its rule flips.
    Field(Field, i64),
    /// The backoff multiplier at or just above 1.
    Multiplier(f64),
    /// A gate spelled some other way.
    Gate(&'static str),
}

impl Edge {
    fn apply(self, raw: &mut RawPoolConfig) {
        match self {
            Edge::FloorAboveCeiling(by) => {
                raw.min_dispatch_delay_ms = raw.max_dispatch_delay_ms.saturating_add(by);
            }
            Edge::ZeroFloorAndStep => {
                raw.min_dispatch_delay_ms = 0;
                raw.recovery_step_ms = 0;
            }
            Edge::Field(field, value) => match field {
                Field::PoolSize => raw.pool_size = value,
                Field::Floor => raw.min_dispatch_delay_ms = value,
                Field::Ceiling => raw.max_dispatch_delay_ms = value,
                Field::Step => raw.recovery_step_ms = value,
                Field::Budget => raw.max_capacity_retry_seconds = value,
                Field::LongestWait => raw.max_retry_after_ms = value,
                Field::RequestsPerMinute => raw.requests_per_minute = Some(value),
                Field::TokensPerMinute => raw.tokens_per_minute = Some(value),
            },
            Edge::Multiplier(m) => raw.backoff_multiplier = m,
            Edge::Gate(gate) => raw.gate = gate.to_string(),
        }
    }
}

/// The edges `near_valid_config` pushes to: each rule of the model's table, on both
/// sides of where it flips; the rules between two fields as often as all the rules on
/// one field.
fn edge() -> impl Strategy<Value = Edge> {
    let between = vec![
        Edge::FloorAboveCeiling(0),
        Edge::FloorAboveCeiling(1),
        Edge::FloorAboveCeiling(100),
        Edge::ZeroFloorAndStep,
    ];
    let mut one = vec![
        Edge::Multiplier(1.0),
        Edge::Multiplier(1.000001),
        Edge::Gate(""),
        Edge::Gate("AIMD"),
    ];
    for field in [
        Field::PoolSize,
        Field::Floor,
        Field::Ceiling,
        Field::Step,
        Field::Budget,
        Field::LongestWait,
        Field::RequestsPerMinute,
        Field::TokensPerMinute,
    ] {
        one.extend([-1, 0, 1].map(|value| Edge::Field(field, value)));
    }
    prop_oneof![prop::sample::select(between), prop::sample::select(one)]
}

/// A valid configuration with one or two fields pushed to a rule's edge (the floor
/// above the ceiling, a zero floor with a zero step, no permits, a multiplier of 1, no
/// budget, ...): valid or not by a hair, where the core's validation and the model's
/// table can disagree (I9). It shrinks to one edge on a small valid configuration.
pub fn near_valid_config() -> impl Strategy<Value = RawPoolConfig> {
    (pool_config(), prop::collection::vec(edge(), 1..3)).prop_map(|(config, edges)| {
        let mut raw = config.to_raw();
        for edge in edges {
            edge.apply(&mut raw);
        }
        raw
    })
}

/// One case of `explore`: a scenario to run, or a configuration to judge before any run.
#[derive(Debug, Clone)]
pub enum Case {
    /// A scenario, judged by its run (boxed: a scenario is four times a configuration).
    Run(Box<Scenario>),
    /// A configuration as written, judged by I9 alone.
    Config(RawPoolConfig),
}

/// `explore`'s blind search: mostly small scenarios, one case in five a near-valid
/// configuration (so configuration defects are found too).
pub fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        4 => scenario().prop_map(|s| Case::Run(Box::new(s))),
        1 => near_valid_config().prop_map(Case::Config),
    ]
}

/// The most rows a large case has: enough for a returning row to wait out its budget
/// behind the fresh ones when the pool lets it (D15), few enough for a case to run in
/// tens of milliseconds.
pub const LARGE_ROWS: usize = 4000;

/// A large case: one generated batch of up to [`LARGE_ROWS`] rows against an API that
/// answers a few percent of attempts with capacity errors, under a retry budget of 20 s
/// or more. Its expectations: every invariant holds and no row runs out of retry budget.
///
/// The ranges make that expectation safe on the real core: a row back from backoff
/// takes the next permit, so one retry costs at most the ceiling of `D` (about 1 s) plus
/// one call (0.3 s) and a few gate slots; a budget of 20 s holds ten of them, and ten
/// capacity errors in a row at a rate of 5% or less happen once in 10^13 rows. A row
/// that queues behind the fresh rows instead (D15) waits for the whole batch: a few
/// thousand calls of 20-300 ms spread over 2-6 permits take longer than the budget. The row count shrinks from 1 up, to the smallest batch that still starves.
pub fn large_scenario() -> impl Strategy<Value = Scenario> {
    (
        (2i64..7, 0i64..20, 200i64..1000, 20i64..100, 20i64..60),
        prop::bool::ANY,
        (20u64..100, 0u64..200),
        prop::sample::select(vec![0.01, 0.02, 0.05]),
        1..=LARGE_ROWS,
        0u64..1000,
    )
        .prop_filter_map(
            "valid configurations only",
            |((size, min, span, step, budget), aimd, (latency, spread), rate, count, seed)| {
                let pool = PoolConfig::try_from(RawPoolConfig {
                    pool_size: size,
                    min_dispatch_delay_ms: min,
                    max_dispatch_delay_ms: min + span,
                    recovery_step_ms: step,
                    max_capacity_retry_seconds: budget,
                    gate: if aimd { "aimd" } else { "min" }.to_string(),
                    ..RawPoolConfig::default()
                })
                .ok()?;
                let service = ServiceModel {
                    latency: Distribution::Uniform {
                        min: latency * 1000,
                        max: (latency + spread) * 1000,
                    },
                    capacity_rate: rate,
                    ..ServiceModel::default()
                };
                let batch = BatchSpec {
                    at_us: 0,
                    rows: Rows::Generated {
                        count,
                        ready_every_us: 0,
                        tokens: None,
                        output_tokens: None,
                    },
                };
                let mut scenario = explored(pool, service, vec![batch], Vec::new(), seed);
                scenario.name = "explore-large".to_string();
                scenario.horizon_us = 86_400_000_000;
                scenario.expect.outcomes.insert(ResultKind::RetryTimeout, 0);
                Some(scenario)
            },
        )
}

/// The smallest scenario around a configuration the core accepted: its `[pool]` as
/// written, one row, an API that answers ok. What a configuration case of `explore` is
/// saved as, where `replay` reproduces it (I9 is judged on every run).
pub fn config_scenario(pool: PoolConfig) -> Scenario {
    let row = RowSpec {
        id: "A".to_string(),
        ready_us: 0,
        attempts: Vec::new(),
        tokens: None,
        output_tokens: None,
    };
    let batch = BatchSpec {
        at_us: 0,
        rows: Rows::Listed(vec![row]),
    };
    let mut scenario = explored(pool, ServiceModel::default(), vec![batch], Vec::new(), 0);
    scenario.name = "explore-config".to_string();
    scenario
}
