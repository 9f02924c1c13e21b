//! The fuzz targets: arbitrary bytes through each reader, holding it to its promises.
//!
//! Each target takes any bytes, returns how the input was judged ([`Case`]), and panics
//! only when a promise is broken: a refusal must name the file and a line within the
//! input, say what is wrong in at most [`MAX_MESSAGE`] characters without a Rust type
//! name, and a scenario that is accepted must run within its limits with the pool's
//! invariants holding. The `cargo fuzz` targets in `fuzz/` (nightly, by hand) and the
//! stable fuzz test `tests/fuzz.rs` (in CI) both call these, so the promises are written
//! once; a hang, a panic inside a reader or an abort is a finding too.

use std::path::Path;

use paceline_sim::{Scenario, ScenarioError, ScenarioLimits, decode};
use paceline_trace::{Invariant, ReadError, TraceLimits};
use paceline_verify::{PoolRules, PoolTable, Verdict, verify_trace};

use crate::expect::check_expectations;
use crate::run::check_run;

/// The longest message a refusal may carry: values in it are cut at 80 characters.
pub const MAX_MESSAGE: usize = 600;

/// How a fuzz case was judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Case {
    /// Read and, for a scenario, run: no invariant the real pool keeps was broken.
    Accepted,
    /// Refused, with the kind of refusal (its message's first words).
    Refused(String),
}

/// Small limits, so that a case runs in milliseconds; the promises are the same at any
/// limit.
pub fn scenario_limits() -> ScenarioLimits {
    ScenarioLimits {
        max_file_bytes: 1 << 20,
        max_rows_per_batch: 2_000,
        max_rows: 5_000,
        max_events: 50_000,
    }
}

/// Small trace limits for fuzzing.
pub fn trace_limits() -> TraceLimits {
    TraceLimits {
        max_file_bytes: 1 << 22,
        max_value_bytes: 256,
        max_rows_per_batch: 100_000,
        max_batches: 1_000,
        max_open_batches: 16,
        max_open_rows: 10_000,
    }
}

/// Words a message for users must not carry.
const RUST_WORDS: [&str; 9] = [
    "u64", "u32", "u16", "usize", "i64", "i128", "f64", "Option<", "Vec<",
];

fn check_message(message: &str, what: &str) {
    assert!(!message.is_empty(), "{what}: an empty message");
    let chars = message.chars().count();
    assert!(
        chars <= MAX_MESSAGE,
        "{what}: a message of {chars} characters: {}",
        message.chars().take(200).collect::<String>()
    );
    for word in RUST_WORDS {
        let typed = message.match_indices(word).any(|(at, _)| {
            let before = message.get(..at).and_then(|b| b.chars().next_back());
            let after = message
                .get(at + word.len()..)
                .and_then(|a| a.chars().next());
            before.is_none_or(|c| !c.is_alphanumeric())
                && after.is_none_or(|c| !c.is_alphanumeric())
        });
        assert!(!typed, "{what}: a Rust type name ({word}) in {message:?}");
    }
}

/// The first words of a message: the kind of refusal, for tallies.
fn kind(message: &str) -> String {
    message
        .split([':', '=', '`', '"'])
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(40)
        .collect()
}

fn check_scenario_error(e: &ScenarioError, path: &Path, text: Option<&str>) -> Case {
    assert_eq!(e.file, path, "the refusal names the file");
    check_message(&e.message, "scenario");
    if let Some(key) = &e.key {
        assert!(
            key.chars().count() <= 200,
            "a key path of {} chars",
            key.len()
        );
    }
    if let (Some(line), Some(text)) = (e.line, text) {
        let lines = text.matches('\n').count() + 1;
        assert!((1..=lines).contains(&line), "line {line} of {lines}: {e}");
    }
    Case::Refused(kind(&e.message))
}

/// A scenario file's bytes: read, validated and, if accepted, run (both runs of I8 and
/// the verifier) within [`scenario_limits`].
pub fn scenario(bytes: &[u8]) -> Case {
    let path = Path::new("fuzz.toml");
    let limits = scenario_limits();
    if bytes.len() as u64 > limits.max_file_bytes {
        return Case::Refused("too large".into());
    }
    let text = match decode(path, bytes.to_vec()) {
        Ok(t) => t,
        Err(e) => return check_scenario_error(&e, path, None),
    };
    let scenario = match Scenario::parse_within(path, &text, &limits) {
        Ok(s) => s,
        Err(e) => return check_scenario_error(&e, path, Some(&text)),
    };
    assert!(scenario.row_count() <= limits.max_rows);
    assert!(
        scenario
            .batches
            .iter()
            .all(|b| b.rows.len() as u64 <= limits.max_rows_per_batch)
    );
    run_accepted(&scenario)
}

/// Run an accepted scenario: it ends, and the real pool breaks none of the invariants
/// it keeps whatever the scenario (I4 aside: a horizon can cut any run short).
fn run_accepted(scenario: &Scenario) -> Case {
    let run = match check_run(scenario, scenario.seed, None) {
        Ok(run) => run,
        // The run budget: refused, naming the limit.
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains("--max-events"), "{message}");
            return Case::Refused("run budget".into());
        }
    };
    assert!(run.summary.events <= scenario.max_events);
    for invariant in [
        Invariant::I1,
        Invariant::I2,
        Invariant::I3,
        Invariant::I5,
        Invariant::I6,
        Invariant::I7,
        Invariant::I8,
    ] {
        let verdict = run.report.verdicts.get(&invariant);
        assert!(
            !matches!(verdict, Some(Verdict::Violated { .. })),
            "the real pool broke {invariant} on an accepted scenario: {verdict:?}\n{}",
            scenario.to_toml()
        );
    }
    for m in check_expectations(scenario, &run.summary) {
        assert!(m.key.starts_with("expect."), "{m}");
        check_message(&m.to_string(), "expectation");
    }
    Case::Accepted
}

/// The pool the trace target checks against.
fn trace_rules() -> PoolRules {
    PoolTable {
        pool_size: 4,
        min_dispatch_delay_ms: 100,
        max_dispatch_delay_ms: 5000,
        backoff_multiplier: 2.0,
        recovery_step_ms: 500,
        ..PoolTable::default()
    }
    .rules()
}

/// A trace's bytes, verified within [`trace_limits`]: a verdict on every invariant, or a
/// refusal naming a line of the input.
pub fn trace(bytes: &[u8]) -> Case {
    match verify_trace(bytes, trace_rules(), 0, &trace_limits()) {
        Ok((report, _)) => {
            assert!(report.verdicts.contains_key(&Invariant::I1));
            Case::Accepted
        }
        Err(ReadError { line, message }) => {
            let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            assert!(
                (1..=lines + 1).contains(&line),
                "line {line} of {lines}: {message}"
            );
            check_message(&message, "trace");
            Case::Refused(kind(&message))
        }
    }
}

/// A small scenario whose `[expect]` table is `expect`: three rows with ids, so that
/// expectations can name them.
pub const EXPECT_BASE: &str = r#"name = "fuzz-expect"
[pool]
pool_size = 2
min_dispatch_delay_ms = 10
[[batches]]
rows = [{ id = "A", attempts = ["capacity", "ok"] }, { id = "B", attempts = ["permanent"] }, { id = "C" }]
[expect]
"#;

/// The `[expect]` matcher: `bytes` as the body of an `[expect]` table under
/// [`EXPECT_BASE`], validated, run and matched.
pub fn expect(bytes: &[u8]) -> Case {
    let mut text = EXPECT_BASE.as_bytes().to_vec();
    text.extend_from_slice(bytes);
    scenario(&text)
}
