//! Fuzz target: arbitrary bytes as the body of an `[expect]` table under a small scenario: validated, run and matched.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = paceline_harness::fuzz::expect(data);
});
