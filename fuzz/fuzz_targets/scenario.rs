//! Fuzz target: arbitrary bytes as a scenario file: read, validated and, if accepted, run under the verifier.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = paceline_harness::fuzz::scenario(data);
});
