//! `paceline check-trace`: the invariants on a trace recorded elsewhere.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use paceline_sim::{Invariant, Scenario};
use paceline_verify::read::TraceReader;
use paceline_verify::reference::{PoolRules, config_is_valid};
use paceline_verify::{Verdict, Verifier};

use crate::outcome::Outcome;
use crate::print;

pub fn run(trace: &Path, pool: &Path, tolerance_us: u64) -> Outcome {
    let config = match Scenario::load_pool(pool) {
        Ok(c) => c,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let file = match File::open(trace) {
        Ok(f) => f,
        Err(e) => return Outcome::Refused(format!("{}: {e}", trace.display())),
    };
    let mut reader = match TraceReader::new(BufReader::new(file)) {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(format!("{}: {e}", trace.display())),
    };
    let mut verifier = Verifier::new(PoolRules::of(&config), tolerance_us);
    let mut events = 0u64;
    while let Some(row) = reader.next_row() {
        match row {
            Ok(row) => verifier.observe(&row.as_record()),
            Err(e) => return Outcome::Refused(format!("{}: {e}", trace.display())),
        }
        events += 1;
    }
    let mut report = match verifier.finish(None) {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(format!("{}: {e}", trace.display())),
    };
    report.set(
        Invariant::I8,
        Verdict::Skipped {
            reason: "determinism needs two runs of one scenario: use paceline check".into(),
        },
    );
    let raw = config.to_raw();
    report.set(
        Invariant::I9,
        if config_is_valid(&raw) {
            Verdict::Held { note: None }
        } else {
            Verdict::Skipped {
                reason: "the pool configuration breaks the model's table".into(),
            }
        },
    );
    println!("{} ({events} events)", trace.display());
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
