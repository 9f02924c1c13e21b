//! `paceline check`: every scenario under the paths, over seeds, on all cores.
//!
//! A scenario that demonstrates a defect (`expect.mutant`) runs twice per seed: on the
//! real core, where everything must hold, and with its defect switched on, where it must
//! be caught. Defects are switched process-wide, so those runs go one defect at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use paceline_harness::{
    Entry, Failure, check_run, judge_clean, judge_mutant, load_with, scenario_files, with_defect,
};
use paceline_sim::{Override, Scenario};
use paceline_trace::{DefectId, counted};
use rayon::prelude::*;

use crate::json;
use crate::junit::{ScenarioResult, junit_xml};
use crate::limits::LimitArgs;
use crate::outcome::Outcome;
use crate::pipe::{out, outln};
use crate::print;
use crate::progress;

/// The most seeds one command sweeps: beyond it a run would not end in a working day.
pub const MAX_SEEDS: u64 = 1_000_000;

/// `N` (seeds 0..N) or `A..B` (seeds A to B-1).
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let bad = || format!("--seeds {text:?}: write a count such as 100, or a range such as 0..100");
    let (from, to) = match text.split_once("..") {
        Some((a, b)) => (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        ),
        None => (0, text.trim().parse().map_err(|_| bad())?),
    };
    if from >= to {
        return Err(format!("--seeds {text:?}: the range is empty"));
    }
    if to - from > MAX_SEEDS {
        return Err(format!(
            "--seeds {text:?}: at most {MAX_SEEDS} seeds in one run"
        ));
    }
    Ok((from..to).collect())
}

/// `K/N` with 1 <= K <= N.
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--shard {text:?}: write K/N with 1 <= K <= N, such as 2/4");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Which core a run uses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Leg {
    Real,
    Mutant(DefectId),
}

struct Case {
    entry: usize,
    seed: u64,
    leg: Leg,
}

/// One run's conclusion: failure reports (empty when it passed) and, for a run of the
/// real core, the digest of its trace; and its time.
struct CaseOutcome {
    entry: usize,
    result: Result<Judged, String>,
    seconds: f64,
}

/// Failure reports, and the digest of a real core's trace.
type Judged = (Vec<String>, Option<(u64, u64)>);

/// Run one case; `under_defect` is the entry's scenario as read with the case's defect
/// on (a configuration defect reads differently), for defect legs.
fn run_case(
    entry: &Entry,
    under_defect: Option<&Scenario>,
    case: &Case,
    overrides: &[Override],
) -> Result<Judged, String> {
    let mutant = match case.leg {
        Leg::Real => None,
        Leg::Mutant(n) => Some(n),
    };
    let report = |scenario: &Scenario, failures: &[Failure], label: &str| {
        let mut text = print::failures(
            &entry.path,
            &scenario.name,
            case.seed,
            mutant,
            overrides,
            failures,
        );
        text.insert_str(0, label);
        text
    };
    match case.leg {
        Leg::Real => {
            // A configuration defect's scenario is refused by the real core: as it must be.
            let Some(scenario) = &entry.real else {
                return Ok((Vec::new(), None));
            };
            let run = check_run(scenario, case.seed, None).map_err(|e| e.to_string())?;
            let failures = judge_clean(scenario, &run);
            let reports = if failures.is_empty() {
                Vec::new()
            } else {
                vec![report(scenario, &failures, "")]
            };
            Ok((reports, run.trace_digest))
        }
        Leg::Mutant(n) => {
            let scenario = under_defect.ok_or("the scenario was not read with its defect on")?;
            let run = check_run(scenario, case.seed, None).map_err(|e| e.to_string())?;
            let escaped = judge_mutant(scenario, &run);
            let reports = if escaped.is_empty() {
                Vec::new()
            } else {
                vec![report(
                    scenario,
                    &escaped,
                    &format!("[{n} switched on, not caught] "),
                )]
            };
            Ok((reports, None))
        }
    }
}

/// How `check` was asked to run.
pub struct Options<'a> {
    pub seeds: Option<&'a str>,
    pub shard: Option<&'a str>,
    pub junit: Option<&'a Path>,
    pub overrides: &'a [Override],
    pub json: bool,
    pub limits: &'a LimitArgs,
}

pub fn run(paths: &[PathBuf], o: &Options<'_>) -> Outcome {
    let Options {
        seeds,
        shard,
        junit,
        overrides,
        json,
        limits,
    } = *o;
    let limits = limits.scenario();
    let entries =
        match scenario_files(paths).and_then(|files| load_with(&files, overrides, &limits)) {
            Ok(e) => e,
            Err(e) => return Outcome::Refused(e),
        };
    let extra = match seeds.map(parse_seeds).transpose() {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => return Outcome::Refused(e),
    };
    let (k, n) = match shard.map(parse_shard).transpose() {
        Ok(s) => s.unwrap_or((1, 1)),
        Err(e) => return Outcome::Refused(e),
    };
    let mut cases = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let own = entry.real.as_ref().map_or(0, |s| s.seed);
        let mut seeds = vec![own];
        seeds.extend(extra.iter().copied().filter(|&s| s != own));
        let legs = std::iter::once(Leg::Real).chain(entry.mutant.map(Leg::Mutant));
        for leg in legs {
            cases.extend(seeds.iter().map(|&seed| Case {
                entry: index,
                seed,
                leg,
            }));
        }
    }
    let mut cases: Vec<Case> = cases
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i as u64 % n == k - 1)
        .map(|(_, c)| c)
        .collect();
    cases.sort_by_key(|c| c.leg);

    let progress = progress::runs(cases.len() as u64);
    let started = Instant::now();
    let run_group = |group: &[Case]| -> Vec<CaseOutcome> {
        // Defect legs read their scenarios once, with the defect on.
        let mut under_defect: BTreeMap<usize, Result<Scenario, String>> = BTreeMap::new();
        if matches!(group.first().map(|c| c.leg), Some(Leg::Mutant(_))) {
            for case in group {
                under_defect.entry(case.entry).or_insert_with(|| {
                    Scenario::load_with(&entries[case.entry].path, overrides, &limits)
                        .map_err(|e| e.to_string())
                });
            }
        }
        group
            .par_iter()
            .map(|case| {
                let t0 = Instant::now();
                let result = match under_defect.get(&case.entry) {
                    Some(Err(e)) => Err(e.clone()),
                    Some(Ok(s)) => run_case(&entries[case.entry], Some(s), case, overrides),
                    None => run_case(&entries[case.entry], None, case, overrides),
                };
                progress.inc(1);
                CaseOutcome {
                    entry: case.entry,
                    result,
                    seconds: t0.elapsed().as_secs_f64(),
                }
            })
            .collect()
    };
    let mut outcomes = Vec::new();
    for group in cases.chunk_by(|a, b| a.leg == b.leg) {
        match group[0].leg {
            Leg::Real => outcomes.extend(run_group(group)),
            Leg::Mutant(d) => match with_defect(d, || run_group(group)) {
                Ok(o) => outcomes.extend(o),
                Err(e) => return Outcome::Refused(e),
            },
        }
    }
    progress.finish_and_clear();

    let mut results: BTreeMap<usize, ScenarioResult> = BTreeMap::new();
    let mut errors = Vec::new();
    for CaseOutcome {
        entry,
        result,
        seconds,
    } in outcomes
    {
        let r = results.entry(entry).or_default();
        r.runs += 1;
        r.seconds += seconds;
        match result {
            Ok((f, digest)) => {
                r.failures.extend(f);
                if let Some(d) = digest {
                    r.real_runs += 1;
                    r.traces.insert(d);
                }
            }
            Err(e) => errors.push(format!("{}: {e}", entries[entry].path.display())),
        }
    }
    if !errors.is_empty() {
        return Outcome::Refused(errors.join("\n"));
    }
    let failed = results.values().filter(|r| !r.failures.is_empty()).count();
    if let Some(path) = junit {
        let xml = junit_xml(&entries, &results);
        if let Err(e) = std::fs::write(path, xml) {
            return Outcome::Refused(format!("cannot write {}: {e}", path.display()));
        }
    }
    if json {
        json::print(&serde_json::json!({
            "schema": "paceline/check/1",
            "passed": results.len() - failed,
            "failed": failed,
            "runs": cases.len(),
            "shard": format!("{k}/{n}"),
            "settings": overrides.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "scenarios": results.iter().map(|(&index, result)| {
                let entry = &entries[index];
                serde_json::json!({
                    "name": entry.name,
                    "file": entry.path.display().to_string(),
                    "mutant": entry.mutant.map(|d| d.to_string()),
                    "runs": result.runs,
                    "failed_runs": result.failures.len(),
                    "seeds": result.real_runs,
                    "distinct_traces": result.traces.len(),
                    "failures": result.failures,
                })
            }).collect::<Vec<_>>(),
        }));
        return Outcome::of(failed == 0);
    }
    for (&index, result) in &results {
        let entry = &entries[index];
        let leg = entry
            .mutant
            .map_or(String::new(), |d| format!(", real core and {d}"));
        let leg = format!(
            "{leg}; {} of {}",
            counted(result.traces.len() as u64, "distinct trace"),
            counted(result.real_runs, "seed")
        );
        if result.failures.is_empty() {
            outln!("ok   {} ({}{leg})", entry.name, counted(result.runs, "run"));
        } else {
            outln!(
                "FAIL {} ({} of {} failed{leg})",
                entry.name,
                result.failures.len(),
                counted(result.runs, "run")
            );
            for f in result.failures.iter().take(3) {
                out!("{f}");
            }
        }
    }
    outln!(
        "{} passed, {} failed ({} in {:.1} s, shard {k}/{n})",
        results.len() - failed,
        failed,
        counted(cases.len() as u64, "run"),
        started.elapsed().as_secs_f64()
    );
    Outcome::of(failed == 0)
}
