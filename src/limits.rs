//! The resource limits of every reader and run, as command-line flags: one flag per limit,
//! its default the libraries' own (the README's "Resource bounds").

use clap::Args;
use paceline_sim::ScenarioLimits;
use paceline_trace::TraceLimits;

/// Limits on input files and runs; each is global, so it may follow any command.
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Largest scenario file, in bytes.
    #[arg(long, global = true, default_value_t = ScenarioLimits::default().max_file_bytes)]
    pub max_scenario_bytes: u64,
    /// Largest trace file, in bytes.
    #[arg(long, global = true, default_value_t = TraceLimits::default().max_file_bytes)]
    pub max_trace_bytes: u64,
    /// Longest value (field) of a trace, in bytes.
    #[arg(long, global = true, default_value_t = TraceLimits::default().max_value_bytes)]
    pub max_value_bytes: u64,
    /// Most rows in one batch (scenario and trace).
    #[arg(long, global = true, default_value_t = TraceLimits::default().max_rows_per_batch)]
    pub max_rows_per_batch: u64,
    /// Most rows of a scenario, all batches together.
    #[arg(long, global = true, default_value_t = ScenarioLimits::default().max_rows)]
    pub max_rows: u64,
    /// Most batches in a trace.
    #[arg(long, global = true, default_value_t = TraceLimits::default().max_batches)]
    pub max_batches: u64,
    /// Most batches of a trace started and not yet ended at once.
    #[arg(long, global = true, default_value_t = TraceLimits::default().max_open_batches)]
    pub max_open_batches: u64,
    /// Most rows of a trace seen and not yet ended and returned at once.
    #[arg(long, global = true, default_value_t = TraceLimits::default().max_open_rows)]
    pub max_open_rows: u64,
    /// Most events one simulated run may make before it is cut (the run budget).
    #[arg(long, global = true, default_value_t = ScenarioLimits::default().max_events)]
    pub max_events: u64,
}

impl LimitArgs {
    /// The limits on scenario files and runs.
    pub fn scenario(&self) -> ScenarioLimits {
        ScenarioLimits {
            max_file_bytes: self.max_scenario_bytes,
            max_rows_per_batch: self.max_rows_per_batch,
            max_rows: self.max_rows,
            max_events: self.max_events,
        }
    }

    /// The limits on traces.
    pub fn trace(&self) -> TraceLimits {
        TraceLimits {
            max_file_bytes: self.max_trace_bytes,
            max_value_bytes: self.max_value_bytes,
            max_rows_per_batch: self.max_rows_per_batch,
            max_batches: self.max_batches,
            max_open_batches: self.max_open_batches,
            max_open_rows: self.max_open_rows,
        }
    }
}
