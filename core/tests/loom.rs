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
use paceline_core::{CallError, ManualClock, PoolConfig, PooledExecutor, RawPoolConfig};

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
    const CHILD: &str = "PACELINE_LOOM_D3_CHILD";
    if std::env::var_os(CHILD).is_some() {
        paceline_core::mutant::activate(Some(paceline_core::mutant::Defect::D3));
        concurrent_batches_model();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let child = std::process::Command::new(exe)
        .args([
            "--exact",
            "the_batch_model_catches_d3",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(
        !child.status.success(),
        "D3 escaped the loom model of concurrent batches"
    );
    assert!(
        stderr.contains("deadlock") || stderr.contains("assertion"),
        "the child failed for another reason: {stderr}"
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
