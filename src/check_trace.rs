//! `paceline check-trace`: the invariants on a trace recorded elsewhere.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use paceline_harness::table_of;
use paceline_reports::figures::{Figures, FiguresSink, Limits};
use paceline_sim::{Override, Scenario};
use paceline_trace::{Invariant, TraceReader, TraceSink, counted};
use paceline_verify::{PoolTable, Report, Verdict, Verifier};

use crate::figures;
use crate::outcome::Outcome;
use crate::print;

/// Every verdict on the trace at `trace` for a pool configured as `pool`, its planning
/// figures, and how many events it has; errors name the file and line.
pub fn verify_file(
    trace: &Path,
    pool: &PoolTable,
    limits: Limits,
    tolerance_us: u64,
) -> Result<(Report, Figures, u64), String> {
    let file = File::open(trace).map_err(|e| format!("{}: {e}", trace.display()))?;
    let mut reader =
        TraceReader::new(BufReader::new(file)).map_err(|e| format!("{}: {e}", trace.display()))?;
    let mut verifier = Verifier::new(pool.rules(), tolerance_us);
    let mut figures = FiguresSink::new(limits);
    let mut events = 0u64;
    while let Some(row) = reader.next_row() {
        let row = row.map_err(|e| format!("{}: {e}", trace.display()))?;
        verifier.observe(&row.as_record());
        // A sink in memory: recording cannot fail.
        let _ = figures.record(&row.as_record());
        events += 1;
    }
    let figures = figures.finish(None);
    let mut report = verifier.finish(None);
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
    Ok((report, figures, events))
}

pub fn run(trace: &Path, pool: &Path, tolerance_us: u64, overrides: &[Override]) -> Outcome {
    let config = match Scenario::load_pool_with(pool, overrides) {
        Ok(c) => c,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let limits = figures::pool_limits(&config);
    let (report, figures, events) =
        match verify_file(trace, &table_of(&config), limits, tolerance_us) {
            Ok(r) => r,
            Err(e) => return Outcome::Refused(e),
        };
    println!("{} ({})", trace.display(), counted(events, "event"));
    print!("{}", figures::text(&figures));
    println!("  invariants: {}", print::verdict_line(&report));
    print!("{}", print::violations(&report));
    let violated: Vec<String> = report
        .verdicts
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Violated { .. }))
        .map(|(i, _)| i.to_string())
        .collect();
    if violated.is_empty() {
        println!("PASS: no invariant violated");
        Outcome::Passed
    } else {
        println!("FAIL: {} violated", violated.join(", "));
        Outcome::Failed
    }
}
