//! The `--json` documents, pinned: the whole `replay` document of Worker A-D with every
//! value worked out by hand from the timeline (A fails at 0 and backs off 500 ms; B, C,
//! D go at 100, 200, 490; A waits at the gate from 500 to 590), and the shape of
//! `check`'s.

mod common;

use common::{document, temp_dir};
use serde_json::json;

#[test]
fn replay_json_of_worker_a_d() {
    let out = temp_dir("json-replay");
    let out = out.to_str().expect("utf-8");
    let (code, mut doc) = document(&[
        "replay",
        "scenarios/worker-a-d.toml",
        "--json",
        "--out",
        out,
    ]);
    assert_eq!(code, Some(0));
    // Paths depend on where the test runs; checked, then left out of the snapshot.
    let trace = doc["trace"].take();
    let report = doc["report"].take();
    assert_eq!(trace, json!(format!("{out}/trace.csv")));
    assert_eq!(report, json!(format!("{out}/index.html")));
    let held = json!({ "verdict": "held", "note": null });
    let expected = json!({
        "schema": "paceline/replay/1",
        "scenario": "worker-a-d",
        "file": "scenarios/worker-a-d.toml",
        "seed": 0,
        "settings": [],
        "mutant": null,
        "verdict": "pass",
        "ending": { "kind": "quiescent" },
        "figures": {
            // The last result: A at 590 ms.
            "makespan_ms": 590,
            "rows": 4,
            "results": { "ok": 4, "permanent": 0, "retry_timeout": 0, "shutdown": 0 },
            "unfinished": 0,
            "horizon_ms": null,
            // 4 rows in 0.59 s.
            "rows_per_min": 4.0 * 60_000.0 / 590.0,
            "tokens_per_min": null,
            // A twice, B, C and D once.
            "dispatches": 5,
            "retries": 1,
            "attempts_per_row": 1.25,
            "failures": {
                "total": 1,
                "capacity": 1,
                "retryable": 0,
                "permanent": 0,
                "by_status": { "429": 1, "503": 0, "529": 0, "other": 0 },
            },
            // Latencies 100, 200, 490, 590 ms; nearest rank.
            "latency_ms": { "p50": 200, "p95": 590, "p99": 590, "max": 590 },
            "waiting_ms": { "permit": 0, "gate": 90, "paused": null, "backoff": 500 },
            "peak": { "permits": 1, "in_flight": 1 },
            "budgets": [],
        },
        "invariants": {
            "I1": held, "I2": held, "I3": held, "I4": held, "I5": held,
            "I6": held, "I7": held, "I8": held, "I9": held,
            // A's 429 asked for no wait, and the pool has no budget of its own.
            "I10": { "verdict": "held", "note": "no answer asked for a wait" },
            "I11": { "verdict": "held", "note": "no client budget configured" },
        },
        "failures": [],
        "trace": null,
        "report": null,
    });
    assert_eq!(
        doc,
        expected,
        "{}",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    );
}

#[test]
fn replay_json_of_an_unfinished_run() {
    let out = temp_dir("json-unfinished");
    let (code, doc) = document(&[
        "replay",
        "scenarios/worker-a-d.toml",
        "--set",
        "horizon_ms=300",
        "--json",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(doc["verdict"], "unfinished");
    assert_eq!(doc["settings"], json!(["horizon_ms=300"]));
    assert_eq!(
        doc["ending"],
        json!({ "kind": "unfinished", "horizon_ms": 300, "rows_left": 2 })
    );
    assert_eq!(
        doc["failures"],
        json!([{ "kind": "unfinished", "rows_left": 2, "horizon_ms": 300 }])
    );
    // B and C ended by then; A (in backoff) and D (not ready) are left.
    assert_eq!(doc["figures"]["unfinished"], 2);
    assert_eq!(doc["figures"]["results"]["ok"], 2);
    assert_eq!(doc["figures"]["makespan_ms"], 300);
    assert_eq!(doc["invariants"]["I4"]["verdict"], "held");
}

#[test]
fn check_json_lists_every_scenario() {
    let (code, doc) = document(&[
        "check",
        "scenarios/worker-a-d.toml",
        "scenarios/worker-a-d-aimd.toml",
        "--seeds",
        "1",
        "--json",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(
        doc,
        json!({
            "schema": "paceline/check/1",
            "passed": 2,
            "failed": 0,
            "runs": 2,
            "shard": "1/1",
            "settings": [],
            "scenarios": [
                {
                    "name": "worker-a-d-aimd",
                    "file": "scenarios/worker-a-d-aimd.toml",
                    "mutant": null,
                    "runs": 1,
                    "failed_runs": 0,
                    "seeds": 1,
                    "distinct_traces": 1,
                    "failures": [],
                },
                {
                    "name": "worker-a-d",
                    "file": "scenarios/worker-a-d.toml",
                    "mutant": null,
                    "runs": 1,
                    "failed_runs": 0,
                    "seeds": 1,
                    "distinct_traces": 1,
                    "failures": [],
                },
            ],
        })
    );
}
