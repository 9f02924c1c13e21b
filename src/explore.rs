//! `paceline explore`: random scenarios until one breaks an invariant; that one is
//! shrunk to a small scenario and saved where `paceline replay` reproduces it.

use std::path::Path;

use paceline_verify::generate;
use paceline_verify::run::{check_run, judge};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::outcome::Outcome;
use crate::print;

/// The runner `explore` uses: `cases` random scenarios from a generator seeded with `seed`.
pub fn runner(cases: u32, seed: u64) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Explore; on a violation, the shrunk scenario and its report.
pub fn search(cases: u32, seed: u64) -> Result<Option<(paceline_sim::Scenario, String)>, String> {
    let mut runner = runner(cases, seed);
    let result = runner.run(&generate::scenario(), |scenario| {
        let run = check_run(&scenario, scenario.seed, None)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let failures = judge(&scenario, &run);
        if failures.is_empty() {
            Ok(())
        } else {
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
        Err(TestError::Fail(report, scenario)) => Ok(Some((scenario, report.to_string()))),
        Err(TestError::Abort(why)) => Err(why.to_string()),
    }
}

pub fn run(cases: u32, seed: u64, save: &Path) -> Outcome {
    match search(cases, seed) {
        Err(why) => Outcome::Refused(format!("explore stopped: {why}")),
        Ok(None) => {
            println!("explored {cases} random scenarios (seed {seed}): no invariant broken");
            Outcome::Passed
        }
        Ok(Some((mut scenario, report))) => {
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
                "shrunk to {} batch(es) and {rows} row(s), saved as {}\n  reproduce: {}",
                scenario.batches.len(),
                path.display(),
                print::reproduce(&path, scenario.seed, None)
            );
            Outcome::Failed
        }
    }
}
