//! `--set KEY=VALUE` on every command that reads a scenario, and how the commands word
//! what they count.

mod common;

use common::{paceline, temp_dir, text, write_file};

fn out(name: &str) -> String {
    temp_dir(name).to_str().expect("utf-8").to_string()
}

#[test]
fn replay_takes_settings_and_refuses_bad_ones_naming_the_key() {
    // pool_size 1 changes nothing of the Worker A-D timeline: every row still meets it.
    let run = paceline(&[
        "replay",
        "scenarios/worker-a-d.toml",
        "--set",
        "pool.pool_size=1",
        "--out",
        &out("set-replay"),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    // Spacing of 200 ms moves B's first dispatch from 100 to 200: the expectation fails.
    let run = paceline(&[
        "replay",
        "scenarios/worker-a-d.toml",
        "--set",
        "pool.min_dispatch_delay_ms=200",
        "--out",
        &out("set-replay"),
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stdout));
    for (setting, fragments) in [
        (
            "pool.pool_size=0",
            &["key `pool.pool_size`", "(from --set pool.pool_size=0)"][..],
        ),
        (
            "pool.pool_size=four",
            &["key `pool.pool_size`", "expected an integer"],
        ),
        ("pool.size=4", &["key `pool.size`", "unknown field `size`"]),
        (
            "service.capacity_rate=7",
            &["key `service.capacity_rate`", "between 0.0 and 1.0"],
        ),
        ("horizon_ms", &["--set \"horizon_ms\": write KEY=VALUE"]),
    ] {
        let run = paceline(&[
            "replay",
            "scenarios/worker-a-d.toml",
            "--set",
            setting,
            "--out",
            &out("set-replay"),
        ]);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{setting}: {stderr}");
        for fragment in fragments {
            assert!(
                stderr.contains(fragment),
                "{setting}: {fragment} in {stderr}"
            );
        }
    }
}

#[test]
fn check_report_and_check_trace_take_settings_too() {
    let run = paceline(&[
        "check",
        "scenarios/worker-a-d.toml",
        "--set",
        "pool.pool_size=0",
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("key `pool.pool_size`"));
    let run = paceline(&[
        "report",
        "scenarios/worker-a-d.toml",
        "--set",
        "pool.gate=\"sometimes\"",
        "--out",
        &out("set-report"),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("key `pool.gate`"),
        "{}",
        text(&run.stderr)
    );
    // A trace 150 ms apart breaks no spacing of 100 ms, but one of 200 ms.
    let trace = write_file(
        "set-trace",
        "gap.csv",
        "t_us,event,row,id\n0,dispatch,0,A\n150000,dispatch,1,B\n",
    );
    let trace = trace.to_str().expect("utf-8");
    let check = |settings: &[&str]| {
        let mut args = vec!["check-trace", trace, "--pool", "scenarios/worker-a-d.toml"];
        for s in settings {
            args.extend(["--set", s]);
        }
        paceline(&args)
    };
    assert_eq!(check(&[]).status.code(), Some(0));
    assert_eq!(
        check(&["pool.min_dispatch_delay_ms=200"]).status.code(),
        Some(1)
    );
    let refused = check(&["service.capacity_rate=0.5"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("only the [pool] table is read here"));
}

#[test]
fn counts_read_as_words() {
    let scenario = write_file(
        "words",
        "plain.toml",
        "name = \"plain\"\n[[batches]]\nrows = [{ id = \"A\" }]\n",
    );
    let run = paceline(&[
        "replay",
        scenario.to_str().expect("utf-8"),
        "--out",
        &out("words-out"),
    ]);
    let stdout = text(&run.stdout);
    assert!(
        stdout.contains("PASS: 11 invariants as expected, no exact expectations"),
        "{stdout}"
    );
    let run = paceline(&["check", scenario.to_str().expect("utf-8")]);
    let stdout = text(&run.stdout);
    assert!(
        stdout.contains("ok   plain (1 run; 1 distinct trace of 1 seed)"),
        "{stdout}"
    );
    assert!(stdout.contains("(1 run in "), "{stdout}");
}
