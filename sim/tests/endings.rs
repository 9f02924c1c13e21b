//! How runs end: quiescent, or unfinished at the horizon (work still scheduled) with the
//! rows left and what each waits for.

use std::path::Path;

use paceline_sim::{Scenario, simulate};
use paceline_trace::{Ending, NoTrace};

fn scenario(text: &str) -> Scenario {
    Scenario::parse(Path::new("inline.toml"), text).expect("valid scenario")
}

#[test]
fn reaching_the_horizon_with_work_scheduled_is_unfinished_naming_the_rows() {
    let s = scenario(
        r#"
name = "too-slow"
horizon_ms = 1000
[pool]
pool_size = 1
[[batches]]
rows = [
  { id = "slow", attempts = [{ outcome = "ok", latency_ms = 5000 }] },
  { id = "queued" },
  { id = "late", ready_ms = 3000 },
]
"#,
    );
    let run = simulate(&s, 0, &mut NoTrace).expect("no io");
    let Ending::Unfinished {
        horizon_us,
        waiting,
        left,
    } = run.ending
    else {
        panic!("expected an unfinished run, got {:?}", run.ending);
    };
    assert_eq!(horizon_us, 1_000_000);
    assert_eq!(left, 3);
    let described: Vec<(String, String)> =
        waiting.into_iter().map(|w| (w.id, w.waiting_for)).collect();
    assert_eq!(
        described,
        [
            ("slow".to_string(), "the answer to its attempt".to_string()),
            ("queued".to_string(), "a permit".to_string()),
            ("late".to_string(), "its work to arrive".to_string()),
        ]
    );
}

#[test]
fn a_batch_called_after_the_horizon_is_left_undone() {
    let s = scenario(
        r#"
name = "never-called"
horizon_ms = 100
[[batches]]
at_ms = 0
rows = [{ id = "A" }]
[[batches]]
at_ms = 500
rows = [{ id = "B" }]
"#,
    );
    let run = simulate(&s, 0, &mut NoTrace).expect("no io");
    match run.ending {
        Ending::Unfinished { waiting, .. } => {
            assert_eq!(waiting.len(), 1);
            assert_eq!(waiting[0].id, "B");
            assert_eq!(waiting[0].waiting_for, "its batch to be called");
        }
        other => panic!("expected an unfinished run, got {other:?}"),
    }
}

#[test]
fn a_finished_run_is_quiescent() {
    let s = scenario("name = \"x\"\n[[batches]]\nrows = [{ id = \"A\" }]\n");
    let run = simulate(&s, 0, &mut NoTrace).expect("no io");
    assert_eq!(run.ending, Ending::Quiescent);
    assert_eq!(run.dispatches, 1);
}

#[test]
fn ten_million_rows_left_are_counted_and_the_first_hundred_named() {
    // One row at work, 9 999 999 waiting for a permit, then a second batch never called:
    // counting them must not list them.
    let s = scenario(
        r#"
name = "far-too-slow"
horizon_ms = 1000
[pool]
pool_size = 1
[service]
latency_ms = 5000
[[batches]]
generate = { count = 5000000 }
[[batches]]
at_ms = 2000
generate = { count = 5000000 }
"#,
    );
    let run = simulate(&s, 0, &mut NoTrace).expect("no io");
    let Ending::Unfinished { waiting, left, .. } = run.ending else {
        panic!("expected an unfinished run, got {:?}", run.ending);
    };
    assert_eq!(left, 10_000_000);
    assert_eq!(waiting.len(), paceline_trace::STUCK_LISTED);
    let rows: Vec<usize> = waiting.iter().map(|w| w.row).collect();
    assert_eq!(
        rows,
        (0..100).collect::<Vec<_>>(),
        "the first rows, in row order"
    );
    assert_eq!(waiting[0].waiting_for, "the answer to its attempt");
    assert_eq!(waiting[1].waiting_for, "a permit");
}
