//! The oracle: the model's rules written afresh, independent of `paceline-core`.
//!
//! If the verifier called the core's throttle or validation, a defect there would
//! agree with itself and pass. So the few rules the checks need (the AIMD law, the
//! gate's spacing, the configuration table) are restated here from the model, and only
//! plain numbers cross over from a configuration.

/// The numbers of a pool configuration that the checks need, in the model's units.
///
/// Built by whoever knows the configuration (the harness from a scenario, `check-trace`
/// from a `[pool]` table) through [`PoolTable::rules`]; nothing here reads a file or
/// calls the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolRules {
    /// Permits: most attempts in flight at once.
    pub pool_size: u64,
    /// The floor of `D`, `min_dispatch_delay_ms`.
    pub min_ms: f64,
    /// The ceiling of `D`, `max_dispatch_delay_ms`.
    pub max_ms: f64,
    /// `backoff_multiplier`.
    pub multiplier: f64,
    /// `recovery_step_ms`.
    pub step_ms: f64,
    /// A row's retry budget, `max_capacity_retry_seconds`, in microseconds.
    pub budget_us: u64,
    /// Whether the gate spaces by `D` (`aimd`) or by the floor only (`min`).
    pub aimd_gate: bool,
    /// Whether a capacity answer's wait pauses the whole pool.
    pub honour_retry_after: bool,
    /// The longest server wait the pool must obey, in microseconds.
    pub max_retry_after_us: u64,
    /// The pool's own request budget per minute, if any.
    pub requests_per_minute: Option<u64>,
    /// The pool's own token budget per minute, if any.
    pub tokens_per_minute: Option<u64>,
}

impl PoolRules {
    /// The spacing required before a dispatch while the throttle is at `d_ms`.
    pub fn spacing_ms(&self, d_ms: f64) -> f64 {
        if self.aimd_gate { d_ms } else { self.min_ms }
    }
}

/// A `[pool]` table as plain numbers, valid or not: what a user wrote, for the I9 oracle.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolTable {
    /// `pool_size`.
    pub pool_size: i64,
    /// `min_dispatch_delay_ms`.
    pub min_dispatch_delay_ms: i64,
    /// `max_dispatch_delay_ms`.
    pub max_dispatch_delay_ms: i64,
    /// `backoff_multiplier`.
    pub backoff_multiplier: f64,
    /// `recovery_step_ms`.
    pub recovery_step_ms: i64,
    /// `max_capacity_retry_seconds`.
    pub max_capacity_retry_seconds: i64,
    /// `gate`, as written.
    pub gate: String,
    /// `honour_retry_after`.
    pub honour_retry_after: bool,
    /// `max_retry_after_ms`.
    pub max_retry_after_ms: i64,
    /// `requests_per_minute`, if given.
    pub requests_per_minute: Option<i64>,
    /// `tokens_per_minute`, if given.
    pub tokens_per_minute: Option<i64>,
}

impl Default for PoolTable {
    /// The model's defaults, restated: a pool of one, no floor, a 5 s ceiling, doubling,
    /// 50 ms steps, an hour's budget, the `aimd` gate, obeying server waits up to a minute,
    /// no client budget.
    fn default() -> Self {
        PoolTable {
            pool_size: 1,
            min_dispatch_delay_ms: 0,
            max_dispatch_delay_ms: 5000,
            backoff_multiplier: 2.0,
            recovery_step_ms: 50,
            max_capacity_retry_seconds: 3600,
            gate: "aimd".into(),
            honour_retry_after: true,
            max_retry_after_ms: 60_000,
            requests_per_minute: None,
            tokens_per_minute: None,
        }
    }
}

impl PoolTable {
    /// The model's configuration table, restated: the names of the rules these numbers
    /// break, empty when the model accepts them (I9's oracle).
    pub fn problems(&self) -> Vec<&'static str> {
        let rules: [(bool, &'static str); 12] = [
            (self.pool_size >= 1, "pool_size >= 1"),
            (
                self.min_dispatch_delay_ms >= 0,
                "min_dispatch_delay_ms >= 0",
            ),
            (self.max_dispatch_delay_ms > 0, "max_dispatch_delay_ms > 0"),
            (
                self.max_dispatch_delay_ms >= self.min_dispatch_delay_ms,
                "max_dispatch_delay_ms >= min_dispatch_delay_ms",
            ),
            (
                self.backoff_multiplier.is_finite() && self.backoff_multiplier > 1.0,
                "backoff_multiplier finite and > 1",
            ),
            (self.recovery_step_ms >= 0, "recovery_step_ms >= 0"),
            (
                !(self.recovery_step_ms == 0 && self.min_dispatch_delay_ms == 0),
                "recovery_step_ms not 0 when min_dispatch_delay_ms is 0",
            ),
            (
                self.max_capacity_retry_seconds > 0,
                "max_capacity_retry_seconds > 0",
            ),
            (
                self.gate == "aimd" || self.gate == "min",
                "gate is \"aimd\" or \"min\"",
            ),
            (self.max_retry_after_ms > 0, "max_retry_after_ms > 0"),
            (
                self.requests_per_minute.is_none_or(|n| n >= 1),
                "requests_per_minute >= 1",
            ),
            (
                self.tokens_per_minute.is_none_or(|n| n >= 1),
                "tokens_per_minute >= 1",
            ),
        ];
        rules
            .into_iter()
            .filter(|(holds, _)| !holds)
            .map(|(_, rule)| rule)
            .collect()
    }

    /// The rules the checks need. Computed for any table (negative numbers read as 0), so
    /// a pool that accepted a table the model rejects is still checked on its trace; the
    /// rejection itself is I9's business ([`PoolTable::problems`]).
    pub fn rules(&self) -> PoolRules {
        let non_negative = |v: i64| u64::try_from(v).unwrap_or(0);
        PoolRules {
            pool_size: non_negative(self.pool_size),
            min_ms: non_negative(self.min_dispatch_delay_ms) as f64,
            max_ms: non_negative(self.max_dispatch_delay_ms) as f64,
            multiplier: self.backoff_multiplier,
            step_ms: non_negative(self.recovery_step_ms) as f64,
            budget_us: non_negative(self.max_capacity_retry_seconds).saturating_mul(1_000_000),
            aimd_gate: self.gate == "aimd",
            honour_retry_after: self.honour_retry_after,
            max_retry_after_us: non_negative(self.max_retry_after_ms).saturating_mul(1000),
            requests_per_minute: self.requests_per_minute.map(non_negative),
            tokens_per_minute: self.tokens_per_minute.map(non_negative),
        }
    }
}

/// The AIMD law of the model, as a second implementation.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceThrottle {
    d_ms: f64,
}

impl ReferenceThrottle {
    /// `D` starts at the floor.
    pub fn new(rules: &PoolRules) -> Self {
        ReferenceThrottle { d_ms: rules.min_ms }
    }

    /// The current delay `D`, in milliseconds.
    pub fn d_ms(&self) -> f64 {
        self.d_ms
    }

    /// A capacity or retryable failure recorded: bootstrap to the base, else multiply,
    /// capped at the ceiling.
    pub fn failure(&mut self, rules: &PoolRules) {
        let base = if rules.step_ms > rules.min_ms {
            rules.step_ms
        } else {
            rules.min_ms
        };
        let next = if self.d_ms < base {
            base
        } else {
            self.d_ms * rules.multiplier
        };
        self.d_ms = if next > rules.max_ms {
            rules.max_ms
        } else {
            next
        };
    }

    /// A success: one recovery step down, never below the floor.
    pub fn success(&mut self, rules: &PoolRules) {
        let next = self.d_ms - rules.step_ms;
        self.d_ms = if next < rules.min_ms {
            rules.min_ms
        } else {
            next
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(min: f64, step: f64) -> PoolRules {
        PoolRules {
            pool_size: 1,
            min_ms: min,
            max_ms: 5000.0,
            multiplier: 2.0,
            step_ms: step,
            budget_us: 1,
            aimd_gate: true,
            honour_retry_after: true,
            max_retry_after_us: 0,
            requests_per_minute: None,
            tokens_per_minute: None,
        }
    }

    #[test]
    fn the_reference_follows_the_model_table() {
        let r = rules(0.0, 50.0);
        let mut t = ReferenceThrottle::new(&r);
        let seen: Vec<f64> = (0..9)
            .map(|_| {
                t.failure(&r);
                t.d_ms()
            })
            .collect();
        assert_eq!(
            seen,
            [
                50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 5000.0, 5000.0
            ]
        );
        let r = rules(10.0, 50.0);
        let mut t = ReferenceThrottle::new(&r);
        t.failure(&r);
        t.failure(&r);
        (0..10).for_each(|_| t.success(&r));
        assert_eq!(t.d_ms(), 10.0);
        t.failure(&r);
        assert_eq!(t.d_ms(), 50.0);
    }

    #[test]
    fn config_oracle_states_the_table() {
        let ok = PoolTable::default();
        assert!(ok.problems().is_empty());
        let rules = ok.rules();
        assert_eq!((rules.budget_us, rules.step_ms), (3_600_000_000, 50.0));
        let broken = |edit: fn(&mut PoolTable)| {
            let mut t = ok.clone();
            edit(&mut t);
            t.problems()
        };
        assert_eq!(broken(|t| t.pool_size = 0), ["pool_size >= 1"]);
        assert_eq!(
            broken(|t| {
                t.min_dispatch_delay_ms = 10;
                t.max_dispatch_delay_ms = 5;
            }),
            ["max_dispatch_delay_ms >= min_dispatch_delay_ms"]
        );
        assert_eq!(
            broken(|t| t.recovery_step_ms = 0),
            ["recovery_step_ms not 0 when min_dispatch_delay_ms is 0"]
        );
        assert_eq!(
            broken(|t| t.backoff_multiplier = f64::NAN),
            ["backoff_multiplier finite and > 1"]
        );
        assert_eq!(
            broken(|t| t.max_retry_after_ms = 0),
            ["max_retry_after_ms > 0"]
        );
        assert_eq!(
            broken(|t| t.tokens_per_minute = Some(0)),
            ["tokens_per_minute >= 1"]
        );
        assert_eq!(
            broken(|t| t.gate = "Aimd".into()),
            ["gate is \"aimd\" or \"min\""]
        );
    }
}
