//! `paceline replay`: one scenario, one seed, a summary and a trace.

use std::fs::File;
use std::path::{Path, PathBuf};

use paceline_harness::{
    CheckedRun, caught_by, check_run, judge_clean, judge_mutant, table_of, with_defect,
};
use paceline_reports::{ReportInput, write_report};
use paceline_sim::{Override, Scenario};
use paceline_trace::{DefectId, counted};

use crate::outcome::Outcome;
use crate::print;

pub fn run(
    path: &Path,
    seed: Option<u64>,
    out: Option<PathBuf>,
    mutant: Option<&str>,
    overrides: &[Override],
) -> Outcome {
    let Some(text) = mutant else {
        return replay(path, seed, out, None, overrides);
    };
    match DefectId::parse(text)
        .map(|d| with_defect(d, || replay(path, seed, out, Some(d), overrides)))
    {
        Some(Ok(outcome)) => outcome,
        Some(Err(e)) => Outcome::Refused(e),
        None => Outcome::Refused(format!("--mutant {text:?}: defects are named D1 to D15")),
    }
}

/// Replay on the real core, or with a defect on (`mutant`), where it must be caught.
fn replay(
    path: &Path,
    seed: Option<u64>,
    out: Option<PathBuf>,
    mutant: Option<DefectId>,
    overrides: &[Override],
) -> Outcome {
    let scenario = match Scenario::load_with(path, overrides) {
        Ok(s) => s,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let seed = seed.unwrap_or(scenario.seed);
    let dir = out.unwrap_or_else(|| Path::new("out").join(&scenario.name));
    let (run, trace_path) = match replay_into(&scenario, seed, &dir) {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(e),
    };
    println!("{} (seed {seed})", scenario.name);
    if !scenario.description.is_empty() {
        println!("  {}", scenario.description);
    }
    print!("{}", print::run_summary(&run.summary));
    println!("  invariants: {}", print::verdict_line(&run.report));
    println!("  trace: {}", trace_path.display());
    match report(&scenario, &run, &trace_path, &dir) {
        Ok(page) => println!("  report: {}", page.display()),
        Err(e) => return Outcome::Refused(e),
    }
    if mutant.is_some() {
        let escaped = judge_mutant(&scenario, &run);
        if escaped.is_empty() {
            println!("CAUGHT: {}", caught_by(&scenario, &run).join(", "));
            print!("{}", print::violations(&run.report));
            return Outcome::Passed;
        }
        print!(
            "{}",
            print::failures(path, &scenario.name, seed, mutant, &escaped)
        );
        return Outcome::Failed;
    }
    let failures = judge_clean(&scenario, &run);
    if failures.is_empty() {
        let expected = &scenario.expect;
        let exact = expected.dispatch_ms.len() + expected.results.len() + expected.outcomes.len();
        let exact = if exact == 0 {
            "no exact expectations".to_string()
        } else {
            format!("{} met", counted(exact as u64, "exact expectation"))
        };
        println!(
            "PASS: {} as expected, {exact}",
            counted(
                (expected.holds.len() + expected.violates.len()) as u64,
                "invariant"
            )
        );
        Outcome::Passed
    } else {
        print!(
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
) -> Result<PathBuf, String> {
    let input = ReportInput {
        title: &scenario.name,
        description: &scenario.description,
        pool: &table_of(&scenario.pool),
        verdicts: &run.report,
        trace,
    };
    write_report(&input, dir).map_err(|e| e.to_string())?;
    Ok(dir.join("index.html"))
}
