//! `paceline check-trace`: the invariants and the planning figures of a trace recorded
//! elsewhere.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use paceline_harness::table_of;
use paceline_reports::figures::FiguresSink;
use paceline_sim::{Override, Scenario};
use paceline_trace::{Invariant, TraceLimits, TraceSink, counted};
use paceline_verify::{PoolTable, Report, Verdict, verify_trace_with};

use crate::figures;
use crate::limits::LimitArgs;
use crate::outcome::Outcome;
use crate::pipe::{out, outln};
use crate::print;

/// Every verdict on the trace at `trace` for a pool configured as `pool`, and how many
/// events it has, each event also streamed into `extra`; errors name the file and line.
/// The file's size is checked before it is read, and the reader holds it to `limits` as
/// it streams; `extra` is `Send` because the trace is judged on a thread of its own.
pub fn verify_file<S: TraceSink + Send>(
    trace: &Path,
    pool: &PoolTable,
    tolerance_us: u64,
    limits: &TraceLimits,
    extra: &mut S,
) -> Result<(Report, u64), String> {
    let file = File::open(trace).map_err(|e| format!("{}: {e}", trace.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > limits.max_file_bytes {
        return Err(format!(
            "{}: {size} bytes, larger than the limit of {} bytes for a trace (raise it with --max-trace-bytes)",
            trace.display(),
            limits.max_file_bytes
        ));
    }
    let (mut report, events) = verify_trace_with(
        BufReader::with_capacity(1 << 16, file),
        pool.rules(),
        tolerance_us,
        limits,
        extra,
    )
    .map_err(|e| format!("{}: {e}", trace.display()))?;
    report.set(
        Invariant::I8,
        Verdict::Skipped {
            reason: "determinism needs two runs of one scenario: use paceline check".into(),
        },
    );
    report.set(
        Invariant::I9,
        Verdict::Skipped {
            reason:
                "whether a pool accepts a configuration is not in its trace: use paceline check"
                    .into(),
        },
    );
    Ok((report, events))
}

pub fn run(
    trace: &Path,
    pool: &Path,
    tolerance_us: u64,
    overrides: &[Override],
    limits: &LimitArgs,
) -> Outcome {
    let config = match Scenario::load_pool_with(pool, overrides, &limits.scenario()) {
        Ok(c) => c,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    // One read of the trace for the verdicts and the planning figures.
    let mut figures = FiguresSink::new(figures::pool_limits(&config));
    let (report, events) = match verify_file(
        trace,
        &table_of(&config),
        tolerance_us,
        &limits.trace(),
        &mut figures,
    ) {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(e),
    };
    let figures = figures.finish(None);
    outln!("{} ({})", trace.display(), counted(events, "event"));
    out!("{}", figures::text(&figures));
    outln!("  invariants: {}", print::verdict_line(&report));
    out!("{}", print::violations(&report));
    let violated = print::violated(&report);
    if violated.is_empty() {
        outln!("PASS: no invariant violated");
        Outcome::Passed
    } else {
        outln!("FAIL: {} violated", violated.join(", "));
        Outcome::Failed
    }
}
