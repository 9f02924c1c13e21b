//! A scenario run under the verifier: the simulator's trace streams into the checks
//! (and, if asked, into a CSV file) while a digest of its bytes is taken; a second run
//! with the same seed must give the same digest (I8).

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::io::{self, Write};

use paceline_sim::{
    CsvTrace, Invariant, Mismatch, RunSummary, Scenario, Tee, check_expectations, simulate,
};

use crate::reference::{PoolRules, config_is_valid};
use crate::verdict::{Findings, Report, Verdict, Violation};
use crate::verifier::Verifier;

/// Everything known about one scenario under one seed.
#[derive(Debug, Clone)]
pub struct CheckedRun {
    pub summary: RunSummary,
    pub report: Report,
    /// Exact expectations (`dispatch_ms`, `results`, `outcomes`) the run missed.
    pub mismatches: Vec<Mismatch>,
}

/// Bytes written through it are hashed, then passed on.
struct Digest<W> {
    hasher: DefaultHasher,
    bytes: u64,
    inner: W,
}

impl<W: Write> Write for Digest<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.write(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Digest<W> {
    /// The hash and length of everything written.
    fn fingerprint(&self) -> (u64, u64) {
        (self.hasher.finish(), self.bytes)
    }
}

/// I8: two runs under one seed must write the same bytes.
fn determinism_verdict(seed: u64, first: (u64, u64), second: (u64, u64)) -> Verdict {
    let mut findings = Findings::default();
    if first != second {
        findings.push(Violation {
            invariant: Invariant::I8,
            t_us: 0,
            rows: Vec::new(),
            message: format!(
                "two runs with seed {seed} wrote different traces ({} and {} bytes)",
                first.1, second.1
            ),
        });
    }
    findings.verdict(None)
}

fn digest<W: Write>(inner: W) -> Digest<W> {
    Digest {
        // DefaultHasher::new() has fixed keys: equal bytes give equal digests in a process.
        hasher: DefaultHasher::new(),
        bytes: 0,
        inner,
    }
}

/// Replay `scenario` under `seed` with every check on; the trace CSV also goes to
/// `trace` when given.
pub fn check_run(
    scenario: &Scenario,
    seed: u64,
    trace: Option<&mut dyn Write>,
) -> io::Result<CheckedRun> {
    let rules = PoolRules::of(&scenario.pool);
    let out: Box<dyn Write + '_> = match trace {
        Some(w) => Box::new(io::BufWriter::new(w)),
        None => Box::new(io::sink()),
    };
    let mut sink = Tee(Verifier::new(rules, 0), CsvTrace::new(digest(out))?);
    let summary = simulate(scenario, seed, &mut sink)?;
    let Tee(verifier, csv) = sink;
    let mut first = csv.finish()?;
    first.flush()?;
    let mut report = verifier
        .finish(Some(&summary.ending))
        .map_err(io::Error::other)?;

    let mut again = CsvTrace::new(digest(io::sink()))?;
    simulate(scenario, seed, &mut again)?;
    let second = again.finish()?;
    report.set(
        Invariant::I8,
        determinism_verdict(seed, first.fingerprint(), second.fingerprint()),
    );
    report.set(Invariant::I9, config_verdict(scenario));
    let mismatches = check_expectations(scenario, &summary);
    Ok(CheckedRun {
        summary,
        report,
        mismatches,
    })
}

/// I9 for a scenario: the core accepted its configuration (it loaded), so the model's
/// table must accept it too.
pub fn config_verdict(scenario: &Scenario) -> Verdict {
    let mut findings = Findings::default();
    let raw = scenario.pool.to_raw();
    if !config_is_valid(&raw) {
        findings.push(Violation {
            invariant: Invariant::I9,
            t_us: 0,
            rows: Vec::new(),
            message: format!("the core accepted a configuration the model rejects: {raw:?}"),
        });
    }
    findings.verdict(None)
}

/// A way a run failed its scenario's expectations.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// An invariant in `holds` was violated (or could not be checked).
    Broken {
        invariant: Invariant,
        verdict: Verdict,
    },
    /// An invariant in `violates` was not reported broken.
    NotCaught { invariant: Invariant },
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(bytes: &[u8]) -> (u64, u64) {
        let mut d = digest(io::sink());
        d.write_all(bytes).expect("sink");
        d.fingerprint()
    }

    #[test]
    fn i8_fires_when_two_runs_differ() {
        let a = fingerprint(b"0,dispatch,0,0,A,1,0,\n");
        let b = fingerprint(b"0,dispatch,0,1,B,1,0,\n");
        assert!(matches!(determinism_verdict(3, a, a), Verdict::Held { .. }));
        match determinism_verdict(3, a, b) {
            Verdict::Violated { first, .. } => assert!(first[0].message.contains("seed 3")),
            other => panic!("expected a violation, got {other:?}"),
        }
    }
}
