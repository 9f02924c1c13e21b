//! Pool configuration: the only way to get a [`PoolConfig`] is to pass validation.
//!
//! Users write configurations by hand (in scenario files, in code), so every rule of the
//! model is checked once, here, and every broken rule is reported together with the field
//! and the value that broke it. Code that holds a `PoolConfig` never re-checks anything.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the gate spaces consecutive dispatches of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatePolicy {
    /// Space dispatches by the throttle's current delay `D`, so a capacity error slows the
    /// whole pool, not only the row that saw it.
    #[default]
    Aimd,
    /// Space dispatches only by `min_dispatch_delay_ms`; backoff then acts per row.
    Min,
}

impl GatePolicy {
    /// The spelling used in configuration files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            GatePolicy::Aimd => "aimd",
            GatePolicy::Min => "min",
        }
    }
}

/// A configuration as written, before validation.
///
/// Integers are signed so that a negative value reaches validation and gets a message
/// naming its field, instead of a bare type error from the parser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPoolConfig {
    /// Permits: integer >= 1.
    pub pool_size: i64,
    /// The floor of `D`: integer >= 0.
    pub min_dispatch_delay_ms: i64,
    /// The ceiling of `D`: integer > 0, and >= the floor.
    pub max_dispatch_delay_ms: i64,
    /// Finite, > 1.0.
    pub backoff_multiplier: f64,
    /// Integer >= 0; not 0 when the floor is 0.
    pub recovery_step_ms: i64,
    /// A row's retry budget: integer > 0.
    pub max_capacity_retry_seconds: i64,
    /// `"aimd"` or `"min"`.
    pub gate: String,
    /// Whether a capacity answer's `Retry-After` pauses the whole pool.
    pub honour_retry_after: bool,
    /// The longest server wait obeyed: integer > 0; longer waits are clamped to it.
    pub max_retry_after_ms: i64,
    /// The pool's own request budget per minute: integer >= 1, or none.
    pub requests_per_minute: Option<i64>,
    /// The pool's own token budget per minute: integer >= 1, or none.
    pub tokens_per_minute: Option<i64>,
}

impl Default for RawPoolConfig {
    fn default() -> Self {
        RawPoolConfig {
            pool_size: 1,
            min_dispatch_delay_ms: 0,
            max_dispatch_delay_ms: 5000,
            backoff_multiplier: 2.0,
            recovery_step_ms: 50,
            max_capacity_retry_seconds: 3600,
            gate: GatePolicy::Aimd.as_str().to_string(),
            honour_retry_after: true,
            max_retry_after_ms: 60_000,
            requests_per_minute: None,
            tokens_per_minute: None,
        }
    }
}

/// One broken rule: the fields involved and a sentence naming their values.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigProblem {
    /// The fields the rule ties together.
    pub fields: Vec<&'static str>,
    /// The rule and the values that broke it, in words.
    pub message: String,
}

/// Every rule a configuration broke, in the order of the model's table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    /// Every broken rule.
    pub problems: Vec<ConfigProblem>,
}

impl ConfigError {
    /// Whether some broken rule involves `field`.
    pub fn names(&self, field: &str) -> bool {
        self.problems.iter().any(|p| p.fields.contains(&field))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid pool configuration: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&p.message)?;
        }
        Ok(())
    }
}

/// A validated pool configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawPoolConfig")]
pub struct PoolConfig {
    pool_size: usize,
    min_dispatch_delay_ms: u64,
    max_dispatch_delay_ms: u64,
    backoff_multiplier: f64,
    recovery_step_ms: u64,
    max_capacity_retry_seconds: u64,
    gate: GatePolicy,
    honour_retry_after: bool,
    max_retry_after_ms: u64,
    requests_per_minute: Option<u64>,
    tokens_per_minute: Option<u64>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        // The model's defaults satisfy every rule (`defaults_are_the_model_table` checks
        // it), so validation cannot fail here.
        PoolConfig::try_from(RawPoolConfig::default()).expect("the default configuration is valid")
    }
}

impl TryFrom<RawPoolConfig> for PoolConfig {
    type Error = ConfigError;

    fn try_from(raw: RawPoolConfig) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut problem = |fields: Vec<&'static str>, message: String| {
            problems.push(ConfigProblem { fields, message })
        };
        if raw.pool_size < 1 {
            problem(
                vec!["pool_size"],
                format!("pool_size = {}: must be an integer >= 1", raw.pool_size),
            );
        }
        if raw.min_dispatch_delay_ms < 0 {
            problem(
                vec!["min_dispatch_delay_ms"],
                format!(
                    "min_dispatch_delay_ms = {}: must be an integer >= 0",
                    raw.min_dispatch_delay_ms
                ),
            );
        }
        if raw.max_dispatch_delay_ms <= 0 {
            problem(
                vec!["max_dispatch_delay_ms"],
                format!(
                    "max_dispatch_delay_ms = {}: must be an integer > 0",
                    raw.max_dispatch_delay_ms
                ),
            );
        } else if raw.max_dispatch_delay_ms < raw.min_dispatch_delay_ms && !defect!(D4) {
            problem(
                vec!["min_dispatch_delay_ms", "max_dispatch_delay_ms"],
                format!(
                    "min_dispatch_delay_ms = {} is above max_dispatch_delay_ms = {}: the floor must not exceed the ceiling",
                    raw.min_dispatch_delay_ms, raw.max_dispatch_delay_ms
                ),
            );
        }
        if !raw.backoff_multiplier.is_finite() || raw.backoff_multiplier <= 1.0 {
            problem(
                vec!["backoff_multiplier"],
                format!(
                    "backoff_multiplier = {}: must be a finite number > 1.0",
                    raw.backoff_multiplier
                ),
            );
        }
        if raw.recovery_step_ms < 0 {
            problem(
                vec!["recovery_step_ms"],
                format!(
                    "recovery_step_ms = {}: must be an integer >= 0",
                    raw.recovery_step_ms
                ),
            );
        } else if raw.recovery_step_ms == 0 && raw.min_dispatch_delay_ms == 0 && !defect!(D9) {
            problem(
                vec!["min_dispatch_delay_ms", "recovery_step_ms"],
                "min_dispatch_delay_ms = 0 with recovery_step_ms = 0: failures would be retried in a storm with no delay at all; set one of them above 0".to_string(),
            );
        }
        if raw.max_capacity_retry_seconds <= 0 {
            problem(
                vec!["max_capacity_retry_seconds"],
                format!(
                    "max_capacity_retry_seconds = {}: must be an integer > 0",
                    raw.max_capacity_retry_seconds
                ),
            );
        }
        if raw.max_retry_after_ms <= 0 {
            problem(
                vec!["max_retry_after_ms"],
                format!(
                    "max_retry_after_ms = {}: must be an integer > 0",
                    raw.max_retry_after_ms
                ),
            );
        }
        for (field, value) in [
            ("requests_per_minute", raw.requests_per_minute),
            ("tokens_per_minute", raw.tokens_per_minute),
        ] {
            if let Some(v) = value.filter(|v| *v < 1) {
                problem(
                    vec![field],
                    format!("{field} = {v}: must be an integer >= 1 (or left out for no budget)"),
                );
            }
        }
        let gate = match raw.gate.as_str() {
            "aimd" => Some(GatePolicy::Aimd),
            "min" => Some(GatePolicy::Min),
            other => {
                problem(
                    vec!["gate"],
                    format!("gate = {other:?}: must be \"aimd\" or \"min\""),
                );
                None
            }
        };
        match gate {
            Some(gate) if problems.is_empty() => Ok(PoolConfig {
                // Each conversion below is of a value checked non-negative above.
                pool_size: usize::try_from(raw.pool_size).unwrap_or(usize::MAX),
                min_dispatch_delay_ms: raw.min_dispatch_delay_ms.unsigned_abs(),
                max_dispatch_delay_ms: raw.max_dispatch_delay_ms.unsigned_abs(),
                backoff_multiplier: raw.backoff_multiplier,
                recovery_step_ms: raw.recovery_step_ms.unsigned_abs(),
                max_capacity_retry_seconds: raw.max_capacity_retry_seconds.unsigned_abs(),
                gate,
                honour_retry_after: raw.honour_retry_after,
                max_retry_after_ms: raw.max_retry_after_ms.unsigned_abs(),
                requests_per_minute: raw.requests_per_minute.map(i64::unsigned_abs),
                tokens_per_minute: raw.tokens_per_minute.map(i64::unsigned_abs),
            }),
            _ => Err(ConfigError { problems }),
        }
    }
}

/// Builds a [`PoolConfig`] from the model's defaults, one field at a time; `build`
/// validates, so a builder never yields an invalid configuration.
///
/// ```
/// use paceline_core::{GatePolicy, PoolConfig};
/// let config = PoolConfig::builder().pool_size(8).gate(GatePolicy::Min).build()?;
/// assert_eq!((config.pool_size(), config.recovery_step_ms()), (8, 50));
/// assert!(PoolConfig::builder().pool_size(0).build().is_err());
/// # Ok::<(), paceline_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfigBuilder {
    raw: RawPoolConfig,
}

impl PoolConfigBuilder {
    /// Permits: most attempts in flight at once.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.raw.pool_size = i64::try_from(n).unwrap_or(i64::MAX);
        self
    }
    /// The floor of the throttle's delay `D`, and the `min` gate's spacing.
    pub fn min_dispatch_delay_ms(mut self, ms: u64) -> Self {
        self.raw.min_dispatch_delay_ms = i64::try_from(ms).unwrap_or(i64::MAX);
        self
    }
    /// The ceiling of `D`.
    pub fn max_dispatch_delay_ms(mut self, ms: u64) -> Self {
        self.raw.max_dispatch_delay_ms = i64::try_from(ms).unwrap_or(i64::MAX);
        self
    }
    /// How much a failure multiplies `D`.
    pub fn backoff_multiplier(mut self, m: f64) -> Self {
        self.raw.backoff_multiplier = m;
        self
    }
    /// How much a success takes off `D`.
    pub fn recovery_step_ms(mut self, ms: u64) -> Self {
        self.raw.recovery_step_ms = i64::try_from(ms).unwrap_or(i64::MAX);
        self
    }
    /// A row's retry budget, from its first permit.
    pub fn max_capacity_retry_seconds(mut self, s: u64) -> Self {
        self.raw.max_capacity_retry_seconds = i64::try_from(s).unwrap_or(i64::MAX);
        self
    }
    /// How the gate spaces dispatches.
    pub fn gate(mut self, gate: GatePolicy) -> Self {
        self.raw.gate = gate.as_str().to_string();
        self
    }
    /// Whether a `Retry-After` pauses the whole pool (default true).
    pub fn honour_retry_after(mut self, on: bool) -> Self {
        self.raw.honour_retry_after = on;
        self
    }
    /// The longest server wait obeyed (default 60 000 ms).
    pub fn max_retry_after_ms(mut self, ms: u64) -> Self {
        self.raw.max_retry_after_ms = i64::try_from(ms).unwrap_or(i64::MAX);
        self
    }
    /// The pool's own request budget per minute.
    pub fn requests_per_minute(mut self, n: u64) -> Self {
        self.raw.requests_per_minute = Some(i64::try_from(n).unwrap_or(i64::MAX));
        self
    }
    /// The pool's own token budget per minute.
    pub fn tokens_per_minute(mut self, n: u64) -> Self {
        self.raw.tokens_per_minute = Some(i64::try_from(n).unwrap_or(i64::MAX));
        self
    }
    /// Validate: the configuration, or every rule it breaks.
    pub fn build(self) -> Result<PoolConfig, ConfigError> {
        PoolConfig::try_from(self.raw)
    }
}

impl PoolConfig {
    /// A builder starting from the model's defaults.
    pub fn builder() -> PoolConfigBuilder {
        PoolConfigBuilder {
            raw: RawPoolConfig::default(),
        }
    }

    /// The configuration as it would be written, for saving scenarios and reports.
    pub fn to_raw(&self) -> RawPoolConfig {
        // Every field fits: construction checked them from i64 values.
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        RawPoolConfig {
            pool_size: i64::try_from(self.pool_size).unwrap_or(i64::MAX),
            min_dispatch_delay_ms: int(self.min_dispatch_delay_ms),
            max_dispatch_delay_ms: int(self.max_dispatch_delay_ms),
            backoff_multiplier: self.backoff_multiplier,
            recovery_step_ms: int(self.recovery_step_ms),
            max_capacity_retry_seconds: int(self.max_capacity_retry_seconds),
            gate: self.gate.as_str().to_string(),
            honour_retry_after: self.honour_retry_after,
            max_retry_after_ms: int(self.max_retry_after_ms),
            requests_per_minute: self.requests_per_minute.map(int),
            tokens_per_minute: self.tokens_per_minute.map(int),
        }
    }

    /// The same configuration under another gate policy: no rule ties the gate to the
    /// other fields, so the result is valid too.
    pub fn with_gate(mut self, gate: GatePolicy) -> Self {
        self.gate = gate;
        self
    }

    /// Permits: most attempts in flight at once.
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }
    /// The floor of `D`, and the `min` gate's spacing.
    pub fn min_dispatch_delay_ms(&self) -> u64 {
        self.min_dispatch_delay_ms
    }
    /// The ceiling of `D`.
    pub fn max_dispatch_delay_ms(&self) -> u64 {
        self.max_dispatch_delay_ms
    }
    /// How much a failure multiplies `D`.
    pub fn backoff_multiplier(&self) -> f64 {
        self.backoff_multiplier
    }
    /// How much a success takes off `D`.
    pub fn recovery_step_ms(&self) -> u64 {
        self.recovery_step_ms
    }
    /// How the gate spaces dispatches.
    pub fn gate(&self) -> GatePolicy {
        self.gate
    }
    /// Whether a capacity answer's `Retry-After` pauses the whole pool.
    pub fn honour_retry_after(&self) -> bool {
        self.honour_retry_after
    }
    /// The longest server wait obeyed; longer ones are clamped to it.
    pub fn max_retry_after(&self) -> Duration {
        Duration::from_millis(self.max_retry_after_ms)
    }
    /// The pool's own request budget per minute, if any.
    pub fn requests_per_minute(&self) -> Option<u64> {
        self.requests_per_minute
    }
    /// The pool's own token budget per minute, if any.
    pub fn tokens_per_minute(&self) -> Option<u64> {
        self.tokens_per_minute
    }
    /// The retry budget that starts when a row takes its first permit.
    pub fn retry_budget(&self) -> Duration {
        Duration::from_secs(self.max_capacity_retry_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(edit: impl FnOnce(&mut RawPoolConfig)) -> Result<PoolConfig, ConfigError> {
        let mut raw = RawPoolConfig::default();
        edit(&mut raw);
        PoolConfig::try_from(raw)
    }

    fn rejects(field: &str, value: &str, edit: impl FnOnce(&mut RawPoolConfig)) {
        let err = with(edit).expect_err("configuration should be rejected");
        assert!(err.names(field), "{err} does not name {field}");
        let text = err.to_string();
        assert!(text.contains(field) && text.contains(value), "{text}");
    }

    #[test]
    fn defaults_are_the_model_table() {
        let c = with(|_| {}).expect("defaults are valid");
        assert_eq!(c, PoolConfig::default());
        assert_eq!(c.pool_size(), 1);
        assert_eq!(c.max_dispatch_delay_ms(), 5000);
        assert_eq!(c.gate(), GatePolicy::Aimd);
        assert_eq!(c.retry_budget(), Duration::from_secs(3600));
    }

    #[test]
    fn each_rule_rejects_its_bad_value_naming_the_field() {
        rejects("pool_size", "0", |r| r.pool_size = 0);
        rejects("pool_size", "-3", |r| r.pool_size = -3);
        rejects("min_dispatch_delay_ms", "-1", |r| {
            r.min_dispatch_delay_ms = -1
        });
        rejects("max_dispatch_delay_ms", "0", |r| {
            r.max_dispatch_delay_ms = 0
        });
        rejects("max_dispatch_delay_ms", "200", |r| {
            r.min_dispatch_delay_ms = 300;
            r.max_dispatch_delay_ms = 200;
        });
        rejects("min_dispatch_delay_ms", "300", |r| {
            r.min_dispatch_delay_ms = 300;
            r.max_dispatch_delay_ms = 200;
        });
        rejects("backoff_multiplier", "1", |r| r.backoff_multiplier = 1.0);
        rejects("backoff_multiplier", "NaN", |r| {
            r.backoff_multiplier = f64::NAN
        });
        rejects("backoff_multiplier", "inf", |r| {
            r.backoff_multiplier = f64::INFINITY
        });
        rejects("recovery_step_ms", "-5", |r| r.recovery_step_ms = -5);
        rejects("recovery_step_ms", "0", |r| {
            r.recovery_step_ms = 0;
            r.min_dispatch_delay_ms = 0;
        });
        rejects("max_capacity_retry_seconds", "0", |r| {
            r.max_capacity_retry_seconds = 0
        });
        rejects("gate", "sideways", |r| r.gate = "sideways".into());
        rejects("max_retry_after_ms", "0", |r| r.max_retry_after_ms = 0);
        rejects("requests_per_minute", "0", |r| {
            r.requests_per_minute = Some(0)
        });
        rejects("tokens_per_minute", "-4", |r| {
            r.tokens_per_minute = Some(-4)
        });
    }

    #[test]
    fn provider_fields_default_to_obeying_the_server_without_budgets() {
        let c = PoolConfig::default();
        assert!(c.honour_retry_after());
        assert_eq!(c.max_retry_after(), Duration::from_secs(60));
        assert_eq!(
            (c.requests_per_minute(), c.tokens_per_minute()),
            (None, None)
        );
        let b = PoolConfig::builder()
            .requests_per_minute(490)
            .tokens_per_minute(29_000)
            .build()
            .expect("valid budgets");
        assert_eq!(
            (b.requests_per_minute(), b.tokens_per_minute()),
            (Some(490), Some(29_000))
        );
    }

    #[test]
    fn all_problems_are_reported_together() {
        let err = with(|r| {
            r.pool_size = 0;
            r.gate = "x".into();
        })
        .expect_err("two rules broken");
        assert_eq!(err.problems.len(), 2);
        assert!(err.names("pool_size") && err.names("gate"));
    }

    #[test]
    fn edge_values_are_accepted() {
        let c = with(|r| {
            r.min_dispatch_delay_ms = 700;
            r.max_dispatch_delay_ms = 700;
        })
        .expect("min = max is valid");
        assert_eq!(c.min_dispatch_delay_ms(), 700);
        with(|r| {
            r.recovery_step_ms = 0;
            r.min_dispatch_delay_ms = 10;
        })
        .expect("step 0 is fine above a zero floor");
        let huge = with(|r| {
            r.max_dispatch_delay_ms = i64::MAX;
            r.max_capacity_retry_seconds = i64::MAX;
            r.pool_size = i64::MAX;
        })
        .expect("huge values are valid");
        assert_eq!(huge.to_raw().max_dispatch_delay_ms, i64::MAX);
    }

    #[test]
    fn deserialises_from_toml_and_rejects_unknown_fields() {
        let c: PoolConfig = toml::from_str("pool_size = 4\ngate = \"min\"\nbackoff_multiplier = 3")
            .expect("valid table");
        assert_eq!(c.pool_size(), 4);
        assert_eq!(c.gate(), GatePolicy::Min);
        assert_eq!(c.backoff_multiplier(), 3.0);
        let err = toml::from_str::<PoolConfig>("pool_sise = 4").expect_err("typo");
        assert!(err.to_string().contains("pool_sise"), "{err}");
        let err = toml::from_str::<PoolConfig>("gate = \"sideways\"").expect_err("bad gate");
        assert!(err.to_string().contains("gate"), "{err}");
    }

    #[test]
    fn round_trips_through_raw() {
        let c = with(|r| {
            r.pool_size = 3;
            r.gate = "min".into();
            r.backoff_multiplier = 1.5;
        })
        .expect("valid");
        assert_eq!(PoolConfig::try_from(c.to_raw()), Ok(c));
    }
}
