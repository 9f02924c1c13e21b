//! Random scenarios and configurations, as proptest strategies.
//!
//! The same strategies drive the property tests and `paceline explore`, so a failure
//! found either way shrinks the same way: fewer batches, fewer rows, shorter scripts,
//! smaller numbers.

use paceline_core::{Outcome, PoolConfig, RawPoolConfig};
use paceline_sim::{
    BatchSpec, DEFAULT_MAX_EVENTS, Distribution, Expect, RateLimit, RowSpec, Rows, Scenario,
    ScriptedAttempt, ServiceModel,
};
use paceline_trace::Invariant;
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

fn batch(index: usize) -> impl Strategy<Value = BatchSpec> {
    let ready_ms = prop_oneof![Just(0u64), 0u64..600];
    let row = (
        ready_ms,
        prop::collection::vec(attempt(), 0..4),
        prop::option::weighted(0.3, 0u64..600),
    );
    let rows = prop::collection::vec(row, 1..10).prop_map(move |rows| {
        Rows::Listed(
            rows.into_iter()
                .enumerate()
                .map(|(i, (ready_ms, attempts, tokens))| RowSpec {
                    id: format!("b{index}r{i}"),
                    ready_us: ready_ms * 1000,
                    attempts,
                    tokens,
                    output_tokens: None,
                })
                .collect(),
        )
    });
    // Time 0 is special (D7): make it common.
    let at_ms = prop_oneof![Just(0u64), 0u64..3000];
    (at_ms, rows).prop_map(|(at_ms, rows)| BatchSpec {
        at_us: at_ms * 1000,
        rows,
    })
}

/// A random scenario: a pool, a service, one to three batches, maybe a shutdown. Its
/// expectations are the defaults: every invariant holds.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    (
        pool_config(),
        service(),
        1usize..4,
        prop::option::weighted(0.2, 0u64..6000),
        0u64..1000,
    )
        .prop_flat_map(|(pool, service, batches, shutdown_ms, seed)| {
            let batches: Vec<_> = (0..batches).map(batch).collect();
            (
                Just(pool),
                Just(service),
                batches,
                Just(shutdown_ms),
                Just(seed),
            )
        })
        .prop_map(|(pool, service, batches, shutdown_ms, seed)| Scenario {
            name: format!("explore-{seed}"),
            description: "found by paceline explore".to_string(),
            seed,
            horizon_us: 3_600_000_000,
            pool,
            service,
            batches,
            shutdowns_us: shutdown_ms.map(|ms| ms * 1000).into_iter().collect(),
            expect: Expect {
                holds: Invariant::ALL.into_iter().collect(),
                ..Expect::default()
            },
            max_events: DEFAULT_MAX_EVENTS,
        })
}
