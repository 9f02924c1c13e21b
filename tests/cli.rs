//! The `paceline` binary as users and CI scripts run it: output, files and exit codes.

mod common;

use std::path::{Path, PathBuf};

use common::{paceline, replay_then_check_trace, temp_dir, text};

#[test]
fn replay_prints_the_worker_a_d_timeline_and_writes_the_trace() {
    let out = temp_dir("replay");
    let run = paceline(&[
        "replay",
        "scenarios/worker-a-d.toml",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", text(&run.stderr));
    assert!(stdout.contains("A [0, 590]"), "{stdout}");
    assert!(stdout.contains("B [100] | C [200] | D [490]"), "{stdout}");
    assert!(stdout.contains("I1 held"), "{stdout}");
    let trace = std::fs::read_to_string(out.join("trace.csv")).expect("trace written");
    assert!(trace.starts_with("t_us,event,batch,row,id,attempt,delay_ms,detail\n"));
    assert!(trace.contains("590000,dispatch,0,0,A,2,100,"), "{trace}");
    // The report beside it: four charts in two formats and two pages.
    for chart in ["timeline", "gaps", "delay", "concurrency"] {
        for ext in ["png", "svg"] {
            let size = std::fs::metadata(out.join(format!("{chart}.{ext}"))).map_or(0, |m| m.len());
            assert!(size > 5_000, "{chart}.{ext} has {size} bytes");
        }
    }
    assert!(out.join("index.html").is_file() && out.join("summary.md").is_file());
    assert!(stdout.contains("report: "), "{stdout}");
}

#[test]
fn replay_draws_its_report_without_reading_back_its_trace() {
    // The trace limits guard files from elsewhere: a replay's report is gathered as its
    // trace is written, so a trace far over `--max-trace-bytes` still gets its charts.
    let out = temp_dir("replay-big");
    let run = paceline(&[
        "replay",
        "scenarios/worker-a-d.toml",
        "--max-trace-bytes",
        "100",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", text(&run.stderr));
    let trace = std::fs::metadata(out.join("trace.csv")).map_or(0, |m| m.len());
    assert!(trace > 100, "the trace has {trace} bytes");
    assert!(out.join("index.html").is_file() && out.join("gaps.svg").is_file());
    // Reading that trace from the file is held to the limit.
    let pool = "scenarios/worker-a-d.toml";
    let read = paceline(&[
        "report",
        out.join("trace.csv").to_str().expect("utf-8"),
        "--pool",
        pool,
        "--max-trace-bytes",
        "100",
        "--out",
        temp_dir("report-big").to_str().expect("utf-8"),
    ]);
    assert_eq!(read.status.code(), Some(2), "{}", text(&read.stderr));
}

#[test]
fn report_takes_a_recorded_trace_with_its_pool() {
    let out = temp_dir("report-trace");
    let trace = write_trace(
        "for-report.csv",
        "t_us,event,row,id\n0,dispatch,0,A\n10000,dispatch,1,B\n",
    );
    let run = paceline(&[
        "report",
        trace.to_str().expect("utf-8"),
        "--pool",
        pool_file().to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    // The report is written, and the exit code says the trace broke I1.
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    assert!(text(&run.stdout).contains("FAIL: I1 violated"));
    let svg = std::fs::read_to_string(out.join("gaps.svg")).expect("chart written");
    assert!(svg.contains("I1: 10 ms apart"));
    let missing_pool = paceline(&[
        "report",
        trace.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(missing_pool.status.code(), Some(2));
    assert!(text(&missing_pool.stderr).contains("--pool"));
}

#[test]
fn every_broken_file_is_refused_with_exit_2_and_a_precise_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "the corpus has {} files", files.len());
    let out = temp_dir("broken");
    for file in files {
        // Each file states the fragments its error message must contain.
        let wanted: Vec<String> = String::from_utf8_lossy(&std::fs::read(&file).expect("readable"))
            .lines()
            .filter_map(|l| l.strip_prefix("# error: ").map(str::to_string))
            .collect();
        assert!(
            !wanted.is_empty(),
            "{} states no expected error",
            file.display()
        );
        let run = paceline(&[
            "replay",
            file.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ]);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{}: {stderr}", file.display());
        assert!(!stderr.contains("panicked"), "{}: {stderr}", file.display());
        for fragment in &wanted {
            assert!(
                stderr.contains(fragment),
                "{}: missing {fragment:?} in {stderr}",
                file.display()
            );
        }
    }
}

#[test]
fn check_passes_on_the_scenario_library_and_writes_junit() {
    let junit = temp_dir("junit").join("junit.xml");
    let run = paceline(&[
        "check",
        "scenarios",
        "--seeds",
        "3",
        "--junit",
        junit.to_str().expect("utf-8"),
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", text(&run.stderr));
    assert!(stdout.contains("0 failed"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert!(cases.len() >= 10);
    assert!(
        cases
            .iter()
            .any(|c| c.attribute("name") == Some("worker-a-d"))
    );
    assert_eq!(doc.root_element().attribute("failures"), Some("0"));
}

#[test]
fn junit_files_of_a_sharded_run_merge_into_one() {
    let dir = temp_dir("junit-merge");
    let file = |name: &str| dir.join(name).to_str().expect("utf-8").to_string();
    let scenarios = [
        "scenarios/worker-a-d.toml",
        "scenarios/worker-a-d-aimd.toml",
    ];
    for k in 1..=2 {
        let shard = format!("{k}/2");
        let junit = file(&format!("shard{k}.xml"));
        let mut args = vec![
            "check", "--seeds", "4", "--shard", &shard, "--junit", &junit,
        ];
        args.extend(scenarios);
        assert_eq!(paceline(&args).status.code(), Some(0));
    }
    // A third job whose run of worker-a-d fails an expectation.
    let failing = file("failing.xml");
    let run = paceline(&[
        "check",
        "scenarios/worker-a-d.toml",
        "--set",
        "expect.outcomes.ok=99",
        "--junit",
        &failing,
    ]);
    assert_eq!(run.status.code(), Some(1));

    let merged = file("merged.xml");
    let times = |path: &str| -> f64 {
        let xml = std::fs::read_to_string(path).expect("written");
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|n| {
                n.attribute("time")
                    .expect("time")
                    .parse::<f64>()
                    .expect("a number")
            })
            .sum()
    };
    let run = paceline(&[
        "junit-merge",
        &file("shard1.xml"),
        &file("shard2.xml"),
        "--out",
        &merged,
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", text(&run.stderr));
    assert!(stdout.contains("2 test cases, 0 failing"), "{stdout}");
    let summed = times(&file("shard1.xml")) + times(&file("shard2.xml"));
    assert!((times(&merged) - summed).abs() < 0.01, "times add up");

    let run = paceline(&[
        "junit-merge",
        &file("shard1.xml"),
        &file("shard2.xml"),
        &failing,
        "--out",
        &merged,
    ]);
    assert_eq!(
        run.status.code(),
        Some(1),
        "a failing shard fails the merge"
    );
    let xml = std::fs::read_to_string(&merged).expect("written");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed");
    let failed: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .map(|n| n.parent().and_then(|p| p.attribute("name")).unwrap_or(""))
        .collect();
    assert_eq!(failed, ["worker-a-d"]);
    assert_eq!(doc.root_element().attribute("tests"), Some("2"));

    std::fs::write(dir.join("broken.xml"), "<testsuites><testcase").expect("written");
    let run = paceline(&["junit-merge", &file("broken.xml"), "--out", &merged]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.xml"), "{stderr}");
}

#[test]
fn shards_split_the_work_between_jobs() {
    let runs = |shard: &str| {
        let run = paceline(&[
            "check",
            "scenarios/worker-a-d.toml",
            "scenarios/worker-a-d-aimd.toml",
            "--seeds",
            "4",
            "--shard",
            shard,
        ]);
        assert_eq!(run.status.code(), Some(0));
        let stdout = text(&run.stdout);
        let line = stdout.lines().last().expect("a closing line").to_string();
        line.split('(')
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok())
            .expect("run count")
    };
    // Two scenarios over their own seed and seeds 1..4: eight runs, split 4 + 4.
    assert_eq!(runs("1/2") + runs("2/2"), 8);
    assert_eq!(runs("1/1"), 8);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(paceline(&["replay"]).status.code(), Some(2));
    assert_eq!(paceline(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        paceline(&["check", "scenarios", "--seeds", "5..2"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        paceline(&["check", "scenarios", "--shard", "3/2"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(paceline(&["check", "no/such/dir"]).status.code(), Some(2));
}

fn write_trace(name: &str, body: &str) -> PathBuf {
    let path = temp_dir("traces").join(name);
    std::fs::write(&path, body).expect("trace written");
    path
}

fn pool_file() -> PathBuf {
    let path = temp_dir("traces").join("pool.toml");
    std::fs::write(
        &path,
        "[pool]\npool_size = 2\nmin_dispatch_delay_ms = 100\ngate = \"min\"\n",
    )
    .expect("written");
    path
}

#[test]
fn check_trace_names_i1_both_rows_and_the_gap() {
    let trace = write_trace(
        "close.csv",
        "t_us,event,row,id\n0,dispatch,0,A\n10000,dispatch,1,B\n",
    );
    let run = paceline(&[
        "check-trace",
        trace.to_str().expect("utf-8"),
        "--pool",
        pool_file().to_str().expect("utf-8"),
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("I1 spacing"), "{stdout}");
    assert!(
        stdout.contains("A (batch 0 row 0)") && stdout.contains("B (batch 0 row 1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("10 ms apart") && stdout.contains("required was 100 ms"),
        "{stdout}"
    );
    assert!(
        stdout.contains("I6 skipped"),
        "missing columns are skipped, not passed: {stdout}"
    );

    let trace = write_trace(
        "spaced.csv",
        "t_us,event,row,id\n0,dispatch,0,A\n100000,dispatch,1,B\n",
    );
    let run = paceline(&[
        "check-trace",
        trace.to_str().expect("utf-8"),
        "--pool",
        pool_file().to_str().expect("utf-8"),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
}

#[test]
fn check_trace_absorbs_jitter_within_the_tolerance() {
    let trace = write_trace(
        "jitter.csv",
        "t_us,event,row\n0,dispatch,0\n99800,dispatch,1\n",
    );
    let pool = pool_file();
    let args = |tol: &'static str| {
        vec![
            "check-trace".to_string(),
            trace.display().to_string(),
            "--pool".into(),
            pool.display().to_string(),
            "--tolerance-us".into(),
            tol.into(),
        ]
    };
    let code = |tol| {
        let a = args(tol);
        paceline(&a.iter().map(String::as_str).collect::<Vec<_>>())
            .status
            .code()
    };
    assert_eq!(code("0"), Some(1));
    assert_eq!(code("200"), Some(0));
}

#[test]
fn malformed_traces_exit_2_with_the_line() {
    let pool = pool_file();
    for (name, body, fragment) in [
        (
            "nocol.csv",
            "t_us,event\n0,dispatch\n",
            "required column `row`",
        ),
        (
            "badtime.csv",
            "t_us,event,row\n0,dispatch,0\nsoon,dispatch,1\n",
            "line 3",
        ),
        (
            "badevent.csv",
            "t_us,event,row\n0,dispatch,0\n5,teleport,1\n",
            "line 3",
        ),
        (
            "ragged.csv",
            "t_us,event,row\n0,dispatch,0\n5,dispatch\n",
            "line 3",
        ),
    ] {
        let trace = write_trace(name, body);
        let run = paceline(&[
            "check-trace",
            trace.to_str().expect("utf-8"),
            "--pool",
            pool.to_str().expect("utf-8"),
        ]);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(fragment), "{name}: {stderr}");
    }
}

#[test]
fn a_replayed_trace_passes_check_trace() {
    let check = replay_then_check_trace("scenarios/shutdown-mid-batch.toml", "roundtrip");
    let stdout = text(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{stdout}");
    for held in [
        "I1 held", "I2 held", "I3 held", "I4 held", "I5 held", "I6 held", "I7 held",
    ] {
        assert!(stdout.contains(held), "{stdout}");
    }
}

#[test]
fn explore_finds_nothing_wrong_with_the_real_core() {
    let save = temp_dir("explore");
    let run = paceline(&[
        "explore",
        "--cases",
        "100",
        "--seed",
        "7",
        "--save",
        save.to_str().expect("utf-8"),
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("explored 100 random cases (seed 7): no invariant broken"),
        "{stdout}"
    );
}

#[test]
fn a_pool_that_recovers_passes_and_one_that_never_does_fails_naming_the_expectation() {
    let held = paceline(&["check", "scenarios/recovery-after-outage.toml"]);
    assert_eq!(held.status.code(), Some(0), "{}", text(&held.stdout));
    // The same outage with a one-hour ceiling on D: it never comes back.
    for args in [
        &["check", "docs/examples/never-recovers.toml"][..],
        &[
            "check",
            "scenarios/recovery-after-outage.toml",
            "--set",
            "pool.max_dispatch_delay_ms=3600000",
            "--set",
            "horizon_ms=800000",
        ][..],
    ] {
        let run = paceline(args);
        assert_eq!(run.status.code(), Some(1), "{args:?}");
        let stdout = text(&run.stdout);
        assert!(
            stdout.contains("expect.recovers: expected 300 ok rows in some minute ending between 240000 and 780000 ms, got at most 1"),
            "{stdout}"
        );
    }
}

#[test]
fn bad_recovery_and_slack_values_are_refused_naming_file_line_and_key() {
    let dir = std::env::temp_dir().join(format!("paceline-recovers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "name = \"bad\"\n[[batches]]\nrows = [{ id = \"A\" }]\n[expect]\nrecovers = { after_ms = 0, within_ms = 1000, rows_per_min = 5 }\n",
    )
    .expect("write");
    let run = paceline(&["check", file.to_str().expect("utf-8 path")]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("bad.toml:5:")
            && stderr.contains("expect.recovers.within_ms")
            && stderr.contains("1000: must be at least 60000"),
        "{stderr}"
    );
    let run = paceline(&[
        "replay",
        "scenarios/worker-a-d.toml",
        "--timer-slack-us",
        "20000000",
    ]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("timer_slack_us") && stderr.contains("20000000"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_measures_four_ways_against_the_bare_loop_and_refuses_no_rows() {
    let run = paceline(&["bench", "--rows", "3000"]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", text(&run.stderr));
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(rows.len(), 5, "a header and four ways: {stdout}");
    assert!(rows[1].starts_with("| bare event heap") && rows[1].ends_with("| 1.000 |"));
    assert!(rows[4].starts_with("| check"), "{stdout}");
    let refused = paceline(&["bench", "--rows", "0"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("generate.count"),
        "{}",
        text(&refused.stderr)
    );
}
