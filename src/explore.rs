//! `paceline explore`: random cases (small scenarios and near-valid configurations, or
//! with `--large` one large batch) until one breaks an invariant or an expectation;
//! that one is shrunk and saved as a scenario where `paceline replay` reproduces it.

use std::path::Path;

use paceline_harness::{Found, Mode, search};
use paceline_trace::counted;

use crate::check::MAX_SEEDS;
use crate::outcome::Outcome;
use crate::pipe::{out, outln};
use crate::print;

pub fn run(cases: u32, seed: u64, mode: Mode, save: &Path) -> Outcome {
    if u64::from(cases) > MAX_SEEDS {
        return Outcome::Refused(format!("--cases {cases}: at most {MAX_SEEDS} in one run"));
    }
    let what = match mode {
        Mode::Small => "random cases",
        Mode::Large => "random large batches",
    };
    match search(cases, seed, true, mode) {
        Err(why) => Outcome::Refused(format!("explore stopped: {why}")),
        Ok(None) => {
            outln!("explored {cases} {what} (seed {seed}): no invariant broken");
            Outcome::Passed
        }
        Ok(Some(Found {
            mut scenario,
            failures,
            after_cases,
            ..
        })) => {
            scenario.name = format!("{}-{seed}-shrunk", scenario.name);
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
