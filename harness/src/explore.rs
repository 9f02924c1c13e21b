//! Random cases until one breaks an invariant, shrunk to a small one: what
//! `paceline explore` and `paceline mutants` search with. A case is a small scenario,
//! a near-valid configuration (judged by I9 alone), or with [`Mode::Large`] one large
//! generated batch.

use paceline_core::PoolConfig;
use paceline_sim::{Rows, Scenario};
use paceline_trace::Invariant;
use paceline_verify::Verdict;
use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rayon::prelude::*;

use crate::config::raw_config_verdict;
use crate::generate::{self, Case};
use crate::judge::{Failure, caught_by, judge};
use crate::panics::panic_message;
use crate::run::{CheckedRun, check_run};

/// Cases tried at once: each is drawn from its own generator, so a batch of them runs
/// on every core and the first failure in case order is the same on one core or many.
const CASES_AT_ONCE: u64 = 64;

/// The generator of case `index` (from 0) of a search seeded with `seed`.
fn case_runner(seed: u64, index: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&index.to_le_bytes());
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
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

/// How running one case went.
enum Tried {
    /// Run and judged.
    Judged(Box<CheckedRun>),
    /// Run, but not to a verdict (cut at its event budget, say).
    NoVerdict(String),
    /// The run panicked: a bug of paceline's own, and a finding like any other.
    Panicked(String),
}

/// Run `scenario` under every check, a panic inside caught and told.
fn try_run(scenario: &Scenario) -> Tried {
    match catching(|| check_run(scenario, scenario.seed, None)) {
        Ok(Ok(run)) => Tried::Judged(Box::new(run)),
        Ok(Err(e)) => Tried::NoVerdict(e.to_string()),
        Err(message) => Tried::Panicked(message),
    }
}

/// `work`'s result, or what it said when it panicked. The panic's own report still goes
/// to standard error (the hook is the process's, shared by every thread).
fn catching<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
        .map_err(|payload| panic_message(&*payload))
}

/// What broke in a case, nothing if it held: a scenario is run and judged, a
/// configuration is judged by I9 before any run. A run that cannot be judged (cut at its
/// event budget, say) or that panics is a failing case too, named by why, as a property
/// test counts it.
fn broken(case: &Case) -> Vec<String> {
    match case {
        Case::Run(scenario) => match try_run(scenario) {
            Tried::Judged(run) if judge(scenario, &run).is_empty() => Vec::new(),
            Tried::Judged(run) => caught_by(scenario, &run),
            Tried::NoVerdict(e) => vec![format!("no verdict ({e})")],
            Tried::Panicked(message) => vec![format!("panic ({message})")],
        },
        Case::Config(raw) => match raw_config_verdict(raw) {
            Verdict::Held { .. } => Vec::new(),
            _ => vec![Invariant::I9.to_string()],
        },
    }
}

/// Drop listed rows one at a time (and a batch with its last row) while the scenario
/// still fails, until none can go. Proptest shrinks the parts of a case one after the
/// other and does not come back to one: a row that can go only once a later part (the
/// seed, a latency) has shrunk would stay.
fn without_spare_rows(mut scenario: Scenario) -> Scenario {
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
                    && !broken(&Case::Run(Box::new(fewer.clone()))).is_empty()
                {
                    scenario = fewer;
                    continue 'fewer;
                }
            }
        }
        return scenario;
    }
}

/// The cases `mode` draws.
fn strategy(mode: Mode) -> BoxedStrategy<Case> {
    match mode {
        Mode::Small => generate::case().boxed(),
        Mode::Large => generate::large_scenario()
            .prop_map(|s| Case::Run(Box::new(s)))
            .boxed(),
    }
}

/// Case `index` as a value tree, to try and to shrink.
fn draw(mode: Mode, seed: u64, index: u64) -> Result<Box<dyn ValueTree<Value = Case>>, String> {
    strategy(mode)
        .new_tree(&mut case_runner(seed, index))
        .map(|tree| Box::new(tree) as Box<dyn ValueTree<Value = Case>>)
        .map_err(|why| why.to_string())
}

/// Shrink a failing case: simpler while it still fails, back one step when it passes
/// (proptest's own walk over a value tree). Each step is a run, so this stays on one core.
fn shrink(tree: &mut dyn ValueTree<Value = Case>) {
    if !tree.simplify() {
        return;
    }
    loop {
        let more = if broken(&tree.current()).is_empty() {
            tree.complicate()
        } else {
            tree.simplify()
        };
        if !more {
            return;
        }
    }
}

/// Explore `cases` cases drawn as `mode` says from generators seeded with `seed`; on a
/// violation, what was found (shrunk if `shrink`). Cases run on every core, in batches;
/// the first failing case in case order is the one reported, so the answer is the same
/// whatever the number of threads.
pub fn search(cases: u32, seed: u64, shrink_it: bool, mode: Mode) -> Result<Option<Found>, String> {
    let cases = u64::from(cases);
    let mut start = 0;
    let (index, caught_by) = loop {
        if start >= cases {
            return Ok(None);
        }
        let end = cases.min(start + CASES_AT_ONCE);
        let results: Vec<Result<Vec<String>, String>> = (start..end)
            .into_par_iter()
            .map(|i| Ok(broken(&draw(mode, seed, i)?.current())))
            .collect();
        let mut first = None;
        for (i, result) in (start..end).zip(results) {
            let broke = result?;
            if !broke.is_empty() {
                first = Some((i, broke));
                break;
            }
        }
        if let Some(found) = first {
            break found;
        }
        start = end;
    };
    let mut tree = draw(mode, seed, index)?;
    if shrink_it {
        shrink(tree.as_mut());
    }
    let scenario = match tree.current() {
        Case::Run(scenario) if shrink_it => without_spare_rows(*scenario),
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
    let failures = match try_run(&scenario) {
        Tried::Judged(run) => judge(&scenario, &run),
        Tried::NoVerdict(e) => return Err(e),
        Tried::Panicked(message) => vec![Failure::Panicked { message }],
    };
    Ok(Some(Found {
        failures,
        scenario,
        after_cases: index + 1,
        caught_by,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_with_its_message() {
        assert_eq!(catching(|| 7), Ok(7));
        let text = catching(|| -> u8 { panic!("slot {} taken twice", 3) });
        assert_eq!(text, Err("slot 3 taken twice".to_string()));
        let literal = catching(|| -> u8 { panic!("no permit") });
        assert_eq!(literal, Err("no permit".to_string()));
        let other = catching(|| -> u8 { std::panic::panic_any(42u32) });
        assert_eq!(other, Err("a panic without a message".to_string()));
    }
}
