//! `paceline report`: charts and a summary page from a scenario (replayed first) or from
//! a trace recorded anywhere. The report is written either way; the exit code then says
//! whether what it shows held (1 when an invariant was violated, or a scenario missed its
//! expectations).

use std::path::Path;

use paceline_harness::{judge_clean, replay_under_gates, table_of};
use paceline_reports::compare::{self, MeasureSink};
use paceline_reports::{ReportInput, ReportSink};
use paceline_sim::{Override, Scenario};
use paceline_verify::Report;

use crate::check_trace::verify_file;
use crate::figures::pool_limits;
use crate::limits::LimitArgs;
use crate::outcome::Outcome;
use crate::pipe::{out, outln};
use crate::print;
use crate::replay::{replay_into, report};

/// The most seeds per gate `--compare-gates` replays (fewer than `check`'s
/// [`MAX_SEEDS`](crate::check::MAX_SEEDS)): a chart of that many runs per gate is
/// already a dense cloud, and each run's summary is kept until it is drawn.
pub const MAX_COMPARE_SEEDS: u64 = 10_000;

/// How `report` was asked to work.
pub struct Options<'a> {
    pub out: &'a Path,
    pub pool: Option<&'a Path>,
    pub tolerance_us: u64,
    pub compare_gates: bool,
    pub seeds: u64,
    /// `--set` edits of the scenario, or of the `--pool` file's `[pool]`.
    pub overrides: &'a [Override],
    pub limits: &'a LimitArgs,
}

/// What was written, and whether what it shows held.
struct Written {
    files: Vec<String>,
    failures: String,
}

pub fn run(input: &Path, o: &Options<'_>) -> Outcome {
    let result = if input.extension().is_some_and(|x| x == "toml") {
        from_scenario(input, o)
    } else {
        from_trace(input, o)
    };
    match result {
        Ok(written) => {
            for f in &written.files {
                outln!("{f}");
            }
            if written.failures.is_empty() {
                Outcome::Passed
            } else {
                out!("{}", written.failures);
                Outcome::Failed
            }
        }
        Err(e) => Outcome::Refused(e),
    }
}

fn from_scenario(path: &Path, o: &Options<'_>) -> Result<Written, String> {
    // Options that only a trace reads are refused rather than ignored.
    if o.pool.is_some() {
        return Err(format!(
            "--pool is for a trace: the scenario {} runs with its own [pool]",
            path.display()
        ));
    }
    if o.tolerance_us != 0 {
        return Err(
            "--tolerance-us is for a recorded trace: a replayed scenario has no clock jitter"
                .into(),
        );
    }
    let scenario =
        Scenario::load_with(path, o.overrides, &o.limits.scenario()).map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    if o.compare_gates {
        if o.seeds == 0 || o.seeds > MAX_COMPARE_SEEDS {
            return Err(format!(
                "--seeds {}: a comparison takes 1 to {MAX_COMPARE_SEEDS} seeds per gate",
                o.seeds
            ));
        }
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
        let written = compare::write(&scenario.name, &[measured(0), measured(1)], o.out)
            .map_err(|e| e.to_string())?;
        files.extend(written.iter().map(|f| f.display().to_string()));
    }
    let (run, gathered, trace) = replay_into(&scenario, scenario.seed, o.out)?;
    files.push(
        report(&scenario, &run, &gathered, &trace, o.out)?
            .display()
            .to_string(),
    );
    let failed = judge_clean(&scenario, &run);
    let failures = if failed.is_empty() {
        String::new()
    } else {
        print::failures(
            path,
            &scenario.name,
            scenario.seed,
            None,
            o.overrides,
            &failed,
        )
    };
    Ok(Written { files, failures })
}

fn from_trace(trace: &Path, o: &Options<'_>) -> Result<Written, String> {
    if o.compare_gates {
        return Err(
            "--compare-gates replays a scenario: it needs a scenario file, not a trace".into(),
        );
    }
    let pool = o
        .pool
        .ok_or("a trace needs --pool FILE (a file with a [pool] table; a scenario works)")?;
    let config = Scenario::load_pool_with(pool, o.overrides, &o.limits.scenario())
        .map_err(|e| e.to_string())?;
    let table = table_of(&config);
    let limits = o.limits.trace();
    // One read of the trace for the verdicts and everything the report draws.
    let budgets = pool_limits(&config);
    let mut gathering = ReportSink::new(&table, budgets.clone());
    let (verdicts, _) = verify_file(trace, &table, o.tolerance_us, &limits, &mut gathering)?;
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
        limits: &budgets,
    };
    gathering
        .finish(None)
        .write(&input, o.out)
        .map_err(|e| e.to_string())?;
    Ok(Written {
        files: vec![o.out.join("index.html").display().to_string()],
        failures: violated(trace, &verdicts),
    })
}

/// The violations of a trace's report as `check-trace` prints them, empty if none.
fn violated(trace: &Path, report: &Report) -> String {
    let broken = print::violated(report);
    if broken.is_empty() {
        return String::new();
    }
    format!(
        "{}:\n{}FAIL: {} violated\n",
        trace.display(),
        print::violations(report),
        broken.join(", ")
    )
}
