//! `paceline tune`: a scenario over a grid of settings and seeds, the settings ranked by
//! a goal; the table of each setting's median and worst, the best setting and how to
//! replay it, and with `--out` a CSV, a JSON document and the trade-off chart.
//!
//! The search is the harness's (`paceline_harness::tune`); each run is scored on its
//! planning figures (`paceline_reports::figures`); this module is the glue and the words.

use std::fmt::Write as _;
use std::path::Path;

use paceline_harness::tune::{self, Goal, Score, Search, SettingRuns, Tuned, Vary};
use paceline_reports::figures::{Figures, FiguresSink};
use paceline_reports::{ParetoPoint, write_pareto};
use paceline_sim::{Override, Scenario, read_text};
use paceline_trace::{ResultKind, counted};
use serde_json::{Value, json};

use crate::check::parse_seeds;
use crate::figures::limits_of;
use crate::limits::LimitArgs;
use crate::outcome::Outcome;
use crate::pipe::{out, outln};
use crate::{json, print, progress};

/// Searches of more runs than this ask for `--yes` first.
pub const ASK_ABOVE: usize = 10_000;

/// How `tune` was asked to run.
pub struct Options<'a> {
    pub vary: &'a [String],
    pub seeds: &'a str,
    pub goal: &'a str,
    pub out: Option<&'a Path>,
    pub yes: bool,
    pub json: bool,
    pub overrides: &'a [Override],
    pub limits: &'a LimitArgs,
}

/// A run's values on every goal, from its figures. A run in which no row ended has no
/// latency: its p95 is taken as its makespan (such a run is never ranked anyway).
fn score(f: &Figures) -> Score {
    let makespan_s = f.makespan_us as f64 / 1e6;
    Score {
        makespan_s,
        rows_per_min: f.rows_per_min.unwrap_or(0.0),
        failures: f.failures.avoidable() as f64,
        p95_s: f.latency.map_or(makespan_s, |l| l.p95_us as f64 / 1e6),
        rows_not_ok: f.rows.saturating_sub(f.rows_with(ResultKind::Ok)) as f64,
    }
}

/// The command that replays a setting under a seed, with the search's own `--set` edits.
fn replay_command(path: &Path, base: &[Override], setting: &[Override], seed: u64) -> String {
    let all: Vec<Override> = base.iter().chain(setting).cloned().collect();
    print::reproduce(path, seed, None, &all)
}

/// A measure as the table shows it: whole numbers as such, else three places below 10
/// and one below 10 000.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() < 10.0 {
        format!("{v:.3}")
    } else if v.abs() < 10_000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// The table: one line per setting, median / worst of every measure over its seeds.
fn table(tuned: &Tuned<Figures>, axes: &[Vary]) -> String {
    let mut rows: Vec<Vec<String>> = vec![
        std::iter::once("rank".to_string())
            .chain(axes.iter().map(|a| a.key.clone()))
            .chain(std::iter::once("rows not ok median / worst".to_string()))
            .chain(
                Goal::ALL
                    .iter()
                    .map(|g| format!("{} median / worst", g.measure())),
            )
            .chain(std::iter::once("ranked?".to_string()))
            .collect(),
    ];
    for (rank, s) in tuned.in_order() {
        let mut row = vec![rank.map_or("-".to_string(), |r| r.to_string())];
        row.extend(s.setting.iter().map(|o| o.value.clone()));
        let cell = |sp: Option<tune::Spread>| {
            sp.map_or("-".to_string(), |sp| {
                format!("{} / {}", number(sp.median), number(sp.worst))
            })
        };
        row.push(cell(s.rows_not_ok()));
        for goal in Goal::ALL {
            row.push(cell(s.spread(goal)));
        }
        row.push(
            s.excluded()
                .map_or("yes".to_string(), |why| format!("no: {why}")),
        );
        rows.push(row);
    }
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// The best setting, in words, with the command that replays its median run.
fn best_words(tuned: &Tuned<Figures>, path: &Path, base: &[Override]) -> String {
    let Some(best) = tuned.best() else {
        return "no setting held every invariant and finished every row on every seed: nothing ranked\n".to_string();
    };
    let goal = tuned.goal;
    let Some(spread) = best.spread(goal) else {
        return String::new();
    };
    format!(
        "best by {}: {} ({} {} median, {} worst over {})\n  replay its median run: {}\n",
        goal.as_str(),
        best.label(),
        goal.measure(),
        number(spread.median),
        number(spread.worst),
        counted(best.runs.len() as u64, "seed"),
        replay_command(path, base, &best.setting, spread.median_seed)
    )
}

/// The setting as a JSON object of key to value text.
fn setting_json(s: &SettingRuns<Figures>) -> Value {
    Value::Object(
        s.setting
            .iter()
            .map(|o| (o.key.clone(), json!(o.value)))
            .collect(),
    )
}

/// The `paceline/tune/1` document.
fn document(
    scenario: &Scenario,
    path: &Path,
    o: &Options<'_>,
    axes: &[Vary],
    tuned: &Tuned<Figures>,
) -> Value {
    let field = |goal: Goal| match goal {
        Goal::Makespan => "makespan_s",
        Goal::Throughput => "rows_per_min",
        Goal::Failures => "failures",
        Goal::P95 => "p95_s",
    };
    let results: Vec<Value> = tuned
        .in_order()
        .into_iter()
        .map(|(rank, s)| {
            let spread_json = |sp: Option<tune::Spread>| {
                sp.map_or(Value::Null, |sp| {
                    json!({ "median": sp.median, "worst": sp.worst, "median_seed": sp.median_seed })
                })
            };
            let mut measures: serde_json::Map<String, Value> = Goal::ALL
                .iter()
                .map(|&g| (field(g).to_string(), spread_json(s.spread(g))))
                .collect();
            measures.insert("rows_not_ok".into(), spread_json(s.rows_not_ok()));
            json!({
                "setting": setting_json(s),
                "rank": rank,
                "excluded": s.excluded(),
                "measures": measures,
                "runs": s.runs.iter().map(|r| json!({
                    "seed": r.seed,
                    "problems": r.problems,
                    "figures": json::figures(&r.measured),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let best = tuned.best().map(|s| {
        let seed = s.spread(tuned.goal).map_or(0, |sp| sp.median_seed);
        json!({
            "setting": setting_json(s),
            "seed": seed,
            "replay": replay_command(path, o.overrides, &s.setting, seed),
        })
    });
    json!({
        "schema": "paceline/tune/1",
        "scenario": scenario.name,
        "file": path.display().to_string(),
        "settings": o.overrides.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "goal": tuned.goal.as_str(),
        "seeds": tuned.seeds,
        "vary": axes.iter().map(|a| json!({ "key": a.key, "values": a.values })).collect::<Vec<_>>(),
        "runs": tuned.settings.iter().map(|s| s.runs.len()).sum::<usize>(),
        "results": results,
        "best": best,
    })
}

/// `tune.csv`: one line per run.
fn csv_of(tuned: &Tuned<Figures>, axes: &[Vary]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header: Vec<String> = ["rank".to_string()]
        .into_iter()
        .chain(axes.iter().map(|a| a.key.clone()))
        .chain(
            [
                "seed",
                "makespan_s",
                "rows_per_min",
                "failures",
                "capacity_failures",
                "p95_s",
                "rows_ok",
                "rows_unfinished",
                "problems",
            ]
            .map(String::from),
        )
        .collect();
    w.write_record(&header).map_err(|e| e.to_string())?;
    for (rank, s) in tuned.in_order() {
        let rank = rank.map_or(String::new(), |r| r.to_string());
        for r in &s.runs {
            let f = &r.measured;
            let mut line = vec![rank.clone()];
            line.extend(s.setting.iter().map(|o| o.value.clone()));
            line.extend([
                r.seed.to_string(),
                r.score.makespan_s.to_string(),
                r.score.rows_per_min.to_string(),
                r.score.failures.to_string(),
                f.failures.capacity.to_string(),
                r.score.p95_s.to_string(),
                f.rows_with(ResultKind::Ok).to_string(),
                f.unfinished.to_string(),
                r.problems.join("; "),
            ]);
            w.write_record(&line).map_err(|e| e.to_string())?;
        }
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// Write `tune.csv`, `tune.json` and the Pareto chart into `dir`; the files written.
fn write_files(
    dir: &Path,
    doc: &Value,
    tuned: &Tuned<Figures>,
    axes: &[Vary],
    title: &str,
) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes)
            .map(|()| path.display().to_string())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    let mut written = vec![write("tune.csv", &csv_of(tuned, axes)?)?];
    let pretty = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
    written.push(write("tune.json", pretty.as_bytes())?);
    let best = tuned.ranking.first().copied();
    let points: Vec<ParetoPoint> = tuned
        .settings
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let median = |measure: fn(&Figures) -> f64| {
                let values: Vec<(u64, f64)> = s
                    .runs
                    .iter()
                    .map(|r| (r.seed, measure(&r.measured)))
                    .collect();
                tune::spread(false, &values).map_or(0.0, |sp| sp.median)
            };
            ParetoPoint {
                label: s
                    .setting
                    .iter()
                    .map(|o| format!("{}={}", o.key.rsplit('.').next().unwrap_or(&o.key), o.value))
                    .collect::<Vec<_>>()
                    .join(" "),
                capacity_failures: median(|f| f.failures.capacity as f64),
                makespan_s: median(|f| f.makespan_us as f64 / 1e6),
                ranked: tuned.ranking.contains(&i),
                best: best == Some(i),
            }
        })
        .collect();
    let charts = write_pareto(title, &points, dir).map_err(|e| e.to_string())?;
    written.extend(charts.iter().map(|p| p.display().to_string()));
    Ok(written)
}

pub fn run(path: &Path, o: &Options<'_>) -> Outcome {
    match tune(path, o) {
        Ok(outcome) => outcome,
        Err(message) => Outcome::Refused(message),
    }
}

fn tune(path: &Path, o: &Options<'_>) -> Result<Outcome, String> {
    let limits = o.limits.scenario();
    let text = read_text(path, &limits).map_err(|e| e.to_string())?;
    let scenario =
        Scenario::parse_with(path, &text, o.overrides, &limits).map_err(|e| e.to_string())?;
    let axes = o
        .vary
        .iter()
        .map(|v| Vary::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(twice) = axes
        .iter()
        .enumerate()
        .find(|(i, a)| axes[..*i].iter().any(|b| b.key == a.key))
    {
        return Err(format!(
            "--vary {}: the key is varied twice; give all its values in one --vary",
            twice.1.key
        ));
    }
    let seeds = parse_seeds(o.seeds)?;
    let goal = Goal::parse(o.goal)?;
    let settings = tune::size(&axes);
    let runs = settings.saturating_mul(seeds.len());
    if runs > ASK_ABOVE && !o.yes {
        return Err(format!(
            "the grid is {} x {} = {runs} runs; more than {ASK_ABOVE} needs --yes",
            counted(settings as u64, "setting"),
            counted(seeds.len() as u64, "seed")
        ));
    }
    let bar = progress::runs(runs as u64);
    let search = Search {
        path,
        text: &text,
        base: o.overrides,
        axes: &axes,
        seeds: &seeds,
        goal,
        limits: &limits,
    };
    let tuned = tune::run(
        &search,
        |s| FiguresSink::new(limits_of(s)),
        |sink, run| {
            let figures = sink.finish(Some(&run.summary.ending));
            let score = score(&figures);
            (figures, score)
        },
        &|| bar.inc(1),
    )?;
    bar.finish_and_clear();
    let outcome = Outcome::of(!tuned.ranking.is_empty());
    let doc = document(&scenario, path, o, &axes, &tuned);
    let title = format!(
        "{}: makespan against capacity failures, {} x {}",
        scenario.name,
        counted(settings as u64, "setting"),
        counted(seeds.len() as u64, "seed")
    );
    let written = match o.out {
        Some(dir) => write_files(dir, &doc, &tuned, &axes, &title)?,
        None => Vec::new(),
    };
    if o.json {
        json::print(&doc);
        return Ok(outcome);
    }
    outln!(
        "tune {}: {} x {} = {}, goal {} ({} is better)",
        scenario.name,
        counted(settings as u64, "setting"),
        counted(seeds.len() as u64, "seed"),
        counted(runs as u64, "run"),
        goal.as_str(),
        if goal == Goal::Throughput {
            "higher"
        } else {
            "lower"
        }
    );
    out!("{}", table(&tuned, &axes));
    out!("{}", best_words(&tuned, path, o.overrides));
    for file in written {
        outln!("wrote {file}");
    }
    Ok(outcome)
}
