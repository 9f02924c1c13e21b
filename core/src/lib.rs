//! paceline-core: a paced worker pool for rate-limited APIs.
//!
//! The pool sends rows to a remote API with bounded concurrency (`pool_size` permits),
//! one global dispatch [`gate`], an AIMD [`throttle`] that slows the whole pool on
//! capacity errors, retries under a per-row time budget, and results returned in
//! submission order through a [`reorder`] buffer.
//!
//! The rules live in plain, deterministic state that is told the time and what happened
//! ([`pool::Pool`], built from [`row::RowMachine`], [`gate::Gate`], [`throttle::Throttle`]
//! and [`reorder::ReorderBuffer`]). [`executor::PooledExecutor`] runs that state on real
//! threads and a [`clock::Clock`]; the paceline simulator runs the same state on virtual
//! time. Neither re-implements a rule.
//!
//! Running a batch on real threads, with a call that is refused once:
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use paceline_core::{CallError, GatePolicy, PoolConfig, PooledExecutor, SystemClock};
//!
//! let config = PoolConfig::builder()
//!     .pool_size(4)
//!     .min_dispatch_delay_ms(1)
//!     .recovery_step_ms(1)
//!     .gate(GatePolicy::Min)
//!     .build()?;
//! let refused = AtomicBool::new(false);
//! let pool = PooledExecutor::new(config, SystemClock::new(), move |row: &u32| {
//!     // The API says "slow down" to the first call of row 3; the pool retries it.
//!     if *row == 3 && !refused.swap(true, Ordering::SeqCst) {
//!         return Err(CallError::capacity(Some(429), "slow down"));
//!     }
//!     Ok(row * 10)
//! })?;
//! let batch = pool.execute_batch((0..8).collect());
//! let values: Vec<u32> = batch.entries.iter().map(|e| *e.result.as_ref().unwrap()).collect();
//! assert_eq!(values, [0, 10, 20, 30, 40, 50, 60, 70]); // in row order, whatever finished first
//! assert_eq!(batch.stats.capacity_retries, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the `tokio` feature, `AsyncPool` runs the same `Pool` on tokio tasks for async
//! callers (`execute_batch(rows).await`), with the same `Batch`, `Entry`, `RowError` and
//! `CallError`.
//!
//! To check what a pool did, record its [`Event`]s with
//! [`PooledExecutor::with_observer`] and hand them to `paceline-verify` as a trace (the
//! `paceline-sim` crate's `record_of` turns an event into a trace record).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Whether defect `$d` of the bug zoo is switched on: always `false` without the
/// `mutants` feature, so production builds carry no trace of the defects.
macro_rules! defect {
    ($d:ident) => {{
        #[cfg(feature = "mutants")]
        let on = $crate::mutant::on($crate::mutant::Defect::$d);
        #[cfg(not(feature = "mutants"))]
        let on = false;
        on
    }};
}

#[cfg(all(feature = "tokio", not(loom)))]
mod async_pool;
mod batch;
mod clock;
mod config;
mod event;
mod executor;
mod gate;
mod machines;
#[cfg(feature = "mutants")]
#[doc(hidden)]
pub mod mutant;
mod pace;
mod pool;
mod races;
mod reorder;
mod returned;
mod row;
mod rows;
mod slots;
mod sync;
mod throttle;
mod timers;
mod window;

/// A point in time, as the time elapsed since the driving clock's origin. Integer
/// nanoseconds: no floating-point time anywhere in the pool.
pub type Time = std::time::Duration;

#[cfg(all(feature = "tokio", not(loom)))]
pub use async_pool::AsyncPool;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    ConfigError, ConfigProblem, GatePolicy, PoolConfig, PoolConfigBuilder, RawPoolConfig,
};
pub use event::{ApiAnswer, BatchId, BatchStats, EntryMeta, Event, EventKind};
pub use executor::PooledExecutor;
pub use pool::{BatchCall, Cause, NotInFlight, Pool, Waiting, Wake};
pub use races::Races;
pub use returned::{Batch, CallError, Entry, Observer, RowError};
pub use row::{Failure, Outcome, RowEnd, RowState};
pub use rows::BatchRows;
pub use window::SlidingWindow;
