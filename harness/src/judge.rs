//! Judging a run against its scenario's `[expect]`: which invariants must hold or break,
//! and, for a scenario that demonstrates a defect of the bug zoo, whether the real core
//! passes and the defect is caught.

use paceline_sim::Scenario;
use paceline_trace::Invariant;
use paceline_verify::Verdict;

use crate::expect::Mismatch;
use crate::run::CheckedRun;

/// A way a run failed its scenario's expectations.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// An invariant in `holds` was violated (or could not be checked).
    Broken {
        /// The invariant.
        invariant: Invariant,
        /// What the verifier concluded instead.
        verdict: Verdict,
    },
    /// An invariant in `violates` was not reported broken.
    NotCaught {
        /// The invariant.
        invariant: Invariant,
    },
    /// An exact expectation was missed.
    Missed(Mismatch),
}

/// Judge a run of the real core: for a scenario that demonstrates a defect, every
/// invariant must hold and the exact expectations must be met.
pub fn judge_clean(scenario: &Scenario, run: &CheckedRun) -> Vec<Failure> {
    if scenario.expect.mutant.is_none() {
        return judge(scenario, run);
    }
    let mut clean = scenario.clone();
    clean.expect.holds = Invariant::ALL.into_iter().collect();
    clean.expect.violates.clear();
    judge(&clean, run)
}

/// Judge a run with a scenario's defect switched on: the defect is caught when every
/// invariant in `violates` is broken and the run misses its clean expectations. The
/// failures returned say how it escaped; none means caught.
pub fn judge_mutant(scenario: &Scenario, run: &CheckedRun) -> Vec<Failure> {
    let mut escaped: Vec<Failure> = scenario
        .expect
        .violates
        .iter()
        .filter(|i| !run.report.is_violated(**i))
        .map(|&invariant| Failure::NotCaught { invariant })
        .collect();
    if judge_clean(scenario, run).is_empty() {
        escaped.push(Failure::Missed(Mismatch {
            key: "expect.mutant".into(),
            expected: "the defect to break an expectation".into(),
            actual: "a clean run".into(),
        }));
    }
    escaped
}

/// What caught a run: the invariants it broke and the expectations it missed.
pub fn caught_by(scenario: &Scenario, run: &CheckedRun) -> Vec<String> {
    judge_clean(scenario, run)
        .into_iter()
        .map(|f| match f {
            Failure::Broken { invariant, .. } => invariant.to_string(),
            Failure::NotCaught { invariant } => invariant.to_string(),
            Failure::Missed(m) => m.key,
        })
        .collect()
}

/// Judge a run against its scenario's `[expect]`.
pub fn judge(scenario: &Scenario, run: &CheckedRun) -> Vec<Failure> {
    let mut failures = Vec::new();
    for &invariant in &scenario.expect.holds {
        match run.report.verdicts.get(&invariant) {
            Some(Verdict::Held { .. }) => {}
            Some(verdict) => failures.push(Failure::Broken {
                invariant,
                verdict: verdict.clone(),
            }),
            None => failures.push(Failure::Broken {
                invariant,
                verdict: Verdict::Skipped {
                    reason: "not checked".into(),
                },
            }),
        }
    }
    for &invariant in &scenario.expect.violates {
        if !run.report.is_violated(invariant) {
            failures.push(Failure::NotCaught { invariant });
        }
    }
    failures.extend(run.mismatches.iter().cloned().map(Failure::Missed));
    failures
}
