//! `paceline mutants`: every defect of the bug zoo switched on in turn must be caught,
//! and the unmutated core must raise no alarm under the same checks.
//!
//! For each defect: its scenario in the library (`expect.mutant`), a seed sweep of the
//! library's other scenarios (how many seeds a random sweep needs without the
//! hand-written scenario), `explore` (how many random cases), and the configuration
//! property (random configurations against the model's table).

use std::path::{Path, PathBuf};

use paceline_harness::{
    Entry, caught_by, check_run, config_search, judge, judge_clean, judge_mutant, load,
    scenario_files, search, with_defect,
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
    Caught { by: String, after: Option<u64> },
    Escaped,
    NotApplicable,
}

impl Verdict {
    fn is_caught(&self) -> bool {
        matches!(self, Verdict::Caught { .. })
    }

    fn cell(&self, unit: &str) -> String {
        match self {
            Verdict::Caught { by, after: Some(n) } => format!("{by} after {}", counted(*n, unit)),
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
    property: Verdict,
}

impl Row {
    fn caught(&self) -> bool {
        [&self.scenario, &self.sweep, &self.explore, &self.property]
            .iter()
            .any(|v| v.is_caught())
    }
}

fn all_checks(
    entries: &[Entry],
    defect: Option<DefectId>,
    seeds: u64,
    cases: u32,
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
            after: Some(after),
        },
        None => Verdict::Escaped,
    };
    let explore = match search(cases, 0, false)? {
        Some(found) => Verdict::Caught {
            by: found.caught_by.join(" "),
            after: Some(found.after_cases),
        },
        None => Verdict::Escaped,
    };
    let property = match config_search(cases.saturating_mul(4)) {
        Some(after) => Verdict::Caught {
            by: "I9".into(),
            after: Some(after),
        },
        None => Verdict::Escaped,
    };
    Ok(Row {
        defect,
        scenario,
        sweep,
        explore,
        property,
    })
}

pub fn run(dir: &Path, seeds: u64, cases: u32, limits: &LimitArgs) -> Outcome {
    if seeds > MAX_SEEDS || u64::from(cases) > MAX_SEEDS {
        return Outcome::Refused(format!(
            "--seeds {seeds} --cases {cases}: at most {MAX_SEEDS} of each"
        ));
    }
    let limits = limits.scenario();
    let entries = match scenario_files(&[PathBuf::from(dir)]).and_then(|f| load(&f, &limits)) {
        Ok(e) => e,
        Err(e) => return Outcome::Refused(e),
    };
    let mut rows = Vec::new();
    for defect in DefectId::all() {
        match with_defect(defect, || all_checks(&entries, Some(defect), seeds, cases)) {
            Ok(Ok(row)) => rows.push(row),
            Ok(Err(e)) | Err(e) => return Outcome::Refused(e),
        }
    }
    let clean = match all_checks(&entries, None, seeds, cases) {
        Ok(row) => row,
        Err(e) => return Outcome::Refused(e),
    };
    outln!(
        "| defect | caught | its scenario | seed sweep of the library | explore | config property |"
    );
    outln!("| --- | --- | --- | --- | --- | --- |");
    for row in &rows {
        outln!(
            "| {} | {} | {} | {} | {} | {} |",
            row.defect.map_or(String::from("none"), |d| d.to_string()),
            if row.caught() { "yes" } else { "NO" },
            row.scenario.cell(""),
            row.sweep.cell("seed"),
            row.explore.cell("case"),
            row.property.cell("case"),
        );
    }
    let alarms: Vec<String> = [
        ("defect scenarios on the real core", &clean.scenario),
        ("seed sweep", &clean.sweep),
        ("explore", &clean.explore),
        ("config property", &clean.property),
    ]
    .iter()
    .filter(|(_, v)| v.is_caught())
    .map(|(what, v)| format!("{what}: {}", v.cell("")))
    .collect();
    let escaped: Vec<String> = rows
        .iter()
        .filter(|r| !r.caught())
        .filter_map(|r| r.defect.map(|d| d.to_string()))
        .collect();
    outln!(
        "\n{} of {} defects caught; unmutated core: {} ({}, {} of explore, {} of configuration)",
        rows.len() - escaped.len(),
        rows.len(),
        counted(alarms.len() as u64, "false alarm"),
        counted(seeds, "seed"),
        counted(cases, "case"),
        counted(cases.saturating_mul(4), "case")
    );
    for alarm in &alarms {
        outln!("  FALSE ALARM {alarm}");
    }
    if !escaped.is_empty() {
        outln!("  NOT CAUGHT: {}", escaped.join(", "));
    }
    Outcome::of(escaped.is_empty() && alarms.is_empty())
}
