//! The async pool on tokio's paused clock: latencies are `tokio::time::sleep`s inside the
//! user's call, and time moves only when every task waits, so the times asserted here are
//! exact, not hoped for.
#![cfg(feature = "tokio")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paceline_core::{
    AsyncPool, CallError, Event, EventKind, Observer, Outcome, PoolConfig, RawPoolConfig, RowError,
};
use tokio::time::{Instant, sleep};

fn config(edit: impl FnOnce(&mut RawPoolConfig)) -> PoolConfig {
    let mut raw = RawPoolConfig {
        gate: "min".into(),
        recovery_step_ms: 1,
        ..RawPoolConfig::default()
    };
    edit(&mut raw);
    PoolConfig::try_from(raw).expect("valid test config")
}

/// Dispatches and capacity answers as the pool reported them: (time, row, capacity?).
type Log = Arc<Mutex<Vec<(Duration, usize, bool)>>>;

fn event_log() -> (Log, Observer) {
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    let observer: Observer = Box::new(move |e: &Event| {
        let entry = match (&e.kind, e.row) {
            (EventKind::Dispatch { .. }, Some(row)) => (e.at, row, false),
            (
                EventKind::Answer {
                    outcome: Outcome::Capacity,
                    ..
                },
                Some(row),
            ) => (e.at, row, true),
            _ => return,
        };
        sink.lock().expect("not poisoned").push(entry);
    });
    (log, observer)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn entries_come_back_in_row_order_and_a_refusal_is_retried() {
    let refused = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&refused);
    let pool = AsyncPool::new(
        config(|c| {
            c.pool_size = 4;
            c.min_dispatch_delay_ms = 1;
        }),
        move |row: &u64| {
            let (row, seen) = (*row, Arc::clone(&seen));
            async move {
                // Later rows answer sooner, so they finish first.
                sleep(ms(40 - 4 * row)).await;
                if row == 3 && seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err(CallError::capacity(Some(503), "busy"));
                }
                Ok(row * 10)
            }
        },
    );
    let batch = pool.execute_batch((0..8).collect()).await;
    let values: Vec<u64> = batch
        .entries
        .iter()
        .map(|e| *e.result.as_ref().expect("ok"))
        .collect();
    assert_eq!(values, [0, 10, 20, 30, 40, 50, 60, 70]);
    assert_eq!(batch.stats.capacity_retries, 1);
    assert_eq!(refused.load(Ordering::SeqCst), 2, "row 3 called twice");
    assert_eq!(pool.free_permits(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_pauses_every_row() {
    // Row 0's first call is refused at 10 ms asking for 150 ms: nothing is sent again
    // before 160 ms, by any row.
    let (log, observer) = event_log();
    let first = Arc::new(AtomicUsize::new(0));
    let pool = AsyncPool::with_observer(
        config(|c| {
            c.pool_size = 3;
            c.min_dispatch_delay_ms = 1;
        }),
        move |row: &usize| {
            let (row, first) = (*row, Arc::clone(&first));
            async move {
                sleep(ms(10)).await;
                if row == 0 && first.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err(
                        CallError::capacity(Some(429), "slow down").with_retry_after(ms(150))
                    );
                }
                Ok(row)
            }
        },
        Some(observer),
    );
    let start = Instant::now();
    let batch = pool.execute_batch((0..8).collect()).await;
    assert!(batch.entries.iter().all(|e| e.result.is_ok()));
    let log = log.lock().expect("not poisoned").clone();
    let refusal = log.iter().position(|e| e.2).expect("row 0 refused once");
    assert_eq!(log[refusal].0, ms(10), "refused when answered");
    let after: Vec<_> = log[refusal + 1..].iter().filter(|e| !e.2).collect();
    assert_eq!(after.first().map(|e| e.0), Some(ms(160)), "{log:?}");
    assert!(after.iter().all(|e| e.0 >= ms(160)), "{log:?}");
    assert!(after.iter().any(|e| e.1 == 0), "row 0 retried: {log:?}");
    // Rows 0-2 went at 0, 1 and 2 ms; the other six (row 0's retry and rows 3-7) go
    // three at a time, 1 ms apart: at 160-162 ms (answered at 170-172), then at 170-172
    // (answered at 180-182).
    assert_eq!(start.elapsed(), ms(182));
}

#[tokio::test(start_paused = true)]
async fn a_row_over_the_token_budget_is_never_sent() {
    let (log, observer) = event_log();
    let pool = AsyncPool::with_observer(
        config(|c| {
            c.pool_size = 2;
            c.tokens_per_minute = Some(1000);
        }),
        |row: &(usize, u64)| std::future::ready(Ok(row.0)),
        Some(observer),
    );
    let batch = pool
        .execute_batch_with_tokens(vec![(0, 400), (1, 5000), (2, 500)], |r| r.1)
        .await;
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
        .map(|e| e.1)
        .collect();
    assert_eq!(sent, [0, 2], "the large row was never dispatched");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_batch_runs_on_and_the_next_one_follows_it() {
    // Pool of 2, four rows of 100 ms: the caller gives up at 50 ms. The batch is not
    // cancelled (its rows hold the pool's permits and gate): all four are called, and the
    // next batch starts when the abandoned one has ended, at 200 ms.
    let calls = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&calls);
    let pool = AsyncPool::new(config(|c| c.pool_size = 2), move |row: &u32| {
        let (row, log) = (*row, Arc::clone(&log));
        async move {
            log.lock()
                .expect("not poisoned")
                .push((row, Instant::now()));
            sleep(ms(100)).await;
            Ok(row)
        }
    });
    let start = Instant::now();
    let gave_up = tokio::time::timeout(ms(50), pool.execute_batch(vec![0, 1, 2, 3])).await;
    assert!(gave_up.is_err(), "timed out");
    let next = pool.execute_batch(vec![10, 11]).await;
    let values: Vec<u32> = next
        .entries
        .iter()
        .map(|e| *e.result.as_ref().expect("ok"))
        .collect();
    assert_eq!(values, [10, 11]);
    let calls = calls.lock().expect("not poisoned").clone();
    let rows: Vec<u32> = calls.iter().map(|c| c.0).collect();
    assert_eq!(rows, [0, 1, 2, 3, 10, 11]);
    let next_started = calls[4].1 - start;
    assert_eq!(
        next_started,
        ms(200),
        "after the abandoned batch's last answer"
    );
    assert_eq!(start.elapsed(), ms(300));
    assert_eq!(pool.free_permits(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_call_becomes_an_error_entry_and_the_pool_goes_on() {
    let pool = AsyncPool::new(config(|c| c.pool_size = 2), |row: &u32| {
        let row = *row;
        async move {
            if row == 1 {
                panic!("boom at {row}");
            }
            Ok(row)
        }
    });
    let batch = pool.execute_batch(vec![0, 1, 2]).await;
    assert_eq!(batch.entries[0].result, Ok(0));
    assert_eq!(
        batch.entries[1].result,
        Err(RowError::Panicked("boom at 1".into()))
    );
    assert_eq!(batch.entries[2].result, Ok(2));
    let again = pool.execute_batch(vec![5]).await;
    assert_eq!(again.entries[0].result, Ok(5));
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_waiting_rows_at_once_and_rows_in_flight_when_answered() {
    // Pool of 2, six rows of 100 ms; shutdown at 150 ms: rows 0 and 1 answered at 100,
    // rows 2 and 3 in flight (answered at 200), rows 4 and 5 never sent.
    let pool = AsyncPool::new(config(|c| c.pool_size = 2), |row: &u32| {
        let row = *row;
        async move {
            sleep(ms(100)).await;
            Ok(row)
        }
    });
    let (batch, ()) = tokio::join!(pool.execute_batch((0..6).collect()), async {
        sleep(ms(150)).await;
        pool.shutdown();
    });
    let results: Vec<_> = batch.entries.iter().map(|e| e.result.clone()).collect();
    assert_eq!(
        results,
        [
            Ok(0),
            Ok(1),
            Ok(2),
            Ok(3),
            Err(RowError::Shutdown),
            Err(RowError::Shutdown)
        ]
    );
    let later = pool.execute_batch(vec![9]).await;
    assert_eq!(later.entries[0].result, Err(RowError::Shutdown));
}

#[tokio::test(start_paused = true)]
async fn an_empty_batch_returns_at_once() {
    let pool = AsyncPool::new(config(|_| {}), |row: &u32| std::future::ready(Ok(*row)));
    let batch = pool.execute_batch(Vec::new()).await;
    assert!(batch.entries.is_empty());
}
