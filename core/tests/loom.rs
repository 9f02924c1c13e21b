//! loom models of the threaded executor: the real `PooledExecutor`, its mutex, condition
//! variable, atomics and threads swapped for loom's through core's `sync` shim, on a
//! `ManualClock` (loom does not model time; a sleep jumps the clock instead).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p paceline-core --test loom --release
//! --features mutants`.
#![cfg(loom)]

use std::time::Duration;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
#[cfg(feature = "mutants")]
use paceline_core::mutant::Defect;
use paceline_core::{
    CallError, Event, EventKind, ManualClock, Observer, Outcome, PoolConfig, PooledExecutor,
    RawPoolConfig, Time,
};

fn config(edit: impl FnOnce(&mut RawPoolConfig)) -> PoolConfig {
    let mut raw = RawPoolConfig::default();
    edit(&mut raw);
    PoolConfig::try_from(raw).expect("valid model config")
}

/// Explore interleavings with at most `bound` preemptions per execution.
fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder.check(f);
}

#[test]
fn the_gate_spaces_every_dispatch_and_keeps_every_update() {
    model(3, || {
        // The pool's own dispatch decisions, as its events report them.
        let dispatches = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&dispatches);
        let observer: paceline_core::Observer = Box::new(move |event: &paceline_core::Event| {
            if matches!(event.kind, paceline_core::EventKind::Dispatch { .. }) {
                seen.lock().expect("not poisoned").push(event.at);
            }
        });
        let pool = PooledExecutor::with_observer(
            config(|r| {
                r.pool_size = 2;
                r.min_dispatch_delay_ms = 100;
                r.gate = "min".into();
            }),
            ManualClock::new(),
            |_: &u8| -> Result<(), CallError> { Ok(()) },
            Some(observer),
        )
        .expect("threads start");
        let batch = pool.execute_batch(vec![0, 1, 2]);
        drop(pool);
        assert_eq!(batch.entries.len(), 3);
        let times = dispatches.lock().expect("not poisoned").clone();
        assert_eq!(times.len(), 3);
        for pair in times.windows(2) {
            assert!(pair[1] >= pair[0] + Duration::from_millis(100), "{times:?}");
        }
    });
}

#[test]
fn the_throttle_stays_in_bounds_and_counts_exactly_under_concurrent_answers() {
    model(3, || {
        // Row 0 is refused once; both rows then succeed, in whatever order.
        let pool = PooledExecutor::new(
            config(|r| {
                r.pool_size = 2;
                r.min_dispatch_delay_ms = 10;
                r.max_dispatch_delay_ms = 1000;
                r.recovery_step_ms = 50;
            }),
            ManualClock::new(),
            |calls: &AtomicUsize| {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(CallError::capacity(Some(429), "slow down"))
                } else {
                    Ok(())
                }
            },
        )
        .expect("threads start");
        let batch = pool.execute_batch(vec![AtomicUsize::new(0), AtomicUsize::new(1)]);
        let d = pool.delay_ms();
        drop(pool);
        assert!(batch.entries.iter().all(|e| e.result.is_ok()));
        assert_eq!(batch.stats.capacity_retries, 1);
        assert_eq!(batch.stats.successes, 2);
        assert_eq!(batch.stats.peak_delay_ms, 50.0);
        assert!((10.0..=1000.0).contains(&d), "D = {d}");
    });
}

#[test]
fn concurrent_batches_never_mix_entries() {
    concurrent_batches_model();
}

/// With D3 switched on (no single-flight), the model must fail: some interleaving
/// mixes the batches or leaves a caller waiting forever. loom aborts the process on a
/// deadlock, so the model runs in a child process of this test binary, which must fail.
#[cfg(feature = "mutants")]
#[test]
fn the_batch_model_catches_d3() {
    caught_in_a_child(
        "the_batch_model_catches_d3",
        Defect::D3,
        concurrent_batches_model,
        &["deadlock", "assertion"],
    );
}

/// Run `model` with `defect` switched on in a child process of this test binary (the
/// switch is process-wide, and loom aborts on a deadlock), which must fail, with one of
/// `marks` in its output. `test` is the calling test's name: the child runs only it.
#[cfg(feature = "mutants")]
fn caught_in_a_child(test: &str, defect: Defect, model: fn(), marks: &[&str]) {
    const CHILD: &str = "PACELINE_LOOM_CHILD";
    if let Some(d) = std::env::var_os(CHILD) {
        if d.to_str() == Some(defect.to_string().as_str()) {
            paceline_core::mutant::activate(Some(defect));
            model();
        }
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let child = std::process::Command::new(exe)
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env(CHILD, defect.to_string())
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(
        !child.status.success(),
        "{defect} escaped the loom model of {test}"
    );
    assert!(
        marks.iter().any(|m| stderr.contains(m)),
        "the child failed for another reason than {marks:?}: {stderr}"
    );
}

fn concurrent_batches_model() {
    model(3, || {
        let pool = Arc::new(
            PooledExecutor::new(
                config(|r| r.pool_size = 1),
                ManualClock::new(),
                |v: &u32| Ok(*v),
            )
            .expect("threads start"),
        );
        let other = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || pool.execute_batch(vec![10, 11]))
        };
        let mine = pool.execute_batch(vec![20]);
        let theirs = other.join().expect("caller finished");
        let values = |b: paceline_core::Batch<u32>| -> Vec<u32> {
            b.entries
                .into_iter()
                .map(|e| e.result.expect("ok"))
                .collect()
        };
        assert_eq!(values(mine), [20]);
        assert_eq!(values(theirs), [10, 11]);
    });
}

#[test]
fn permits_are_never_over_released() {
    model(3, || {
        // Assertions inside the call would be caught as a panicking row: record instead.
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (r, p) = (Arc::clone(&running), Arc::clone(&peak));
        let pool = PooledExecutor::new(
            config(|c| {
                c.pool_size = 2;
                c.recovery_step_ms = 10;
            }),
            ManualClock::new(),
            move |calls: &AtomicUsize| {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                r.fetch_sub(1, Ordering::SeqCst);
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(CallError::retryable("reset"))
                } else {
                    Ok(())
                }
            },
        )
        .expect("threads start");
        let batch = pool.execute_batch(vec![AtomicUsize::new(1), AtomicUsize::new(0)]);
        assert_eq!(batch.entries.len(), 2);
        assert!(batch.entries.iter().all(|e| e.result.is_ok()));
        assert_eq!(pool.free_permits(), 2, "every permit back, none extra");
        drop(pool);
        assert!(peak.load(Ordering::SeqCst) <= 2);
    });
}

/// Run `rows` rows (`0..rows`) through a pool on a `ManualClock`, every call succeeding
/// with its row's number except row 0's first, which gets `refusal`; check that every
/// row finished with its value, and return every event the pool reported, in order.
///
/// The observer runs under the pool's own lock, so the mutex it records into is never
/// contended, and the flag that refuses row 0 once is read only by the worker calling
/// row 0 after the pool dispatched it: both are std's, test scaffolding that adds no
/// interleavings of its own to the model.
fn run_refusing_row_0_once(config: PoolConfig, refusal: CallError, rows: usize) -> Vec<Event> {
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&events);
    let observer: Observer = Box::new(move |event: &Event| {
        seen.lock().expect("not poisoned").push(event.clone());
    });
    let refused = std::sync::atomic::AtomicBool::new(false);
    let pool = PooledExecutor::with_observer(
        config,
        ManualClock::new(),
        move |row: &usize| {
            if *row == 0 && !refused.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Err(refusal.clone());
            }
            Ok(*row)
        },
        Some(observer),
    )
    .expect("threads start");
    let batch = pool.execute_batch((0..rows).collect());
    drop(pool);
    let values: Vec<usize> = batch
        .entries
        .iter()
        .map(|e| e.result.clone().expect("every row succeeds in the end"))
        .collect();
    assert_eq!(values, (0..rows).collect::<Vec<_>>(), "every row, in order");
    assert_eq!(batch.stats.capacity_retries, 1, "row 0 retried once");
    events.lock().expect("not poisoned").clone()
}

/// The dispatches among `events`: (time, row).
fn dispatches(events: &[Event]) -> Vec<(Time, usize)> {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Dispatch { .. }))
        .filter_map(|e| Some((e.at, e.row?)))
        .collect()
}

/// The preemption bound of the pause and budget models. They run longer executions than
/// the models above (a retry, minutes of virtual time), so each extra preemption costs
/// about ten times more: at 2 they explore some 2 500 and 3 600 executions in under a
/// second each (and reach the waiter the pause must wake); at 3 they also pass, in 10
/// to 20 s each, too long for every run of this file.
const PROVIDER_BOUND: usize = 2;

/// The server's wait in the pause model.
const PAUSE: Duration = Duration::from_secs(1);

/// Executions of the pause model in which row 1 was already waiting at the gate when the
/// pause began: the waiter the pause's end must wake. The model must reach that case.
static WAITED_THROUGH_A_PAUSE: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

#[test]
fn a_pause_holds_every_row_and_its_end_wakes_the_waiter() {
    pause_model();
    assert!(
        WAITED_THROUGH_A_PAUSE.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "no execution had row 1 waiting at the gate through the pause"
    );
}

/// Pool of 2, gate spacing 100 ms: row 0 goes at 0, row 1 waits at the gate for 100 ms.
/// Row 0's first call is a 429 asking for 1 s. Whatever the interleaving (the answer may
/// be recorded before or after a worker jumps the clock to row 1's turn), no dispatch of
/// any row comes after the answer before `t_fail + 1 s`, the first one comes exactly
/// then (the end of the pause wakes the pool: nobody oversleeps, nobody is left asleep),
/// and every row finishes.
fn pause_model() {
    model(PROVIDER_BOUND, || {
        let config = config(|r| {
            r.pool_size = 2;
            r.min_dispatch_delay_ms = 100;
            r.gate = "min".into();
            r.honour_retry_after = true;
        });
        let refusal = CallError::capacity(Some(429), "slow down").with_retry_after(PAUSE);
        let events = run_refusing_row_0_once(config, refusal, 2);
        let answer = events
            .iter()
            .position(|e| {
                matches!(
                    e.kind,
                    EventKind::Answer {
                        outcome: Outcome::Capacity,
                        ..
                    }
                )
            })
            .expect("row 0 was refused");
        let t_fail = events[answer].at;
        let ends = t_fail + PAUSE;
        let all = dispatches(&events);
        assert_eq!(all.len(), 3, "rows 0 and 1, and row 0's retry: {all:?}");
        for &(at, row) in &all {
            assert!(
                at <= t_fail || at >= ends,
                "row {row} dispatched at {at:?}, inside the pause ({t_fail:?}, {ends:?}): {all:?}"
            );
        }
        let after = dispatches(&events[answer..]);
        for &(at, row) in &after {
            assert!(
                at >= ends,
                "row {row} dispatched at {at:?} after the 429 at {t_fail:?}, inside the pause that ends at {ends:?}: {all:?}"
            );
        }
        assert_eq!(
            after.first().map(|d| d.0),
            Some(ends),
            "the end of the pause lets the next dispatch go at once: {all:?}"
        );
        let row_1_waited = events[..answer]
            .iter()
            .any(|e| e.row == Some(1) && e.kind == EventKind::GateWait)
            && after.iter().any(|d| d.1 == 1);
        if row_1_waited {
            WAITED_THROUGH_A_PAUSE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
}

/// D16 (`Retry-After` ignored) and D17 (honoured by the failing row only) break the
/// pause model: row 0 retries after `D` alone, or row 1 passes the gate at 100 ms.
#[cfg(feature = "mutants")]
#[test]
fn the_pause_model_catches_d16_and_d17() {
    for defect in [Defect::D16, Defect::D17] {
        caught_in_a_child(
            "the_pause_model_catches_d16_and_d17",
            defect,
            pause_model,
            &["inside the pause"],
        );
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_budget_freed_by_the_sliding_window_lets_the_next_dispatch_go() {
    budget_model();
}

/// `requests_per_minute = 1`, pool of 2, no spacing: three rows, row 0's first call
/// refused (no wait asked), so four dispatches, the retry counted like any other. Each
/// must come at least a minute after the one before, as soon as the window frees it (a
/// dispatch at `s` leaves `(t - 60 s, t]` at `s + 60 s`): at 0, 60, 120 and 180 s, in
/// every interleaving, and every row finishes.
fn budget_model() {
    model(PROVIDER_BOUND, || {
        let config = config(|r| {
            r.pool_size = 2;
            r.gate = "min".into();
            r.requests_per_minute = Some(1);
        });
        let events =
            run_refusing_row_0_once(config, CallError::capacity(Some(429), "slow down"), 3);
        let times: Vec<Time> = dispatches(&events).into_iter().map(|d| d.0).collect();
        for pair in times.windows(2) {
            assert!(
                pair[1] >= pair[0] + MINUTE,
                "two dispatches within a minute, over requests_per_minute = 1: {times:?}"
            );
        }
        let expected: Vec<Time> = (0..4).map(|n| n * MINUTE).collect();
        assert_eq!(
            times, expected,
            "each dispatch goes when the window frees it"
        );
    });
}

/// D19 (retries not charged to the budget) breaks the budget model: row 0's retry,
/// behind row 1 at the gate, follows it at once.
#[cfg(feature = "mutants")]
#[test]
fn the_budget_model_catches_d19() {
    caught_in_a_child(
        "the_budget_model_catches_d19",
        Defect::D19,
        budget_model,
        &["over requests_per_minute"],
    );
}
