//! The real threaded executor, on the system clock, judged by the verifier: its own
//! events (through the executor's observer) are the trace, as any implementation's
//! recorded trace would be.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use paceline_core::{CallError, Event, PoolConfig, PooledExecutor, RawPoolConfig, SystemClock};
use paceline_harness::rules_of;
use paceline_sim::record_of;
use paceline_trace::TraceRow;
use paceline_verify::{Verdict, Verifier};

#[test]
fn a_real_run_keeps_every_invariant() {
    let config = PoolConfig::try_from(RawPoolConfig {
        pool_size: 3,
        min_dispatch_delay_ms: 5,
        recovery_step_ms: 10,
        ..RawPoolConfig::default()
    })
    .expect("valid");
    let trace: Arc<Mutex<Vec<TraceRow>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&trace);
    let observer: paceline_core::Observer = Box::new(move |event: &Event| {
        let mut detail = String::new();
        let t_us = u64::try_from(event.at.as_micros()).unwrap_or(u64::MAX);
        let row = record_of(event, t_us, "", None, &mut detail).to_row();
        sink.lock().expect("not poisoned").push(row);
    });
    // Every third row is refused once; latencies vary so rows finish out of order.
    let pool = PooledExecutor::with_observer(
        config.clone(),
        SystemClock::new(),
        |row: &(u64, Mutex<u32>)| {
            let (n, calls) = row;
            let mut calls = calls.lock().expect("not poisoned");
            *calls += 1;
            thread::sleep(Duration::from_millis(n % 4));
            if n % 3 == 0 && *calls == 1 {
                Err(CallError::capacity(Some(429), "slow down"))
            } else {
                Ok(*n)
            }
        },
        Some(observer),
    )
    .expect("threads start");
    for batch in 0..2u64 {
        let rows = (0..12).map(|i| (batch * 100 + i, Mutex::new(0))).collect();
        let got = pool.execute_batch(rows);
        let values: Vec<u64> = got
            .entries
            .iter()
            .map(|e| *e.result.as_ref().expect("ok"))
            .collect();
        assert_eq!(values, (0..12).map(|i| batch * 100 + i).collect::<Vec<_>>());
    }
    drop(pool);
    // A real backoff lasts until its timer's thread wakes, a little after its nominal
    // length (which is all the trace records); the statistics count the time actually
    // spent. That is clock jitter: allow 2 ms per interval, as --tolerance-us would.
    // The trace is written by paceline's own record writer: every detail key is there
    // where it applies.
    let mut verifier = Verifier::new(rules_of(&config), 2000).with_complete_details();
    for row in trace.lock().expect("not poisoned").iter() {
        verifier.observe(&row.as_record());
    }
    let report = verifier.finish(None);
    assert_eq!(
        report.verdicts.len(),
        9,
        "I1 to I7, I10 and I11 checked on the trace"
    );
    for (invariant, verdict) in &report.verdicts {
        assert!(
            matches!(verdict, Verdict::Held { .. }),
            "{invariant}: {verdict:?}"
        );
    }
}
