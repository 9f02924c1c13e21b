//! Virtual time: integer microseconds, and how they meet the pool's `Duration`s.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_the_safe_way() {
        assert_eq!(ceil_us(Duration::from_nanos(1_000_001)), 1001);
        assert_eq!(ceil_us(Duration::from_nanos(1_000_000)), 1000);
        assert_eq!(us(time(42)), 42);
    }
}
