//! Scenario files: what users write to describe a run, read and validated in one place.
//!
//! A scenario is TOML (see the README for the format). Reading it either gives a
//! [`Scenario`] in which every value has been checked and converted to virtual
//! microseconds, or a [`ScenarioError`] naming the file, line, column and key. Nothing
//! downstream re-validates, and nothing here panics on any input.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use paceline_core::{Outcome, PoolConfig, RawPoolConfig};
use serde::Deserialize;
use toml::{Spanned, Value};

/// The largest batch a scenario may generate: beyond this a typo (an extra zero or
/// three) would exhaust memory before any useful result.
pub const MAX_ROWS_PER_BATCH: u64 = 10_000_000;

/// The horizon when a scenario does not set one: one hour of virtual time.
pub const DEFAULT_HORIZON_MS: u64 = 3_600_000;

/// One of the invariants of the model that a scenario can expect to hold or to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    I1,
    I2,
    I3,
    I4,
    I5,
    I6,
    I7,
    I8,
    I9,
}

impl Invariant {
    pub const ALL: [Invariant; 9] = [
        Invariant::I1,
        Invariant::I2,
        Invariant::I3,
        Invariant::I4,
        Invariant::I5,
        Invariant::I6,
        Invariant::I7,
        Invariant::I8,
        Invariant::I9,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Invariant::I1 => "I1",
            Invariant::I2 => "I2",
            Invariant::I3 => "I3",
            Invariant::I4 => "I4",
            Invariant::I5 => "I5",
            Invariant::I6 => "I6",
            Invariant::I7 => "I7",
            Invariant::I8 => "I8",
            Invariant::I9 => "I9",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Invariant::I1 => "spacing",
            Invariant::I2 => "concurrency",
            Invariant::I3 => "order",
            Invariant::I4 => "completeness",
            Invariant::I5 => "retry budget",
            Invariant::I6 => "throttle law",
            Invariant::I7 => "stats",
            Invariant::I8 => "determinism",
            Invariant::I9 => "config",
        }
    }

    pub fn parse(s: &str) -> Option<Invariant> {
        Invariant::ALL.into_iter().find(|i| i.id() == s)
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// How a row ended, as scenario expectations and summaries name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResultKind {
    Ok,
    Permanent,
    RetryTimeout,
    Shutdown,
}

impl ResultKind {
    pub const ALL: [ResultKind; 4] = [
        ResultKind::Ok,
        ResultKind::Permanent,
        ResultKind::RetryTimeout,
        ResultKind::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResultKind::Ok => "ok",
            ResultKind::Permanent => "permanent",
            ResultKind::RetryTimeout => "retry_timeout",
            ResultKind::Shutdown => "shutdown",
        }
    }

    pub fn parse(s: &str) -> Option<ResultKind> {
        ResultKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A validated scenario, times in virtual microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub horizon_us: u64,
    pub pool: PoolConfig,
    pub service: ServiceModel,
    pub batches: Vec<BatchSpec>,
    /// Times at which the pool is shut down.
    pub shutdowns_us: Vec<u64>,
    pub expect: Expect,
}

/// How the simulated API answers attempts that no row script covers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceModel {
    pub latency: Latency,
    /// Probability that an unscripted attempt gets `capacity`.
    pub capacity_rate: f64,
    pub rate_limit: Option<RateLimit>,
}

/// Latency of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    Fixed {
        us: u64,
    },
    /// Uniform over `[min_us, max_us]`, drawn from the run's seeded generator.
    Uniform {
        min_us: u64,
        max_us: u64,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed { us: 0 }
    }
}

/// At most `requests` accepted attempts in any window of `per_us`; beyond it, `capacity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u64,
    pub per_us: u64,
}

/// One `[[batches]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSpec {
    /// When `execute_batch` is called.
    pub at_us: u64,
    pub rows: Rows,
}

/// A batch's rows: written out, or generated.
#[derive(Debug, Clone, PartialEq)]
pub enum Rows {
    Listed(Vec<RowSpec>),
    /// `count` rows with empty ids, row `i` ready `i * ready_every_us` after the start.
    Generated {
        count: usize,
        ready_every_us: u64,
    },
}

impl Rows {
    pub fn len(&self) -> usize {
        match self {
            Rows::Listed(rows) => rows.len(),
            Rows::Generated { count, .. } => *count,
        }
    }

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
    pub id: String,
    pub ready_us: u64,
    pub attempts: Vec<ScriptedAttempt>,
}

/// A scripted answer to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptedAttempt {
    pub outcome: Outcome,
    pub status: Option<u16>,
    /// Overrides the service's latency for this attempt.
    pub latency_us: Option<u64>,
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
    /// The defect of the bug zoo (1 for D1 ... 15 for D15) this scenario demonstrates:
    /// the expectations above describe the real core, and with the defect switched on
    /// the run must miss them and break every invariant in `violates`.
    pub mutant: Option<u8>,
}

/// A refused scenario file: where, which key, and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ScenarioError {
    pub file: PathBuf,
    /// 1-based line and column, where known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl Scenario {
    /// Read and validate a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| Source::unreadable(path, &e))?;
        Scenario::parse(path, &text)
    }

    /// Validate scenario text; `path` is only used in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let src = Source { path, text };
        let file: File = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        src.scenario(file)
    }

    /// Read only the `[pool]` table of a file (a scenario, or a file holding just that
    /// table), for checking traces recorded elsewhere.
    pub fn load_pool(path: &Path) -> Result<PoolConfig, ScenarioError> {
        #[derive(Deserialize)]
        struct PoolOnly {
            pool: Option<Spanned<RawPoolConfig>>,
        }
        let text = std::fs::read_to_string(path).map_err(|e| Source::unreadable(path, &e))?;
        let src = Source { path, text: &text };
        let file: PoolOnly = toml::from_str(&text).map_err(|e| src.toml_error(&e))?;
        if file.pool.is_none() {
            return Err(ScenarioError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                key: Some("pool".into()),
                message: "the file has no [pool] table".into(),
            });
        }
        src.pool(file.pool)
    }

    /// Total rows over all batches.
    pub fn row_count(&self) -> u64 {
        self.batches.iter().map(|b| b.rows.len() as u64).sum()
    }
}

// ---- the file as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    seed: u64,
    horizon_ms: Option<Spanned<u64>>,
    pool: Option<Spanned<RawPoolConfig>>,
    #[serde(default)]
    service: ServiceFile,
    #[serde(default)]
    batches: Vec<Spanned<BatchFile>>,
    #[serde(default)]
    events: Vec<Spanned<EventFile>>,
    #[serde(default)]
    expect: ExpectFile,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    latency_ms: Option<Spanned<Value>>,
    capacity_rate: Option<Spanned<f64>>,
    rate_limit: Option<Spanned<RateLimitFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitFile {
    requests: u64,
    per_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchFile {
    #[serde(default)]
    at_ms: u64,
    rows: Option<Vec<Spanned<RowFile>>>,
    generate: Option<Spanned<GenerateFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowFile {
    #[serde(default)]
    id: String,
    #[serde(default)]
    ready_ms: u64,
    #[serde(default)]
    attempts: Vec<Spanned<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateFile {
    count: u64,
    #[serde(default)]
    ready_every_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFile {
    at_ms: u64,
    #[serde(default)]
    shutdown: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    holds: Option<Spanned<Value>>,
    violates: Option<Spanned<Vec<String>>>,
    dispatch_ms: Option<Spanned<BTreeMap<String, Vec<u64>>>>,
    results: Option<Spanned<BTreeMap<String, String>>>,
    outcomes: Option<Spanned<BTreeMap<String, u64>>>,
    mutant: Option<Spanned<String>>,
}

/// `D1` ... `D15` as 1 ... 15.
fn parse_defect(name: &str) -> Option<u8> {
    let n: u8 = name.strip_prefix('D')?.parse().ok()?;
    (1..=15).contains(&n).then_some(n)
}

/// The defect a scenario file declares in `expect.mutant`, read leniently: a file that
/// demonstrates a configuration defect (D4, D9) is refused by the real core, and the
/// harness must still learn which defect it is about.
pub fn declared_mutant(text: &str) -> Option<u8> {
    #[derive(Deserialize)]
    struct Lenient {
        expect: Option<LenientExpect>,
    }
    #[derive(Deserialize)]
    struct LenientExpect {
        mutant: Option<String>,
    }
    let file: Lenient = toml::from_str(text).ok()?;
    parse_defect(&file.expect?.mutant?)
}

// ---- validation ----

/// A scripted `capacity` without a status is a 429, the status rate limits answer with.
fn default_status(outcome: Outcome) -> Option<u16> {
    (outcome == Outcome::Capacity).then_some(429)
}

struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

type Checked<T> = Result<T, ScenarioError>;

impl Source<'_> {
    fn unreadable(path: &Path, e: &std::io::Error) -> ScenarioError {
        ScenarioError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read the file: {e}"),
        }
    }

    fn error(&self, offset: usize, key: &str, message: impl Into<String>) -> ScenarioError {
        let (line, column) = self.line_col(offset);
        ScenarioError {
            file: self.path.to_path_buf(),
            line: Some(line),
            column: Some(column),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// Where `key = ...` is written inside `span` (a table's span covers only its
    /// header, so its body up to the next header counts too), or the span's start.
    fn key_offset(&self, span: &Range<usize>, key: &str) -> usize {
        let Some(rest) = self.text.get(span.start..) else {
            return span.start;
        };
        let body_end = rest
            .match_indices('\n')
            .map(|(i, _)| i + 1)
            .find(|&i| rest[i..].starts_with('['))
            .unwrap_or(rest.len());
        let region = &rest[..body_end.max(span.len()).min(rest.len())];
        let mut from = 0;
        while let Some(found) = region[from..].find(key) {
            let at = from + found;
            let before_ok = region[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'));
            let after = region[at + key.len()..].trim_start();
            if before_ok && after.starts_with('=') {
                return span.start + at;
            }
            from = at + key.len();
        }
        span.start
    }

    /// The key of the `key = value` whose value starts at `offset`, read from the text.
    fn key_before(&self, offset: usize) -> Option<String> {
        let before = self.text.get(..offset)?;
        let eq = before.rfind('=')?;
        let name: String = before[..eq]
            .trim_end()
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '"')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let name = name.trim_matches('"').to_string();
        (!name.is_empty()).then_some(name)
    }

    fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
        let span = e.span();
        let offset = span.as_ref().map_or(0, |s| s.start);
        let message = e.message().to_string();
        // Unknown fields name themselves; other errors point at a value whose key is
        // just before it.
        let key = match message.strip_prefix("unknown field `") {
            Some(rest) => rest.split('`').next().map(str::to_string),
            None => span.and_then(|s| self.key_before(s.start)),
        };
        let (line, column) = self.line_col(offset);
        ScenarioError {
            file: self.path.to_path_buf(),
            line: Some(line),
            column: Some(column),
            key,
            message,
        }
    }

    fn us(&self, ms: u64, offset: usize, key: &str) -> Checked<u64> {
        ms.checked_mul(1000).ok_or_else(|| {
            self.error(
                offset,
                key,
                format!("{ms} ms is too large (at most {} ms)", u64::MAX / 1000),
            )
        })
    }

    fn scenario(&self, file: File) -> Checked<Scenario> {
        let name_span = file.name.span();
        let name = file.name.into_inner();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.error(
                name_span.start,
                "name",
                format!("{name:?}: use only letters, digits, '-' and '_' (and at least one)"),
            ));
        }
        let horizon_us = match file.horizon_ms {
            None => DEFAULT_HORIZON_MS * 1000,
            Some(h) => {
                let offset = h.span().start;
                let ms = h.into_inner();
                if ms == 0 {
                    return Err(self.error(offset, "horizon_ms", "must be > 0"));
                }
                self.us(ms, offset, "horizon_ms")?
            }
        };
        let pool = self.pool(file.pool)?;
        let service = self.service(file.service)?;
        if file.batches.is_empty() {
            return Err(ScenarioError {
                file: self.path.to_path_buf(),
                line: None,
                column: None,
                key: Some("batches".into()),
                message: "a scenario needs at least one [[batches]] entry".into(),
            });
        }
        let mut ids = BTreeSet::new();
        let batches = file
            .batches
            .into_iter()
            .map(|b| self.batch(b, &mut ids))
            .collect::<Checked<Vec<_>>>()?;
        let mut shutdowns_us = Vec::new();
        for event in file.events {
            let offset = event.span().start;
            let event = event.into_inner();
            if !event.shutdown {
                return Err(self.error(
                    offset,
                    "shutdown",
                    "an event must do something: the only event is `shutdown = true`",
                ));
            }
            shutdowns_us.push(self.us(event.at_ms, offset, "at_ms")?);
        }
        let expect = self.expect(file.expect, &ids)?;
        Ok(Scenario {
            name,
            description: file.description,
            seed: file.seed,
            horizon_us,
            pool,
            service,
            batches,
            shutdowns_us,
            expect,
        })
    }

    fn pool(&self, pool: Option<Spanned<RawPoolConfig>>) -> Checked<PoolConfig> {
        let Some(pool) = pool else {
            return Ok(PoolConfig::default());
        };
        let span = pool.span();
        PoolConfig::try_from(pool.into_inner()).map_err(|e| {
            let fields = e
                .problems
                .first()
                .map(|p| p.fields.clone())
                .unwrap_or_default();
            let field = fields.last().copied().unwrap_or("pool");
            let offset = self.key_offset(&span, field);
            let mut err = self.error(offset, &format!("pool.{field}"), e.to_string());
            if fields.len() > 1 {
                err.key = Some(
                    fields
                        .iter()
                        .map(|f| format!("pool.{f}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
            err
        })
    }

    fn service(&self, file: ServiceFile) -> Checked<ServiceModel> {
        let latency = match file.latency_ms {
            None => Latency::default(),
            Some(v) => self.latency(v, "service.latency_ms")?,
        };
        let capacity_rate = match file.capacity_rate {
            None => 0.0,
            Some(rate) => {
                let offset = rate.span().start;
                let rate = rate.into_inner();
                if !(0.0..=1.0).contains(&rate) {
                    return Err(self.error(
                        offset,
                        "service.capacity_rate",
                        format!("{rate}: a probability must be between 0.0 and 1.0"),
                    ));
                }
                rate
            }
        };
        let rate_limit = match file.rate_limit {
            None => None,
            Some(limit) => {
                let offset = limit.span().start;
                let limit = limit.into_inner();
                if limit.requests == 0 {
                    return Err(self.error(offset, "service.rate_limit.requests", "must be >= 1"));
                }
                if limit.per_ms == 0 {
                    return Err(self.error(offset, "service.rate_limit.per_ms", "must be >= 1"));
                }
                Some(RateLimit {
                    requests: limit.requests,
                    per_us: self.us(limit.per_ms, offset, "service.rate_limit.per_ms")?,
                })
            }
        };
        Ok(ServiceModel {
            latency,
            capacity_rate,
            rate_limit,
        })
    }

    fn latency(&self, value: Spanned<Value>, key: &str) -> Checked<Latency> {
        let offset = value.span().start;
        let ms = |v: &Value, which: &str| -> Checked<u64> {
            match v {
                Value::Integer(n) => u64::try_from(*n).map_err(|_| {
                    self.error(offset, key, format!("{which}{n}: a latency must be >= 0"))
                }),
                other => Err(self.error(
                    offset,
                    key,
                    format!("{which}{other}: expected an integer number of milliseconds"),
                )),
            }
        };
        match value.get_ref() {
            Value::Table(table) => {
                if let Some(extra) = table.keys().find(|k| *k != "min" && *k != "max") {
                    return Err(self.error(
                        offset,
                        &format!("{key}.{extra}"),
                        "unknown key: a latency table has only `min` and `max`",
                    ));
                }
                let get = |k: &str| {
                    table.get(k).ok_or_else(|| {
                        self.error(
                            offset,
                            &format!("{key}.{k}"),
                            "missing: write { min = .., max = .. }",
                        )
                    })
                };
                let min = ms(get("min")?, "min = ")?;
                let max = ms(get("max")?, "max = ")?;
                if min > max {
                    return Err(self.error(
                        offset,
                        key,
                        format!("min = {min} is above max = {max}"),
                    ));
                }
                Ok(Latency::Uniform {
                    min_us: self.us(min, offset, key)?,
                    max_us: self.us(max, offset, key)?,
                })
            }
            other => Ok(Latency::Fixed {
                us: self.us(ms(other, "")?, offset, key)?,
            }),
        }
    }

    fn batch(&self, batch: Spanned<BatchFile>, ids: &mut BTreeSet<String>) -> Checked<BatchSpec> {
        let span = batch.span();
        let offset = span.start;
        let rows_at = self.key_offset(&span, "rows");
        let batch = batch.into_inner();
        let at_us = self.us(batch.at_ms, offset, "batches.at_ms")?;
        let rows = match (batch.rows, batch.generate) {
            (Some(_), Some(_)) => {
                return Err(self.error(
                    offset,
                    "batches.generate",
                    "a batch has either `rows` or `generate`, not both",
                ));
            }
            (None, None) => {
                return Err(self.error(
                    offset,
                    "batches.rows",
                    "a batch needs `rows` or `generate`",
                ));
            }
            (Some(rows), None) => {
                if rows.is_empty() {
                    return Err(self.error(
                        rows_at,
                        "batches.rows",
                        "an empty batch shows nothing: give it at least one row",
                    ));
                }
                if rows.len() as u64 > MAX_ROWS_PER_BATCH {
                    return Err(self.error(
                        rows_at,
                        "batches.rows",
                        format!("at most {MAX_ROWS_PER_BATCH} rows per batch"),
                    ));
                }
                Rows::Listed(
                    rows.into_iter()
                        .map(|r| self.row(r, ids))
                        .collect::<Checked<Vec<_>>>()?,
                )
            }
            (None, Some(generate)) => {
                let offset = generate.span().start;
                let generate = generate.into_inner();
                if generate.count == 0 || generate.count > MAX_ROWS_PER_BATCH {
                    return Err(self.error(
                        offset,
                        "batches.generate.count",
                        format!(
                            "{}: must be between 1 and {MAX_ROWS_PER_BATCH}",
                            generate.count
                        ),
                    ));
                }
                let ready_every_us = self.us(
                    generate.ready_every_ms,
                    offset,
                    "batches.generate.ready_every_ms",
                )?;
                // The last row's ready time must fit too.
                if ready_every_us.checked_mul(generate.count).is_none() {
                    return Err(self.error(
                        offset,
                        "batches.generate.ready_every_ms",
                        "count x ready_every_ms overflows virtual time",
                    ));
                }
                Rows::Generated {
                    count: usize::try_from(generate.count).unwrap_or(usize::MAX),
                    ready_every_us,
                }
            }
        };
        Ok(BatchSpec { at_us, rows })
    }

    fn row(&self, row: Spanned<RowFile>, ids: &mut BTreeSet<String>) -> Checked<RowSpec> {
        let offset = row.span().start;
        let row = row.into_inner();
        if !row.id.is_empty() && !ids.insert(row.id.clone()) {
            return Err(self.error(
                offset,
                "batches.rows.id",
                format!(
                    "{:?} is used twice: expectations name rows by id, so ids are unique",
                    row.id
                ),
            ));
        }
        let ready_us = self.us(row.ready_ms, offset, "batches.rows.ready_ms")?;
        let attempts = row
            .attempts
            .into_iter()
            .map(|a| self.attempt(a))
            .collect::<Checked<Vec<_>>>()?;
        Ok(RowSpec {
            id: row.id,
            ready_us,
            attempts,
        })
    }

    fn attempt(&self, attempt: Spanned<Value>) -> Checked<ScriptedAttempt> {
        let offset = attempt.span().start;
        let key = "batches.rows.attempts";
        let outcome = |v: &Value| -> Checked<Outcome> {
            let name = v.as_str().unwrap_or_default();
            [
                Outcome::Ok,
                Outcome::Capacity,
                Outcome::Retryable,
                Outcome::Permanent,
            ]
            .into_iter()
            .find(|o| o.as_str() == name)
            .ok_or_else(|| {
                self.error(
                    offset,
                    key,
                    format!(
                        "{v}: an outcome is \"ok\", \"capacity\", \"retryable\" or \"permanent\""
                    ),
                )
            })
        };
        match attempt.get_ref() {
            Value::Table(table) => {
                if let Some(extra) = table
                    .keys()
                    .find(|k| !["outcome", "status", "latency_ms"].contains(&k.as_str()))
                {
                    return Err(self.error(
                        offset,
                        &format!("{key}.{extra}"),
                        "unknown key: an attempt has `outcome`, `status` and `latency_ms`",
                    ));
                }
                let outcome =
                    outcome(table.get("outcome").ok_or_else(|| {
                        self.error(offset, &format!("{key}.outcome"), "missing")
                    })?)?;
                let status = match table.get("status") {
                    None => default_status(outcome),
                    Some(Value::Integer(n)) if (100..=599).contains(n) => u16::try_from(*n).ok(),
                    Some(other) => {
                        return Err(self.error(
                            offset,
                            &format!("{key}.status"),
                            format!("{other}: an HTTP status is an integer from 100 to 599"),
                        ));
                    }
                };
                let latency_us = match table.get("latency_ms") {
                    None => None,
                    Some(v) => match self.latency(
                        Spanned::new(offset..offset, v.clone()),
                        &format!("{key}.latency_ms"),
                    )? {
                        Latency::Fixed { us } => Some(us),
                        Latency::Uniform { .. } => {
                            return Err(self.error(
                                offset,
                                &format!("{key}.latency_ms"),
                                "a scripted attempt takes a fixed latency",
                            ));
                        }
                    },
                };
                Ok(ScriptedAttempt {
                    outcome,
                    status,
                    latency_us,
                })
            }
            other => {
                let outcome = outcome(other)?;
                Ok(ScriptedAttempt {
                    outcome,
                    status: default_status(outcome),
                    latency_us: None,
                })
            }
        }
    }

    fn invariants(
        &self,
        names: &[String],
        offset: usize,
        key: &str,
    ) -> Checked<BTreeSet<Invariant>> {
        names
            .iter()
            .map(|n| {
                Invariant::parse(n).ok_or_else(|| {
                    self.error(offset, key, format!("{n:?}: invariants are named I1 to I9"))
                })
            })
            .collect()
    }

    fn expect(&self, file: ExpectFile, ids: &BTreeSet<String>) -> Checked<Expect> {
        let violates = match file.violates {
            None => BTreeSet::new(),
            Some(v) => {
                let offset = v.span().start;
                self.invariants(v.get_ref(), offset, "expect.violates")?
            }
        };
        let holds = match file.holds {
            None => Invariant::ALL
                .into_iter()
                .filter(|i| !violates.contains(i))
                .collect(),
            Some(v) => {
                let offset = v.span().start;
                match v.get_ref() {
                    Value::String(s) if s == "all" => Invariant::ALL.into_iter().collect(),
                    Value::Array(items) => {
                        let names = items
                            .iter()
                            .map(|i| {
                                i.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| i.to_string())
                            })
                            .collect::<Vec<_>>();
                        self.invariants(&names, offset, "expect.holds")?
                    }
                    other => {
                        return Err(self.error(
                            offset,
                            "expect.holds",
                            format!("{other}: write \"all\" or a list such as [\"I1\", \"I3\"]"),
                        ));
                    }
                }
            }
        };
        if let Some(both) = holds.intersection(&violates).next() {
            return Err(self.error(
                0,
                "expect.violates",
                format!("{both} cannot both hold and be violated"),
            ));
        }
        let known_id = |map_span: &Range<usize>, id: &String, key: &str| -> Checked<()> {
            if ids.contains(id) {
                Ok(())
            } else {
                Err(self.error(
                    self.key_offset(map_span, id),
                    &format!("{key}.{id}"),
                    format!("no row has the id {id:?}"),
                ))
            }
        };
        let dispatch_ms = match file.dispatch_ms {
            None => BTreeMap::new(),
            Some(map) => {
                let span = map.span();
                for id in map.get_ref().keys() {
                    known_id(&span, id, "expect.dispatch_ms")?;
                }
                map.into_inner()
            }
        };
        let results = match file.results {
            None => BTreeMap::new(),
            Some(map) => {
                let span = map.span();
                let mut results = BTreeMap::new();
                for (id, kind) in map.into_inner() {
                    known_id(&span, &id, "expect.results")?;
                    let parsed = ResultKind::parse(&kind).ok_or_else(|| {
                        self.error(
                            self.key_offset(&span, &id),
                            &format!("expect.results.{id}"),
                            format!(
                                "{kind:?}: a result is ok, permanent, retry_timeout or shutdown"
                            ),
                        )
                    })?;
                    results.insert(id, parsed);
                }
                results
            }
        };
        let outcomes = match file.outcomes {
            None => BTreeMap::new(),
            Some(map) => {
                let span = map.span();
                let mut outcomes = BTreeMap::new();
                for (kind, count) in map.into_inner() {
                    let parsed = ResultKind::parse(&kind).ok_or_else(|| {
                        self.error(
                            self.key_offset(&span, &kind),
                            &format!("expect.outcomes.{kind}"),
                            "unknown result: use ok, permanent, retry_timeout or shutdown",
                        )
                    })?;
                    outcomes.insert(parsed, count);
                }
                outcomes
            }
        };
        let mutant = match file.mutant {
            None => None,
            Some(m) => Some(parse_defect(m.get_ref()).ok_or_else(|| {
                self.error(
                    m.span().start,
                    "expect.mutant",
                    format!("{:?}: defects are named D1 to D15", m.get_ref()),
                )
            })?),
        };
        Ok(Expect {
            holds,
            violates,
            dispatch_ms,
            results,
            outcomes,
            mutant,
        })
    }
}
