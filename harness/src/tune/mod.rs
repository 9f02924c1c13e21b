//! A search over settings: one scenario run under every combination of `--vary` values
//! and every seed, in parallel, each run judged by the verifier and scored by the
//! caller, and the settings ranked by a goal.
//!
//! A setting is ranked only if every run of it held every invariant and finished every
//! row: a fast setting that breaks a rule or leaves work undone is no answer. Such
//! settings are still reported, with why. Ranked settings are ordered by the rows that
//! did not get through (median over seeds, fewest first: a pool that gives up on rows
//! is not fast, it is lossy), then by the goal's median, then by its worst, then by the
//! median makespan. Results do not depend on the number of
//! threads: runs are collected in grid order (first axis slowest, then seed), and ties
//! in the ranking go to the earlier setting.
//!
//! What a run is scored on is the caller's (the planning figures live in the reports
//! crate, which this one does not use): it gives a sink for each run's trace and turns
//! that sink into a [`Score`].

mod grid;
mod rank;

use std::path::Path;

use paceline_sim::{Override, Scenario, ScenarioLimits};
use paceline_trace::{Ending, TraceSink, counted};
use paceline_verify::Verdict;
use rayon::prelude::*;

use crate::run::{CheckedRun, judged_run};

pub use grid::{MAX_VALUES, Vary, settings, size};
pub use rank::{Goal, Score, Spread, spread};

/// One run of a setting under a seed.
#[derive(Debug, Clone)]
pub struct TuneRun<M> {
    /// The seed.
    pub seed: u64,
    /// What the caller measured.
    pub measured: M,
    /// Its values on every goal.
    pub score: Score,
    /// Why the run disqualifies its setting: invariants broken, rows unfinished.
    pub problems: Vec<String>,
}

/// A setting and its runs, in seed order.
#[derive(Debug, Clone)]
pub struct SettingRuns<M> {
    /// The values of the varied keys.
    pub setting: Vec<Override>,
    /// Its runs.
    pub runs: Vec<TuneRun<M>>,
}

impl<M> SettingRuns<M> {
    /// Why the setting is not ranked, or `None` when every run was clean.
    pub fn excluded(&self) -> Option<String> {
        let bad: Vec<&TuneRun<M>> = self
            .runs
            .iter()
            .filter(|r| !r.problems.is_empty())
            .collect();
        let first = bad.first()?;
        Some(format!(
            "{} of {} (seed {}: {})",
            bad.len(),
            counted(self.runs.len() as u64, "seed"),
            first.seed,
            first.problems.join(", ")
        ))
    }

    /// Its median and worst on `goal` over its seeds.
    pub fn spread(&self, goal: Goal) -> Option<Spread> {
        self.spread_of(goal.higher_is_better(), |s| goal.of(s))
    }

    /// Its median and worst number of rows that did not get through.
    pub fn rows_not_ok(&self) -> Option<Spread> {
        self.spread_of(false, |s| s.rows_not_ok)
    }

    fn spread_of(&self, higher_is_better: bool, value: impl Fn(&Score) -> f64) -> Option<Spread> {
        let values: Vec<(u64, f64)> = self
            .runs
            .iter()
            .map(|r| (r.seed, value(&r.score)))
            .collect();
        spread(higher_is_better, &values)
    }

    /// The settings as `KEY=VALUE` words.
    pub fn label(&self) -> String {
        self.setting
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a search found.
#[derive(Debug, Clone)]
pub struct Tuned<M> {
    /// What it ranked by.
    pub goal: Goal,
    /// The seeds each setting ran under.
    pub seeds: Vec<u64>,
    /// Every setting, in grid order.
    pub settings: Vec<SettingRuns<M>>,
    /// Indices into `settings` of the ranked ones, best first.
    pub ranking: Vec<usize>,
}

impl<M> Tuned<M> {
    /// Every setting with its rank: the ranked ones best first, then the others in grid
    /// order (rank `None`), as a table shows them.
    pub fn in_order(&self) -> Vec<(Option<usize>, &SettingRuns<M>)> {
        let ranked = self
            .ranking
            .iter()
            .enumerate()
            .filter_map(|(r, &i)| Some((Some(r + 1), self.settings.get(i)?)));
        let others = self
            .settings
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.ranking.contains(i))
            .map(|(_, s)| (None, s));
        ranked.chain(others).collect()
    }

    /// The best setting, if any was ranked.
    pub fn best(&self) -> Option<&SettingRuns<M>> {
        self.ranking.first().and_then(|&i| self.settings.get(i))
    }
}

/// What to search.
pub struct Search<'a> {
    /// The scenario file, for messages.
    pub path: &'a Path,
    /// Its text.
    pub text: &'a str,
    /// `--set` edits under every setting.
    pub base: &'a [Override],
    /// The axes of the grid.
    pub axes: &'a [Vary],
    /// The seeds every setting runs under.
    pub seeds: &'a [u64],
    /// What to rank by.
    pub goal: Goal,
    /// What the scenario file and each run may ask for.
    pub limits: &'a ScenarioLimits,
}

/// Why a run disqualifies its setting.
fn problems(run: &CheckedRun) -> Vec<String> {
    let mut found: Vec<String> = run
        .report
        .verdicts
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Violated { .. }))
        .map(|(i, _)| format!("{i} {} violated", i.name()))
        .collect();
    if let Ending::Unfinished { left, .. } = &run.summary.ending {
        found.push(format!(
            "{} unfinished at the horizon",
            counted(*left, "row")
        ));
    }
    found
}

/// Run the search: every setting under every seed, on all cores. `sink` gives each run a
/// fresh sink for its trace; `measure` turns it into what to keep and the run's
/// [`Score`]; `progress` is called after each run. A setting the scenario's rules refuse
/// stops the search (an error naming the setting).
pub fn run<S, M>(
    search: &Search<'_>,
    sink: impl Fn(&Scenario) -> S + Sync,
    measure: impl Fn(S, &CheckedRun) -> (M, Score) + Sync,
    progress: &(dyn Fn() + Sync),
) -> Result<Tuned<M>, String>
where
    S: TraceSink + Send,
    M: Send,
{
    let grid = settings(search.axes);
    let scenarios = grid
        .iter()
        .map(|setting| {
            let all: Vec<Override> = search.base.iter().chain(setting).cloned().collect();
            Scenario::parse_with(search.path, search.text, &all, search.limits)
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<Scenario>, String>>()?;
    let jobs: Vec<(usize, u64)> = (0..grid.len())
        .flat_map(|i| search.seeds.iter().map(move |&seed| (i, seed)))
        .collect();
    // An indexed parallel map collects in job order, whatever the number of threads.
    let runs: Vec<(usize, TuneRun<M>)> = jobs
        .par_iter()
        .map(|&(i, seed)| {
            let scenario = &scenarios[i];
            let mut s = sink(scenario);
            let run = judged_run(scenario, seed, &mut s).map_err(|e| e.to_string())?;
            let (measured, score) = measure(s, &run);
            progress();
            Ok((
                i,
                TuneRun {
                    seed,
                    measured,
                    score,
                    problems: problems(&run),
                },
            ))
        })
        .collect::<Result<_, String>>()?;
    let mut settings: Vec<SettingRuns<M>> = grid
        .into_iter()
        .map(|setting| SettingRuns {
            setting,
            runs: Vec::new(),
        })
        .collect();
    for (i, run) in runs {
        // `i` indexes the grid `settings` was made from.
        if let Some(s) = settings.get_mut(i) {
            s.runs.push(run);
        }
    }
    let goal = search.goal;
    let mut ranking: Vec<(usize, [Spread; 3])> = settings
        .iter()
        .enumerate()
        .filter(|(_, s)| s.excluded().is_none())
        .filter_map(|(i, s)| {
            Some((
                i,
                [s.rows_not_ok()?, s.spread(goal)?, s.spread(Goal::Makespan)?],
            ))
        })
        .collect();
    // A batch that gets through beats a faster one that drops rows; among settings
    // equal on the goal, the faster wins.
    ranking.sort_by(|(i, [lost_a, a, fast_a]), (j, [lost_b, b, fast_b])| {
        lost_a
            .median
            .total_cmp(&lost_b.median)
            .then(goal.better_first(a.median, b.median))
            .then(goal.better_first(a.worst, b.worst))
            .then(fast_a.median.total_cmp(&fast_b.median))
            .then(i.cmp(j))
    });
    Ok(Tuned {
        goal,
        seeds: search.seeds.to_vec(),
        settings,
        ranking: ranking.into_iter().map(|(i, _)| i).collect(),
    })
}
