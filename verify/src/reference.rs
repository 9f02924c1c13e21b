//! The oracle: the model's rules written afresh, independent of `paceline-core`.
//!
//! If the verifier called the core's throttle or validation, a defect there would
//! agree with itself and pass. So the few rules the checks need (the AIMD law, the
//! gate's spacing, the configuration table) are restated here from the model, and only
//! plain numbers cross over from a configuration.

use paceline_core::{GatePolicy, PoolConfig, RawPoolConfig};

/// The numbers of a pool configuration that the checks need.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolRules {
    pub pool_size: u64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub multiplier: f64,
    pub step_ms: f64,
    pub budget_us: u64,
    /// Whether the gate spaces by `D` (`aimd`) or by the floor only (`min`).
    pub aimd_gate: bool,
}

impl PoolRules {
    pub fn of(config: &PoolConfig) -> Self {
        PoolRules {
            pool_size: config.pool_size() as u64,
            min_ms: config.min_dispatch_delay_ms() as f64,
            max_ms: config.max_dispatch_delay_ms() as f64,
            multiplier: config.backoff_multiplier(),
            step_ms: config.recovery_step_ms() as f64,
            budget_us: u64::try_from(config.retry_budget().as_micros()).unwrap_or(u64::MAX),
            aimd_gate: config.gate() == GatePolicy::Aimd,
        }
    }

    /// The spacing required before a dispatch while the throttle is at `d_ms`.
    pub fn spacing_ms(&self, d_ms: f64) -> f64 {
        if self.aimd_gate { d_ms } else { self.min_ms }
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

    pub fn d_ms(&self) -> f64 {
        self.d_ms
    }

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

    pub fn success(&mut self, rules: &PoolRules) {
        let next = self.d_ms - rules.step_ms;
        self.d_ms = if next < rules.min_ms {
            rules.min_ms
        } else {
            next
        };
    }
}

/// Whether the model's configuration table accepts `raw` (I9's oracle).
pub fn config_is_valid(raw: &RawPoolConfig) -> bool {
    raw.pool_size >= 1
        && raw.min_dispatch_delay_ms >= 0
        && raw.max_dispatch_delay_ms > 0
        && raw.max_dispatch_delay_ms >= raw.min_dispatch_delay_ms
        && raw.backoff_multiplier.is_finite()
        && raw.backoff_multiplier > 1.0
        && raw.recovery_step_ms >= 0
        && !(raw.recovery_step_ms == 0 && raw.min_dispatch_delay_ms == 0)
        && raw.max_capacity_retry_seconds > 0
        && (raw.gate == "aimd" || raw.gate == "min")
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
        let ok = RawPoolConfig::default();
        assert!(config_is_valid(&ok));
        let bad = |edit: fn(&mut RawPoolConfig)| {
            let mut r = ok.clone();
            edit(&mut r);
            !config_is_valid(&r)
        };
        assert!(bad(|r| r.pool_size = 0));
        assert!(bad(|r| {
            r.min_dispatch_delay_ms = 10;
            r.max_dispatch_delay_ms = 5;
        }));
        assert!(bad(|r| r.recovery_step_ms = 0));
        assert!(bad(|r| r.backoff_multiplier = f64::NAN));
        assert!(bad(|r| r.gate = "Aimd".into()));
    }
}
