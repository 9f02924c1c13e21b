//! The `AsyncPool` with an async HTTP client (`reqwest`) against a served scenario: 500
//! rows through a phase of 429s with Retry-After, on a loopback port. The pool's own
//! trace and the server's trace are both judged, and both are clean.

mod common;

use std::time::Instant;

use common::*;
use paceline_core::{AsyncPool, CallError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_pool_over_reqwest_keeps_every_rule_through_a_429_phase() {
    let (scenario, server_trace, server) = live_server("live-async-server.csv");
    let url = server.url();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .expect("a client");
    let (trace, observer) = client_trace();
    let config = scenario.pool.clone();
    let pool = AsyncPool::with_observer(
        config.clone(),
        move |row: &Row| {
            let mut request = client
                .post(&url)
                .header("content-type", "application/json")
                .body(BODY);
            for (name, value) in row.headers() {
                request = request.header(name, value);
            }
            async move {
                let response = request
                    .send()
                    .await
                    .map_err(|e| CallError::retryable(e.to_string()))?;
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                // Read to the end, so the connection goes back to the client's pool.
                let _ = response.bytes().await;
                answer_of(status, |name| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                })
            }
        },
        Some(observer),
    );
    let started = Instant::now();
    let batch = pool
        .execute_batch_with_tokens(rows(500), |r| r.tokens)
        .await;
    let took = started.elapsed();
    drop(pool);
    let summary = tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .expect("joined")
        .expect("the server stops");
    let client = trace.lock().expect("not poisoned").clone();
    assert_clean_run(&config, &batch.entries, &client, &server_trace, &summary);
    eprintln!(
        "500 rows in {took:?}: {} requests, {:?} by status",
        summary.requests, summary.by_status
    );
}
