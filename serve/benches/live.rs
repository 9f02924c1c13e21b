//! Real-clock figures of the two pools against a local endpoint served by `paceline
//! serve` (zero latency, no limits): the overhead a pool adds per row over a direct loop
//! making the same HTTP calls on as many workers, and the gate's jitter (actual gap
//! between dispatches minus the spacing required) from the pools' own traces.
//!
//! `cargo bench -p paceline-serve --bench live` (add `-- --rows N` for another size).
//! Every figure is the median of three runs; the machine's other load counts in them.

// A bench prints its table for a person at a terminal, not for a pipe: println! is fine
// here (clippy.toml forbids it for the CLI's sake).
#![allow(clippy::disallowed_macros)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paceline_core::{
    AsyncPool, CallError, Event, EventKind, Observer, PoolConfig, PooledExecutor, RawPoolConfig,
    SystemClock,
};
use paceline_serve::{Options, ServerHandle, spawn};
use paceline_sim::Scenario;

const WORKERS: usize = 16;
const BODY: &str =
    r#"{"model":"bench","messages":[{"role":"user","content":"hi"}],"max_tokens":1}"#;

fn server() -> ServerHandle {
    let scenario = Scenario::parse(
        std::path::Path::new("bench.toml"),
        "name = \"bench\"\n[[batches]]\nrows = [{ id = \"A\" }]\n",
    )
    .expect("a scenario");
    spawn(
        &scenario,
        "127.0.0.1:0".parse().expect("an address"),
        Options::default(),
    )
    .expect("the server starts")
}

fn config(spacing_ms: i64) -> PoolConfig {
    PoolConfig::try_from(RawPoolConfig {
        pool_size: WORKERS as i64,
        min_dispatch_delay_ms: spacing_ms,
        recovery_step_ms: 1,
        gate: "min".into(),
        ..RawPoolConfig::default()
    })
    .expect("valid")
}

fn ureq_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections_per_host(WORKERS * 2)
        .build()
        .into()
}

fn ureq_call(agent: &ureq::Agent, url: &str) -> Result<(), CallError> {
    let mut response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(BODY)
        .map_err(|e| CallError::retryable(e.to_string()))?;
    let _ = response.body_mut().read_to_string();
    match response.status().as_u16() {
        200 => Ok(()),
        s => Err(CallError::permanent_status(s, "refused")),
    }
}

async fn reqwest_call(request: reqwest::RequestBuilder) -> Result<(), CallError> {
    let response = request
        .send()
        .await
        .map_err(|e| CallError::retryable(e.to_string()))?;
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    match status {
        200 => Ok(()),
        s => Err(CallError::permanent_status(s, "refused")),
    }
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(WORKERS * 2)
        .build()
        .expect("a client")
}

/// `rows` calls on 16 threads, each a plain loop.
fn direct_threads(url: &str, rows: usize) -> Duration {
    let agent = ureq_agent();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < rows {
                    let _ = ureq_call(&agent, url);
                }
            });
        }
    });
    started.elapsed()
}

/// `rows` calls on 16 tasks, each a plain loop.
fn direct_tasks(runtime: &tokio::runtime::Runtime, url: &str, rows: usize) -> Duration {
    let client = reqwest_client();
    let next = Arc::new(AtomicUsize::new(0));
    runtime.block_on(async {
        let started = Instant::now();
        let tasks: Vec<_> = (0..WORKERS)
            .map(|_| {
                let (client, next, url) = (client.clone(), Arc::clone(&next), url.to_string());
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < rows {
                        let _ = reqwest_call(
                            client
                                .post(&url)
                                .header("content-type", "application/json")
                                .body(BODY),
                        )
                        .await;
                    }
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
        started.elapsed()
    })
}

/// Dispatch times seen by an observer.
fn dispatch_log() -> (Arc<Mutex<Vec<Duration>>>, Observer) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    let observer: Observer = Box::new(move |e: &Event| {
        if matches!(e.kind, EventKind::Dispatch { .. }) {
            sink.lock().expect("not poisoned").push(e.at);
        }
    });
    (log, observer)
}

/// The threaded executor: elapsed time and dispatch times.
fn threaded_pool(url: &str, rows: usize, spacing_ms: i64) -> (Duration, Vec<Duration>) {
    let (log, observer) = dispatch_log();
    let (agent, url) = (ureq_agent(), url.to_string());
    let pool = PooledExecutor::with_observer(
        config(spacing_ms),
        SystemClock::new(),
        move |_: &usize| ureq_call(&agent, &url),
        Some(observer),
    )
    .expect("threads start");
    let started = Instant::now();
    let batch = pool.execute_batch((0..rows).collect());
    let took = started.elapsed();
    assert!(batch.entries.iter().all(|e| e.result.is_ok()));
    let times = log.lock().expect("not poisoned").clone();
    (took, times)
}

/// The async pool: elapsed time and dispatch times.
fn async_pool(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    rows: usize,
    spacing_ms: i64,
) -> (Duration, Vec<Duration>) {
    let (log, observer) = dispatch_log();
    let (client, url) = (reqwest_client(), url.to_string());
    let pool = AsyncPool::with_observer(
        config(spacing_ms),
        move |_: &usize| {
            reqwest_call(
                client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(BODY),
            )
        },
        Some(observer),
    );
    let (took, ok) = runtime.block_on(async {
        let started = Instant::now();
        let batch = pool.execute_batch((0..rows).collect()).await;
        (
            started.elapsed(),
            batch.entries.iter().all(|e| e.result.is_ok()),
        )
    });
    assert!(ok);
    let times = log.lock().expect("not poisoned").clone();
    (took, times)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Gap between consecutive dispatches minus the spacing, as percentiles (p50, p99, max),
/// in microseconds.
fn jitter(times: &[Duration], spacing: Duration) -> (f64, f64, f64) {
    let mut late: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1].saturating_sub(w[0]).as_secs_f64() - spacing.as_secs_f64()) * 1e6)
        .collect();
    late.sort_by(f64::total_cmp);
    let at = |q: f64| late[((late.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), at(1.0))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows = args
        .iter()
        .position(|a| a == "--rows")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000usize);
    let server = server();
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // Warm up connections and caches.
    direct_threads(&url, 500);
    direct_tasks(&runtime, &url, 500);

    let runs = 3;
    let per_row = |d: Duration| d.as_secs_f64() * 1e6 / rows as f64;
    let dt = median((0..runs).map(|_| direct_threads(&url, rows)).collect());
    let pt = median((0..runs).map(|_| threaded_pool(&url, rows, 0).0).collect());
    let da = median(
        (0..runs)
            .map(|_| direct_tasks(&runtime, &url, rows))
            .collect(),
    );
    let pa = median(
        (0..runs)
            .map(|_| async_pool(&runtime, &url, rows, 0).0)
            .collect(),
    );
    println!("pool 16, zero-latency endpoint on loopback, {rows} rows, median of {runs} runs:");
    println!("| driver | direct loop, us/row | through the pool, us/row | overhead, us/row |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| threaded executor + ureq | {:.1} | {:.1} | {:+.1} |",
        per_row(dt),
        per_row(pt),
        per_row(pt) - per_row(dt)
    );
    println!(
        "| async pool + reqwest | {:.1} | {:.1} | {:+.1} |",
        per_row(da),
        per_row(pa),
        per_row(pa) - per_row(da)
    );

    let spacing_ms = 2;
    let spacing = Duration::from_millis(spacing_ms as u64);
    let jitter_rows = 1000;
    let (_, t) = threaded_pool(&url, jitter_rows, spacing_ms);
    let jt = jitter(&t, spacing);
    let (_, t) = async_pool(&runtime, &url, jitter_rows, spacing_ms);
    let ja = jitter(&t, spacing);
    println!();
    println!(
        "gate jitter: gap between dispatches minus the {spacing_ms} ms spacing, {jitter_rows} rows:"
    );
    println!("| driver | p50, us | p99, us | max, us |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| threaded executor | {:.0} | {:.0} | {:.0} |",
        jt.0, jt.1, jt.2
    );
    println!("| async pool | {:.0} | {:.0} | {:.0} |", ja.0, ja.1, ja.2);
    drop(runtime);
    let summary = server.shutdown().expect("the server stops");
    println!("\n({} requests served)", summary.requests);
}
