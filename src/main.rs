//! `paceline`: the command line over the paceline crates.
//!
//! Exit codes: 0 everything held; 1 an invariant or expectation failed; 2 the input was
//! refused (usage, file, scenario or configuration errors).

mod check;
mod check_trace;
mod explore;
mod junit;
mod mutants;
mod outcome;
mod print;
mod replay;
mod report;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::outcome::Outcome;

/// Deterministic simulation and verification of paced worker pools.
#[derive(Parser)]
#[command(name = "paceline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
        /// Switch on a defect of the bug zoo (D1 to D19) for this run.
        #[arg(long)]
        mutant: Option<String>,
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
    },
    /// Random scenarios until one breaks an invariant; save it shrunk.
    Explore {
        /// How many random scenarios to try.
        #[arg(long, default_value_t = 200)]
        cases: u32,
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
        /// Random scenarios for explore (and four times as many configurations).
        #[arg(long, default_value_t = 300)]
        cases: u32,
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
        /// Seeds per gate for --compare-gates.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
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
    let outcome = match cli.command {
        Command::Replay {
            scenario,
            seed,
            out,
            mutant,
        } => replay::run(&scenario, seed, out, mutant.as_deref()),
        Command::Check {
            paths,
            seeds,
            shard,
            junit,
        } => check::run(&paths, seeds.as_deref(), shard.as_deref(), junit.as_deref()),
        Command::Explore { cases, seed, save } => explore::run(cases, seed, &save),
        Command::Mutants {
            scenarios,
            seeds,
            cases,
        } => mutants::run(&scenarios, seeds, cases),
        Command::Report {
            input,
            out,
            pool,
            tolerance_us,
            compare_gates,
            seeds,
        } => report::run(
            &input,
            &report::Options {
                out: &out,
                pool: pool.as_deref(),
                tolerance_us,
                compare_gates,
                seeds,
            },
        ),
        Command::CheckTrace {
            trace,
            pool,
            tolerance_us,
        } => check_trace::run(&trace, &pool, tolerance_us),
        Command::Serve {
            scenario,
            addr,
            trace,
            speed,
            allow_non_loopback,
        } => serve::run(
            &scenario,
            serve::Options {
                addr,
                trace,
                speed,
                allow_non_loopback,
            },
        ),
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
