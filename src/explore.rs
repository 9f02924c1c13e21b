//! `paceline explore`: random scenarios until one breaks an invariant; that one is
//! shrunk to a small scenario and saved where `paceline replay` reproduces it.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use paceline_verify::generate;
use paceline_verify::run::{caught_by, check_run, judge};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::outcome::Outcome;
use crate::print;

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

/// What `explore` found: the shrunk scenario, its report, and after how many cases the
/// first (unshrunk) failure came.
pub struct Found {
    pub scenario: paceline_sim::Scenario,
    pub report: String,
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
            let report = print::failures(
                Path::new("<explored>"),
                &scenario.name,
                scenario.seed,
                None,
                &failures,
            );
            Err(TestCaseError::fail(report))
        }
    });
    match result {
        Ok(()) => Ok(None),
        Err(TestError::Fail(report, scenario)) => Ok(Some(Found {
            scenario,
            report: report.to_string(),
            after_cases: counter.first_failure(),
            caught_by: first_caught_by
                .into_inner()
                .unwrap_or_else(|e| e.into_inner()),
        })),
        Err(TestError::Abort(why)) => Err(why.to_string()),
    }
}

pub fn run(cases: u32, seed: u64, save: &Path) -> Outcome {
    match search(cases, seed, true) {
        Err(why) => Outcome::Refused(format!("explore stopped: {why}")),
        Ok(None) => {
            println!("explored {cases} random scenarios (seed {seed}): no invariant broken");
            Outcome::Passed
        }
        Ok(Some(Found {
            mut scenario,
            report,
            after_cases,
            ..
        })) => {
            scenario.name = format!("explore-{seed}-shrunk");
            let path = save.join(format!("{}.toml", scenario.name));
            if let Err(e) = std::fs::create_dir_all(save)
                .and_then(|()| std::fs::write(&path, scenario.to_toml()))
            {
                return Outcome::Refused(format!("cannot save {}: {e}", path.display()));
            }
            let rows = scenario.row_count();
            print!(
                "{}",
                report.replace("<explored>", &path.display().to_string())
            );
            println!(
                "found after {after_cases} cases, shrunk to {} batch(es) and {rows} row(s), saved as {}\n  reproduce: {}",
                scenario.batches.len(),
                path.display(),
                print::reproduce(&path, scenario.seed, None)
            );
            Outcome::Failed
        }
    }
}
