//! The AIMD throttle: the pool's current dispatch delay `D`.
//!
//! Failures grow `D` multiplicatively (after a bootstrap to a useful base), successes shrink
//! it by a fixed step. `D` is fractional milliseconds because multipliers such as 1.5 make
//! it so; it becomes a [`Duration`] only at the gate, rounded up so that a spacing is never
//! shorter than the delay it stands for.

use std::time::Duration;

use crate::config::PoolConfig;

/// The current delay and the rule that moves it. `min <= D <= max` after every call.
#[derive(Debug, Clone, PartialEq)]
pub struct Throttle {
    delay_ms: f64,
    min_ms: f64,
    max_ms: f64,
    base_ms: f64,
    step_ms: f64,
    multiplier: f64,
}

impl Throttle {
    /// A throttle at its floor, `D = min_dispatch_delay_ms`.
    pub fn new(config: &PoolConfig) -> Self {
        let min_ms = config.min_dispatch_delay_ms() as f64;
        let step_ms = config.recovery_step_ms() as f64;
        Throttle {
            delay_ms: min_ms,
            min_ms,
            max_ms: config.max_dispatch_delay_ms() as f64,
            // Below this a failure jumps straight here: doubling a small floor (or zero)
            // would take many failures to reach a delay that relieves the API.
            base_ms: step_ms.max(min_ms),
            step_ms,
            multiplier: config.backoff_multiplier(),
        }
    }

    /// `D` in milliseconds.
    pub fn delay_ms(&self) -> f64 {
        self.delay_ms
    }

    /// `D` as a spacing, rounded up to the nanosecond.
    pub fn delay(&self) -> Duration {
        ms_to_duration(self.delay_ms)
    }

    /// A capacity or retryable failure: bootstrap to the base, or multiply; then cap.
    pub fn on_failure(&mut self) {
        let bootstrap = if defect!(D10) {
            self.delay_ms == 0.0
        } else {
            self.delay_ms < self.base_ms
        };
        let grown = if bootstrap {
            self.base_ms
        } else {
            self.delay_ms * self.multiplier
        };
        self.delay_ms = grown.min(self.max_ms);
    }

    /// A success: one step down, never below the floor.
    pub fn on_success(&mut self) {
        let stepped = self.delay_ms - self.step_ms;
        self.delay_ms = if defect!(D5) {
            stepped
        } else {
            stepped.max(self.min_ms)
        };
    }
}

/// Fractional milliseconds as a duration, rounded up; saturates instead of overflowing.
pub fn ms_to_duration(ms: f64) -> Duration {
    // `as` saturates for out-of-range floats, and `ms` is never NaN (config forbids it).
    Duration::from_nanos((ms * 1_000_000.0).ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawPoolConfig;

    fn throttle(min: i64, step: i64) -> Throttle {
        let raw = RawPoolConfig {
            min_dispatch_delay_ms: min,
            recovery_step_ms: step,
            ..RawPoolConfig::default()
        };
        Throttle::new(&PoolConfig::try_from(raw).expect("valid test config"))
    }

    #[test]
    fn defaults_double_from_the_step_up_to_the_ceiling() {
        let mut t = Throttle::new(&PoolConfig::default());
        assert_eq!(t.delay_ms(), 0.0);
        let seen: Vec<f64> = (0..9)
            .map(|_| {
                t.on_failure();
                t.delay_ms()
            })
            .collect();
        assert_eq!(
            seen,
            [
                50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 5000.0, 5000.0
            ]
        );
    }

    #[test]
    fn bootstrap_applies_again_after_recovering_to_a_floor_above_zero() {
        let mut t = throttle(10, 50);
        t.on_failure();
        t.on_failure();
        assert_eq!(t.delay_ms(), 100.0);
        for _ in 0..10 {
            t.on_success();
        }
        assert_eq!(t.delay_ms(), 10.0);
        t.on_failure();
        assert_eq!(t.delay_ms(), 50.0, "bootstrap to the base, not 2 x floor");
    }

    #[test]
    fn a_floor_above_the_step_never_pins() {
        let mut t = throttle(100, 50);
        assert_eq!(t.delay_ms(), 100.0);
        t.on_failure();
        assert_eq!(t.delay_ms(), 200.0);
        t.on_failure();
        assert_eq!(t.delay_ms(), 400.0);
        for _ in 0..20 {
            t.on_success();
        }
        assert_eq!(t.delay_ms(), 100.0);
        t.on_failure();
        assert_eq!(t.delay_ms(), 200.0);
    }

    #[test]
    fn success_floors_at_min_in_one_step() {
        let mut t = throttle(30, 500);
        t.on_failure();
        assert_eq!(t.delay_ms(), 500.0);
        t.on_success();
        assert_eq!(t.delay_ms(), 30.0);
    }

    #[test]
    fn spacing_rounds_up() {
        assert_eq!(ms_to_duration(0.0), Duration::ZERO);
        assert_eq!(ms_to_duration(1.5), Duration::from_micros(1500));
        assert_eq!(ms_to_duration(1e-7), Duration::from_nanos(1));
        assert_eq!(ms_to_duration(f64::MAX), Duration::from_nanos(u64::MAX));
    }
}
