//! Scenario files: what users write to describe a run, read and validated in one place.
//!
//! A scenario is TOML (see the README for the format). Reading it either gives a
//! [`Scenario`] in which every value has been checked and converted to virtual
//! microseconds, or a [`ScenarioError`] naming the file, line, column and key. Nothing
//! downstream re-validates, and nothing here panics on any input.
//!
//! The model is here; the file as written is in `file`, pointing into the text in
//! `source`, edits from the command line (`--set`) in `set`, the checks in `validate`
//! (the run) and `expect` (the expectations), and the way back to TOML in `to_toml`.
//! What a file may ask for is bounded in `limits`.
// Scenario files come from anywhere: no panic on any input.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod expect;
mod file;
mod limits;
mod nesting;
mod service_model;
mod set;
mod source;
mod to_toml;
mod validate;
mod validate_service;
mod wording;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use paceline_core::{Outcome, PoolConfig, RawPoolConfig};
use paceline_trace::{DefectId, Invariant, ResultKind};
use serde::Deserialize;
use toml::Spanned;

pub use expect::declared_mutant;
pub use limits::{DEFAULT_MAX_EVENTS, ScenarioLimits, decode, read_text};
pub use service_model::{Distribution, Outage, Phase, RateLimit, ServiceModel};
pub use set::Override;
pub use source::ScenarioError;

use file::File;
use source::Source;

/// The largest batch a scenario may generate: beyond this a typo (an extra zero or
/// three) would exhaust memory before any useful result.
pub const MAX_ROWS_PER_BATCH: u64 = 10_000_000;

/// The most timer slack a scenario may ask for: ten seconds, in microseconds (real
/// sleeps overshoot by milliseconds; more is a typo).
pub const MAX_TIMER_SLACK_US: u64 = 10_000_000;

/// The horizon when a scenario does not set one: one hour of virtual time.
pub const DEFAULT_HORIZON_MS: u64 = 3_600_000;

/// A validated scenario, times in virtual microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Letters, digits, `-` and `_`: used in file names and reports.
    pub name: String,
    /// What the scenario shows, in a sentence.
    pub description: String,
    /// Drives random models and the order of simultaneous events.
    pub seed: u64,
    /// A run cut off here with rows left is unfinished.
    pub horizon_us: u64,
    /// Every timer the pool sets (backoff, gate wait, pause) fires late by a seeded
    /// amount in `[0, timer_slack_us]` microseconds; 0: on time.
    pub timer_slack_us: u64,
    /// The pool under test.
    pub pool: PoolConfig,
    /// How the simulated API answers.
    pub service: ServiceModel,
    /// The batches, in the order they are called.
    pub batches: Vec<BatchSpec>,
    /// Times at which the pool is shut down.
    pub shutdowns_us: Vec<u64>,
    /// What `replay` and `check` assert.
    pub expect: Expect,
    /// The run budget: a run that reaches this many events is cut there
    /// (`Ending::EventBudget`). Not part of the file: `ScenarioLimits::max_events`.
    pub max_events: u64,
}

/// One `[[batches]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSpec {
    /// When `execute_batch` is called.
    pub at_us: u64,
    /// Its rows.
    pub rows: Rows,
}

/// A batch's rows: written out, or generated.
#[derive(Debug, Clone, PartialEq)]
pub enum Rows {
    /// Written out in the file.
    Listed(Vec<RowSpec>),
    /// `count` rows with empty ids, row `i` ready `i * ready_every_us` after the start.
    Generated {
        /// How many rows.
        count: usize,
        /// Row `i` is ready `i` times this after the batch starts.
        ready_every_us: u64,
        /// Each row's input tokens, drawn per row from the run's seed, if counted.
        tokens: Option<Distribution>,
        /// Each row's output tokens, drawn per row, if counted.
        output_tokens: Option<Distribution>,
    },
}

impl Rows {
    /// How many rows.
    pub fn len(&self) -> usize {
        match self {
            Rows::Listed(rows) => rows.len(),
            Rows::Generated { count, .. } => *count,
        }
    }

    /// Whether there are none (a scenario never has an empty batch).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The row's id, empty for generated rows.
    pub fn id(&self, row: usize) -> &str {
        match self {
            Rows::Listed(rows) => rows.get(row).map_or("", |r| r.id.as_str()),
            Rows::Generated { .. } => "",
        }
    }

    /// When the row's work becomes available, after the batch starts.
    pub fn ready_us(&self, row: usize) -> u64 {
        match self {
            Rows::Listed(rows) => rows.get(row).map_or(0, |r| r.ready_us),
            Rows::Generated { ready_every_us, .. } => ready_every_us.saturating_mul(row as u64),
        }
    }

    /// Whether the batch counts tokens: some row declares them.
    pub fn counts_tokens(&self) -> bool {
        match self {
            Rows::Listed(rows) => rows.iter().any(|r| r.tokens.is_some()),
            Rows::Generated { tokens, .. } => tokens.is_some(),
        }
    }

    /// The row's input and output tokens (0 where not given). Generated rows draw them
    /// from `draws`, a generator of the run's seed set to this row's own stream, so a row
    /// has the same tokens whatever order rows are dispatched in.
    pub fn tokens(
        &self,
        row: usize,
        draws: &mut impl FnMut(&Distribution, u64) -> u64,
    ) -> (u64, u64) {
        match self {
            Rows::Listed(rows) => rows.get(row).map_or((0, 0), |r| {
                (r.tokens.unwrap_or(0), r.output_tokens.unwrap_or(0))
            }),
            Rows::Generated {
                tokens,
                output_tokens,
                ..
            } => {
                let row = row as u64;
                (
                    tokens.as_ref().map_or(0, |d| draws(d, row << 1)),
                    output_tokens
                        .as_ref()
                        .map_or(0, |d| draws(d, (row << 1) | 1)),
                )
            }
        }
    }

    /// The scripted answer to the row's `attempt` (from 1), if the script reaches it.
    pub fn script(&self, row: usize, attempt: u32) -> Option<&ScriptedAttempt> {
        match self {
            Rows::Listed(rows) => rows
                .get(row)?
                .attempts
                .get(usize::try_from(attempt).ok()?.checked_sub(1)?),
            Rows::Generated { .. } => None,
        }
    }
}

/// A row written in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct RowSpec {
    /// Names the row in expectations and traces; may be empty.
    pub id: String,
    /// When the row's work becomes available, after the batch starts.
    pub ready_us: u64,
    /// Scripted answers, in attempt order; later attempts go to the service model.
    pub attempts: Vec<ScriptedAttempt>,
    /// Input tokens (what token limits and budgets count), if given.
    pub tokens: Option<u64>,
    /// Output tokens (they lengthen a successful answer), if given.
    pub output_tokens: Option<u64>,
}

/// A scripted answer to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptedAttempt {
    /// What the API answers.
    pub outcome: Outcome,
    /// The HTTP status of the answer.
    pub status: Option<u16>,
    /// Overrides the service's latency for this attempt.
    pub latency_us: Option<u64>,
    /// The wait the answer asks for (`retry-after-ms`), in milliseconds.
    pub retry_after_ms: Option<u64>,
}

/// `expect.recovers = { after_ms, within_ms, rows_per_min }`: after `after_us`, some
/// one-minute window ending by `after_us + within_us` holds at least `rows_per_min`
/// successful answers (the harness's recovery watch says exactly how it counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// From when, in virtual microseconds.
    pub after_us: u64,
    /// How long the pool has to recover, in microseconds (at least a minute).
    pub within_us: u64,
    /// The throughput to reach, in successful rows per minute.
    pub rows_per_min: u64,
}

/// What `replay` and `check` assert about a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    /// Invariants that must hold on every seed; by default every invariant not in
    /// `violates`.
    pub holds: BTreeSet<Invariant>,
    /// Invariants that must be reported broken on every seed.
    pub violates: BTreeSet<Invariant>,
    /// Dispatch times of rows by id, in milliseconds, for the scenario's own seed.
    pub dispatch_ms: BTreeMap<String, Vec<u64>>,
    /// Final results of rows by id, for the scenario's own seed.
    pub results: BTreeMap<String, ResultKind>,
    /// Exact numbers of rows per result, for the kinds listed.
    pub outcomes: BTreeMap<ResultKind, u64>,
    /// `recovers`: after a given time the pool must be back to a given throughput
    /// within a given time, under every seed.
    pub recovers: Option<Recovery>,
    /// The defect of the bug zoo this scenario demonstrates:
    /// the expectations above describe the real core, and with the defect switched on
    /// the run must miss them and break every invariant in `violates`.
    pub mutant: Option<DefectId>,
}

impl Scenario {
    /// Read and validate a scenario file under the default [`ScenarioLimits`].
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::load_within(path, &ScenarioLimits::default())
    }

    /// Read and validate a scenario file held to `limits` (its size is checked before it
    /// is read).
    pub fn load_within(path: &Path, limits: &ScenarioLimits) -> Result<Scenario, ScenarioError> {
        Scenario::load_with(path, &[], limits)
    }

    /// Read a scenario file held to `limits`, with `--set` edits applied, and validate
    /// the result.
    pub fn load_with(
        path: &Path,
        overrides: &[Override],
        limits: &ScenarioLimits,
    ) -> Result<Scenario, ScenarioError> {
        let text = read_text(path, limits)?;
        Scenario::parse_with(path, &text, overrides, limits)
    }

    /// Validate scenario text under the default [`ScenarioLimits`]; `path` is only used
    /// in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse_within(path, text, &ScenarioLimits::default())
    }

    /// Validate scenario text held to `limits`; `path` is only used in error messages.
    pub fn parse_within(
        path: &Path,
        text: &str,
        limits: &ScenarioLimits,
    ) -> Result<Scenario, ScenarioError> {
        Scenario::parse_with(path, text, &[], limits)
    }

    /// Validate scenario text with `--set` edits applied to the document first, so a
    /// value set on the command line meets every rule a value in the file meets. An
    /// error about a setting names its key and its `--set`; others keep their line.
    pub fn parse_with(
        path: &Path,
        text: &str,
        overrides: &[Override],
        limits: &ScenarioLimits,
    ) -> Result<Scenario, ScenarioError> {
        nesting::check(path, text)?;
        let src = Source { path, text, limits };
        let file: File = src.read(overrides)?;
        src.scenario(file).map_err(|e| set::blame(e, overrides))
    }

    /// Read only the `[pool]` table of a file (a scenario, or a file holding just that
    /// table), for checking traces recorded elsewhere.
    pub fn load_pool(path: &Path) -> Result<PoolConfig, ScenarioError> {
        Scenario::load_pool_within(path, &ScenarioLimits::default())
    }

    /// [`Scenario::load_pool`], the file held to `limits`.
    pub fn load_pool_within(
        path: &Path,
        limits: &ScenarioLimits,
    ) -> Result<PoolConfig, ScenarioError> {
        Scenario::load_pool_with(path, &[], limits)
    }

    /// [`Scenario::load_pool_within`] with `--set` edits of the `[pool]` table (only
    /// `pool.*` keys: nothing else of the file is read).
    pub fn load_pool_with(
        path: &Path,
        overrides: &[Override],
        limits: &ScenarioLimits,
    ) -> Result<PoolConfig, ScenarioError> {
        #[derive(Deserialize)]
        struct PoolOnly {
            pool: Option<Spanned<RawPoolConfig>>,
        }
        if let Some(o) = overrides.iter().find(|o| !o.key.starts_with("pool.")) {
            return Err(ScenarioError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                key: Some(o.key.clone()),
                message: format!(
                    "only the [pool] table is read here: --set takes pool.* keys (got --set {o})"
                ),
            });
        }
        let text = read_text(path, limits)?;
        nesting::check(path, &text)?;
        let src = Source {
            path,
            text: &text,
            limits,
        };
        let file: PoolOnly = src.read(overrides)?;
        if file.pool.is_none() {
            return Err(ScenarioError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                key: Some("pool".into()),
                message: "the file has no [pool] table".into(),
            });
        }
        src.pool(file.pool).map_err(|e| set::blame(e, overrides))
    }

    /// Total rows over all batches.
    pub fn row_count(&self) -> u64 {
        self.batches.iter().map(|b| b.rows.len() as u64).sum()
    }
}
