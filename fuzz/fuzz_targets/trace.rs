//! Fuzz target: arbitrary bytes as a trace CSV: read and verified within the trace limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = paceline_harness::fuzz::trace(data);
});
