//! paceline-sim: replay scenario files through the paced pool on virtual time.
//!
//! A [`Scenario`] (read from TOML) describes a pool, a simulated API and the batches
//! that call it. [`simulate`] drives `paceline-core`'s `Pool` with an event queue of
//! integer microseconds: it calls batches, answers dispatches from the simulated API and
//! wakes the pool when time alone changes something. The pool's events become the
//! trace, streamed to any [`TraceSink`]. Same scenario and seed, same trace bytes: there
//! is no wall clock, no unordered map, and every random draw comes from a seeded
//! ChaCha generator.
#![forbid(unsafe_code)]

pub mod expect;
pub mod queue;
pub mod run;
pub mod scenario;
pub mod service;
pub mod time;
pub mod trace;
mod write;

pub use expect::{Mismatch, check_expectations};
pub use run::{Ending, RunSummary, Stuck, simulate};
pub use scenario::{Invariant, ResultKind, Scenario, ScenarioError};
pub use trace::{CsvTrace, MemoryTrace, NoTrace, Tee, TraceRecord, TraceRow, TraceSink};
