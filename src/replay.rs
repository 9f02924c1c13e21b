//! `paceline replay`: one scenario, one seed, a summary and a trace.

use std::fs::File;
use std::path::{Path, PathBuf};

use paceline_harness::{
    CheckedRun, caught_by, check_run, judge_clean, judge_mutant, table_of, with_defect,
};
use paceline_reports::{ReportInput, write_report_within};
use paceline_sim::Scenario;
use paceline_trace::{DefectId, TraceLimits};

use crate::limits::LimitArgs;
use crate::outcome::Outcome;
use crate::pipe::{out, outln};
use crate::print;

pub fn run(
    path: &Path,
    seed: Option<u64>,
    out: Option<PathBuf>,
    mutant: Option<&str>,
    slack: Option<u64>,
    limits: &LimitArgs,
) -> Outcome {
    let Some(text) = mutant else {
        return replay(path, seed, out, None, slack, limits);
    };
    match DefectId::parse(text)
        .map(|d| with_defect(d, || replay(path, seed, out, Some(d), slack, limits)))
    {
        Some(Ok(outcome)) => outcome,
        Some(Err(e)) => Outcome::Refused(e),
        None => Outcome::Refused(format!("--mutant {text:?}: defects are named D1 to D19")),
    }
}

/// Replay on the real core, or with a defect on (`mutant`), where it must be caught.
fn replay(
    path: &Path,
    seed: Option<u64>,
    out: Option<PathBuf>,
    mutant: Option<DefectId>,
    slack: Option<u64>,
    limits: &LimitArgs,
) -> Outcome {
    let mut scenario = match Scenario::load_within(path, &limits.scenario()) {
        Ok(s) => s,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    crate::slack::apply(&mut scenario, slack);
    let seed = seed.unwrap_or(scenario.seed);
    let dir = out.unwrap_or_else(|| Path::new("out").join(&scenario.name));
    let (run, trace_path) = match replay_into(&scenario, seed, &dir) {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(e),
    };
    outln!("{} (seed {seed})", scenario.name);
    if !scenario.description.is_empty() {
        outln!("  {}", scenario.description);
    }
    out!("{}", print::run_summary(&run.summary));
    outln!("  invariants: {}", print::verdict_line(&run.report));
    outln!("  trace: {}", trace_path.display());
    match report(&scenario, &run, &trace_path, &dir, &limits.trace()) {
        Ok(page) => outln!("  report: {}", page.display()),
        Err(e) => return Outcome::Refused(e),
    }
    if mutant.is_some() {
        let escaped = judge_mutant(&scenario, &run);
        if escaped.is_empty() {
            outln!("CAUGHT: {}", caught_by(&scenario, &run).join(", "));
            out!("{}", print::violations(&run.report));
            return Outcome::Passed;
        }
        out!(
            "{}",
            print::failures(path, &scenario.name, seed, mutant, &escaped)
        );
        return Outcome::Failed;
    }
    let failures = judge_clean(&scenario, &run);
    if failures.is_empty() {
        let expected = &scenario.expect;
        let exact = expected.dispatch_ms.len() + expected.results.len() + expected.outcomes.len();
        outln!(
            "PASS: {} invariants as expected, {exact} exact expectations met",
            expected.holds.len() + expected.violates.len()
        );
        Outcome::Passed
    } else {
        out!(
            "{}",
            print::failures(path, &scenario.name, seed, None, &failures)
        );
        Outcome::Failed
    }
}

/// Replay `scenario` under `seed` with every check, writing `trace.csv` into `dir`.
pub fn replay_into(
    scenario: &Scenario,
    seed: u64,
    dir: &Path,
) -> Result<(CheckedRun, PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let trace_path = dir.join("trace.csv");
    let mut file = File::create(&trace_path)
        .map_err(|e| format!("cannot create {}: {e}", trace_path.display()))?;
    let run = check_run(scenario, seed, Some(&mut file))
        .map_err(|e| format!("cannot write {}: {e}", trace_path.display()))?;
    Ok((run, trace_path))
}

/// The charts and pages of a replayed scenario, beside its trace; the page's path.
pub fn report(
    scenario: &Scenario,
    run: &CheckedRun,
    trace: &Path,
    dir: &Path,
    limits: &TraceLimits,
) -> Result<PathBuf, String> {
    let input = ReportInput {
        title: &scenario.name,
        description: &scenario.description,
        pool: &table_of(&scenario.pool),
        verdicts: &run.report,
        trace,
    };
    write_report_within(&input, dir, limits).map_err(|e| e.to_string())?;
    Ok(dir.join("index.html"))
}
