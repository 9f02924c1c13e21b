//! `paceline explore`: random scenarios until one breaks an invariant; that one is
//! shrunk to a small scenario and saved where `paceline replay` reproduces it.

use std::path::Path;

use paceline_harness::{Found, search};
use paceline_trace::counted;

use crate::check::MAX_SEEDS;
use crate::outcome::Outcome;
use crate::pipe::{out, outln};
use crate::print;

pub fn run(cases: u32, seed: u64, save: &Path) -> Outcome {
    if u64::from(cases) > MAX_SEEDS {
        return Outcome::Refused(format!("--cases {cases}: at most {MAX_SEEDS} in one run"));
    }
    match search(cases, seed, true) {
        Err(why) => Outcome::Refused(format!("explore stopped: {why}")),
        Ok(None) => {
            outln!("explored {cases} random scenarios (seed {seed}): no invariant broken");
            Outcome::Passed
        }
        Ok(Some(Found {
            mut scenario,
            failures,
            after_cases,
            ..
        })) => {
            scenario.name = format!("explore-{seed}-shrunk");
            let path = save.join(format!("{}.toml", scenario.name));
            if let Err(e) = std::fs::create_dir_all(save)
                .and_then(|()| std::fs::write(&path, scenario.to_toml()))
            {
                return Outcome::Refused(format!("cannot save {}: {e}", path.display()));
            }
            let rows = scenario.row_count();
            out!(
                "{}",
                print::failures(&path, &scenario.name, scenario.seed, None, &[], &failures)
            );
            outln!(
                "found after {}, shrunk to {} and {}, saved as {}\n  reproduce: {}",
                counted(after_cases, "case"),
                counted(scenario.batches.len() as u64, "batch"),
                counted(rows, "row"),
                path.display(),
                print::reproduce(&path, scenario.seed, None, &[])
            );
            Outcome::Failed
        }
    }
}
