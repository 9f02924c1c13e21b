//! `paceline mutants`: every defect of the bug zoo switched on in turn must be caught,
//! and the unmutated core must raise no alarm under the same checks.
//!
//! For each defect: its scenario in the library (`expect.mutant`), a seed sweep of the
//! library's other scenarios (how many seeds a random sweep needs without the
//! hand-written scenario), and `explore` blind (how many random cases, small scenarios
//! and near-valid configurations, or large batches where the small cases miss, and how
//! many rows the failure shrinks to).

use std::path::{Path, PathBuf};

use paceline_harness::{
    Entry, Mode, caught_by, check_run, judge, judge_clean, judge_mutant, load, scenario_files,
    search, with_defect,
};
use paceline_sim::Scenario;
use paceline_trace::{DefectId, counted};
use rayon::prelude::*;

use crate::check::MAX_SEEDS;
use crate::limits::LimitArgs;
use crate::outcome::Outcome;
use crate::pipe::outln;

/// How one check fared against one defect.
enum Verdict {
    /// Caught by `by` (invariants, expectation keys), `after` how many tries if counted.
    Caught {
        by: String,
        after: Option<String>,
    },
    Escaped,
    NotApplicable,
}

impl Verdict {
    fn is_caught(&self) -> bool {
        matches!(self, Verdict::Caught { .. })
    }

    fn cell(&self) -> String {
        match self {
            Verdict::Caught { by, after: Some(n) } => format!("{by} after {n}"),
            Verdict::Caught { by, after: None } => by.clone(),
            Verdict::Escaped => "missed".into(),
            Verdict::NotApplicable => "-".into(),
        }
    }
}

/// The defect's own scenarios, on their seeds.
fn scenario_check(entries: &[Entry], defect: DefectId) -> Result<Verdict, String> {
    let mut verdict = Verdict::NotApplicable;
    for entry in entries.iter().filter(|e| e.mutant == Some(defect)) {
        let scenario = Scenario::load(&entry.path).map_err(|e| e.to_string())?;
        let run = check_run(&scenario, scenario.seed, None).map_err(|e| e.to_string())?;
        if !judge_mutant(&scenario, &run).is_empty() {
            return Ok(Verdict::Escaped);
        }
        verdict = Verdict::Caught {
            by: caught_by(&scenario, &run).join(" "),
            after: None,
        };
    }
    Ok(verdict)
}

/// The library's scenarios without a defect of their own, seed after seed, until one
/// fails (with a defect on) or `seeds` have run: the first failure, if any.
fn sweep(entries: &[Entry], seeds: u64) -> Result<Option<(u64, String)>, String> {
    let library: Vec<&Scenario> = entries
        .iter()
        .filter(|e| e.mutant.is_none())
        .filter_map(|e| e.real.as_ref())
        .collect();
    for seed in 0..seeds {
        let failures: Vec<String> = library
            .par_iter()
            .map(|scenario| -> Result<Option<String>, String> {
                let run = check_run(scenario, seed, None).map_err(|e| e.to_string())?;
                let failed = !judge(scenario, &run).is_empty();
                Ok(failed.then(|| {
                    format!(
                        "{} ({})",
                        caught_by(scenario, &run).join(" "),
                        scenario.name
                    )
                }))
            })
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        if let Some(first) = failures.into_iter().next() {
            return Ok(Some((seed + 1, first)));
        }
    }
    Ok(None)
}

struct Row {
    defect: Option<DefectId>,
    scenario: Verdict,
    sweep: Verdict,
    explore: Verdict,
    /// Only on the unmutated core: explore's large batches (for a defect they are the
    /// explore cell's second try).
    explore_large: Verdict,
}

impl Row {
    fn caught(&self) -> bool {
        [
            &self.scenario,
            &self.sweep,
            &self.explore,
            &self.explore_large,
        ]
        .iter()
        .any(|v| v.is_caught())
    }
}

/// `explore` blind and shrinking, drawing `cases` cases as `mode` says.
fn explore(cases: u32, mode: Mode) -> Result<Verdict, String> {
    let unit = match mode {
        Mode::Small => "case",
        Mode::Large => "large case",
    };
    Ok(match search(cases, 0, true, mode)? {
        Some(found) => Verdict::Caught {
            by: found.caught_by.join(" "),
            after: Some(format!(
                "{}, shrunk to {}",
                counted(found.after_cases, unit),
                counted(found.scenario.row_count(), "row")
            )),
        },
        None => Verdict::Escaped,
    })
}

fn all_checks(
    entries: &[Entry],
    defect: Option<DefectId>,
    seeds: u64,
    cases: u32,
    large_cases: u32,
) -> Result<Row, String> {
    let scenario = match defect {
        Some(d) => scenario_check(entries, d)?,
        // The real core on every defect scenario: all must hold.
        None => {
            let mut escaped = Verdict::Escaped;
            for entry in entries.iter().filter(|e| e.mutant.is_some()) {
                let Some(scenario) = &entry.real else {
                    continue;
                };
                let run = check_run(scenario, scenario.seed, None).map_err(|e| e.to_string())?;
                let failures = judge_clean(scenario, &run);
                if !failures.is_empty() {
                    escaped = Verdict::Caught {
                        by: format!(
                            "{} ({})",
                            caught_by(scenario, &run).join(" "),
                            scenario.name
                        ),
                        after: None,
                    };
                }
            }
            escaped
        }
    };
    let sweep = match sweep(entries, seeds)? {
        Some((after, by)) => Verdict::Caught {
            by,
            after: Some(counted(after, "seed")),
        },
        None => Verdict::Escaped,
    };
    let small = explore(cases, Mode::Small)?;
    // A defect the small cases miss gets the large batches; the unmutated core gets both.
    let (explore, explore_large) = if defect.is_none() {
        (small, explore(large_cases, Mode::Large)?)
    } else if small.is_caught() {
        (small, Verdict::NotApplicable)
    } else {
        (explore(large_cases, Mode::Large)?, Verdict::NotApplicable)
    };
    Ok(Row {
        defect,
        scenario,
        sweep,
        explore,
        explore_large,
    })
}

pub fn run(dir: &Path, seeds: u64, cases: u32, large_cases: u32, limits: &LimitArgs) -> Outcome {
    if seeds > MAX_SEEDS || u64::from(cases) > MAX_SEEDS || u64::from(large_cases) > MAX_SEEDS {
        return Outcome::Refused(format!(
            "--seeds {seeds} --cases {cases} --large-cases {large_cases}: at most {MAX_SEEDS} of each"
        ));
    }
    let limits = limits.scenario();
    let entries = match scenario_files(&[PathBuf::from(dir)]).and_then(|f| load(&f, &limits)) {
        Ok(e) => e,
        Err(e) => return Outcome::Refused(e),
    };
    let checks = |defect| all_checks(&entries, defect, seeds, cases, large_cases);
    let mut rows = Vec::new();
    for defect in DefectId::all() {
        match with_defect(defect, || checks(Some(defect))) {
            Ok(Ok(row)) => rows.push(row),
            Ok(Err(e)) | Err(e) => return Outcome::Refused(e),
        }
    }
    let clean = match checks(None) {
        Ok(row) => row,
        Err(e) => return Outcome::Refused(e),
    };
    outln!("| defect | caught | its scenario | seed sweep of the library | explore, blind |");
    outln!("| --- | --- | --- | --- | --- |");
    for row in &rows {
        outln!(
            "| {} | {} | {} | {} | {} |",
            row.defect.map_or(String::from("none"), |d| d.to_string()),
            if row.caught() { "yes" } else { "NO" },
            row.scenario.cell(),
            row.sweep.cell(),
            row.explore.cell(),
        );
    }
    let alarms: Vec<String> = [
        ("defect scenarios on the real core", &clean.scenario),
        ("seed sweep", &clean.sweep),
        ("explore", &clean.explore),
        ("explore --large", &clean.explore_large),
    ]
    .iter()
    .filter(|(_, v)| v.is_caught())
    .map(|(what, v)| format!("{what}: {}", v.cell()))
    .collect();
    let escaped: Vec<String> = rows
        .iter()
        .filter(|r| !r.caught())
        .filter_map(|r| r.defect.map(|d| d.to_string()))
        .collect();
    outln!(
        "\n{} of {} defects caught; unmutated core: {} ({}, {} of explore, {} of explore --large)",
        rows.len() - escaped.len(),
        rows.len(),
        counted(alarms.len() as u64, "false alarm"),
        counted(seeds, "seed"),
        counted(cases, "case"),
        counted(large_cases, "case")
    );
    for alarm in &alarms {
        outln!("  FALSE ALARM {alarm}");
    }
    if !escaped.is_empty() {
        outln!("  NOT CAUGHT: {}", escaped.join(", "));
    }
    Outcome::of(escaped.is_empty() && alarms.is_empty())
}
