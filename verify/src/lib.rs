//! paceline-verify: decide whether a pool behaved.
//!
//! The [`Verifier`] checks invariants I1 to I7 of the model on a trace, streamed from the
//! simulator or read from CSV written by any implementation ([`read`]). Its oracle
//! ([`reference`]) restates the model's rules independently of `paceline-core`, so a
//! defect in the core cannot vouch for itself. [`run`] replays a scenario through the
//! simulator and the verifier together, adding determinism (I8) and configuration (I9).
#![forbid(unsafe_code)]

mod checks;
pub mod generate;
pub mod read;
pub mod reference;
pub mod run;
pub mod verdict;
pub mod verifier;

pub use reference::{PoolRules, ReferenceThrottle};
pub use verdict::{Report, RowRef, Verdict, Violation};
pub use verifier::{Verifier, verify_rows};
