//! The documents of `--json`: one per command, versioned by its `schema` field
//! (`paceline/replay/1`, `paceline/check/1`, `paceline/tune/1`; the README documents
//! each). A field is never dropped or changes meaning within a version.
//!
//! Times are milliseconds (`_ms`), whole numbers where they are whole; shares are
//! fractions (0.5 is half); what the trace cannot tell is `null`, never 0.

use paceline_harness::Failure;
use paceline_reports::figures::{Figures, Measure, Side};
use paceline_trace::{Ending, ResultKind};
use paceline_verify::{Report, Verdict};
use serde_json::{Map, Value, json};

use crate::pipe::outln;

/// Microseconds as milliseconds: an integer when whole, so `590` reads as written.
pub fn ms(us: u64) -> Value {
    if us.is_multiple_of(1000) {
        json!(us / 1000)
    } else {
        json!(us as f64 / 1000.0)
    }
}

/// The planning figures of one run.
pub fn figures(f: &Figures) -> Value {
    let results: Map<String, Value> = ResultKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), json!(f.rows_with(*k))))
        .collect();
    let failures = &f.failures;
    let budgets: Vec<Value> = f
        .budgets
        .iter()
        .map(|u| {
            let b = &u.budget;
            json!({
                "name": b.name,
                "side": match b.side { Side::Client => "client", Side::Provider => "provider" },
                "measure": match b.measure { Measure::Requests => "requests", Measure::Tokens => "tokens" },
                "amount": b.amount,
                "per_ms": ms(b.per_us),
                "share_used": u.mean,
                "peak_share": u.peak,
            })
        })
        .collect();
    json!({
        "makespan_ms": ms(f.makespan_us),
        "rows": f.rows,
        "results": results,
        "unfinished": f.unfinished,
        "horizon_ms": f.horizon_us.map(ms),
        "rows_per_min": f.rows_per_min,
        "tokens_per_min": f.tokens_per_min,
        "dispatches": f.dispatches,
        "retries": f.retries,
        "attempts_per_row": f.attempts_per_row(),
        "failures": {
            "total": failures.total(),
            "capacity": failures.capacity,
            "retryable": failures.retryable,
            "permanent": failures.permanent,
            "by_status": {
                "429": failures.status_429,
                "503": failures.status_503,
                "529": failures.status_529,
                "other": failures.other,
            },
        },
        "latency_ms": f.latency.map(|l| json!({
            "p50": ms(l.p50_us),
            "p95": ms(l.p95_us),
            "p99": ms(l.p99_us),
            "max": ms(l.max_us),
        })),
        "waiting_ms": {
            "permit": ms(f.waits.permit_us),
            "gate": ms(f.waits.gate_us),
            "paused": f.waits.paused_us.map(ms),
            "backoff": ms(f.waits.backoff_us),
        },
        "peak": { "permits": f.peak_permits, "in_flight": f.peak_in_flight },
        "budgets": budgets,
    })
}

/// How a run ended.
pub fn ending(e: &Ending) -> Value {
    match e {
        Ending::Quiescent => json!({ "kind": "quiescent" }),
        Ending::Deadlock { at_us, left, .. } => {
            json!({ "kind": "deadlock", "at_ms": ms(*at_us), "rows_left": left })
        }
        Ending::Unfinished {
            horizon_us, left, ..
        } => json!({
            "kind": "unfinished",
            "horizon_ms": ms(*horizon_us),
            "rows_left": left,
        }),
        Ending::Livelock { at_us, events } => {
            json!({ "kind": "livelock", "at_ms": ms(*at_us), "events": events })
        }
        other => json!({ "kind": format!("{other:?}") }),
    }
}

/// The verdict on one invariant.
fn verdict(v: &Verdict) -> Value {
    match v {
        Verdict::Held { note } => json!({ "verdict": "held", "note": note }),
        Verdict::Skipped { reason } => json!({ "verdict": "skipped", "reason": reason }),
        Verdict::Violated { first, count } => json!({
            "verdict": "violated",
            "count": count,
            "violations": first.iter().map(|v| json!({
                "t_ms": ms(v.t_us),
                "rows": v.rows.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "message": v.message,
            })).collect::<Vec<_>>(),
        }),
    }
}

/// Every invariant's verdict, by id.
pub fn invariants(report: &Report) -> Value {
    Value::Object(
        report
            .verdicts
            .iter()
            .map(|(i, v)| (i.id().to_string(), verdict(v)))
            .collect(),
    )
}

/// How a run failed its scenario, one object per failure.
pub fn failures(failures: &[Failure]) -> Value {
    Value::Array(
        failures
            .iter()
            .map(|f| match f {
                Failure::Broken {
                    invariant,
                    verdict: v,
                } => json!({
                    "kind": "broken",
                    "invariant": invariant.id(),
                    "verdict": verdict(v),
                }),
                Failure::NotCaught { invariant } => {
                    json!({ "kind": "not_caught", "invariant": invariant.id() })
                }
                Failure::Missed(m) => json!({
                    "kind": "missed",
                    "key": m.key,
                    "expected": m.expected,
                    "actual": m.actual,
                }),
                Failure::Unfinished {
                    rows_left,
                    horizon_us,
                } => json!({
                    "kind": "unfinished",
                    "rows_left": rows_left,
                    "horizon_ms": ms(*horizon_us),
                }),
                Failure::Panicked { message } => {
                    json!({ "kind": "panicked", "message": message })
                }
            })
            .collect(),
    )
}

/// Print one document on standard output.
pub fn print(doc: &Value) {
    // Serialising a Value to a String cannot fail: its keys are strings.
    outln!(
        "{}",
        serde_json::to_string_pretty(doc).unwrap_or_else(|e| e.to_string())
    );
}
