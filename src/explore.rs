//! `paceline explore`: random scenarios until one breaks an invariant; that one is
//! shrunk to a small scenario and saved where `paceline replay` reproduces it.

use std::path::Path;

use paceline_harness::{Found, search};
use paceline_trace::counted;

use crate::outcome::Outcome;
use crate::print;

pub fn run(cases: u32, seed: u64, save: &Path) -> Outcome {
    match search(cases, seed, true) {
        Err(why) => Outcome::Refused(format!("explore stopped: {why}")),
        Ok(None) => {
            println!("explored {cases} random scenarios (seed {seed}): no invariant broken");
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
            print!(
                "{}",
                print::failures(&path, &scenario.name, scenario.seed, None, &failures)
            );
            println!(
                "found after {}, shrunk to {} and {}, saved as {}\n  reproduce: {}",
                counted(after_cases, "case"),
                counted(scenario.batches.len() as u64, "batch"),
                counted(rows, "row"),
                path.display(),
                print::reproduce(&path, scenario.seed, None)
            );
            Outcome::Failed
        }
    }
}
