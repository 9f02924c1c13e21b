//! The threaded executor on the system clock.
//!
//! Latencies are real sleeps inside the user's function (that is what an API call is);
//! coordination between the test and the pool uses channels, never sleeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use paceline_core::{CallError, PoolConfig, PooledExecutor, RawPoolConfig, RowError, SystemClock};

fn config(edit: impl FnOnce(&mut RawPoolConfig)) -> PoolConfig {
    let mut raw = RawPoolConfig::default();
    edit(&mut raw);
    PoolConfig::try_from(raw).expect("valid test config")
}

#[test]
fn results_come_back_in_submission_order_when_later_rows_finish_first() {
    let pool = PooledExecutor::new(
        config(|r| r.pool_size = 4),
        SystemClock::new(),
        |ms: &u64| {
            thread::sleep(Duration::from_millis(*ms));
            Ok(*ms * 10)
        },
    )
    .expect("threads start");
    let batch = pool.execute_batch(vec![400, 300, 200, 100]);
    let values: Vec<u64> = batch
        .entries
        .iter()
        .map(|e| e.result.clone().expect("ok"))
        .collect();
    assert_eq!(values, [4000, 3000, 2000, 1000]);
    let submit: Vec<usize> = batch.entries.iter().map(|e| e.meta.submit_index).collect();
    assert_eq!(submit, [0, 1, 2, 3]);
    let completion: Vec<usize> = batch
        .entries
        .iter()
        .map(|e| e.meta.complete_index)
        .collect();
    assert_eq!(
        completion,
        [3, 2, 1, 0],
        "the shortest call completed first"
    );
    // Row 3 completed first and waited for row 0, 300 ms later (100 ms between the
    // calls' ends: room for a busy machine's scheduling).
    assert!(batch.entries[3].meta.buffer_wait() > Duration::from_millis(150));
    assert_eq!(batch.entries[0].meta.buffer_wait(), Duration::ZERO);
}

#[test]
fn never_more_than_pool_size_calls_at_once() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (Arc::clone(&running), Arc::clone(&peak));
    let pool = PooledExecutor::new(
        config(|c| c.pool_size = 3),
        SystemClock::new(),
        move |_: &u32| {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(5));
            r.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        },
    )
    .expect("threads start");
    let batch = pool.execute_batch((0..30).collect());
    assert_eq!(batch.entries.len(), 30);
    assert!(
        peak.load(Ordering::SeqCst) <= 3,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert_eq!(batch.stats.max_concurrent, 3);
}

#[test]
fn a_capacity_error_is_retried_and_succeeds() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let pool = PooledExecutor::new(
        config(|r| r.recovery_step_ms = 20),
        SystemClock::new(),
        move |_: &()| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(CallError::capacity(Some(429), "slow down"))
            } else {
                Ok("done")
            }
        },
    )
    .expect("threads start");
    let batch = pool.execute_batch(vec![()]);
    assert_eq!(batch.entries[0].result, Ok("done"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(batch.stats.capacity_retries, 1);
    assert_eq!(batch.stats.successes, 1);
    assert_eq!(batch.stats.peak_delay_ms, 20.0);
    assert_eq!(batch.stats.delay_at_completion_ms, 0.0);
}

#[test]
fn an_always_failing_row_ends_with_retry_timeout_within_its_budget() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let pool = PooledExecutor::new(
        config(|r| {
            r.max_capacity_retry_seconds = 1;
            r.recovery_step_ms = 100;
        }),
        SystemClock::new(),
        move |_: &()| -> Result<(), CallError> {
            c.fetch_add(1, Ordering::SeqCst);
            Err(CallError::capacity(Some(503), "busy"))
        },
    )
    .expect("threads start");
    let batch = pool.execute_batch(vec![()]);
    match &batch.entries[0].result {
        Err(RowError::RetryTimeout {
            last_error,
            budget,
            elapsed,
        }) => {
            assert_eq!(last_error.status(), Some(503));
            assert_eq!(*budget, Duration::from_secs(1));
            assert!(*elapsed >= *budget, "ended at {elapsed:?}");
        }
        other => panic!("expected retry_timeout, got {other:?}"),
    }
    // Attempts at 0, 100, 300 and 700 ms; the next backoff (800 ms) is cut at the 1 s
    // deadline, where the row ends: no fifth attempt, however slow the machine.
    let calls = calls.load(Ordering::SeqCst);
    assert!((2..=4).contains(&calls), "{calls} attempts");
}

#[test]
fn dispatches_are_spaced_by_the_minimum_delay() {
    // The pool's own dispatch times, on its clock: when each call was let through. (The
    // instant a worker thread then starts the call is the scheduler's business: on a
    // busy machine one start slips and the next gap looks short, which is no fault of
    // the gate.)
    let (log, observer) = event_log();
    let pool = PooledExecutor::with_observer(
        config(|r| {
            r.pool_size = 4;
            r.min_dispatch_delay_ms = 50;
        }),
        SystemClock::new(),
        move |_: &u8| Ok(()),
        Some(observer),
    )
    .expect("threads start");
    pool.execute_batch(vec![0; 8]);
    drop(pool);
    let dispatches: Vec<Duration> = log
        .lock()
        .expect("not poisoned")
        .iter()
        .filter(|e| !e.2)
        .map(|e| e.0)
        .collect();
    assert_eq!(dispatches.len(), 8);
    for pair in dispatches.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(50), "gap of {gap:?}");
    }
}

#[test]
fn concurrent_batches_each_get_their_own_rows() {
    let pool = Arc::new(
        PooledExecutor::new(
            config(|r| r.pool_size = 3),
            SystemClock::new(),
            |v: &u32| {
                thread::sleep(Duration::from_millis(u64::from(*v % 3)));
                Ok(*v)
            },
        )
        .expect("threads start"),
    );
    let callers: Vec<_> = [0u32, 1000]
        .into_iter()
        .map(|base| {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                let rows: Vec<u32> = (base..base + 20).collect();
                let got: Vec<u32> = pool
                    .execute_batch(rows.clone())
                    .entries
                    .into_iter()
                    .map(|e| e.result.expect("ok"))
                    .collect();
                (rows, got)
            })
        })
        .collect();
    for caller in callers {
        let (sent, got) = caller.join().expect("caller finished");
        assert_eq!(sent, got);
    }
}

#[test]
fn shutdown_during_a_batch_gives_every_row_one_entry() {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let started_tx = Mutex::new(started_tx);
    let pool = Arc::new(
        PooledExecutor::new(
            config(|r| r.pool_size = 2),
            SystemClock::new(),
            move |_: &u8| -> Result<(), CallError> {
                let _ = started_tx.lock().expect("not poisoned").send(());
                // Block until the test has shut the pool down.
                let _ = release_rx.lock().expect("not poisoned").recv();
                Err(CallError::retryable("connection reset"))
            },
        )
        .expect("threads start"),
    );
    let caller = {
        let pool = Arc::clone(&pool);
        thread::spawn(move || pool.execute_batch(vec![0; 6]))
    };
    started_rx.recv().expect("a call started");
    pool.shutdown();
    drop(release_tx);
    let batch = caller.join().expect("caller finished");
    assert_eq!(batch.entries.len(), 6);
    for (i, entry) in batch.entries.iter().enumerate() {
        assert_eq!(entry.meta.submit_index, i);
        assert_eq!(entry.result, Err(RowError::Shutdown));
    }
    let after = pool.execute_batch(vec![1, 2]);
    assert_eq!(after.entries.len(), 2);
    assert!(
        after
            .entries
            .iter()
            .all(|e| e.result == Err(RowError::Shutdown))
    );
}

#[test]
fn a_panicking_call_becomes_an_error_entry_and_the_pool_goes_on() {
    let pool = PooledExecutor::new(
        config(|r| r.pool_size = 2),
        SystemClock::new(),
        |v: &i32| {
            if *v < 0 {
                panic!("negative input {v}");
            }
            Ok(*v)
        },
    )
    .expect("threads start");
    let first = pool.execute_batch(vec![1, -1, 3]);
    assert_eq!(first.entries[0].result, Ok(1));
    assert!(
        matches!(&first.entries[1].result, Err(RowError::Panicked(m)) if m.contains("negative input -1"))
    );
    assert_eq!(first.entries[2].result, Ok(3));
    let second = pool.execute_batch(vec![4, 5]);
    assert_eq!(
        second
            .entries
            .iter()
            .map(|e| e.result.clone())
            .collect::<Vec<_>>(),
        [Ok(4), Ok(5)]
    );
}

#[test]
fn statistics_reset_between_batches() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let pool = PooledExecutor::new(
        config(|r| r.recovery_step_ms = 5),
        SystemClock::new(),
        move |_: &()| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(CallError::capacity(None, "slow down"))
            } else {
                Ok(())
            }
        },
    )
    .expect("threads start");
    let first = pool.execute_batch(vec![()]);
    assert_eq!(first.stats.capacity_retries, 1);
    assert_eq!(first.stats.successes, 1);
    assert_eq!(first.stats.peak_delay_ms, 5.0);
    assert!(
        first.stats.total_throttle_time >= Duration::from_millis(5),
        "a 5 ms backoff"
    );
    // The success brought D back to 0, so the second batch never waits.
    let second = pool.execute_batch(vec![(), ()]);
    assert_eq!(second.stats.capacity_retries, 0);
    assert_eq!(second.stats.successes, 2);
    assert_eq!(
        second.stats.peak_delay_ms, 0.0,
        "peak starts from D at batch start"
    );
    assert_eq!(second.stats.total_throttle_time, Duration::ZERO);
}

#[test]
fn an_empty_batch_returns_at_once() {
    let pool = PooledExecutor::new(PoolConfig::default(), SystemClock::new(), |_: &()| Ok(()))
        .expect("threads start");
    assert!(pool.execute_batch(Vec::new()).entries.is_empty());
}

/// A real run's dispatches and capacity answers, in the order the pool reported them:
/// (time on the pool's clock, row, whether it is a capacity answer).
type Log = Arc<Mutex<Vec<(Duration, usize, bool)>>>;

fn event_log() -> (Log, paceline_core::Observer) {
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    let observer: paceline_core::Observer = Box::new(move |e: &paceline_core::Event| {
        use paceline_core::{EventKind, Outcome};
        let capacity = matches!(
            e.kind,
            EventKind::Answer {
                outcome: Outcome::Capacity,
                ..
            }
        );
        if let (EventKind::Dispatch { .. }, Some(row)) | (EventKind::Answer { .. }, Some(row)) =
            (&e.kind, e.row)
            && (capacity || matches!(e.kind, EventKind::Dispatch { .. }))
        {
            sink.lock()
                .expect("not poisoned")
                .push((e.at, row, capacity));
        }
    });
    (log, observer)
}

#[test]
fn a_retry_after_pauses_every_row_of_a_real_pool() {
    // Row 0's first call is refused with a 150 ms wait. The pause belongs to the whole
    // pool: nothing the pool sends after it hears the refusal may go within 150 ms of it.
    let (log, observer) = event_log();
    let first = AtomicUsize::new(0);
    let pool = PooledExecutor::with_observer(
        config(|c| {
            c.pool_size = 3;
            c.min_dispatch_delay_ms = 1;
            c.recovery_step_ms = 1;
            c.gate = "min".into();
        }),
        SystemClock::new(),
        move |row: &usize| {
            thread::sleep(Duration::from_millis(2));
            if *row == 0 && first.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(CallError::capacity(Some(429), "slow down")
                    .with_retry_after(Duration::from_millis(150)));
            }
            Ok(*row)
        },
        Some(observer),
    )
    .expect("threads start");
    let batch = pool.execute_batch((0..8).collect());
    drop(pool);
    assert!(batch.entries.iter().all(|e| e.result.is_ok()));
    let log = log.lock().expect("not poisoned").clone();
    let refusal = log
        .iter()
        .position(|e| e.2)
        .expect("row 0 was refused once");
    let heard = log[refusal].0;
    let after: Vec<_> = log[refusal + 1..].iter().filter(|e| !e.2).collect();
    assert!(after.iter().any(|e| e.1 == 0), "row 0 was retried: {log:?}");
    for (at, row, _) in after {
        assert!(
            *at >= heard + Duration::from_millis(150),
            "row {row} went {:?} after the refusal, inside the 150 ms pause: {log:?}",
            *at - heard
        );
    }
}

#[test]
fn a_row_over_the_token_budget_is_never_sent_and_the_rest_fit_the_budget() {
    let (log, observer) = event_log();
    let pool = PooledExecutor::with_observer(
        config(|c| {
            c.pool_size = 2;
            c.tokens_per_minute = Some(1000);
        }),
        SystemClock::new(),
        |row: &(usize, u64)| Ok(row.0),
        Some(observer),
    )
    .expect("threads start");
    // 400 + 500 fit a minute; 5000 never fits; a further 200 would have to wait a minute
    // and is not in this batch.
    let batch = pool.execute_batch_with_tokens(vec![(0, 400), (1, 5000), (2, 500)], |r| r.1);
    drop(pool);
    assert_eq!(batch.entries[0].result, Ok(0));
    assert_eq!(
        batch.entries[1].result,
        Err(RowError::TooLarge { tokens: 5000 })
    );
    assert_eq!(batch.entries[2].result, Ok(2));
    let sent: Vec<usize> = log
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|d| d.1)
        .collect();
    assert!(
        !sent.contains(&1),
        "the large row was never dispatched: {sent:?}"
    );
}
