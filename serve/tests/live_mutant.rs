//! D16 of the bug zoo (a `Retry-After` ignored: the failing row backs off by `D` only,
//! the rest of the pool keeps sending) run live: the blocking executor over `ureq`
//! against the served 429 phase. The server's own trace catches it by I10, as it would
//! catch any client that sends during a pause it asked for. (Alone in its test binary:
//! the bug zoo's switch is process-wide.)

mod common;

use common::*;
use paceline_core::{PooledExecutor, SystemClock};
use paceline_trace::{DefectId, Invariant};
use paceline_verify::Verdict;

#[test]
fn d16_run_live_is_caught_by_i10_in_the_server_side_trace() {
    let (scenario, server_trace, server) = live_server("live-d16-server.csv");
    let url = server.url();
    let agent = ureq_agent();
    let (trace, observer) = client_trace();
    let config = scenario.pool.clone();
    let d16 = DefectId::parse("D16").expect("a defect");
    let batch = paceline_harness::with_defect(d16, || {
        let pool = PooledExecutor::with_observer(
            config.clone(),
            SystemClock::new(),
            move |row: &Row| ureq_call(&agent, &url, row),
            Some(observer),
        )
        .expect("threads start");
        pool.execute_batch_with_tokens(rows(500), |r| r.tokens)
    })
    .expect("the core has the switch");
    server.shutdown().expect("the server stops");
    assert_eq!(batch.entries.len(), 500);

    let (report, server_rows) = judge_server(&config, &server_trace);
    assert!(pauses_asked(&server_rows) >= 1, "the phase asked for waits");
    match report.verdicts.get(&Invariant::I10) {
        Some(Verdict::Violated { first, count }) => {
            eprintln!(
                "server-side I10: {count} violations; first: {}",
                first[0].message
            );
            assert!(first[0].message.contains("before the pause ends"));
        }
        other => panic!("D16 not caught by the server's I10: {other:?}"),
    }
    // The pool's own trace says the same.
    let client = trace.lock().expect("not poisoned").clone();
    assert!(judge_client(&config, &client).is_violated(Invariant::I10));
}
