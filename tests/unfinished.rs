//! A run cut off by its horizon while work is still scheduled is *unfinished*: exit 1
//! with the rows left and the remedy, and I4 holds. A true deadlock stays an I4
//! violation.

mod common;

use common::{paceline, temp_dir, text};

#[test]
fn replay_says_unfinished_names_the_rows_left_and_exits_1() {
    // Worker A-D cut off at 300 ms: A is in its backoff until 500 ms, D not ready until
    // 490 ms.
    let replay = |horizon: &str| {
        paceline(&[
            "replay",
            "scenarios/worker-a-d.toml",
            "--set",
            horizon,
            "--out",
            temp_dir("unfinished").to_str().expect("utf-8"),
        ])
    };
    let run = replay("horizon_ms=300");
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}{}", text(&run.stderr));
    assert!(
        stdout.contains("unfinished: 2 rows left at horizon_ms = 300; raise horizon_ms"),
        "{stdout}"
    );
    assert!(stdout.contains("I4 held"), "{stdout}");
    assert!(
        stdout.contains("UNFINISHED worker-a-d (seed 0)"),
        "{stdout}"
    );
    // What it could not show is not held against it: no missed expectation is listed.
    assert!(!stdout.contains("expect."), "{stdout}");
    // Raising the horizon is the remedy the message gives.
    let run = replay("horizon_ms=1000");
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
}

#[test]
fn a_deadlock_is_still_an_i4_violation() {
    // D8: the submitter reserves each row's permit; two failures on a pool of two leave
    // no permit for anyone: nothing is scheduled, rows are left.
    let run = paceline(&[
        "replay",
        "scenarios/defects/d08-submitter-holds-permit.toml",
        "--mutant",
        "D8",
        "--out",
        temp_dir("deadlock").to_str().expect("utf-8"),
    ]);
    let stdout = text(&run.stdout);
    assert!(stdout.contains("DEADLOCK"), "{stdout}");
    assert!(stdout.contains("I4 VIOLATED"), "{stdout}");
}
