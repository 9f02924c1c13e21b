//! The planning figures on timelines worked out by hand: Worker A-D under both gates.
//! Each value below is read off the timeline in the scenario's description, not off the
//! program's output.

mod common;

use std::path::Path;

use common::{document, replay_then_check_trace, temp_dir, text};

use paceline_reports::figures::{Failures, Figures, FiguresSink, Latency, Limits, Waits};
use paceline_sim::{Scenario, simulate};
use paceline_trace::ResultKind;

/// The figures of the scenario's run on its own seed (no budgets to measure).
fn figures_of(file: &str) -> Figures {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let scenario = Scenario::load(&path).expect("library scenario");
    let mut sink = FiguresSink::new(Limits::default());
    let run = simulate(&scenario, scenario.seed, &mut sink).expect("in memory");
    sink.finish(Some(&run.ending))
}

fn ms(v: u64) -> u64 {
    v * 1000
}

/// Rows per minute of `rows` rows over `makespan_ms`.
fn per_min(rows: f64, makespan_ms: f64) -> f64 {
    rows * 60_000.0 / makespan_ms
}

fn assert_close(actual: Option<f64>, expected: f64) {
    let actual = actual.expect("a value");
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

#[test]
fn worker_a_d_under_the_min_gate() {
    // A fails at 0 (429) and backs off 500 ms; B, C, D go at 100, 200, 490 and succeed
    // at once; A is back at 500 and waits at the gate until 490 + 100 = 590.
    let f = figures_of("worker-a-d.toml");
    assert_eq!(f.makespan_us, ms(590));
    assert_eq!(f.rows, 4);
    assert_eq!(f.rows_with(ResultKind::Ok), 4);
    assert_eq!(f.unfinished, 0);
    assert_eq!(f.horizon_us, None);
    assert_close(f.rows_per_min, per_min(4.0, 590.0));
    assert_eq!(f.tokens_per_min, None, "the trace carries no tokens");
    assert_eq!((f.dispatches, f.retries), (5, 1));
    assert_close(f.attempts_per_row(), 1.25);
    assert_eq!(
        f.failures,
        Failures {
            capacity: 1,
            status_429: 1,
            ..Failures::default()
        }
    );
    // Submitted at 0, results at A 590, B 100, C 200, D 490: sorted 100, 200, 490, 590.
    // Nearest rank: p50 is the 2nd, p95 and p99 the 4th.
    assert_eq!(
        f.latency,
        Some(Latency {
            p50_us: ms(200),
            p95_us: ms(590),
            p99_us: ms(590),
            max_us: ms(590),
        })
    );
    assert_eq!(
        f.waits,
        Waits {
            permit_us: 0,
            gate_us: ms(90),
            // A capacity answer without retry_after_ms: whether it paused is unknown.
            paused_us: None,
            backoff_us: ms(500),
        }
    );
    // Every answer comes at once: never two rows at a time.
    assert_eq!((f.peak_permits, f.peak_in_flight), (1, 1));
    assert!(f.budgets.is_empty());
}

#[test]
fn worker_a_d_under_the_aimd_gate() {
    // A's failure at 0 raises D to 500 ms for the whole pool: B, C and D take permits
    // at 100, 200 and 490 but wait at the gate until 500, 600 and 700 (each success
    // steps D back to 100); A, back at 500, waits until 800.
    let f = figures_of("worker-a-d-aimd.toml");
    assert_eq!(f.makespan_us, ms(800));
    assert_close(f.rows_per_min, per_min(4.0, 800.0));
    assert_eq!((f.dispatches, f.retries), (5, 1));
    assert_eq!(f.failures.status_429, 1);
    // Results at B 500, C 600, D 700, A 800.
    assert_eq!(
        f.latency,
        Some(Latency {
            p50_us: ms(600),
            p95_us: ms(800),
            p99_us: ms(800),
            max_us: ms(800),
        })
    );
    // At the gate: B 400, C 400, D 210, A 300 ms.
    assert_eq!(f.waits.gate_us, ms(1310));
    assert_eq!((f.waits.permit_us, f.waits.backoff_us), (0, ms(500)));
    // At 500 ms A takes its permit while B, C and D still hold theirs.
    assert_eq!((f.peak_permits, f.peak_in_flight), (4, 1));
}

#[test]
fn a_recorded_trace_gives_the_same_figures_to_check_trace() {
    let check = replay_then_check_trace("scenarios/worker-a-d.toml", "figures-trace");
    let stdout = text(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{stdout}");
    for line in [
        "makespan: 590 ms",
        "rows: 4: ok 4, none unfinished",
        "attempts: 5, 1.25 per row (1 retry)",
        "latency: p50 200 ms, p95 590 ms, p99 590 ms, max 590 ms",
        "waiting: a row waited on average 0 ms for a permit, 22.5 ms at the gate, 125 ms in backoff",
    ] {
        assert!(stdout.contains(line), "{line} in {stdout}");
    }
}

#[test]
fn a_provider_outage_pauses_the_pool_for_its_length_and_one_last_wait() {
    // Every answer between 40 and 50 minutes is a 503 asking for 30 s: the pool is
    // paused from the first of them (just after 2 400 s) to 30 s after the last (just
    // before 3 000 s), and each paused row retries, so the pause is one stretch.
    let out = temp_dir("figures-outage");
    let (code, doc) = document(&[
        "replay",
        "scenarios/providers/outage-10min-50k.toml",
        "--json",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(0));
    let f = &doc["figures"];
    let paused_s = f["waiting_ms"]["paused"]
        .as_f64()
        .expect("the waits are in the trace")
        / 1e3;
    assert!((600.0..=630.0).contains(&paused_s), "{paused_s} s");
    assert_eq!(f["failures"]["by_status"]["503"], f["failures"]["total"]);
    assert_eq!(
        f["retries"], f["failures"]["total"],
        "each refusal is retried"
    );
    assert_eq!(
        (f["results"]["ok"].as_u64(), f["unfinished"].as_u64()),
        (Some(50_000), Some(0))
    );
    // The pool's own budget, 490 a minute, is used to the full in the busiest minute.
    assert_eq!(f["budgets"][0]["name"], "pool.requests_per_minute");
    assert_eq!(f["budgets"][0]["side"], "client");
    assert_eq!(f["budgets"][0]["peak_share"], 1.0);
    assert_eq!(f["budgets"][1]["name"], "service.limits.0");
}

#[test]
fn a_recorded_trace_is_measured_against_the_budgets_of_its_pool() {
    // The pool file's [pool] is all check-trace reads: its own budgets, not the provider's.
    let check = replay_then_check_trace(
        "scenarios/providers/openai-tier1-mini.toml",
        "figures-budgets",
    );
    let stdout = text(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{stdout}");
    assert!(
        stdout
            .contains("budget: pool.requests_per_minute (client budget, 490 requests per 60.0 s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("budget: pool.tokens_per_minute (client budget, 195000 tokens per 60.0 s)"),
        "{stdout}"
    );
    assert!(!stdout.contains("service.limits"), "{stdout}");
}
