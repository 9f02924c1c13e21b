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
#![forbid(unsafe_code)]

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

pub mod clock;
pub mod config;
pub mod event;
pub mod executor;
pub mod gate;
#[cfg(feature = "mutants")]
pub mod mutant;
pub mod pool;
pub mod reorder;
pub mod row;
pub mod sync;
pub mod throttle;

/// A point in time, as the time elapsed since the driving clock's origin. Integer
/// nanoseconds: no floating-point time anywhere in the pool.
pub type Time = std::time::Duration;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConfigError, GatePolicy, PoolConfig, RawPoolConfig};
pub use event::{BatchId, BatchStats, EntryMeta, Event, EventKind};
pub use executor::{Batch, CallError, Entry, Observer, PooledExecutor, RowError};
pub use pool::Pool;
pub use row::{Outcome, RowEnd};
