//! `paceline report`: charts and a summary page from a scenario (replayed first) or from
//! a trace recorded anywhere.

use std::path::Path;

use paceline_harness::{replay_under_gates, table_of};
use paceline_reports::compare::{self, MeasureSink};
use paceline_reports::{ReportInput, write_report};
use paceline_sim::{Override, Scenario};

use crate::check_trace::verify_file;
use crate::figures::pool_limits;
use crate::outcome::Outcome;
use crate::replay::{replay_into, report};

/// How `report` was asked to work.
pub struct Options<'a> {
    pub out: &'a Path,
    pub pool: Option<&'a Path>,
    pub tolerance_us: u64,
    pub compare_gates: bool,
    pub seeds: u64,
    /// `--set` edits of the scenario, or of the `--pool` file's `[pool]`.
    pub overrides: &'a [Override],
}

pub fn run(input: &Path, o: &Options<'_>) -> Outcome {
    let result = if input.extension().is_some_and(|x| x == "toml") {
        from_scenario(input, o)
    } else {
        from_trace(input, o)
    };
    match result {
        Ok(files) => {
            for f in files {
                println!("{f}");
            }
            Outcome::Passed
        }
        Err(e) => Outcome::Refused(e),
    }
}

fn from_scenario(path: &Path, o: &Options<'_>) -> Result<Vec<String>, String> {
    let scenario = Scenario::load_with(path, o.overrides).map_err(|e| e.to_string())?;
    let mut written = Vec::new();
    if o.compare_gates {
        std::fs::create_dir_all(o.out)
            .map_err(|e| format!("cannot create {}: {e}", o.out.display()))?;
        let runs = replay_under_gates(&scenario, o.seeds, MeasureSink::default)
            .map_err(|e| e.to_string())?;
        let measured = |i: usize| {
            runs.get(i).map_or(("", Vec::new()), |(gate, runs)| {
                (
                    gate.as_str(),
                    runs.iter().map(|(m, _)| m.measures()).collect(),
                )
            })
        };
        let files = compare::write(&scenario.name, &[measured(0), measured(1)], o.out)
            .map_err(|e| e.to_string())?;
        written.extend(files.iter().map(|f| f.display().to_string()));
    }
    let (run, _, trace) = replay_into(&scenario, scenario.seed, o.out)?;
    written.push(
        report(&scenario, &run, &trace, o.out)?
            .display()
            .to_string(),
    );
    Ok(written)
}

fn from_trace(trace: &Path, o: &Options<'_>) -> Result<Vec<String>, String> {
    let pool = o
        .pool
        .ok_or("a trace needs --pool FILE (a file with a [pool] table; a scenario works)")?;
    let config = Scenario::load_pool_with(pool, o.overrides).map_err(|e| e.to_string())?;
    let table = table_of(&config);
    let limits = pool_limits(&config);
    let (verdicts, _, _) = verify_file(trace, &table, limits.clone(), o.tolerance_us)?;
    let title = trace
        .file_stem()
        .map_or("trace".into(), |s| s.to_string_lossy().into_owned());
    let input = ReportInput {
        title: &title,
        description: &format!("Recorded trace {}", trace.display()),
        pool: &table,
        verdicts: &verdicts,
        trace,
        ending: None,
        limits: &limits,
    };
    write_report(&input, o.out).map_err(|e| e.to_string())?;
    Ok(vec![o.out.join("index.html").display().to_string()])
}
