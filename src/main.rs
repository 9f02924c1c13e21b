//! `paceline`: the command line over the paceline crates.
//!
//! Exit codes: 0 everything held; 1 an invariant or expectation failed; 2 the input was
//! refused (usage, file, scenario or configuration errors, or a resource limit reached);
//! 141 standard output was closed early (a broken pipe: `paceline ... | head`).

mod bench;
mod check;
mod check_trace;
mod explore;
mod figures;
mod json;
mod junit;
mod limits;
mod mutants;
mod outcome;
mod pipe;
mod print;
mod progress;
mod replay;
mod report;
mod serve;
mod settings;
mod tune;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::limits::LimitArgs;
use crate::outcome::Outcome;

/// Deterministic simulation and verification of paced worker pools.
#[derive(Parser)]
#[command(name = "paceline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Replay one scenario in the simulator: summary, invariant verdicts, trace.csv.
    Replay {
        scenario: PathBuf,
        /// Seed for simultaneous events and random service models (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write trace.csv (default: out/<scenario name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Switch on a defect of the bug zoo (D1 to D20) for this run.
        #[arg(long)]
        mutant: Option<String>,
        /// Print one JSON document (schema paceline/replay/1) instead of text.
        #[arg(long)]
        json: bool,
        /// Edit the scenario: a dotted key and a TOML value, such as pool.pool_size=8
        /// (repeatable; validated like the file).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Every timer the pool sets (backoff, gate wait, pause) fires late by a seeded
        /// amount up to this many microseconds (sets the scenario's `timer_slack_us`).
        #[arg(long, value_name = "N")]
        timer_slack_us: Option<u64>,
    },
    /// Check every scenario under the paths over seeds: the CI entry point.
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// `N` for seeds 0..N, or `A..B`; the scenario's own seed always runs too.
        #[arg(long)]
        seeds: Option<String>,
        /// `K/N`: run only the K-th of N equal shares of the work (K from 1).
        #[arg(long)]
        shard: Option<String>,
        /// Write JUnit XML here, one test case per scenario.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Print one JSON document (schema paceline/check/1) instead of text.
        #[arg(long)]
        json: bool,
        /// Edit every scenario: a dotted key and a TOML value, such as pool.pool_size=8
        /// (repeatable; validated like the file).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Every timer the pool sets (backoff, gate wait, pause) fires late by a seeded
        /// amount up to this many microseconds (sets the scenario's `timer_slack_us`).
        #[arg(long, value_name = "N")]
        timer_slack_us: Option<u64>,
    },
    /// The scale workload (generated rows, pool 16, 5% capacity errors) four ways: a bare
    /// event loop, the simulator without and with the trace, and check; rates, peak memory
    /// and each way's ratio to the bare loop.
    Bench {
        /// Rows of the workload.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
    },
    /// Merge the JUnit files of a sharded check (one per CI job) into one: a test case per
    /// scenario, times summed, failures from every shard; exit 1 if any failed.
    JunitMerge {
        /// The JUnit files, such as shard1.xml shard2.xml.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write the merged file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Random cases (small scenarios, near-valid configurations) until one breaks an
    /// invariant; save it shrunk.
    Explore {
        /// How many random cases to try.
        #[arg(long, default_value_t = 200)]
        cases: u32,
        /// Draw large cases instead: one generated batch of up to 4000 rows with capacity
        /// errors under a retry budget, where no row may run out of budget.
        #[arg(long)]
        large: bool,
        /// Seed of the scenario generator.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to save a shrunk failing scenario.
        #[arg(long, default_value = "out/explore")]
        save: PathBuf,
    },
    /// Run the bug zoo: every defect switched on must be caught, the real core must not
    /// raise a false alarm.
    Mutants {
        /// The scenario library: defect scenarios and the scenarios swept over seeds.
        #[arg(long, default_value = "scenarios")]
        scenarios: PathBuf,
        /// Seeds in the sweep of the library.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// Random cases for explore (small ones take well under a millisecond each).
        #[arg(long, default_value_t = 1000)]
        cases: u32,
        /// Random large batches for explore --large (for a defect the small cases miss,
        /// and on the unmutated core; tens of milliseconds each).
        #[arg(long, default_value_t = 50)]
        large_cases: u32,
    },
    /// Draw the pacing charts and the summary page of a scenario or a recorded trace.
    Report {
        /// A scenario (replayed first) or a trace CSV.
        input: PathBuf,
        /// Where to write the charts, index.html and summary.md.
        #[arg(long)]
        out: PathBuf,
        /// For a trace: a file with a [pool] table (a scenario file works).
        #[arg(long)]
        pool: Option<PathBuf>,
        /// For a trace: clock jitter to absorb, in microseconds.
        #[arg(long, default_value_t = 0)]
        tolerance_us: u64,
        /// For a scenario: also replay it under gate = "min" and "aimd" and compare.
        #[arg(long)]
        compare_gates: bool,
        /// Seeds per gate for --compare-gates (at most 10000).
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// Edit the scenario (or, for a trace, the --pool file's [pool]): a dotted key and a TOML value, such as pool.pool_size=8
        /// (repeatable; validated like the file).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Every timer the pool sets (backoff, gate wait, pause) fires late by a seeded
        /// amount up to this many microseconds (sets the scenario's `timer_slack_us`).
        #[arg(long, value_name = "N")]
        timer_slack_us: Option<u64>,
    },
    /// Search settings: the scenario over a grid of values and seeds, ranked by a goal.
    Tune {
        scenario: PathBuf,
        /// KEY=VALUES: a dotted key and its values, a list (4,8,16) or an inclusive
        /// range (0..200/20); repeatable, every combination is run.
        #[arg(long, value_name = "KEY=VALUES", required = true)]
        vary: Vec<String>,
        /// `N` for seeds 0..N, or `A..B`: every setting runs under each.
        #[arg(long, default_value = "10")]
        seeds: String,
        /// What to rank by: makespan, throughput, failures or p95.
        #[arg(long, default_value = "makespan")]
        goal: String,
        /// Write tune.csv, tune.json and the Pareto chart (PNG and SVG) here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run a grid of more than 10 000 runs.
        #[arg(long)]
        yes: bool,
        /// Print one JSON document (schema paceline/tune/1) instead of text.
        #[arg(long)]
        json: bool,
        /// Edit the scenario under every setting: a dotted key and a TOML value
        /// (repeatable; validated like the file).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Every timer the pool sets (backoff, gate wait, pause) fires late by a seeded
        /// amount up to this many microseconds (sets the scenario's `timer_slack_us`).
        #[arg(long, value_name = "N")]
        timer_slack_us: Option<u64>,
    },
    /// Play a scenario's [service] live on an OpenAI-compatible HTTP endpoint
    /// (POST /v1/chat/completions) until Ctrl-C, writing the server-side trace.
    Serve {
        scenario: PathBuf,
        /// Address to listen on: loopback unless --allow-non-loopback.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Where to write the server-side trace.
        #[arg(long, default_value = "server-trace.csv")]
        trace: PathBuf,
        /// Run the scenario's timeline this many times faster than wall time.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Allow binding an address other than loopback.
        #[arg(long)]
        allow_non_loopback: bool,
        /// Edit the scenario: a dotted key and a TOML value, such as pool.pool_size=8
        /// (repeatable; validated like the file).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Check a trace recorded elsewhere against the invariants.
    CheckTrace {
        trace: PathBuf,
        /// A file with a [pool] table (a scenario file works).
        #[arg(long)]
        pool: PathBuf,
        /// Clock jitter to absorb in time comparisons, in microseconds.
        #[arg(long, default_value_t = 0)]
        tolerance_us: u64,
        /// Edit the --pool file's [pool]: a pool.* key and a TOML value, such as pool.pool_size=8
        /// (repeatable; validated like the file).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let outcome = match run(cli.command, &cli.limits) {
        Ok(outcome) => outcome,
        Err(message) => Outcome::Refused(message),
    };
    match outcome {
        Outcome::Passed => ExitCode::SUCCESS,
        Outcome::Failed => ExitCode::from(1),
        Outcome::Refused(message) => {
            eprintln!("paceline: {message}");
            ExitCode::from(2)
        }
    }
}

/// Run one command; `Err` is a refusal of its arguments.
fn run(command: Command, limits: &LimitArgs) -> Result<Outcome, String> {
    Ok(match command {
        Command::Replay {
            scenario,
            seed,
            out,
            mutant,
            json,
            set,
            timer_slack_us,
        } => replay::run(
            &scenario,
            &replay::Options {
                seed,
                out,
                mutant: mutant.as_deref(),
                overrides: &settings::with_slack(&set, timer_slack_us)?,
                json,
                limits,
            },
        ),
        Command::Check {
            paths,
            seeds,
            shard,
            junit,
            json,
            set,
            timer_slack_us,
        } => check::run(
            &paths,
            &check::Options {
                seeds: seeds.as_deref(),
                shard: shard.as_deref(),
                junit: junit.as_deref(),
                overrides: &settings::with_slack(&set, timer_slack_us)?,
                json,
                limits,
            },
        ),
        Command::Bench { rows } => bench::run(rows, limits),
        Command::JunitMerge { files, out } => junit::run_merge(&files, &out),
        Command::Explore {
            cases,
            seed,
            large,
            save,
        } => {
            let mode = if large {
                paceline_harness::Mode::Large
            } else {
                paceline_harness::Mode::Small
            };
            explore::run(cases, seed, mode, &save)
        }
        Command::Mutants {
            scenarios,
            seeds,
            cases,
            large_cases,
        } => mutants::run(&scenarios, seeds, cases, large_cases, limits),
        Command::Report {
            input,
            out,
            pool,
            tolerance_us,
            compare_gates,
            seeds,
            set,
            timer_slack_us,
        } => report::run(
            &input,
            &report::Options {
                out: &out,
                pool: pool.as_deref(),
                tolerance_us,
                compare_gates,
                seeds,
                overrides: &settings::with_slack(&set, timer_slack_us)?,
                limits,
            },
        ),
        Command::Tune {
            scenario,
            vary,
            seeds,
            goal,
            out,
            yes,
            json,
            set,
            timer_slack_us,
        } => tune::run(
            &scenario,
            &tune::Options {
                vary: &vary,
                seeds: &seeds,
                goal: &goal,
                out: out.as_deref(),
                yes,
                json,
                overrides: &settings::with_slack(&set, timer_slack_us)?,
                limits,
            },
        ),
        Command::CheckTrace {
            trace,
            pool,
            tolerance_us,
            set,
        } => check_trace::run(&trace, &pool, tolerance_us, &settings::parse(&set)?, limits),
        Command::Serve {
            scenario,
            addr,
            trace,
            speed,
            allow_non_loopback,
            set,
        } => serve::run(
            &scenario,
            serve::Options {
                addr,
                trace,
                speed,
                allow_non_loopback,
                overrides: &settings::parse(&set)?,
                limits,
            },
        ),
    })
}
