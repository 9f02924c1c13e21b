//! What the live tests share: the served scenario, a client's reading of an HTTP answer
//! as the pool's `CallError`, the pool's events as a client-side trace, and the verdicts
//! on both traces.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paceline_core::{CallError, Event, Observer, PoolConfig};
use paceline_harness::rules_of;
use paceline_serve::{Options, ServerHandle, Summary, spawn};
use paceline_sim::{Scenario, record_of};
use paceline_trace::{Invariant, TraceReader, TraceRow};
use paceline_verify::{Report, Verdict, Verifier};

/// Jitter of the pool's own clock in a real run (as `harness/tests/threaded.rs`).
pub const CLIENT_TOLERANCE_US: u64 = 2_000;

/// What the server's clock cannot tell apart on a busy two-core machine: an answer and
/// a request crossing on the wire (loopback, but threads wait their turn for a core),
/// and arrival jitter. Generous: a defect that ignores a 1 s pause sends every 5 ms.
pub const SERVER_TOLERANCE_US: u64 = 50_000;

/// The scenario the live tests serve.
pub fn live_scenario() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/live/429-phase.toml");
    Scenario::load(&path).expect("the live scenario reads")
}

/// The live scenario served on a free loopback port at speed 1, its server-side trace
/// written to `trace` in the scratch space: the scenario, the trace's path, the server.
pub fn live_server(trace: &str) -> (Scenario, PathBuf, ServerHandle) {
    let scenario = live_scenario();
    let path = scratch(trace);
    let options = Options {
        trace: Some(path.clone()),
        ..Options::default()
    };
    let server = spawn(
        &scenario,
        "127.0.0.1:0".parse().expect("an address"),
        options,
    )
    .expect("the server starts");
    (scenario, path, server)
}

/// A clean live run of 500 rows: every entry ok, the client's trace keeps every rule,
/// the server's trace every rule a server can see; the phase asked for waits; one
/// request per dispatch. The server's records, for more checks.
pub fn assert_clean_run(
    config: &PoolConfig,
    entries: &[paceline_core::Entry<u16>],
    client: &[TraceRow],
    server_trace: &Path,
    summary: &Summary,
) -> Vec<TraceRow> {
    assert_eq!(entries.len(), 500);
    assert!(
        entries.iter().all(|e| e.result.is_ok()),
        "every row ends ok"
    );
    let report = judge_client(config, client);
    assert_verdicts(&report, &client_invariants(), &[], "client");
    let (report, server_rows) = judge_server(config, server_trace);
    assert_verdicts(&report, &SERVER_HELD, &SERVER_SKIPPED, "server");
    assert!(
        pauses_asked(&server_rows) >= 1,
        "the phase refused with a wait at least once: {summary:?}"
    );
    assert_eq!(
        requests(&server_rows),
        dispatches(client),
        "one request per dispatch"
    );
    assert_eq!(summary.requests as usize, dispatches(client));
    assert_eq!(
        summary.trace_records as usize,
        server_rows.len(),
        "every record written"
    );
    server_rows
}

/// A file for a trace, under the target directory's scratch space.
pub fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// One row of a live batch: its index, its tokens, and how many times it was sent.
pub struct Row {
    pub index: usize,
    pub tokens: u64,
    pub attempts: AtomicU32,
}

/// `count` rows with 50 to 149 tokens each.
pub fn rows(count: usize) -> Vec<Row> {
    (0..count)
        .map(|index| Row {
            index,
            tokens: 50 + (index as u64 * 37) % 100,
            attempts: AtomicU32::new(0),
        })
        .collect()
}

impl Row {
    /// The headers that tell the server who is asking: tokens, row, attempt (counted
    /// here, one more each time the pool sends the row).
    pub fn headers(&self) -> [(&'static str, String); 3] {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        [
            (paceline_serve::TOKENS_HEADER, self.tokens.to_string()),
            (paceline_serve::ROW_HEADER, format!("row-{}", self.index)),
            (paceline_serve::ATTEMPT_HEADER, attempt.to_string()),
        ]
    }
}

/// The request body: a one-message chat completion.
pub const BODY: &str =
    r#"{"model":"paceline-live","messages":[{"role":"user","content":"hello"}],"max_tokens":8}"#;

/// How a client reads an answer: 2xx is a value; 429, 503 and 529 ask to slow down
/// (with the wait of `retry-after-ms`, else `Retry-After` seconds); any other status is
/// permanent. `header` looks a response header up.
pub fn answer_of(status: u16, header: impl Fn(&str) -> Option<String>) -> Result<u16, CallError> {
    match status {
        200..=299 => Ok(status),
        429 | 503 | 529 => {
            let wait = header("retry-after-ms")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
                .or_else(|| {
                    header("retry-after")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs)
                });
            let error = CallError::capacity(Some(status), "slow down");
            Err(match wait {
                Some(wait) => error.with_retry_after(wait),
                None => error,
            })
        }
        _ => Err(CallError::permanent_status(status, "refused")),
    }
}

/// The pool's events, kept as the client-side trace.
pub fn client_trace() -> (Arc<Mutex<Vec<TraceRow>>>, Observer) {
    let trace: Arc<Mutex<Vec<TraceRow>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&trace);
    let observer: Observer = Box::new(move |event: &Event| {
        let mut detail = String::new();
        let t_us = u64::try_from(event.at.as_micros()).unwrap_or(u64::MAX);
        let row = record_of(event, t_us, "", None, &mut detail).to_row();
        sink.lock().expect("not poisoned").push(row);
    });
    (trace, observer)
}

/// Dispatches in a client-side trace.
pub fn dispatches(trace: &[TraceRow]) -> usize {
    trace
        .iter()
        .filter(|r| r.event == paceline_trace::EventName::Dispatch)
        .count()
}

/// The verdicts on the pool's own trace (every detail key written where it applies).
pub fn judge_client(config: &PoolConfig, trace: &[TraceRow]) -> Report {
    let mut verifier = Verifier::new(rules_of(config), CLIENT_TOLERANCE_US).with_complete_details();
    for row in trace {
        verifier.observe(&row.as_record());
    }
    verifier.finish(None)
}

/// The verdicts on the server's trace file, as `paceline check-trace` gives them.
pub fn judge_server(config: &PoolConfig, path: &Path) -> (Report, Vec<TraceRow>) {
    let file = std::fs::File::open(path).expect("the server wrote its trace");
    let mut reader = TraceReader::new(std::io::BufReader::new(file)).expect("a trace");
    let mut verifier = Verifier::new(rules_of(config), SERVER_TOLERANCE_US);
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row() {
        let row = row.expect("a readable row");
        verifier.observe(&row.as_record());
        rows.push(row);
    }
    (verifier.finish(None), rows)
}

/// Every invariant in `held` held; the others in `skipped` were skipped.
pub fn assert_verdicts(report: &Report, held: &[Invariant], skipped: &[Invariant], whose: &str) {
    for invariant in held {
        assert!(
            matches!(report.verdicts.get(invariant), Some(Verdict::Held { .. })),
            "{whose} trace: {invariant} {:?}",
            report.verdicts.get(invariant)
        );
    }
    for invariant in skipped {
        assert!(
            matches!(
                report.verdicts.get(invariant),
                Some(Verdict::Skipped { .. })
            ),
            "{whose} trace: {invariant} {:?}",
            report.verdicts.get(invariant)
        );
    }
}

/// What a client's own trace shows: every invariant but I8 and I9 (two runs, the
/// configuration table), which no single trace holds.
pub fn client_invariants() -> Vec<Invariant> {
    Invariant::ALL
        .into_iter()
        .filter(|i| !matches!(i, Invariant::I8 | Invariant::I9))
        .collect()
}

/// What a server's trace shows, and what it cannot.
pub const SERVER_HELD: [Invariant; 4] =
    [Invariant::I1, Invariant::I2, Invariant::I10, Invariant::I11];
pub const SERVER_SKIPPED: [Invariant; 5] = [
    Invariant::I3,
    Invariant::I4,
    Invariant::I5,
    Invariant::I6,
    Invariant::I7,
];

/// Capacity answers in a server trace that asked for a wait.
pub fn pauses_asked(rows: &[TraceRow]) -> usize {
    rows.iter()
        .filter(|r| {
            r.event == paceline_trace::EventName::Capacity
                && r.detail_value(paceline_trace::key::RETRY_AFTER_MS)
                    .is_some()
        })
        .count()
}

/// Requests in a server trace.
pub fn requests(rows: &[TraceRow]) -> usize {
    rows.iter()
        .filter(|r| r.event == paceline_trace::EventName::Dispatch)
        .count()
}

/// A `ureq` agent that hands every status back as a response, keeping connections for
/// the whole pool.
pub fn ureq_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections_per_host(32)
        .build()
        .into()
}

/// One call: POST the chat completion with the row's headers, read the answer.
pub fn ureq_call(agent: &ureq::Agent, url: &str, row: &Row) -> Result<u16, CallError> {
    let mut request = agent.post(url).header("content-type", "application/json");
    for (name, value) in row.headers() {
        request = request.header(name, value);
    }
    let mut response = request
        .send(BODY)
        .map_err(|e| CallError::retryable(e.to_string()))?;
    let status = response.status().as_u16();
    // Read to the end, so the connection goes back to the agent's pool.
    let _ = response.body_mut().read_to_string();
    answer_of(status, |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    })
}
