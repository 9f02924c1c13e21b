//! paceline-harness: run scenarios and judge them.
//!
//! The stage between the simulator and the verifier. [`check_run`] replays a scenario
//! through `paceline-sim` with its trace streamed into `paceline-verify` (and, if asked,
//! into a CSV file), adds the two invariants no trace can show alone (I8 determinism:
//! a second run writes the same bytes; I9 configuration: the pool accepts exactly what
//! the model allows), and [`judge`] holds the run to its scenario's `[expect]`. Around
//! that: the library of scenario files ([`scenario_files`], [`load`]), random scenarios
//! and their shrinking ([`generate`], [`search`]), the bug zoo's switches
//! ([`with_defect`]), gate comparisons ([`replay_under_gates`]), searches over settings
//! ([`tune`]), and the fuzz targets every reader is held to ([`fuzz`]).
//!
//! ```
//! use std::path::Path;
//! use paceline_harness::{check_run, judge};
//! use paceline_sim::Scenario;
//!
//! let scenario = Scenario::parse(Path::new("example.toml"), r#"
//!     name = "two-rows"
//!     [pool]
//!     pool_size = 2
//!     min_dispatch_delay_ms = 100
//!     [[batches]]
//!     rows = [{ id = "A", attempts = ["capacity", "ok"] }, { id = "B" }]
//!     [expect]
//!     dispatch_ms = { A = [0, 350], B = [200] }
//! "#)?;
//! // A fails at 0: D doubles from 100 to 200 and A backs off 200 ms. B passes the aimd
//! // gate at 200 and succeeds (D = 150); A's retry waits for 200 + 150 = 350.
//! let run = check_run(&scenario, scenario.seed, None)?;
//! assert!(judge(&scenario, &run).is_empty(), "every invariant held, on that timeline");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
mod compare;
mod config;
mod defects;
mod expect;
mod explore;
pub mod fuzz;
pub mod generate;
mod judge;
mod library;
mod panics;
mod recovery;
mod run;
pub mod tune;

pub use compare::{GATES, GateRuns, replay_under_gates};
pub use config::{config_verdict, raw_config_verdict, rules_of, table_of, table_of_raw};
pub use defects::with_defect;
pub use expect::{Mismatch, check_expectations, ms_list, outcome_line};
pub use explore::{Found, Mode, search};
pub use judge::{Failure, caught_by, judge, judge_clean, judge_mutant};
pub use library::{Entry, load, load_with, scenario_files};
pub use panics::panic_message;
pub use recovery::RECOVERY_WINDOW_US;
pub use run::{CheckedRun, check_run, check_run_with, judged_run, within_budget};
