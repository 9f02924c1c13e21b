//! The blocking `PooledExecutor` with a blocking HTTP client (`ureq`) against a served
//! scenario: 500 rows through a phase of 429s with Retry-After, on a loopback port. The
//! pool's own trace and the server's trace are both judged, and both are clean.

mod common;

use std::time::Instant;

use common::*;
use paceline_core::{PooledExecutor, SystemClock};

#[test]
fn the_threaded_executor_over_ureq_keeps_every_rule_through_a_429_phase() {
    let (scenario, server_trace, server) = live_server("live-threaded-server.csv");
    let (url, agent) = (server.url(), ureq_agent());
    let (trace, observer) = client_trace();
    let config = scenario.pool.clone();
    let pool = PooledExecutor::with_observer(
        config.clone(),
        SystemClock::new(),
        move |row: &Row| ureq_call(&agent, &url, row),
        Some(observer),
    )
    .expect("threads start");
    let started = Instant::now();
    let batch = pool.execute_batch_with_tokens(rows(500), |r| r.tokens);
    let took = started.elapsed();
    drop(pool);
    let summary = server.shutdown().expect("the server stops");
    let client = trace.lock().expect("not poisoned").clone();
    assert_clean_run(&config, &batch.entries, &client, &server_trace, &summary);
    eprintln!(
        "500 rows in {took:?}: {} requests, {:?} by status",
        summary.requests, summary.by_status
    );
}
