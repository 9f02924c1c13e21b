//! paceline-verify: decide whether a pool behaved, from its trace alone.
//!
//! The [`Verifier`] checks invariants I1 to I7 of the model on a trace, streamed from the
//! simulator or read from CSV written by any implementation. It depends on nothing of
//! paceline's but the trace format: its oracle (the reference throttle, the gate's
//! spacing and the configuration table, [`ReferenceThrottle`], [`PoolRules`],
//! [`PoolTable`]) restates the model's rules over plain numbers, so a defect in the pool
//! cannot vouch for itself.
//!
//! ```
//! use paceline_trace::{EventName, Invariant, MemoryTrace, TraceRecord, TraceSink};
//! use paceline_verify::{PoolTable, Verifier};
//!
//! // The model's defaults, but a floor of 100 ms between dispatches.
//! let table = PoolTable {
//!     pool_size: 2,
//!     min_dispatch_delay_ms: 100,
//!     gate: "min".into(),
//!     ..PoolTable::default()
//! };
//! assert!(table.problems().is_empty());
//! let mut verifier = Verifier::new(table.rules(), 0);
//! for (t_us, row) in [(0, 0), (40_000, 1)] {
//!     verifier.observe(&TraceRecord {
//!         t_us,
//!         event: EventName::Dispatch,
//!         batch: Some(0),
//!         row: Some(row),
//!         id: "",
//!         attempt: Some(1),
//!         delay_ms: Some(100.0),
//!         detail: "",
//!     });
//! }
//! let report = verifier.finish(None);
//! // 40 ms apart where 100 ms were required.
//! assert!(report.is_violated(Invariant::I1));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// The verifier reads traces from anywhere: no panic on any input.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod checks;
mod reference;
mod step;
mod verdict;
mod verifier;

pub use reference::{PoolRules, PoolTable, ReferenceThrottle};
pub use verdict::{Findings, KEPT_VIOLATIONS, Report, RowRef, Verdict, Violation};
pub use verifier::{Verifier, verify_rows, verify_trace, verify_trace_with};
