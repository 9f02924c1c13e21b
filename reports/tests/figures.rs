//! Planning figures from traces written by hand, as another implementation would record
//! them: tokens, server pauses and budgets (which the simulator does not write yet),
//! and a trace without `ready`, `permit` or `emit` events.

use paceline_reports::figures::{
    Budget, Counts, Failures, Figures, FiguresSink, Latency, Limits, Measure, Side, Waits,
};
use paceline_trace::{ResultKind, TraceReader, TraceSink};

fn figures(csv: &str, limits: Limits) -> Figures {
    let mut reader = TraceReader::new(csv.as_bytes()).expect("header");
    let mut sink = FiguresSink::new(limits);
    while let Some(row) = reader.next_row() {
        sink.record(&row.expect("valid line").as_record())
            .expect("in memory");
    }
    sink.finish(None)
}

/// Two rows, both refused once with a server's wait, then one ok and one permanent.
const TWO_ROWS: &str = "t_us,event,row,detail
0,batch_start,,rows=2
0,ready,0,
0,ready,1,
0,permit,0,
0,dispatch,0,tokens=100
0,permit,1,
10000,dispatch,1,tokens=300
20000,capacity,0,status=429;retry_after_ms=50
20000,release,0,
20000,backoff,0,backoff_us=100000
30000,capacity,1,status=503;retry_after_ms=100
30000,release,1,
30000,backoff,1,backoff_us=50000
120000,permit,0,
130000,dispatch,0,tokens=100
150000,permit,1,
160000,dispatch,1,tokens=300
170000,ok,0,
170000,release,0,
180000,permanent,1,status=400
180000,release,1,
";

#[test]
fn tokens_pauses_and_budgets_come_from_the_trace_details() {
    let limits = Limits {
        budgets: vec![
            Budget {
                name: "service.rate_limit".into(),
                side: Side::Provider,
                measure: Measure::Requests,
                counts: Counts::Accepted,
                amount: 2,
                per_us: 100_000,
            },
            Budget {
                name: "pool.tokens_per_minute".into(),
                side: Side::Client,
                measure: Measure::Tokens,
                counts: Counts::All,
                amount: 1000,
                per_us: 100_000,
            },
        ],
        max_retry_after_ms: None,
    };
    let f = figures(TWO_ROWS, limits);
    assert_eq!(f.makespan_us, 180_000);
    assert_eq!((f.rows, f.unfinished), (2, 0));
    assert_eq!(f.rows_with(ResultKind::Ok), 1);
    assert_eq!(f.rows_with(ResultKind::Permanent), 1);
    // One ok row in 180 ms, and its 100 tokens.
    let close = |a: Option<f64>, b: f64| assert!((a.expect("known") - b).abs() < 1e-6);
    close(f.rows_per_min, 60_000.0 / 180.0);
    close(f.tokens_per_min, 100.0 * 60_000.0 / 180.0);
    assert_eq!((f.dispatches, f.retries), (4, 2));
    assert_eq!(
        f.failures,
        Failures {
            capacity: 2,
            retryable: 0,
            permanent: 1,
            status_429: 1,
            status_503: 1,
            status_529: 0,
            other: 1,
        }
    );
    // No emit: latency counts from the batch start. Results at 170 and 180 ms.
    assert_eq!(
        f.latency,
        Some(Latency {
            p50_us: 170_000,
            p95_us: 180_000,
            p99_us: 180_000,
            max_us: 180_000,
        })
    );
    assert_eq!(
        f.waits,
        Waits {
            // Row 1 is back from backoff at 80 ms and gets a permit at 150.
            permit_us: 70_000,
            // Row 1 at 0-10, then each row 10 ms on its retry.
            gate_us: 30_000,
            // [20, 70) and [30, 130) ms: one pause of 110 ms.
            paused_us: Some(110_000),
            // 100 ms and 50 ms.
            backoff_us: 150_000,
        }
    );
    assert_eq!((f.peak_permits, f.peak_in_flight), (2, 2));
    // Accepted attempts at 130 and 160 ms: both in the window (60, 160]. 180 ms let
    // through at most 2 windows of 2.
    let limit = &f.budgets[0];
    assert_eq!(limit.peak, Some(1.0));
    close(limit.mean, 2.0 / 4.0);
    // Tokens: 400 in (-90, 10] and in (60, 160]; 800 of at most 2 windows of 1000.
    let tokens = &f.budgets[1];
    assert_eq!(tokens.peak, Some(0.4));
    close(tokens.mean, 800.0 / 2000.0);
}

#[test]
fn a_server_wait_is_clamped_and_the_pause_ends_with_the_run() {
    let limits = Limits {
        budgets: Vec::new(),
        max_retry_after_ms: Some(30),
    };
    // [20, 50) and [30, 60) ms once clamped to 30 ms: 40 ms.
    assert_eq!(figures(TWO_ROWS, limits).waits.paused_us, Some(40_000));
    let long = TWO_ROWS.replace("retry_after_ms=100", "retry_after_ms=900000");
    // Cut at the last result, 180 ms.
    assert_eq!(
        figures(&long, Limits::default()).waits.paused_us,
        Some(160_000)
    );
}

#[test]
fn a_sparse_recorded_trace_still_gives_what_it_can() {
    // No batch, permit, ready or emit events' worth of detail; row 2 never shows up.
    let csv = "t_us,event,row,detail
0,batch_start,,rows=3
0,dispatch,0,
5000,capacity,0,
5000,backoff,0,backoff_us=100000
40000,retry_timeout,0,
50000,dispatch,1,
60000,ok,1,
";
    let f = figures(csv, Limits::default());
    assert_eq!(f.makespan_us, 60_000);
    assert_eq!((f.rows, f.unfinished), (3, 1));
    assert_eq!(f.rows_with(ResultKind::RetryTimeout), 1);
    // The backoff ends early, with the row.
    assert_eq!(f.waits.backoff_us, 35_000);
    assert_eq!(f.waits.paused_us, None, "a capacity answer without a wait");
    assert_eq!(f.tokens_per_min, None);
    assert_eq!((f.failures.capacity, f.failures.other), (1, 1));
    assert_eq!((f.peak_permits, f.peak_in_flight), (0, 1));
    assert_eq!(
        f.latency.map(|l| (l.p50_us, l.max_us)),
        Some((40_000, 60_000))
    );
    let words: Vec<String> = f
        .lines()
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    assert!(
        words.contains(&"rows: 3: ok 1, retry_timeout 1, 1 unfinished".to_string()),
        "{words:?}"
    );
    // 35 ms of backoff over 3 rows.
    assert!(
        words.contains(
            &"waiting: a row waited on average 0 ms for a permit, 0 ms at the gate, 11.7 ms in backoff; the pool was paused n/a"
                .to_string()
        ),
        "{words:?}"
    );
}
