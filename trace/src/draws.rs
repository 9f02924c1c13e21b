//! Draws for the differential tests: a fixed xorshift, so every run tests the same
//! sequences without a generator crate.

/// Numbers below the bound asked, from a fixed seed.
pub(crate) fn draws() -> impl FnMut(u64) -> u64 {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    move |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    }
}
