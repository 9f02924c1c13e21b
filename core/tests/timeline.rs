//! The model's timelines, run through the pool state machine on a manual clock.
//!
//! A tiny driver stands in for the simulator: attempts take no time, each row answers
//! from its script, and the clock jumps to the pool's next wake-up.

use std::collections::BTreeMap;
use std::time::Duration;

use paceline_core::RowState;
use paceline_core::{
    ApiAnswer, Clock, EventKind, ManualClock, Outcome, Pool, PoolConfig, RawPoolConfig, RowEnd,
};

const MS: Duration = Duration::from_millis(1);

struct Run {
    dispatches: BTreeMap<usize, Vec<u64>>,
    ends: BTreeMap<usize, RowEnd>,
}

/// Drive `pool` until it is idle: row `i` becomes ready after `ready_ms[i]` and answers
/// its attempts from `scripts[i]` (then `ok`), with `latency_ms` per attempt.
fn run(pool: &mut Pool, ready_ms: &[u64], scripts: &[&[Outcome]], latency_ms: u64) -> Run {
    let clock = ManualClock::new();
    let ready = ready_ms
        .iter()
        .map(|&ms| Duration::from_millis(ms))
        .collect();
    let batch = pool
        .call_batch(clock.now(), ready)
        .id()
        .expect("a batch with rows is queued");
    let mut out = Run {
        dispatches: BTreeMap::new(),
        ends: BTreeMap::new(),
    };
    let mut in_flight: Vec<(Duration, usize, Outcome)> = Vec::new();
    for _ in 0..10_000 {
        let now = clock.now();
        in_flight.sort_by_key(|&(at, row, _)| (at, row));
        while in_flight.first().is_some_and(|&(at, _, _)| at <= now) {
            let (_, row, outcome) = in_flight.remove(0);
            pool.attempt_done(
                now,
                batch,
                row,
                ApiAnswer::new(outcome).with_status(Some(429)),
            )
            .expect("answer for an attempt in flight");
        }
        while let Some(event) = pool.poll(now) {
            let Some(row) = event.row else { continue };
            match event.kind {
                EventKind::Dispatch { .. } => {
                    let attempt = event.attempt.expect("dispatch has an attempt") as usize;
                    let outcome = scripts
                        .get(row)
                        .and_then(|s| s.get(attempt - 1))
                        .copied()
                        .unwrap_or(Outcome::Ok);
                    out.dispatches
                        .entry(row)
                        .or_default()
                        .push(now.as_millis() as u64);
                    in_flight.push((now + Duration::from_millis(latency_ms), row, outcome));
                    if latency_ms == 0 {
                        // Answer at once, as an instantaneous API would.
                        let (_, row, outcome) = in_flight.pop().expect("just pushed");
                        pool.attempt_done(
                            now,
                            batch,
                            row,
                            ApiAnswer::new(outcome).with_status(Some(429)),
                        )
                        .expect("answer for an attempt in flight");
                    }
                }
                EventKind::Emit(meta) => {
                    out.ends.insert(row, meta.end);
                }
                _ => {}
            }
        }
        if pool.is_idle() {
            return out;
        }
        let next = [
            pool.next_wake(clock.now()),
            in_flight.iter().map(|f| f.0).min(),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("a busy pool has something to wait for");
        clock.advance_to(next);
    }
    panic!("pool did not finish: {:?}", pool.waiting());
}

fn pool(edit: impl FnOnce(&mut RawPoolConfig)) -> Pool {
    let mut raw = RawPoolConfig::default();
    edit(&mut raw);
    Pool::new(PoolConfig::try_from(raw).expect("valid test config"))
}

fn worker_a_d(gate: &str) -> Run {
    let mut p = pool(|r| {
        r.pool_size = 4;
        r.min_dispatch_delay_ms = 100;
        r.recovery_step_ms = 500;
        r.gate = gate.into();
    });
    run(&mut p, &[0, 100, 200, 490], &[&[Outcome::Capacity]], 0)
}

#[test]
fn worker_a_d_under_the_min_gate() {
    let r = worker_a_d("min");
    assert_eq!(
        r.dispatches[&0],
        [0, 590],
        "A's retry still waits for the gate"
    );
    assert_eq!(r.dispatches[&1], [100]);
    assert_eq!(r.dispatches[&2], [200]);
    assert_eq!(r.dispatches[&3], [490]);
    assert!(r.ends.values().all(|e| *e == RowEnd::Ok));
}

#[test]
fn worker_a_d_under_the_aimd_gate() {
    let r = worker_a_d("aimd");
    assert_eq!(r.dispatches[&0], [0, 800]);
    assert_eq!(r.dispatches[&1], [500]);
    assert_eq!(r.dispatches[&2], [600]);
    assert_eq!(r.dispatches[&3], [700]);
}

#[test]
fn no_retry_is_dispatched_after_the_deadline() {
    // Budget 1 s, min 100 / step 500, always capacity: backoffs 500 then min(1000, 500).
    let mut p = pool(|r| {
        r.min_dispatch_delay_ms = 100;
        r.recovery_step_ms = 500;
        r.max_capacity_retry_seconds = 1;
        r.gate = "min".into();
    });
    let always = [Outcome::Capacity; 50];
    let r = run(&mut p, &[0], &[&always], 0);
    assert_eq!(r.dispatches[&0], [0, 500]);
    match r.ends[&0] {
        RowEnd::RetryTimeout {
            elapsed,
            budget,
            last,
        } => {
            assert_eq!(elapsed, 1000 * MS);
            assert_eq!(budget, 1000 * MS);
            assert_eq!(last.outcome, Outcome::Capacity);
            assert_eq!(last.status, Some(429));
        }
        other => panic!("expected retry_timeout, got {other:?}"),
    }
}

#[test]
fn the_first_attempt_is_dispatched_however_long_the_row_queued() {
    // One permit, budget 1 s, row 0's attempt takes 5 s: row 1 queues 5 s, past any
    // budget it could have had, and still gets its first attempt.
    let mut p = pool(|r| {
        r.max_capacity_retry_seconds = 1;
    });
    let r = run(&mut p, &[0, 0], &[&[], &[]], 5000);
    assert_eq!(r.dispatches[&1], [5000]);
    assert_eq!(r.ends[&1], RowEnd::Ok);
}

#[test]
fn a_retry_waiting_for_a_permit_times_out_at_its_deadline() {
    // Pool of 1. Row 0 fails at once and backs off 50 ms; row 1 takes the permit for
    // 3 s, so row 0's budget (1 s) ends while it waits for the permit.
    let mut p = pool(|r| {
        r.max_capacity_retry_seconds = 1;
    });
    let clock_run = |p: &mut Pool| run(p, &[0, 1], &[&[Outcome::Retryable], &[]], 0);
    let r = clock_run(&mut p);
    // With no latency row 0 retries before row 1 is ready; the interesting case needs latency.
    assert_eq!(r.ends[&0], RowEnd::Ok);
    let mut p = pool(|r| {
        r.max_capacity_retry_seconds = 1;
    });
    let r = run(&mut p, &[0, 0], &[&[Outcome::Retryable], &[]], 3000);
    assert_eq!(r.dispatches[&0], [0], "no retry after the deadline");
    assert!(matches!(r.ends[&0], RowEnd::RetryTimeout { elapsed, .. } if elapsed == 3000 * MS));
}

#[test]
fn rows_back_from_backoff_take_permits_before_fresh_rows() {
    // Pool of 1, step 10: row 0 fails and comes back at 10 ms while rows 1.. queue fresh.
    let mut p = pool(|r| {
        r.recovery_step_ms = 10;
        r.gate = "min".into();
    });
    let r = run(&mut p, &[0, 0, 0, 0], &[&[Outcome::Capacity]], 20);
    // Row 0 fails at 20, backs off to 30; row 1 holds the permit 20..40; then row 0.
    assert_eq!(r.dispatches[&1], [20]);
    assert_eq!(r.dispatches[&0], [0, 40]);
    assert_eq!(r.dispatches[&2], [60]);
}

#[test]
fn shutdown_ends_every_row_exactly_once() {
    let mut p = pool(|r| r.pool_size = 2);
    let clock = ManualClock::new();
    let batch = p
        .call_batch(clock.now(), vec![Duration::ZERO; 5])
        .id()
        .expect("queued");
    let mut emitted = Vec::new();
    let mut dispatched = Vec::new();
    while let Some(e) = p.poll(clock.now()) {
        if matches!(e.kind, EventKind::Dispatch { .. }) {
            dispatched.push(e.row.expect("row event"));
        }
    }
    assert_eq!(
        dispatched,
        [0, 1],
        "D starts at 0: both permits dispatch at once"
    );
    p.shutdown(clock.now());
    clock.advance_to(10 * MS);
    // In-flight attempts finish normally; a failure ends its row instead of retrying.
    p.attempt_done(
        clock.now(),
        batch,
        0,
        ApiAnswer::new(Outcome::Capacity).with_status(None),
    )
    .expect("row 0 is in flight");
    p.attempt_done(
        clock.now(),
        batch,
        1,
        ApiAnswer::new(Outcome::Ok).with_status(None),
    )
    .expect("row 1 is in flight");
    while let Some(e) = p.poll(clock.now()) {
        if let EventKind::Emit(meta) = e.kind {
            emitted.push((meta.submit_index, meta.end));
        }
    }
    assert_eq!(emitted.len(), 5);
    let expected: Vec<_> = [
        RowEnd::Shutdown,
        RowEnd::Ok,
        RowEnd::Shutdown,
        RowEnd::Shutdown,
        RowEnd::Shutdown,
    ]
    .into_iter()
    .enumerate()
    .collect();
    assert_eq!(emitted, expected);
    assert_eq!(
        p.delay_ms(),
        0.0,
        "a failure that is not retried leaves D alone"
    );
    assert!(p.is_idle());
    // A batch called after shutdown returns a shutdown entry for every row.
    p.call_batch(clock.now(), vec![Duration::ZERO; 3]);
    let ends: Vec<_> = std::iter::from_fn(|| p.poll(clock.now()))
        .filter_map(|e| match e.kind {
            EventKind::Emit(meta) => Some(meta.end),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [RowEnd::Shutdown; 3]);
}

#[test]
fn a_failure_after_shutdown_past_the_deadline_times_out() {
    // Budget 1 s, floor 100 ms, gate "min", two permits. Both rows take a permit at 0
    // (deadline 1000 ms): row 0 dispatches at 0, row 1 at 100. Shutdown at 500 ms. Row 1
    // fails at 600 ms, before its deadline: `shutdown`. Row 0 fails at 1500 ms, past its
    // deadline: the budget ran out before shutdown mattered, so `retry_timeout` with
    // elapsed 1500 ms of a 1000 ms budget. Neither failure reaches the throttle.
    let mut p = pool(|r| {
        r.pool_size = 2;
        r.min_dispatch_delay_ms = 100;
        r.recovery_step_ms = 500;
        r.max_capacity_retry_seconds = 1;
        r.gate = "min".into();
    });
    let clock = ManualClock::new();
    let batch = p
        .call_batch(clock.now(), vec![Duration::ZERO; 2])
        .id()
        .expect("queued");
    let mut dispatched = Vec::new();
    let mut ends = BTreeMap::new();
    let mut drain = |p: &mut Pool, now: Duration| {
        while let Some(e) = p.poll(now) {
            match e.kind {
                EventKind::Dispatch { .. } => dispatched.push((e.row, now.as_millis())),
                EventKind::Emit(meta) => {
                    ends.insert(meta.submit_index, meta.end);
                }
                _ => {}
            }
        }
    };
    drain(&mut p, clock.now());
    clock.advance_to(100 * MS);
    drain(&mut p, clock.now());
    clock.advance_to(500 * MS);
    p.shutdown(clock.now());
    drain(&mut p, clock.now());
    clock.advance_to(600 * MS);
    p.attempt_done(
        clock.now(),
        batch,
        1,
        ApiAnswer::new(Outcome::Capacity).with_status(Some(429)),
    )
    .expect("row 1 is in flight");
    drain(&mut p, clock.now());
    clock.advance_to(1500 * MS);
    p.attempt_done(
        clock.now(),
        batch,
        0,
        ApiAnswer::new(Outcome::Retryable).with_status(Some(503)),
    )
    .expect("row 0 is in flight");
    drain(&mut p, clock.now());
    assert_eq!(dispatched, [(Some(0), 0), (Some(1), 100)]);
    assert_eq!(ends.get(&1), Some(&RowEnd::Shutdown));
    match ends.get(&0) {
        Some(RowEnd::RetryTimeout {
            elapsed,
            budget,
            last,
        }) => {
            assert_eq!(*elapsed, 1500 * MS);
            assert_eq!(*budget, 1000 * MS);
            assert_eq!(last.outcome, Outcome::Retryable);
            assert_eq!(last.status, Some(503));
        }
        other => panic!("expected retry_timeout, got {other:?}"),
    }
    assert_eq!(p.delay_ms(), 100.0, "neither failure reached the throttle");
    assert!(p.is_idle());
}

#[test]
fn a_stuck_row_is_reported_with_its_state() {
    let mut p = pool(|r| r.pool_size = 1);
    let clock = ManualClock::new();
    p.call_batch(clock.now(), vec![Duration::ZERO, 5 * MS]);
    while p.poll(clock.now()).is_some() {}
    let waiting = p.waiting();
    assert_eq!(waiting.len(), 2);
    assert_eq!(waiting[0].state, RowState::InFlight);
    assert_eq!(waiting[1].state, RowState::NotReady);
    assert_eq!(p.next_wake(clock.now()), Some(5 * MS));
}

#[test]
fn an_empty_batch_returns_at_once_even_while_another_runs() {
    let mut p = pool(|r| {
        r.min_dispatch_delay_ms = 100;
        r.recovery_step_ms = 500;
    });
    let clock = ManualClock::new();
    let running = p
        .call_batch(clock.now(), vec![Duration::ZERO; 2])
        .id()
        .expect("queued");
    // Row 0 dispatches at 0 and fails: D goes from the 100 ms floor to the 500 ms base.
    while p.poll(clock.now()).is_some() {}
    p.attempt_done(
        clock.now(),
        running,
        0,
        ApiAnswer::new(Outcome::Capacity).with_status(Some(429)),
    )
    .expect("row 0 is in flight");
    while p.poll(clock.now()).is_some() {}
    match p.call_batch(clock.now(), Vec::new()) {
        paceline_core::BatchCall::Done(stats) => {
            assert_eq!(stats.successes, 0);
            assert_eq!(
                stats.peak_delay_ms, 500.0,
                "fresh statistics at the current D"
            );
        }
        other => panic!("an empty batch must not queue: {other:?}"),
    }
    assert_eq!(p.poll(clock.now()), None, "and it has no events");
    assert!(!p.is_idle(), "the running batch is untouched");
}
