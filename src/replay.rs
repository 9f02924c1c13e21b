//! `paceline replay`: one scenario, one seed, a summary and a trace.

use std::fs::File;
use std::path::{Path, PathBuf};

use paceline_harness::{
    CheckedRun, Failure, caught_by, check_run_with, judge_clean, judge_mutant, table_of,
    with_defect,
};
use paceline_reports::{Gathered, ReportInput, ReportSink};
use paceline_sim::{Override, Scenario};
use paceline_trace::{DefectId, counted};

use crate::figures;
use crate::json;
use crate::limits::LimitArgs;
use crate::outcome::Outcome;
use crate::pipe::{out, outln};
use crate::print;

/// How `replay` was asked to run.
pub struct Options<'a> {
    pub seed: Option<u64>,
    pub out: Option<PathBuf>,
    pub mutant: Option<&'a str>,
    pub overrides: &'a [Override],
    pub json: bool,
    pub limits: &'a LimitArgs,
}

pub fn run(path: &Path, o: &Options<'_>) -> Outcome {
    let Some(text) = o.mutant else {
        return replay(path, o, None);
    };
    match DefectId::parse(text).map(|d| with_defect(d, || replay(path, o, Some(d)))) {
        Some(Ok(outcome)) => outcome,
        Some(Err(e)) => Outcome::Refused(e),
        None => Outcome::Refused(format!("--mutant {text:?}: defects are named D1 to D20")),
    }
}

/// Replay on the real core, or with a defect on (`mutant`), where it must be caught.
fn replay(path: &Path, o: &Options<'_>, mutant: Option<DefectId>) -> Outcome {
    let scenario = match Scenario::load_with(path, o.overrides, &o.limits.scenario()) {
        Ok(s) => s,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let seed = o.seed.unwrap_or(scenario.seed);
    let dir = o
        .out
        .clone()
        .unwrap_or_else(|| Path::new("out").join(&scenario.name));
    let (run, gathered, trace_path) = match replay_into(&scenario, seed, &dir) {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(e),
    };
    let figures = gathered.figures();
    let page = match report(&scenario, &run, &gathered, &trace_path, &dir) {
        Ok(page) => page,
        Err(e) => return Outcome::Refused(e),
    };
    let (verdict, failures) = match mutant {
        Some(_) => {
            let escaped = judge_mutant(&scenario, &run);
            (
                if escaped.is_empty() {
                    "caught"
                } else {
                    "escaped"
                },
                escaped,
            )
        }
        None => {
            let failures = judge_clean(&scenario, &run);
            let verdict = if failures.is_empty() {
                "pass"
            } else if failures
                .iter()
                .any(|f| matches!(f, Failure::Unfinished { .. }))
            {
                "unfinished"
            } else {
                "fail"
            };
            (verdict, failures)
        }
    };
    let outcome = Outcome::of(failures.is_empty());
    if o.json {
        json::print(&serde_json::json!({
            "schema": "paceline/replay/1",
            "scenario": scenario.name,
            "file": path.display().to_string(),
            "seed": seed,
            "settings": o.overrides.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "mutant": mutant.map(|d| d.to_string()),
            "verdict": verdict,
            "ending": json::ending(&run.summary.ending),
            "figures": json::figures(figures),
            "invariants": json::invariants(&run.report),
            "failures": json::failures(&failures),
            "trace": trace_path.display().to_string(),
            "report": page.display().to_string(),
        }));
        return outcome;
    }
    outln!("{} (seed {seed})", scenario.name);
    if !scenario.description.is_empty() {
        outln!("  {}", scenario.description);
    }
    out!("{}", print::run_summary(&run.summary));
    out!("{}", figures::text(figures));
    outln!("  invariants: {}", print::verdict_line(&run.report));
    outln!("  trace: {}", trace_path.display());
    outln!("  report: {}", page.display());
    if mutant.is_some() {
        if failures.is_empty() {
            outln!("CAUGHT: {}", caught_by(&scenario, &run).join(", "));
            out!("{}", print::violations(&run.report));
        } else {
            out!(
                "{}",
                print::failures(path, &scenario.name, seed, mutant, o.overrides, &failures)
            );
        }
        // A defect caught is what a defect's replay is for.
        return Outcome::of(failures.is_empty());
    }
    if failures.is_empty() {
        let expected = &scenario.expect;
        let exact = expected.dispatch_ms.len() + expected.results.len() + expected.outcomes.len();
        let exact = if exact == 0 {
            "no exact expectations".to_string()
        } else {
            format!("{} met", counted(exact as u64, "exact expectation"))
        };
        outln!(
            "PASS: {} as expected, {exact}",
            counted(
                (expected.holds.len() + expected.violates.len()) as u64,
                "invariant"
            )
        );
    } else {
        out!(
            "{}",
            print::failures(path, &scenario.name, seed, None, o.overrides, &failures)
        );
    }
    outcome
}

/// Replay `scenario` under `seed` with every check, writing `trace.csv` into `dir`;
/// the charts' data and the planning figures are gathered from the trace as it is
/// written, so it is never read back.
pub fn replay_into(
    scenario: &Scenario,
    seed: u64,
    dir: &Path,
) -> Result<(CheckedRun, Gathered, PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let trace_path = dir.join("trace.csv");
    let mut file = File::create(&trace_path)
        .map_err(|e| format!("cannot create {}: {e}", trace_path.display()))?;
    let mut sink = ReportSink::new(&table_of(&scenario.pool), figures::limits_of(scenario));
    let (mut charts, figures) = sink.halves();
    let run = check_run_with(scenario, seed, Some(&mut file), figures, &mut charts)
        .map_err(|e| format!("cannot write {}: {e}", trace_path.display()))?;
    let gathered = sink.finish(Some(&run.summary.ending));
    Ok((run, gathered, trace_path))
}

/// The charts and pages of a replayed scenario, beside its trace; the page's path.
pub fn report(
    scenario: &Scenario,
    run: &CheckedRun,
    gathered: &Gathered,
    trace: &Path,
    dir: &Path,
) -> Result<PathBuf, String> {
    let input = ReportInput {
        title: &scenario.name,
        description: &scenario.description,
        pool: &table_of(&scenario.pool),
        verdicts: &run.report,
        trace,
        ending: Some(&run.summary.ending),
        limits: &figures::limits_of(scenario),
    };
    gathered.write(&input, dir).map_err(|e| e.to_string())?;
    Ok(dir.join("index.html"))
}
