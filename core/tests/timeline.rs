//! The model's timelines, run through the pool state machine on a manual clock.
//!
//! A tiny driver stands in for the simulator: attempts take no time, each row answers
//! from its script, and the clock jumps to the pool's next wake-up.

use std::collections::BTreeMap;
use std::time::Duration;

use paceline_core::{
    ApiAnswer, Clock, EventKind, ManualClock, Outcome, Pool, PoolConfig, RawPoolConfig, RowEnd,
};
use paceline_core::{Races, RowState};
use std::collections::VecDeque;

const MS: Duration = Duration::from_millis(1);

struct Run {
    dispatches: BTreeMap<usize, Vec<u64>>,
    ends: BTreeMap<usize, RowEnd>,
}

/// Drive `pool` until it is idle: row `i` becomes ready after `ready_ms[i]` and answers
/// its attempts from `scripts[i]` (then `ok`), with `latency_ms` per attempt.
fn run(pool: &mut Pool, ready_ms: &[u64], scripts: &[&[Outcome]], latency_ms: u64) -> Run {
    run_timed(pool, ready_ms, scripts, |_| latency_ms)
}

/// Like [`run`], each row's attempts taking `latency_ms(row)`.
fn run_timed(
    pool: &mut Pool,
    ready_ms: &[u64],
    scripts: &[&[Outcome]],
    latency_ms: impl Fn(usize) -> u64,
) -> Run {
    run_answered(pool, ready_ms, scripts, latency_ms, None)
}

/// Like [`run_timed`], every capacity answer asking for `retry_after`.
fn run_answered(
    pool: &mut Pool,
    ready_ms: &[u64],
    scripts: &[&[Outcome]],
    latency_ms: impl Fn(usize) -> u64,
    retry_after: Option<Duration>,
) -> Run {
    let answer = |outcome| {
        ApiAnswer::new(outcome)
            .with_status(Some(429))
            .with_retry_after(retry_after.filter(|_| outcome == Outcome::Capacity))
    };
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
            pool.attempt_done(now, batch, row, answer(outcome))
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
                    let latency_ms = latency_ms(row);
                    in_flight.push((now + Duration::from_millis(latency_ms), row, outcome));
                    if latency_ms == 0 {
                        // Answer at once, as an instantaneous API would.
                        let (_, row, outcome) = in_flight.pop().expect("just pushed");
                        pool.attempt_done(now, batch, row, answer(outcome))
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

/// Races answered from a script: picks in order (then the last contender, which
/// Fisher-Yates leaves in place), and every timer late by `late`.
#[derive(Debug)]
struct Scripted {
    picks: VecDeque<usize>,
    late: Duration,
}

impl Races for Scripted {
    fn pick(&mut self, n: usize) -> usize {
        self.picks.pop_front().unwrap_or(n - 1).min(n - 1)
    }
    fn slack(&mut self) -> Duration {
        self.late
    }
}

/// The pool answering its choice points from `picks` with timers `late_ms` late; in
/// causal order (no races at all) when both are empty.
fn raced(pool: Pool, picks: &[usize], late_ms: u64) -> Pool {
    if picks.is_empty() && late_ms == 0 {
        return pool;
    }
    pool.with_races(Box::new(Scripted {
        picks: picks.iter().copied().collect(),
        late: Duration::from_millis(late_ms),
    }))
}

/// One permit, `gate = "min"` spacing 100 ms: three rows ready at 0 pass 100 ms apart in
/// the order they arrived.
fn three_at_once() -> Pool {
    pool(|r| {
        r.pool_size = 1;
        r.min_dispatch_delay_ms = 100;
        r.gate = "min".into();
    })
}

#[test]
fn rows_ready_at_one_instant_arrive_in_row_order_or_as_the_race_picks() {
    let r = run(&mut three_at_once(), &[0, 0, 0], &[], 0);
    assert_eq!(
        [&r.dispatches[&0], &r.dispatches[&1], &r.dispatches[&2]],
        [&[0], &[100], &[200]]
    );
    // Fisher-Yates over rows [0, 1, 2]: pick 1 of 3 swaps 2 and 1 -> [0, 2, 1]; pick 0 of
    // 2 swaps 1 and 0 -> [2, 0, 1]: C first, then A, then B.
    let r = run(&mut raced(three_at_once(), &[1, 0], 0), &[0, 0, 0], &[], 0);
    assert_eq!(
        [&r.dispatches[&2], &r.dispatches[&0], &r.dispatches[&1]],
        [&[0], &[100], &[200]]
    );
}

/// Two permits, `gate = "min"` spacing 10 ms, `D` capped at 100 ms: A (20 ms attempts)
/// dispatches at 0, B (10 ms) at 10; both fail at 20 and back off 100 ms (A bootstraps
/// `D` to 100, B doubles it to 200, capped at 100), so both come back at 120.
fn two_backoffs_ending_together(picks: &[usize]) -> Run {
    let p = pool(|r| {
        r.pool_size = 2;
        r.min_dispatch_delay_ms = 10;
        r.max_dispatch_delay_ms = 100;
        r.recovery_step_ms = 100;
        r.gate = "min".into();
    });
    let fail = [Outcome::Capacity];
    run_timed(&mut raced(p, picks, 0), &[0, 0], &[&fail, &fail], |row| {
        if row == 0 { 20 } else { 10 }
    })
}

#[test]
fn backoffs_ending_at_one_instant_queue_in_row_order_or_as_the_race_picks() {
    // Causal: A queues first and passes the gate at 120, B 10 ms later.
    let r = two_backoffs_ending_together(&[]);
    assert_eq!(r.dispatches[&0], [0, 120]);
    assert_eq!(r.dispatches[&1], [10, 130]);
    // Pick 1 keeps the arrival order at 0; pick 0 puts B ahead of A at 120.
    let r = two_backoffs_ending_together(&[1, 0]);
    assert_eq!(r.dispatches[&0], [0, 130]);
    assert_eq!(r.dispatches[&1], [10, 120]);
}

/// One permit, no spacing, 50 ms attempts, `D` capped at 100 ms: A dispatches at 0, fails
/// at 50 and backs off until 150, the instant B becomes ready.
fn fresh_against_returning(picks: &[usize]) -> Run {
    let p = pool(|r| {
        r.pool_size = 1;
        r.min_dispatch_delay_ms = 0;
        r.max_dispatch_delay_ms = 100;
        r.recovery_step_ms = 100;
        r.gate = "min".into();
    });
    run(
        &mut raced(p, picks, 0),
        &[0, 150],
        &[&[Outcome::Capacity]],
        50,
    )
}

#[test]
fn a_fresh_row_and_a_returning_row_at_one_instant_go_either_way() {
    // Causal: the row back from backoff takes the free permit first.
    let r = fresh_against_returning(&[]);
    assert_eq!(r.dispatches[&0], [0, 150]);
    assert_eq!(r.dispatches[&1], [200]);
    // The race lets B reach the permit queue first: it takes the permit at 150.
    let r = fresh_against_returning(&[1]);
    assert_eq!(r.dispatches[&0], [0, 200]);
    assert_eq!(r.dispatches[&1], [150]);
}

#[test]
fn a_row_held_at_the_gate_passes_late_by_its_slack() {
    // B waits for the 100 ms spacing; its alarm fires 7 ms late. A, at an open gate,
    // passes at once.
    let p = pool(|r| {
        r.pool_size = 2;
        r.min_dispatch_delay_ms = 100;
        r.gate = "min".into();
    });
    let r = run(&mut raced(p, &[1], 7), &[0, 0], &[], 0);
    assert_eq!(r.dispatches[&0], [0]);
    assert_eq!(r.dispatches[&1], [107]);
}

#[test]
fn a_backoff_ends_late_by_its_slack_but_never_past_the_deadline() {
    // No spacing, budget 1 s, every attempt refused, timers 50 ms late: backoffs of
    // 100, 200 and 400 ms end at 150, 400 and 850; the next, min(800, 1000 - 850) = 150,
    // ends at the deadline, 1000, not at 1050: the row times out exactly then.
    let mut p = raced(
        pool(|r| {
            r.pool_size = 1;
            r.min_dispatch_delay_ms = 0;
            r.recovery_step_ms = 100;
            r.max_capacity_retry_seconds = 1;
            r.gate = "min".into();
        }),
        &[],
        50,
    );
    let refused = [Outcome::Capacity; 10];
    let r = run(&mut p, &[0], &[&refused], 0);
    assert_eq!(r.dispatches[&0], [0, 150, 400, 850]);
    match r.ends[&0] {
        RowEnd::RetryTimeout { elapsed, .. } => assert_eq!(elapsed, 1000 * MS),
        other => panic!("expected a retry_timeout, got {other:?}"),
    }
}

#[test]
fn a_pause_a_server_asked_for_ends_late_by_its_slack() {
    // Two permits, no spacing, 10 ms attempts, every timer 7 ms late. A dispatches at 0
    // and is refused at 10 with Retry-After 100 ms: the pause ends 7 ms late, at 117.
    // B, ready at 20, is held at the gate for the pause; its alarm for the pause's end
    // fires 7 ms late again: 124. A's backoff (the wait asked for, 100 ms) ends 7 ms late
    // too, at 117, and A queues at the gate behind B, which is first in line: both pass
    // at 124.
    let pool_of = || {
        pool(|r| {
            r.pool_size = 2;
            r.min_dispatch_delay_ms = 0;
            r.recovery_step_ms = 50;
            r.gate = "min".into();
        })
    };
    let refused = [Outcome::Capacity];
    let retry_after = Some(100 * MS);
    let r = run_answered(
        &mut raced(pool_of(), &[], 7),
        &[0, 20],
        &[&refused],
        |_| 10,
        retry_after,
    );
    assert_eq!(r.dispatches[&0], [0, 124]);
    assert_eq!(r.dispatches[&1], [124]);
    // Without slack the pause ends on time, and both pass at 110.
    let r = run_answered(&mut pool_of(), &[0, 20], &[&refused], |_| 10, retry_after);
    assert_eq!(r.dispatches[&0], [0, 110]);
    assert_eq!(r.dispatches[&1], [110]);
}
