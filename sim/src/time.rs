//! Virtual time: integer microseconds, and how they meet the pool's `Duration`s.

use std::time::Duration;

/// Pool time as virtual microseconds (the simulator only ever feeds whole ones).
///
/// Here and in [`ceil_us`], whole seconds and their fraction are counted apart in `u64`:
/// through `Duration`'s 128-bit counts, a division is a call (`__udivti3`), and these run
/// for every event and every wake-up.
pub fn us(t: Duration) -> u64 {
    micros(t.as_secs(), u64::from(t.subsec_micros()))
}

/// `secs` seconds and `micros` microseconds, in microseconds (saturated).
fn micros(secs: u64, micros: u64) -> u64 {
    secs.checked_mul(1_000_000)
        .and_then(|us| us.checked_add(micros))
        .unwrap_or(u64::MAX)
}

/// Virtual microseconds as pool time.
pub fn time(t_us: u64) -> Duration {
    Duration::from_micros(t_us)
}

/// Pool time rounded up to the microsecond, so a wake-up is never early.
pub fn ceil_us(t: Duration) -> u64 {
    micros(t.as_secs(), u64::from(t.subsec_nanos().div_ceil(1000)))
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

    /// Counted apart, seconds and their fraction give what the 128-bit counts give, up
    /// to the saturation at `u64::MAX`.
    #[test]
    fn seconds_and_their_fraction_count_as_the_whole() {
        let wide_us = |t: Duration| u64::try_from(t.as_micros()).unwrap_or(u64::MAX);
        let wide_ceil =
            |t: Duration| u64::try_from(t.as_nanos().div_ceil(1000)).unwrap_or(u64::MAX);
        let near_max = u64::MAX / 1_000_000;
        for secs in [0, 1, 59, near_max - 1, near_max, near_max + 1, u64::MAX] {
            for nanos in [
                0,
                1,
                999,
                1000,
                1001,
                551_615_999,
                551_616_000,
                999_999_001,
                999_999_999,
            ] {
                let t = Duration::new(secs, nanos);
                assert_eq!(us(t), wide_us(t), "{t:?}");
                assert_eq!(ceil_us(t), wide_ceil(t), "{t:?}");
            }
        }
    }
}
