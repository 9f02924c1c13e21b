//! Times as users read them.

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
    #[test]
    fn milliseconds_without_trailing_zeros() {
        assert_eq!(super::ms(590_000), "590");
        assert_eq!(super::ms(1_500), "1.5");
        assert_eq!(super::ms(0), "0");
    }
}
