//! How runs, verdicts and failures read on a terminal.

use std::fmt::Write as _;
use std::path::Path;

use paceline_harness::{Failure, ms_list, outcome_line};
use paceline_sim::{Override, RunSummary};
use paceline_trace::{DefectId, Ending, Invariant, counted, ms};
use paceline_verify::{Report, Verdict};

/// How many violations of one invariant are printed.
const SHOWN: usize = 5;

/// The command that replays `path` under `seed`, with its `--set` edits and defect
/// `mutant` on if given.
pub fn reproduce(
    path: &Path,
    seed: u64,
    mutant: Option<DefectId>,
    overrides: &[Override],
) -> String {
    let sets: String = overrides
        .iter()
        .map(|o| format!(" --set {}", shell_word(&o.to_string())))
        .collect();
    let defect = mutant.map_or(String::new(), |d| format!(" --mutant {d}"));
    format!(
        "paceline replay {}{sets}{defect} --seed {seed}",
        path.display()
    )
}

/// A word a shell passes as is: quoted when it holds anything but safe characters.
fn shell_word(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-=/:,".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A few lines about what a run did.
pub fn run_summary(run: &RunSummary) -> String {
    let ending = match &run.ending {
        Ending::Quiescent => "quiescent".to_string(),
        Ending::Deadlock { at_us, .. } => format!("DEADLOCK at {} ms", ms(*at_us)),
        Ending::Unfinished {
            horizon_us, left, ..
        } => format!(
            "UNFINISHED: {} left at the {} ms horizon",
            counted(*left, "row"),
            ms(*horizon_us)
        ),
        Ending::Livelock { at_us, events } => {
            format!("LIVELOCK: {events} events at {} ms", ms(*at_us))
        }
        Ending::EventBudget { at_us, events } => {
            format!("CUT at its budget of {events} events at {} ms", ms(*at_us))
        }
        other => format!("{other:?}"),
    };
    let mut out = format!(
        "  rows {} | dispatches {} (retries {}) | events {} | ended at {} ms, {ending}\n  outcomes: {} | final D: {} ms\n",
        run.rows,
        run.dispatches,
        run.retries,
        run.events,
        ms(run.end_us),
        outcome_line(run),
        run.final_delay_ms
    );
    if !run.dispatch_us.is_empty() && run.dispatch_us.len() <= 12 {
        let rows: Vec<String> = run
            .dispatch_us
            .iter()
            .map(|(id, ts)| format!("{id} {}", ms_list(ts)))
            .collect();
        let _ = writeln!(out, "  dispatch ms: {}", rows.join(" | "));
    }
    out
}

/// `I1 held | I2 held | ...`
pub fn verdict_line(report: &Report) -> String {
    let parts: Vec<String> = report
        .verdicts
        .iter()
        .map(|(i, v)| format!("{i} {}", v.label()))
        .collect();
    parts.join(" | ")
}

fn verdict_details(invariant: Invariant, verdict: &Verdict, out: &mut String) {
    match verdict {
        Verdict::Violated { first, count } => {
            for v in first.iter().take(SHOWN) {
                let _ = writeln!(out, "    {v}");
            }
            if *count as usize > SHOWN {
                let _ = writeln!(out, "    ... {} violations of {invariant} in all", count);
            }
        }
        Verdict::Skipped { reason } => {
            let _ = writeln!(out, "    {invariant} was not checked: {reason}");
        }
        Verdict::Held { .. } => {}
    }
}

/// Every failure of a run, then the command that reproduces it.
pub fn failures(
    path: &Path,
    name: &str,
    seed: u64,
    mutant: Option<DefectId>,
    overrides: &[Override],
    failures: &[Failure],
) -> String {
    let headline = if failures
        .iter()
        .any(|f| matches!(f, Failure::Unfinished { .. }))
    {
        "UNFINISHED"
    } else {
        "FAIL"
    };
    let mut out = format!("{headline} {name} (seed {seed}):\n");
    for failure in failures {
        match failure {
            Failure::Unfinished {
                rows_left,
                horizon_us,
            } => {
                let _ = writeln!(out, "  {}", unfinished(*rows_left, *horizon_us));
            }
            Failure::Broken { invariant, verdict } => {
                let _ = writeln!(out, "  {invariant} {} must hold:", invariant.name());
                verdict_details(*invariant, verdict, &mut out);
            }
            Failure::NotCaught { invariant } => {
                let _ = writeln!(
                    out,
                    "  {invariant} {} should have been reported violated, but it held",
                    invariant.name()
                );
            }
            Failure::Missed(m) => {
                let _ = writeln!(out, "  {m}");
            }
            Failure::Panicked { message } => {
                let _ = writeln!(out, "  the run panicked (a bug of paceline's): {message}");
            }
        }
    }
    let _ = writeln!(
        out,
        "  reproduce: {}",
        reproduce(path, seed, mutant, overrides)
    );
    out
}

/// The verdict on a run cut off by its horizon, and what to do about it.
pub fn unfinished(rows_left: usize, horizon_us: u64) -> String {
    format!(
        "unfinished: {} left at horizon_ms = {}; raise horizon_ms",
        counted(rows_left as u64, "row"),
        ms(horizon_us)
    )
}

/// The violations in a report, for commands without expectations.
pub fn violations(report: &Report) -> String {
    let mut out = String::new();
    for (invariant, verdict) in &report.verdicts {
        verdict_details(*invariant, verdict, &mut out);
    }
    out
}

/// The invariants a report found violated, by id.
pub fn violated(report: &Report) -> Vec<String> {
    report
        .verdicts
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Violated { .. }))
        .map(|(i, _)| i.to_string())
        .collect()
}
