//! Each invariant check fires on a trace that breaks it, and stays quiet on one that
//! does not. Traces are written by hand, as another implementation would record them.

use std::time::Instant;

use paceline_trace::{Ending, EventName, Invariant, Stuck, TraceLimits, TraceRecord, TraceRow};
use paceline_verify::{PoolRules, PoolTable, Report, Verdict, Verifier, verify_rows, verify_trace};

/// The model's defaults, edited.
fn rules(edit: impl FnOnce(&mut PoolTable)) -> PoolRules {
    let mut table = PoolTable::default();
    edit(&mut table);
    assert!(table.problems().is_empty(), "valid test config");
    table.rules()
}

/// `t_ms event row attempt delay detail`, one per line; batch 0; `-` for empty.
fn trace(text: &str) -> Vec<TraceRow> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let opt = |i: usize| f.get(i).filter(|v| **v != "-").copied();
            TraceRow {
                t_us: (opt(0).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) * 1000.0) as u64,
                event: EventName::parse(f[1]).expect("an event name"),
                batch: Some(0),
                row: opt(2).and_then(|v| v.parse().ok()),
                id: String::new(),
                attempt: opt(3).and_then(|v| v.parse().ok()),
                delay_ms: opt(4).and_then(|v| v.parse().ok()),
                detail: opt(5).unwrap_or("").to_string(),
            }
        })
        .collect()
}

fn check(rules: PoolRules, text: &str) -> Report {
    verify_rows(rules, &trace(text), None)
}

fn message(report: &Report, invariant: Invariant) -> String {
    match report.verdicts.get(&invariant) {
        Some(Verdict::Violated { first, .. }) => first
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("{invariant} should be violated, got {other:?}"),
    }
}

/// One row, one clean attempt: every check holds.
const CLEAN: &str = "
    0 batch_start - - 0 rows=1
    0 ready 0 - 0
    0 permit 0 1 0
    0 dispatch 0 1 0
    5 ok 0 1 0
    5 release 0 1 0
    5 emit 0 - 0 result=ok
    5 batch_end - - 0 capacity_retries=0;successes=1;peak_delay_ms=0;total_throttle_time_us=0;max_concurrent=1;delay_at_completion_ms=0
";

#[test]
fn a_clean_trace_holds_everywhere_and_a_missing_wait_column_is_skipped_not_passed() {
    let report = check(rules(|_| {}), CLEAN);
    for (invariant, verdict) in &report.verdicts {
        if *invariant == Invariant::I10 {
            // An external trace that never wrote retry_after_ms says nothing of pauses.
            assert!(
                matches!(verdict, Verdict::Skipped { reason } if reason.contains("retry_after_ms")),
                "{verdict:?}"
            );
            continue;
        }
        assert!(
            matches!(verdict, Verdict::Held { .. }),
            "{invariant}: {verdict:?}"
        );
    }
}

/// Two rows; A's first answer at 0 is a 429 asking for 1000 ms. B's dispatch time is the
/// argument.
fn pause_trace(b_dispatch_ms: u64) -> String {
    format!(
        "
    0 batch_start - - 0 rows=2
    0 ready 0 - 0
    0 ready 1 - 0
    0 permit 0 1 0
    0 dispatch 0 1 0
    0 capacity 0 1 50 status=429;retry_after_ms=1000
    0 release 0 1 50
    0 backoff 0 1 50 backoff_us=1000000
    0 permit 1 1 50
    {b} dispatch 1 1 50
    {b} ok 1 1 0
    {b} release 1 1 0
",
        b = b_dispatch_ms
    )
}

#[test]
fn i10_catches_a_dispatch_inside_a_servers_pause_and_holds_after_it() {
    let early = check(rules(|_| {}), &pause_trace(50));
    let m = message(&early, Invariant::I10);
    assert!(m.contains("950 ms before the pause ends at 1000 ms"), "{m}");
    assert!(m.contains("retry_after_ms = 1000"), "{m}");
    let after = check(rules(|_| {}), &pause_trace(1000));
    assert!(
        after.is_held(Invariant::I10),
        "{:?}",
        after.verdicts.get(&Invariant::I10)
    );
    // A pool that need not pause, or a wait clamped to 40 ms, is not held to 1000 ms.
    let ignored = check(rules(|t| t.honour_retry_after = false), &pause_trace(50));
    assert!(ignored.is_held(Invariant::I10));
    let clamped = check(rules(|t| t.max_retry_after_ms = 40), &pause_trace(50));
    assert!(clamped.is_held(Invariant::I10));
}

#[test]
fn i10_reads_after_in_trace_order_at_one_instant() {
    // B's dispatch at 0 is listed before A's answer at 0: it was sent before the answer
    // came, so no pool could have held it back.
    let trace = "
    0 batch_start - - 0 rows=2
    0 dispatch 0 1 0
    0 dispatch 1 1 0
    0 capacity 0 1 50 status=429;retry_after_ms=1000
    0 ok 1 1 0
";
    assert!(check(rules(|t| t.pool_size = 2), trace).is_held(Invariant::I10));
}

/// Dispatches at the given milliseconds, each a new row with `tokens` tokens.
fn budget_trace(at_ms: &[u64], tokens: u64) -> String {
    at_ms
        .iter()
        .enumerate()
        .map(|(row, t)| format!("{t} dispatch {row} 1 0 tokens={tokens}\n{t} ok {row} 1 0\n"))
        .collect()
}

#[test]
fn i11_counts_dispatches_and_tokens_in_any_minute() {
    let three = budget_trace(&[0, 30_000, 59_999], 400);
    let rpm = rules(|t| {
        t.pool_size = 4;
        t.requests_per_minute = Some(2);
    });
    let m = message(&check(rpm.clone(), &three), Invariant::I11);
    assert!(
        m.contains("3 dispatches in the minute") && m.contains("requests_per_minute = 2"),
        "{m}"
    );
    // At 60 000 ms the first has left the window (0, 60 000]: two again.
    let spread = budget_trace(&[0, 30_000, 60_000], 400);
    assert!(check(rpm, &spread).is_held(Invariant::I11));
    let tpm = rules(|t| {
        t.pool_size = 4;
        t.tokens_per_minute = Some(1000);
    });
    let m = message(&check(tpm.clone(), &three), Invariant::I11);
    assert!(
        m.contains("1200 tokens") && m.contains("tokens_per_minute = 1000"),
        "{m}"
    );
    assert!(!check(tpm.clone(), &spread).is_violated(Invariant::I11));
    // A trace without tokens cannot show a token budget kept: skipped, never passed.
    let bare = "0 dispatch 0 1 0\n0 ok 0 1 0\n";
    assert!(matches!(
        check(tpm, bare).verdicts.get(&Invariant::I11),
        Some(Verdict::Skipped { .. })
    ));
}

#[test]
fn i1_fires_on_dispatches_closer_than_the_spacing() {
    let r = rules(|r| {
        r.pool_size = 2;
        r.min_dispatch_delay_ms = 100;
        r.gate = "min".into();
    });
    let report = check(r.clone(), "0 dispatch 0 1\n10 dispatch 1 1");
    let m = message(&report, Invariant::I1);
    assert!(
        m.contains("10 ms apart") && m.contains("required was 100 ms"),
        "{m}"
    );
    assert!(
        m.contains("batch 0 row 0") && m.contains("batch 0 row 1"),
        "{m}"
    );
    assert!(check(r, "0 dispatch 0 1\n100 dispatch 1 1").is_held(Invariant::I1));
}

#[test]
fn i1_under_aimd_uses_the_reference_delay_after_a_failure() {
    // min 100, step 500: a capacity error raises D to 500, so 200 ms later is too soon.
    let r = rules(|r| {
        r.pool_size = 2;
        r.min_dispatch_delay_ms = 100;
        r.recovery_step_ms = 500;
    });
    let text = "
        0 permit 0 1
        0 dispatch 0 1
        0 capacity 0 1
        0 release 0 1
        0 backoff 0 1 - backoff_us=500000
        200 permit 1 1
        200 dispatch 1 1";
    let m = message(&check(r, text), Invariant::I1);
    assert!(
        m.contains("200 ms apart") && m.contains("required was 500 ms"),
        "{m}"
    );
}

#[test]
fn i1_catches_a_first_dispatch_at_zero_taken_for_never() {
    let r = rules(|r| {
        r.pool_size = 2;
        r.min_dispatch_delay_ms = 50;
        r.gate = "min".into();
    });
    assert!(check(r, "0 dispatch 0 1\n0 dispatch 1 1").is_violated(Invariant::I1));
}

#[test]
fn i2_fires_on_too_many_permits_and_on_backoff_holding_one() {
    let r = rules(|r| r.pool_size = 1);
    let m = message(
        &check(r.clone(), "0 permit 0 1\n0 permit 1 1"),
        Invariant::I2,
    );
    assert!(m.contains("2 permits held, pool_size is 1"), "{m}");
    let text = "
        0 permit 0 1
        0 dispatch 0 1
        1 capacity 0 1
        1 backoff 0 1 - backoff_us=50000";
    let m = message(&check(r.clone(), text), Invariant::I2);
    assert!(m.contains("in backoff while holding a permit"), "{m}");
    let m = message(
        &check(r, "0 permit 0 1\n0 release 0 1\n0 release 0 1"),
        Invariant::I2,
    );
    assert!(m.contains("did not hold"), "{m}");
}

#[test]
fn i2_counts_attempts_in_flight_without_permit_events() {
    let r = rules(|r| r.pool_size = 1);
    let report = check(r, "0 dispatch 0 1\n1 dispatch 1 1");
    assert!(message(&report, Invariant::I2).contains("2 attempts in flight"));
}

#[test]
fn i3_fires_on_completion_order_and_foreign_rows() {
    let r = rules(|r| r.pool_size = 2);
    let text = "
        0 batch_start - - - rows=2
        0 ok 1 1
        1 ok 0 1
        1 emit 1 - - result=ok
        1 emit 0 - - result=ok
        1 batch_end";
    let m = message(&check(r.clone(), text), Invariant::I3);
    assert!(m.contains("returned row 1 when row 0 was due"), "{m}");
    let text = "
        0 batch_start - - - rows=1
        0 ok 0 1
        0 emit 0 - - result=ok
        0 emit 3 - - result=ok";
    let m = message(&check(r.clone(), text), Invariant::I3);
    assert!(m.contains("outside its batch of 1 rows"), "{m}");
    let text = "
        0 batch_start - - - rows=1
        0 permanent 0 1
        0 emit 0 - - result=ok";
    let m = message(&check(r, text), Invariant::I3);
    assert!(
        m.contains("returned result ok but the row ended with permanent"),
        "{m}"
    );
}

#[test]
fn i4_fires_on_missing_and_double_results_and_on_a_deadlock() {
    let r = rules(|r| r.pool_size = 2);
    let text = "
        0 batch_start - - - rows=2
        0 permit 0 1
        0 dispatch 0 1
        1 ok 0 1";
    let m = message(&check(r.clone(), text), Invariant::I4);
    assert!(m.contains("row 1") && m.contains("never seen"), "{m}");
    assert!(m.contains("started but never ended"), "{m}");
    let m = message(&check(r.clone(), "0 ok 0 1\n1 shutdown 0 1"), Invariant::I4);
    assert!(
        m.contains("a second result (shutdown) after it ended with ok"),
        "{m}"
    );
    let ending = Ending::Deadlock {
        at_us: 5000,
        waiting: vec![Stuck {
            batch: 0,
            row: 0,
            id: "A".into(),
            waiting_for: "WaitingPermit".into(),
        }],
        left: 1,
    };
    let report = verify_rows(r, &trace(CLEAN), Some(&ending));
    let m = message(&report, Invariant::I4);
    assert!(
        m.contains("deadlock") && m.contains("A of batch 0 waits for WaitingPermit"),
        "{m}"
    );
}

#[test]
fn i4_holds_on_a_run_cut_off_by_its_horizon_with_work_scheduled() {
    let r = rules(|r| r.pool_size = 2);
    // Row 0 finished, row 1 is still in flight when the horizon comes: unfinished.
    let text = "
        0 batch_start - - - rows=2
        0 permit 0 1
        0 dispatch 0 1
        1 ok 0 1
        1 permit 1 1
        1 dispatch 1 1";
    let ending = Ending::Unfinished {
        horizon_us: 2000,
        waiting: vec![Stuck {
            batch: 0,
            row: 1,
            id: String::new(),
            waiting_for: "the answer to its attempt".into(),
        }],
        left: 1,
    };
    let report = verify_rows(r.clone(), &trace(text), Some(&ending));
    match report.verdicts.get(&Invariant::I4) {
        Some(Verdict::Held { note: Some(note) }) => assert_eq!(
            note,
            "unfinished: 1 row left at the horizon (2 ms) with work still scheduled"
        ),
        other => panic!("I4 should hold with a note, got {other:?}"),
    }
    // What is broken before the horizon stays broken.
    let doubled = format!("{text}\n1.5 ok 1 1\n1.5 shutdown 1 1");
    let report = verify_rows(r, &trace(&doubled), Some(&ending));
    let m = message(&report, Invariant::I4);
    assert!(m.contains("a second result (shutdown)"), "{m}");
}

#[test]
fn i5_fires_on_a_retry_after_the_deadline() {
    let r = rules(|r| r.max_capacity_retry_seconds = 1);
    let text = "
        0 permit 0 1
        0 dispatch 0 1
        10 retryable 0 1
        10 release 0 1
        10 backoff 0 1 - backoff_us=50000
        1200 permit 0 2
        1200 dispatch 0 2";
    let m = message(&check(r.clone(), text), Invariant::I5);
    assert!(
        m.contains("retry dispatched 200 ms after the deadline at 1000 ms"),
        "{m}"
    );
    // A first attempt is never late, however long it queued.
    assert!(check(r.clone(), "5000 permit 0 1\n5000 dispatch 0 1").is_held(Invariant::I5));
    let late_timeout = "
        0 permit 0 1
        0 dispatch 0 1
        10 capacity 0 1
        10 release 0 1
        10 backoff 0 1 - backoff_us=50000
        1500 retry_timeout 0 1";
    assert!(
        message(&check(r, late_timeout), Invariant::I5)
            .contains("timed out 500 ms after the deadline")
    );
}

#[test]
fn i6_fires_on_a_delay_below_the_floor_or_off_the_law() {
    let r = rules(|r| {
        r.min_dispatch_delay_ms = 100;
        r.recovery_step_ms = 500;
    });
    let text = "
        0 permit 0 1 100
        0 dispatch 0 1 100
        5 capacity 0 1 500
        5 release 0 1 500
        5 backoff 0 1 500 backoff_us=500000
        505 permit 0 2 500
        505 dispatch 0 2 500
        510 ok 0 2 -0";
    let m = message(&check(r.clone(), text), Invariant::I6);
    assert!(m.contains("outside [100, 5000]"), "{m}");
    // Doubling a floor above zero instead of bootstrapping to the base: 100 -> 200.
    let text = "
        0 dispatch 0 1 100
        5 capacity 0 1 200
        5 backoff 0 1 200 backoff_us=200000";
    let m = message(&check(r, text), Invariant::I6);
    assert!(m.contains("reference throttle has 500"), "{m}");
}

#[test]
fn i6_is_skipped_without_delay_values() {
    let report = check(rules(|_| {}), "0 dispatch 0 1\n1 ok 0 1");
    assert!(matches!(
        report.verdicts.get(&Invariant::I6),
        Some(Verdict::Skipped { .. })
    ));
}

#[test]
fn i7_fires_on_statistics_carried_over_from_an_earlier_batch() {
    let text = CLEAN.replace("successes=1", "successes=2");
    let m = message(&check(rules(|_| {}), &text), Invariant::I7);
    assert!(m.contains("successes = 2, the trace gives 1"), "{m}");
}

#[test]
fn a_failure_ended_by_its_deadline_is_not_a_throttle_failure() {
    // The capacity answer at the deadline ends the row: D must stay at the floor.
    let r = rules(|r| {
        r.min_dispatch_delay_ms = 100;
        r.max_capacity_retry_seconds = 1;
    });
    let text = "
        0 permit 0 1 100
        0 dispatch 0 1 100
        1000 capacity 0 1 100
        1000 release 0 1 100
        1000 retry_timeout 0 1 100";
    let report = check(r, text);
    assert!(
        report.is_held(Invariant::I6),
        "{:?}",
        report.verdicts.get(&Invariant::I6)
    );
    assert!(report.is_held(Invariant::I5));
}

// Hostile traces: state per open row and open batch, missing rows counted rather than
// enumerated, arithmetic that saturates, and schema faults of the pool reported as
// violations.

fn hostile_rules() -> PoolRules {
    rules(|r| {
        r.pool_size = 2;
        r.min_dispatch_delay_ms = 100;
        r.gate = "min".into();
    })
}

fn record(t_us: u64, event: EventName, batch: u64, row: Option<usize>) -> TraceRecord<'static> {
    TraceRecord {
        t_us,
        event,
        batch: Some(batch),
        row,
        id: "",
        attempt: row.map(|_| 1),
        delay_ms: None,
        detail: "",
    }
}

/// One row's whole life in batch `batch`, as the pool writes it.
fn row_life(v: &mut Verifier, t_us: u64, batch: u64, row: usize) {
    for event in [
        EventName::Permit,
        EventName::Dispatch,
        EventName::Ok,
        EventName::Release,
    ] {
        v.observe(&record(t_us, event, batch, Some(row)));
    }
    v.observe(&TraceRecord {
        detail: "result=ok",
        ..record(t_us, EventName::Emit, batch, Some(row))
    });
}

#[test]
fn a_million_tiny_batches_leave_nothing_behind() {
    let mut v = Verifier::new(hostile_rules(), 0);
    let started = Instant::now();
    for batch in 0..1_000_000u64 {
        let t = batch * 100_000;
        v.observe(&TraceRecord {
            detail: "rows=1",
            ..record(t, EventName::BatchStart, batch, None)
        });
        row_life(&mut v, t, batch, 0);
        v.observe(&record(t, EventName::BatchEnd, batch, None));
        if batch % 100_000 == 0 {
            assert_eq!(v.held(), (0, 0, 1), "after batch {batch}");
        }
    }
    let report = v.finish(None);
    assert!(report.is_held(Invariant::I1) && report.is_held(Invariant::I4));
    assert!(started.elapsed().as_secs() < 60);
}

#[test]
fn rows_left_open_are_named_under_their_own_batch() {
    let mut v = Verifier::new(rules(|r| r.pool_size = 8), 0);
    // Three batches that declare no row count; rows left open in batches 0 and 2, seen
    // interleaved and out of order; batch 1's only row ends.
    for batch in [2, 0, 1] {
        v.observe(&record(0, EventName::BatchStart, batch, None));
    }
    for (batch, row) in [(2, 7), (0, 4), (2, 3), (0, 1)] {
        v.observe(&record(10, EventName::Permit, batch, Some(row)));
    }
    row_life(&mut v, 20, 1, 0);
    for batch in [0, 1, 2] {
        v.observe(&record(30, EventName::BatchEnd, batch, None));
    }
    let m = message(&v.finish(None), Invariant::I4);
    let named: Vec<&str> = m
        .lines()
        .filter(|l| l.contains("no terminal result"))
        .collect();
    assert_eq!(named.len(), 4, "{m}");
    for (line, (batch, row)) in named.iter().zip([(0, 1), (0, 4), (2, 3), (2, 7)]) {
        assert!(
            line.contains(&format!("batch {batch} row {row}")),
            "{line}\n{m}"
        );
    }
}

#[test]
fn rows_are_tracked_while_open_not_up_to_their_index() {
    let mut v = Verifier::new(hostile_rules(), 0);
    v.observe(&TraceRecord {
        detail: "rows=100000001",
        ..record(0, EventName::BatchStart, 0, None)
    });
    v.observe(&record(0, EventName::Ready, 0, Some(100_000_000)));
    v.observe(&record(0, EventName::Ready, 0, Some(usize::MAX)));
    assert_eq!(v.held().0, 2, "two open rows, whatever their indexes");
    row_life(&mut v, 0, 0, 100_000_000);
    assert_eq!(v.held().0, 1, "a finished row's track is dropped");
    let report = v.finish(None);
    let m = message(&report, Invariant::I3);
    assert!(
        m.contains("returned row 100000000 when row 0 was due"),
        "{m}"
    );
    let m = message(&report, Invariant::I4);
    assert!(
        m.contains("99999995 more rows of batch 0 have no terminal result (of 100000000 missing)"),
        "{m}"
    );
}

#[test]
fn a_batch_claiming_a_trillion_rows_is_counted_not_enumerated() {
    let started = Instant::now();
    let mut v = Verifier::new(hostile_rules(), 0);
    v.observe(&TraceRecord {
        detail: "rows=1000000000000",
        ..record(0, EventName::BatchStart, 0, None)
    });
    row_life(&mut v, 0, 0, 0);
    v.observe(&record(5, EventName::BatchEnd, 0, None));
    let report = v.finish(None);
    let m = message(&report, Invariant::I4);
    assert!(
        m.contains("batch 0 row 1: the row has no terminal result; never seen"),
        "{m}"
    );
    assert!(m.contains("999999999994 more rows of batch 0"), "{m}");
    match &report.verdicts[&Invariant::I4] {
        Verdict::Violated { count, first } => {
            assert_eq!(*count, 999_999_999_999);
            assert_eq!(first.len(), 6, "five rows named, the rest in one line");
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed().as_secs() < 5);
}

#[test]
fn a_second_batch_end_and_events_after_it_are_violations() {
    let mut v = Verifier::new(hostile_rules(), 0);
    v.observe(&TraceRecord {
        detail: "rows=1",
        ..record(0, EventName::BatchStart, 0, None)
    });
    row_life(&mut v, 0, 0, 0);
    v.observe(&record(1, EventName::BatchEnd, 0, None));
    v.observe(&record(2, EventName::BatchEnd, 0, None));
    v.observe(&record(3, EventName::Dispatch, 0, Some(0)));
    let m = message(&v.finish(None), Invariant::I4);
    assert!(m.contains("batch 0 ended a second time"), "{m}");
    assert!(m.contains("dispatch after batch 0 ended"), "{m}");
}

#[test]
fn a_second_result_after_a_row_was_returned_is_a_violation() {
    let mut v = Verifier::new(hostile_rules(), 0);
    v.observe(&TraceRecord {
        detail: "rows=2",
        ..record(0, EventName::BatchStart, 0, None)
    });
    row_life(&mut v, 0, 0, 0);
    v.observe(&record(200_000, EventName::Permanent, 0, Some(0)));
    v.observe(&TraceRecord {
        detail: "result=ok",
        ..record(200_000, EventName::Emit, 0, Some(0))
    });
    let report = v.finish(None);
    let m = message(&report, Invariant::I4);
    assert!(
        m.contains("a second result (permanent) after the row ended"),
        "{m}"
    );
    assert!(message(&report, Invariant::I3).contains("returned twice"));
}

#[test]
fn a_tolerance_near_the_maximum_saturates() {
    let text = "t_us,event,batch,row\n0,batch_start,0,\n0,dispatch,0,0\n10,dispatch,0,1\n";
    for tolerance in [u64::MAX, u64::MAX - 5] {
        let (report, _) = verify_trace(
            text.as_bytes(),
            hostile_rules(),
            tolerance,
            &TraceLimits::default(),
        )
        .expect("well-formed");
        assert!(
            report.is_held(Invariant::I1),
            "{:?}",
            report.verdicts[&Invariant::I1]
        );
    }
    let (report, _) =
        verify_trace(text.as_bytes(), hostile_rules(), 0, &TraceLimits::default()).expect("read");
    assert!(report.is_violated(Invariant::I1));
}

#[test]
fn open_rows_beyond_the_limit_are_refused_with_their_line() {
    // Each row takes a permit after its `ready`, so each needs a track of its own.
    let mut text = String::from("t_us,event,batch,row\n0,batch_start,0,\n");
    for row in 0..10 {
        text.push_str(&format!("0,ready,0,{row}\n0,permit,0,{row}\n"));
    }
    let limits = TraceLimits {
        max_open_rows: 5,
        ..TraceLimits::default()
    };
    let e = verify_trace(text.as_bytes(), hostile_rules(), 0, &limits).expect_err("refused");
    assert_eq!(e.line, 13, "the sixth row's ready");
    assert!(e.message.contains("6 rows seen and not yet ended"), "{e}");
    assert!(e.message.contains("--max-open-rows"), "{e}");
}

#[test]
fn the_first_refused_line_is_named_whether_the_reader_or_the_verifier_refuses_it() {
    // Reading and judging run side by side, chunks of thousands of lines apart: the error
    // is still the one of the first line refused, by whichever stage refuses it.
    let rows = |text: &mut String, from: usize, to: usize| {
        for row in from..to {
            text.push_str(&format!("0,ready,0,{row}\n0,permit,0,{row}\n"));
        }
    };
    let limits = TraceLimits {
        max_open_rows: 5,
        ..TraceLimits::default()
    };
    // The verifier refuses line 13 (the sixth open row); the reader would refuse a line
    // 20 000 rows later.
    let mut text = String::from("t_us,event,batch,row\n0,batch_start,0,\n");
    rows(&mut text, 0, 20_000);
    text.push_str("0,no_such_event,0,1\n");
    let e = verify_trace(text.as_bytes(), hostile_rules(), 0, &limits).expect_err("refused");
    assert_eq!(e.line, 13, "{e}");
    assert!(e.message.contains("--max-open-rows"), "{e}");
    // The reader refuses line 3; the verifier would refuse lines far beyond it.
    let mut text = String::from("t_us,event,batch,row\n0,batch_start,0,\n0,no_such_event,0,1\n");
    rows(&mut text, 0, 20_000);
    let e = verify_trace(text.as_bytes(), hostile_rules(), 0, &limits).expect_err("refused");
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.contains("no_such_event"), "{e}");
}

#[test]
fn rows_only_made_ready_cost_one_run_not_one_track_each() {
    // A million rows made ready at once, then a hundred more one millisecond apart: two
    // runs. Rows leaving from the front, or from the middle, keep it at a few runs.
    let mut v = Verifier::new(hostile_rules(), 0);
    v.observe(&record(0, EventName::BatchStart, 0, None));
    for row in 0..1_000_000 {
        v.observe(&record(0, EventName::Ready, 0, Some(row)));
    }
    for row in 1_000_000..1_000_100 {
        v.observe(&record(
            (row as u64 - 999_999) * 1000,
            EventName::Ready,
            0,
            Some(row),
        ));
    }
    assert_eq!(v.held().0, 2);
    for row in 0..1000 {
        row_life(&mut v, 200_000, 0, row);
    }
    row_life(&mut v, 200_000, 0, 500_000);
    assert_eq!(v.held().0, 3, "the middle row split its run");
    let report = v.finish(None);
    // The rows never finished are missing, counted and the first ones named with when
    // they were last seen: their `ready` at 0.
    let m = message(&report, Invariant::I4);
    assert!(
        m.contains("row 1000") && m.contains("last seen at 0 ms (ready)"),
        "{m}"
    );
    let Some(Verdict::Violated { first, .. }) = report.verdicts.get(&Invariant::I4) else {
        panic!("{report:?}");
    };
    assert!(
        first
            .iter()
            .any(|v| v.message.contains("of 999099 missing")),
        "{first:?}"
    );
}

#[test]
fn unresolved_failures_cost_no_quadratic_time() {
    // 300 000 rows each fail once and are never heard of again: every event used to scan
    // the events held back.
    let started = Instant::now();
    let mut v = Verifier::new(hostile_rules(), 0);
    v.observe(&record(0, EventName::BatchStart, 0, None));
    for row in 0..300_000 {
        v.observe(&record(row as u64, EventName::Capacity, 0, Some(row)));
        v.observe(&record(row as u64, EventName::Release, 0, Some(row)));
    }
    let _ = v.finish(None);
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}
