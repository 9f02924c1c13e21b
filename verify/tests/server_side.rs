//! A trace recorded by the server (`paceline serve`) is judged for what a server can see:
//! spacing of arrivals by the floor, requests in flight, the pauses it asked for and the
//! client's budgets. The pool's own rows (I3 to I7) are skipped, never passed or failed.

use paceline_trace::{EventName, Invariant, TraceRow};
use paceline_verify::{PoolRules, PoolTable, Report, Verdict, Verifier};

fn rules(edit: impl FnOnce(&mut PoolTable)) -> PoolRules {
    let mut table = PoolTable {
        pool_size: 2,
        min_dispatch_delay_ms: 10,
        ..PoolTable::default()
    };
    edit(&mut table);
    assert!(table.problems().is_empty(), "valid test config");
    table.rules()
}

/// `t_ms event row detail`, one per line; rows are requests, attempt 1.
fn server_trace(text: &str) -> Vec<TraceRow> {
    let start = TraceRow {
        t_us: 0,
        event: EventName::BatchStart,
        batch: Some(0),
        row: None,
        id: String::new(),
        attempt: None,
        delay_ms: None,
        detail: "vantage=server".into(),
    };
    let rows = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            TraceRow {
                t_us: (f[0].parse::<f64>().expect("ms") * 1000.0) as u64,
                event: EventName::parse(f[1]).expect("an event name"),
                batch: Some(0),
                row: f[2].parse().ok(),
                id: String::new(),
                attempt: Some(1),
                delay_ms: None,
                detail: f.get(3).unwrap_or(&"").to_string(),
            }
        });
    std::iter::once(start).chain(rows).collect()
}

fn check(rules: PoolRules, tolerance_us: u64, text: &str) -> Report {
    let mut verifier = Verifier::new(rules, tolerance_us);
    for row in server_trace(text) {
        verifier.observe(&row.as_record());
    }
    verifier.finish(None)
}

fn violation(report: &Report, invariant: Invariant) -> String {
    match report.verdicts.get(&invariant) {
        Some(Verdict::Violated { first, count }) => format!("{count}: {}", first[0].message),
        other => panic!("{invariant} not violated: {other:?}"),
    }
}

#[test]
fn the_pools_own_rows_are_skipped_and_unanswered_refusals_are_no_fault() {
    // Requests refused without a terminal answer, no emit, no batch_end, no D: none of
    // that is a fault of the client seen from the server.
    let trace = "0 dispatch 0 tokens=5\n1 capacity 0 status=503\n20 dispatch 1 tokens=5\n25 ok 1\n";
    let report = check(rules(|_| {}), 0, trace);
    for invariant in [
        Invariant::I3,
        Invariant::I4,
        Invariant::I5,
        Invariant::I6,
        Invariant::I7,
    ] {
        assert!(
            matches!(
                report.verdicts.get(&invariant),
                Some(Verdict::Skipped { reason }) if reason.contains("server-side")
            ),
            "{invariant}: {:?}",
            report.verdicts.get(&invariant)
        );
    }
    for invariant in [Invariant::I1, Invariant::I2, Invariant::I10, Invariant::I11] {
        assert!(report.is_held(invariant), "{invariant}: {report:?}");
    }
}

#[test]
fn arrivals_are_spaced_by_the_floor_even_under_aimd() {
    // Under aimd the 503 doubles D to 20 ms, but the client may not have read it when it
    // sent row 1: from the server only the floor (10 ms) is owed.
    let aimd = rules(|_| {});
    let trace = "0 dispatch 0\n1 capacity 0 status=503\n12 dispatch 1\n14 ok 1\n";
    assert!(check(aimd.clone(), 0, trace).is_held(Invariant::I1));
    let close = "0 dispatch 0\n1 ok 0\n8 dispatch 1\n9 ok 1\n";
    let m = violation(&check(aimd.clone(), 0, close), Invariant::I1);
    assert!(m.contains("8 ms apart") && m.contains("10 ms"), "{m}");
    // Arrival jitter within the tolerance is forgiven.
    assert!(check(aimd, 2000, close).is_held(Invariant::I1));
}

#[test]
fn a_request_crossing_the_pause_on_the_wire_is_no_fault_one_sent_after_is() {
    let r = rules(|t| t.gate = "min".into());
    // A 429 at 100 ms asks for 1 s; a request arrives 2 ms later: with 5 ms of tolerance
    // it may have been sent before the answer arrived. One arriving at 500 ms was not.
    let crossing =
        "0 dispatch 0\n100 capacity 0 status=429;retry_after_ms=1000\n102 dispatch 1\n103 ok 1\n";
    assert!(check(r.clone(), 5000, crossing).is_held(Invariant::I10));
    let m = violation(&check(r.clone(), 0, crossing), Invariant::I10);
    assert!(m.contains("before the pause ends at 1100 ms"), "{m}");
    let late = format!("{crossing}500 dispatch 2\n501 ok 2\n");
    let m = violation(&check(r.clone(), 5000, &late), Invariant::I10);
    assert!(m.starts_with("1:") && m.contains("600 ms before"), "{m}");
    // After the pause, nothing is owed.
    let after = "0 dispatch 0\n100 capacity 0 status=429;retry_after_ms=1000\n1100 dispatch 1\n";
    assert!(check(r, 5000, after).is_held(Invariant::I10));
}

#[test]
fn the_minute_budget_forgives_jitter_at_the_minute_boundary() {
    // Two a minute: dispatches at 0 and 30 s, then one the client sent a minute after
    // the first that arrived half a millisecond "early" (its trip was shorter).
    let r = rules(|t| t.requests_per_minute = Some(2));
    let trace =
        "0 dispatch 0\n1 ok 0\n30000 dispatch 1\n30001 ok 1\n59999.5 dispatch 2\n60001 ok 2\n";
    let m = violation(&check(r.clone(), 0, trace), Invariant::I11);
    assert!(m.contains("3 dispatches"), "{m}");
    assert!(check(r, 1000, trace).is_held(Invariant::I11));
}

#[test]
fn a_server_verifier_forgets_each_request_once_answered() {
    // 100 000 requests, 20 ms apart, each answered 5 ms after it arrived: a request is
    // done with at its answer, so what the verifier holds stays at the one in flight.
    let mut text = String::new();
    for n in 0..100_000u64 {
        let t = n * 20;
        text.push_str(&format!("{t} dispatch {n}\n{} ok {n}\n", t + 5));
    }
    let mut verifier = Verifier::new(rules(|_| {}), 0);
    let mut most = 0;
    for row in server_trace(&text) {
        verifier.observe(&row.as_record());
        most = most.max(verifier.held().0);
    }
    assert_eq!(most, 1, "rows held at once");
    let report = verifier.finish(None);
    for invariant in [Invariant::I1, Invariant::I2] {
        assert!(report.is_held(invariant), "{invariant}: {report:?}");
    }
}
