//! Judging a run against its scenario's `[expect]`: which invariants must hold or break,
//! and, for a scenario that demonstrates a defect of the bug zoo, whether the real core
//! passes and the defect is caught.

use paceline_sim::Scenario;
use paceline_trace::{Ending, Invariant};
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
    /// The horizon came with work still scheduled: nothing is known to be broken, but
    /// the run did not finish, so it cannot pass.
    Unfinished {
        /// Rows without a result at the horizon.
        rows_left: usize,
        /// The scenario's horizon.
        horizon_us: u64,
    },
    /// The run panicked (in the pool, the simulator or a check) before any verdict: a
    /// bug of paceline's own that `explore` found, with what the panic said.
    Panicked {
        /// The panic's message.
        message: String,
    },
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
            Failure::Unfinished { .. } => "unfinished".to_string(),
            Failure::Panicked { .. } => "panic".to_string(),
        })
        .collect()
}

/// Judge a run against its scenario's `[expect]`.
///
/// A run cut off by its horizon is judged on what it did: invariants it broke and those
/// it should have broken; what it could not show (a check skipped for want of the
/// events to come, an exact expectation about rows that never finished) is not held
/// against it, the [`Failure::Unfinished`] says it all.
pub fn judge(scenario: &Scenario, run: &CheckedRun) -> Vec<Failure> {
    let mut failures = Vec::new();
    let unfinished = match &run.summary.ending {
        Ending::Unfinished {
            horizon_us, left, ..
        } => Some(Failure::Unfinished {
            rows_left: usize::try_from(*left).unwrap_or(usize::MAX),
            horizon_us: *horizon_us,
        }),
        _ => None,
    };
    let cut_short = unfinished.is_some();
    failures.extend(unfinished);
    for &invariant in &scenario.expect.holds {
        match run.report.verdicts.get(&invariant) {
            Some(Verdict::Held { .. }) => {}
            Some(Verdict::Skipped { .. }) if cut_short => {}
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
    if !cut_short {
        failures.extend(run.mismatches.iter().cloned().map(Failure::Missed));
    }
    failures.extend(run.liveness.iter().cloned().map(Failure::Missed));
    failures
}
