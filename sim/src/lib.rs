//! paceline-sim: replay scenario files through the paced pool on virtual time.
//!
//! A [`Scenario`] (read from TOML) describes a pool, a simulated API and the batches
//! that call it. [`simulate`] drives `paceline-core`'s `Pool` with an event queue of
//! integer microseconds: it calls batches, answers dispatches from the simulated API and
//! wakes the pool when time alone changes something. The pool's events become the
//! trace, streamed to any [`TraceSink`](paceline_trace::TraceSink). Same scenario and
//! seed, same trace bytes: there is no wall clock, no unordered map, and every random
//! draw comes from a seeded ChaCha generator.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod digest;
mod provider;
mod queue;
mod races;
mod record;
mod run;
mod scenario;
mod service;
mod time;

pub use provider::{Counts, LimitKind, LimitSpec, Measure, RetryAfter};
pub use record::{answer_name, outcome_of, record_of, result_kind};
pub use run::{DISPATCH_TIMES_KEPT, RunSummary, simulate, simulate_digested, trace_digest};
pub use scenario::{
    BatchSpec, DEFAULT_HORIZON_MS, DEFAULT_MAX_EVENTS, Distribution, Expect, MAX_ROWS_PER_BATCH,
    MAX_TIMER_SLACK_US, Outage, Override, Phase, RateLimit, Recovery, RowSpec, Rows, Scenario,
    ScenarioError, ScenarioLimits, ScriptedAttempt, ServiceModel, declared_mutant, decode,
    read_text,
};
pub use service::{Answer, Remaining, RowLoad, Service};
