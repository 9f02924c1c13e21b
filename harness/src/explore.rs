//! Random scenarios until one breaks an invariant, shrunk to a small one: what
//! `paceline explore` and `paceline mutants` search with.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use paceline_sim::Scenario;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use paceline_verify::Verdict;

use crate::config::raw_config_verdict;
use crate::generate;
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

/// What `explore` found: the shrunk scenario, how it fails, and after how many cases the
/// first (unshrunk) failure came.
pub struct Found {
    /// The failing scenario, shrunk.
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

/// Explore; on a violation, what was found.
pub fn search(cases: u32, seed: u64, shrink: bool) -> Result<Option<Found>, String> {
    let mut runner = runner(cases, seed, shrink);
    let counter = CaseCounter::default();
    let first_caught_by = Mutex::new(Vec::new());
    let result = runner.run(&generate::scenario(), |scenario| {
        let n = counter.next();
        let run = check_run(&scenario, scenario.seed, None)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let failures = judge(&scenario, &run);
        if failures.is_empty() {
            Ok(())
        } else {
            // Keep what the first failure found, not what shrinking finds.
            if counter.failed(n) {
                *first_caught_by.lock().unwrap_or_else(|e| e.into_inner()) =
                    caught_by(&scenario, &run);
            }
            Err(TestCaseError::fail(format!("{failures:?}")))
        }
    });
    match result {
        Ok(()) => Ok(None),
        Err(TestError::Fail(_, scenario)) => Ok(Some(Found {
            failures: check_run(&scenario, scenario.seed, None)
                .map(|run| judge(&scenario, &run))
                .map_err(|e| e.to_string())?,
            scenario,
            after_cases: counter.first_failure(),
            caught_by: first_caught_by
                .into_inner()
                .unwrap_or_else(|e| e.into_inner()),
        })),
        Err(TestError::Abort(why)) => Err(why.to_string()),
    }
}

/// Random configurations until the core and the model's table disagree (I9): the
/// number of the first case that does, if one does within `cases`.
pub fn config_search(cases: u32) -> Option<u64> {
    let mut runner = runner(cases, 0, false);
    let counter = CaseCounter::default();
    let result = runner.run(&generate::raw_config(), |raw| {
        let n = counter.next();
        if matches!(raw_config_verdict(&raw), Verdict::Held { .. }) {
            Ok(())
        } else {
            // Only the count of the first failure is reported.
            let _first = counter.failed(n);
            Err(TestCaseError::fail(format!("{raw:?}")))
        }
    });
    result.is_err().then(|| counter.first_failure())
}
