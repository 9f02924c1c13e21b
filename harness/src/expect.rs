//! A run against the exact expectations of its scenario: dispatch times, results and
//! outcome counts. (Whether invariants hold is the verifier's business.)

use std::fmt;

use paceline_sim::{RunSummary, Scenario};
use paceline_trace::{ResultKind, counted, ms};

/// One expectation the run did not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The expectation's key, as written in the file (`expect.dispatch_ms.A`).
    pub key: String,
    /// What the file expects, in words.
    pub expected: String,
    /// What the run did, in words.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.key, self.expected, self.actual
        )
    }
}

/// Times shown of a list in a mismatch; the rest are counted.
const SHOWN_TIMES: usize = 20;

/// Times in microseconds as a list of milliseconds, `[0, 590]`, the first 20 shown and
/// the rest counted.
pub fn ms_list(us: &[u64]) -> String {
    let items: Vec<String> = us.iter().take(SHOWN_TIMES).map(|&t| ms(t)).collect();
    let more = us.len().saturating_sub(SHOWN_TIMES);
    if more > 0 {
        format!("[{}, ... {more} more]", items.join(", "))
    } else {
        format!("[{}]", items.join(", "))
    }
}

/// The expectations `run` missed. `dispatch_ms` and `results` describe one timeline, so
/// they are checked only when the run used the scenario's own seed with no timer slack;
/// `outcomes` counts hold under every seed.
pub fn check_expectations(scenario: &Scenario, run: &RunSummary) -> Vec<Mismatch> {
    let expect = &scenario.expect;
    let mut missed = Vec::new();
    if run.seed == scenario.seed && scenario.timer_slack_us == 0 {
        for (id, expected_ms) in &expect.dispatch_ms {
            let actual = run.dispatch_us.get(id).map_or(&[][..], Vec::as_slice);
            let expected_us: Vec<u64> = expected_ms
                .iter()
                .map(|ms| ms.saturating_mul(1000))
                .collect();
            if actual != expected_us.as_slice() {
                missed.push(Mismatch {
                    key: format!("expect.dispatch_ms.{id}"),
                    expected: ms_list(&expected_us),
                    actual: ms_list(actual),
                });
            }
        }
        for (id, expected) in &expect.results {
            let actual = run.results.get(id);
            if actual != Some(expected) {
                missed.push(Mismatch {
                    key: format!("expect.results.{id}"),
                    expected: expected.as_str().to_string(),
                    actual: actual.map_or("no result", |k| k.as_str()).to_string(),
                });
            }
        }
    }
    for (kind, expected) in &expect.outcomes {
        let actual = run.outcomes.get(kind).copied().unwrap_or(0);
        if actual != *expected {
            missed.push(Mismatch {
                key: format!("expect.outcomes.{}", kind.as_str()),
                expected: counted(*expected, "row"),
                actual: counted(actual, "row"),
            });
        }
    }
    missed
}

/// Outcome counts as `ok=3 retry_timeout=1`, omitting zeros.
pub fn outcome_line(run: &RunSummary) -> String {
    let parts: Vec<String> = ResultKind::ALL
        .iter()
        .filter_map(|k| {
            let n = run.outcomes.get(k).copied().unwrap_or(0);
            (n > 0).then(|| format!("{}={n}", k.as_str()))
        })
        .collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_of_times_are_cut() {
        assert_eq!(ms_list(&[1000, 2500]), "[1, 2.5]");
        let long: Vec<u64> = (0..10_000).map(|i| i * 1000).collect();
        let text = ms_list(&long);
        assert!(text.ends_with(", 19, ... 9980 more]"), "{text}");
    }
}
