//! `explore` blind: each defect a small scenario can show is found and shrunk to five
//! rows or fewer, a configuration defect is saved as a file that reproduces it with its
//! defect and is refused by the real core, and the large batches raise no false alarm on
//! the real core but find D15.

mod common;

use common::{paceline, temp_dir, text};
use paceline_harness::{Found, Mode, search, with_defect};
use paceline_trace::DefectId;

/// Explore with `defect` switched on; what it found. The defect is switched on for the
/// whole process, so every search with a defect runs in the one test below.
fn found_with(defect: &str, cases: u32, mode: Mode) -> Found {
    let id = DefectId::parse(defect).expect("a defect of the zoo");
    with_defect(id, || search(cases, 0, true, mode))
        .expect("built with the bug zoo")
        .expect("explore runs")
        .unwrap_or_else(|| panic!("{defect} not found in {cases} cases"))
}

#[test]
fn explore_finds_defects_blind_and_shrinks_them() {
    // A timing defect, one that needs a near-tie, and the two configuration defects.
    for defect in ["D2", "D20", "D4", "D9"] {
        let found = found_with(defect, 300, Mode::Small);
        assert!(
            found.scenario.row_count() <= 5,
            "{defect}: shrunk to {} rows:\n{}",
            found.scenario.row_count(),
            found.scenario.to_toml()
        );
        assert!(
            !found.failures.is_empty(),
            "{defect}: the shrunk case fails"
        );
    }

    // D4's case saved: its [pool] as written and one row. With D4 replay catches it (exit
    // 0, I9 among what caught it); the real core refuses the file, naming the key.
    let d4 = found_with("D4", 300, Mode::Small);
    assert_eq!(d4.caught_by, ["I9"]);
    let path = temp_dir("explore-d4").join("d4.toml");
    std::fs::write(&path, d4.scenario.to_toml()).expect("saved");
    let file = path.to_str().expect("utf-8");
    let out = temp_dir("explore-d4-out");
    let out = out.to_str().expect("utf-8");
    let with_d4 = paceline(&["replay", file, "--mutant", "D4", "--out", out]);
    let stdout = text(&with_d4.stdout);
    assert_eq!(with_d4.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("CAUGHT: ") && stdout.contains("I9"),
        "{stdout}"
    );
    let real = paceline(&["check", file]);
    let stderr = text(&real.stderr);
    assert_eq!(real.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("min_dispatch_delay_ms"), "{stderr}");

    // D15 shows only in a crowd: the large batches find it and shrink the row count.
    let d15 = found_with("D15", 5, Mode::Large);
    assert_eq!(d15.caught_by, ["expect.outcomes.retry_timeout"]);
    assert!(d15.scenario.row_count() < 4000);

    // Cases run on every core; what is found does not depend on how many there are.
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        let found = pool.install(|| found_with("D20", 300, Mode::Small));
        (found.after_cases, found.scenario.to_toml())
    };
    assert_eq!(on(1), on(2));
}

#[test]
fn large_batches_raise_no_false_alarm_on_the_real_core() {
    // Another process: the test above switches defects on in this one.
    let run = paceline(&[
        "explore",
        "--large",
        "--cases",
        "20",
        "--save",
        temp_dir("explore-large").to_str().expect("utf-8"),
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", text(&run.stderr));
    assert!(
        stdout.contains("explored 20 random large batches (seed 0): no invariant broken"),
        "{stdout}"
    );
}
