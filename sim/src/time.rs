//! Virtual time: integer microseconds, and how they meet the pool's `Duration`s and the
//! user's milliseconds.

use std::time::Duration;

/// Pool time as virtual microseconds (the simulator only ever feeds whole ones).
pub fn us(t: Duration) -> u64 {
    u64::try_from(t.as_micros()).unwrap_or(u64::MAX)
}

/// Virtual microseconds as pool time.
pub fn time(t_us: u64) -> Duration {
    Duration::from_micros(t_us)
}

/// Pool time rounded up to the microsecond, so a wake-up is never early.
pub fn ceil_us(t: Duration) -> u64 {
    u64::try_from(t.as_nanos().div_ceil(1000)).unwrap_or(u64::MAX)
}

/// Microseconds written as milliseconds, without trailing zeros: `590`, `0.5`.
pub fn ms(t_us: u64) -> String {
    if t_us.is_multiple_of(1000) {
        (t_us / 1000).to_string()
    } else {
        format!("{}", t_us as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_the_safe_way() {
        assert_eq!(ceil_us(Duration::from_nanos(1_000_001)), 1001);
        assert_eq!(ceil_us(Duration::from_nanos(1_000_000)), 1000);
        assert_eq!(us(time(42)), 42);
        assert_eq!(ms(590_000), "590");
        assert_eq!(ms(1_500), "1.5");
    }
}
