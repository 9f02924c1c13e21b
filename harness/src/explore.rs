//! Random cases until one breaks an invariant, shrunk to a small one: what
//! `paceline explore` and `paceline mutants` search with. A case is a small scenario,
//! a near-valid configuration (judged by I9 alone), or with [`Mode::Large`] one large
//! generated batch.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use paceline_core::PoolConfig;
use paceline_sim::{Rows, Scenario};
use paceline_trace::Invariant;
use paceline_verify::Verdict;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::config::raw_config_verdict;
use crate::generate::{self, Case};
use crate::judge::{Failure, caught_by, judge};
use crate::run::check_run;

/// The runner `explore` uses: `cases` random scenarios from a generator seeded with
/// `seed`, shrinking a failure only if `shrink`.
pub fn runner(cases: u32, seed: u64, shrink: bool) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: if shrink {
            Config::default().max_shrink_iters
        } else {
            0
        },
        ..Config::default()
    };
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Which cases `explore` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Small scenarios and, one case in five, near-valid configurations
    /// ([`generate::case`]): what every defect a small scenario can show is found with.
    Small,
    /// One large generated batch with capacity errors under a retry budget
    /// ([`generate::large_scenario`]): for defects that only a crowd shows (D15).
    Large,
}

/// What `explore` found: the shrunk scenario, how it fails, and after how many cases the
/// first (unshrunk) failure came.
pub struct Found {
    /// The failing scenario, shrunk; a configuration case as the smallest scenario around
    /// it ([`generate::config_scenario`]).
    pub scenario: Scenario,
    /// How the shrunk scenario fails its expectations.
    pub failures: Vec<Failure>,
    /// The number of the first failing case, from 1.
    pub after_cases: u64,
    /// What broke in the first failing case: invariants and expectation keys.
    pub caught_by: Vec<String>,
}

/// Counts the cases a test runner tries and remembers which one failed first (shrinking
/// calls the test again on smaller cases; those do not count as first).
#[derive(Default)]
pub struct CaseCounter {
    tried: AtomicU64,
    first_failure: AtomicU64,
}

impl CaseCounter {
    /// A case starts: its number, from 1.
    pub fn next(&self) -> u64 {
        self.tried.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Case `n` failed: whether it is the first to.
    pub fn failed(&self, n: u64) -> bool {
        self.first_failure
            .compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// The number of the first failing case, 0 if none failed.
    pub fn first_failure(&self) -> u64 {
        self.first_failure.load(Ordering::Relaxed)
    }
}

/// What broke in a case, nothing if it held: a scenario is run and judged, a
/// configuration is judged by I9 before any run.
fn broken(case: &Case) -> Result<Vec<String>, String> {
    match case {
        Case::Run(scenario) => {
            let run = check_run(scenario, scenario.seed, None).map_err(|e| e.to_string())?;
            Ok(if judge(scenario, &run).is_empty() {
                Vec::new()
            } else {
                caught_by(scenario, &run)
            })
        }
        Case::Config(raw) => Ok(match raw_config_verdict(raw) {
            Verdict::Held { .. } => Vec::new(),
            _ => vec![Invariant::I9.to_string()],
        }),
    }
}

/// Drop listed rows one at a time (and a batch with its last row) while the scenario
/// still fails, until none can go. Proptest shrinks the parts of a case one after the
/// other and does not come back to one: a row that can go only once a later part (the
/// seed, a latency) has shrunk would stay.
fn without_spare_rows(mut scenario: Scenario) -> Result<Scenario, String> {
    'fewer: loop {
        for b in 0..scenario.batches.len() {
            let rows = scenario.batches[b].rows.len();
            for r in 0..rows {
                let mut fewer = scenario.clone();
                if rows == 1 {
                    fewer.batches.remove(b);
                } else if let Rows::Listed(listed) = &mut fewer.batches[b].rows {
                    listed.remove(r);
                } else {
                    // Generated rows shrink by their count, in proptest.
                    break;
                }
                if !fewer.batches.is_empty()
                    && !broken(&Case::Run(Box::new(fewer.clone())))?.is_empty()
                {
                    scenario = fewer;
                    continue 'fewer;
                }
            }
        }
        return Ok(scenario);
    }
}

/// Explore `cases` cases drawn as `mode` says from a generator seeded with `seed`; on a
/// violation, what was found (shrunk if `shrink`).
pub fn search(cases: u32, seed: u64, shrink: bool, mode: Mode) -> Result<Option<Found>, String> {
    let strategy = match mode {
        Mode::Small => generate::case().boxed(),
        Mode::Large => generate::large_scenario()
            .prop_map(|s| Case::Run(Box::new(s)))
            .boxed(),
    };
    let mut runner = runner(cases, seed, shrink);
    let counter = CaseCounter::default();
    let first_caught_by = Mutex::new(Vec::new());
    let result = runner.run(&strategy, |case| {
        let n = counter.next();
        let broken = broken(&case).map_err(TestCaseError::fail)?;
        if broken.is_empty() {
            return Ok(());
        }
        // Keep what the first failure found, not what shrinking finds.
        let message = broken.join(" ");
        if counter.failed(n) {
            *first_caught_by.lock().unwrap_or_else(|e| e.into_inner()) = broken;
        }
        Err(TestCaseError::fail(message))
    });
    let case = match result {
        Ok(()) => return Ok(None),
        Err(TestError::Fail(_, case)) => case,
        Err(TestError::Abort(why)) => return Err(why.to_string()),
    };
    let scenario = match case {
        Case::Run(scenario) if shrink => without_spare_rows(*scenario)?,
        Case::Run(scenario) => *scenario,
        Case::Config(raw) => match PoolConfig::try_from(raw.clone()) {
            Ok(pool) => generate::config_scenario(pool),
            // No scenario can hold a configuration the core refuses.
            Err(e) => {
                return Err(format!(
                    "the core refused a configuration the model allows ({e}): {raw:?}"
                ));
            }
        },
    };
    Ok(Some(Found {
        failures: check_run(&scenario, scenario.seed, None)
            .map(|run| judge(&scenario, &run))
            .map_err(|e| e.to_string())?,
        scenario,
        after_cases: counter.first_failure(),
        caught_by: first_caught_by
            .into_inner()
            .unwrap_or_else(|e| e.into_inner()),
    }))
}
