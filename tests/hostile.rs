//! Issue 14, bullet by bullet: hostile input to the `paceline` binary gets the answer the
//! README's "Resource bounds" and "Hostile input" sections document, in bounded time and
//! memory, and never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a run of the binary did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// The child's peak resident memory, as last read from the kernel.
    peak_mb: u64,
}

/// Run the binary with `args`, within `limit`, watching its peak memory.
fn paceline(args: &[&str], limit: Duration) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paceline"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let status = format!("/proc/{}/status", child.id());
    let started = Instant::now();
    let mut peak_kb = 0u64;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || std::io::read_to_string(&mut stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(&mut stderr).unwrap_or_default());
    let code = loop {
        if let Some(kb) = std::fs::read_to_string(&status).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("paceline {args:?} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let run = Run {
        code,
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
        peak_mb: peak_kb / 1024,
    };
    assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
    run
}

fn quick(args: &[&str]) -> Run {
    paceline(args, Duration::from_secs(60))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("paceline-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write(dir: &Path, name: &str, body: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("written");
    path.display().to_string()
}

fn pool(dir: &Path) -> String {
    write(
        dir,
        "pool.toml",
        b"[pool]\npool_size = 2\nmin_dispatch_delay_ms = 100\ngate = \"min\"\n",
    )
}

/// `check-trace` on `body` with `extra` flags.
fn check_trace(name: &str, body: &[u8], extra: &[&str]) -> Run {
    let dir = temp_dir(name);
    let trace = write(&dir, "trace.csv", body);
    let pool = pool(&dir);
    let mut args = vec!["check-trace", &trace, "--pool", &pool];
    args.extend_from_slice(extra);
    quick(&args)
}

/// `report` of a trace `body` into a fresh folder: the run and the folder.
fn report(name: &str, body: &[u8]) -> (Run, PathBuf) {
    let dir = temp_dir(name);
    let trace = write(&dir, "trace.csv", body);
    let pool = pool(&dir);
    let out = dir.join("out");
    let run = quick(&[
        "report",
        &trace,
        "--pool",
        &pool,
        "--out",
        &out.display().to_string(),
    ]);
    (run, out)
}

const HEADER: &str = "t_us,event,batch,row,id,attempt,delay_ms,detail\n";

#[test]
fn an_empty_expect_key_is_refused_at_once() {
    let dir = temp_dir("empty-key");
    write(
        &dir,
        "s.toml",
        b"name = \"x\"\n[[batches]]\nrows = [{ id = \"A\" }]\n[expect]\nresults = { \"\" = \"ok\" }\n",
    );
    let run = paceline(
        &["check", &dir.display().to_string()],
        Duration::from_secs(10),
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("no row has the id \"\""),
        "{}",
        run.stderr
    );
}

#[test]
fn a_row_index_near_the_maximum_is_refused_not_wrapped() {
    for row in ["18446744073709551614", "18446744073709551615"] {
        let body = format!("{HEADER}0,batch_start,0,,,,,rows=1\n0,dispatch,0,{row},A,1,,\n");
        let run = check_trace("max-row", body.as_bytes(), &[]);
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("line 3: row index {row} (rows per batch)")),
            "{}",
            run.stderr
        );
        let dir = temp_dir("max-row-report");
        let trace = write(&dir, "trace.csv", body.as_bytes());
        let pool = pool(&dir);
        let out = dir.join("out").display().to_string();
        let run = quick(&["report", &trace, "--pool", &pool, "--out", &out]);
        assert_eq!(run.code, Some(2), "{}", run.stderr);
    }
}

#[test]
fn a_row_index_of_a_hundred_million_costs_one_row() {
    let body = format!("{HEADER}0,batch_start,0,,,,,rows=2\n0,dispatch,0,100000000,A,1,,\n");
    let run = check_trace(
        "big-row",
        body.as_bytes(),
        &["--max-rows-per-batch", "200000000"],
    );
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(run.peak_mb < 100, "{} MB", run.peak_mb);
    // Under the default limit the same row is refused.
    let run = check_trace("big-row-default", body.as_bytes(), &[]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
}

#[test]
fn a_batch_claiming_a_trillion_rows_is_counted() {
    let body = format!("{HEADER}0,batch_start,0,,,,,rows=1000000000000\n5,batch_end,0,,,,,\n");
    let run = check_trace("trillion", body.as_bytes(), &[]);
    assert_eq!(run.code, Some(2), "refused by default: {}", run.stderr);
    assert!(
        run.stderr.contains("--max-rows-per-batch"),
        "{}",
        run.stderr
    );
    let run = check_trace(
        "trillion-raised",
        body.as_bytes(),
        &["--max-rows-per-batch", "10000000000000"],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stdout.contains("1000000000000 violations of I4 in all"),
        "{}",
        run.stdout
    );
}

#[test]
fn many_tiny_batches_stay_in_flat_memory() {
    let mut body = String::from(HEADER);
    for b in 0..100_000u64 {
        let t = b * 100_000;
        body.push_str(&format!(
            "{t},batch_start,{b},,,,,rows=1\n{t},ready,{b},0,,,,\n{t},permit,{b},0,,1,,\n{t},dispatch,{b},0,,1,,\n{t},ok,{b},0,,1,,\n{t},release,{b},0,,1,,\n{t},emit,{b},0,,1,,result=ok\n{t},batch_end,{b},,,,,\n"
        ));
    }
    let run = check_trace("tiny-batches", body.as_bytes(), &[]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("(800000 events)"), "{}", run.stdout);
    assert!(run.peak_mb < 100, "{} MB", run.peak_mb);
    let run = check_trace(
        "tiny-batches-capped",
        body.as_bytes(),
        &["--max-batches", "1000"],
    );
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("1001 batches: beyond the limit of 1000"),
        "{}",
        run.stderr
    );
    // The report shows the first hundred batches' statistics and counts the rest.
    let (run, out) = report("tiny-batches-report", body.as_bytes());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let md = std::fs::read_to_string(out.join("summary.md")).expect("written");
    assert!(md.contains("99900 more batches ended; the first 100 are shown"));
    assert!(run.peak_mb < 200, "{} MB", run.peak_mb);
}

#[test]
fn huge_generated_batches_are_refused_before_any_run() {
    let dir = temp_dir("huge-batches");
    let mut text = String::from("name = \"x\"\n");
    for _ in 0..30 {
        text.push_str("[[batches]]\ngenerate = { count = 10000000 }\n");
    }
    let file = write(&dir, "s.toml", text.as_bytes());
    let run = quick(&["replay", &file, "--out", &dir.display().to_string()]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains(
            "300000000 rows in all, beyond the limit of 10000000 (raise it with --max-rows)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.peak_mb < 100, "{} MB", run.peak_mb);
}

#[test]
fn input_files_are_bounded_in_size() {
    let dir = temp_dir("zeros");
    let zeros = dir.join("zeros.csv");
    // 200 MB of zero bytes, sparse on disk.
    std::fs::File::create(&zeros)
        .and_then(|f| f.set_len(200 << 20))
        .expect("sparse file");
    let zeros = zeros.display().to_string();
    let pool = pool(&dir);
    let run = quick(&["check-trace", &zeros, "--pool", &pool]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("line 1: a line longer than"),
        "{}",
        run.stderr
    );
    assert!(run.peak_mb < 100, "{} MB", run.peak_mb);
    let run = quick(&[
        "check-trace",
        &zeros,
        "--pool",
        &pool,
        "--max-trace-bytes",
        "1000000",
    ]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("209715200 bytes, larger than the limit of 1000000 bytes"),
        "{}",
        run.stderr
    );
    let run = quick(&["replay", &zeros, "--out", &dir.display().to_string()]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("209715200 bytes, larger than the limit of 16777216 bytes for a scenario"),
        "{}",
        run.stderr
    );
    assert!(run.peak_mb < 100, "{} MB", run.peak_mb);
}

#[test]
fn a_retry_storm_ends_at_the_run_budget() {
    let dir = temp_dir("storm");
    let file = write(
        &dir,
        "storm.toml",
        b"name = \"storm\"
horizon_ms = 18446744073709551
[pool]
pool_size = 4
min_dispatch_delay_ms = 1
max_dispatch_delay_ms = 1
recovery_step_ms = 1
max_capacity_retry_seconds = 9000000000000000
[service]
capacity_rate = 1.0
[[batches]]
rows = [{ id = \"A\" }, { id = \"B\" }, { id = \"C\" }, { id = \"D\" }]
",
    );
    let run = quick(&[
        "replay",
        &file,
        "--out",
        &dir.display().to_string(),
        "--max-events",
        "2000000",
    ]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("storm (seed 0): the run reached its budget of 2000000 events at"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("(raise it with --max-events)"),
        "{}",
        run.stderr
    );
    assert!(run.peak_mb < 200, "{} MB", run.peak_mb);
}

#[test]
fn report_refuses_a_pool_for_a_scenario_and_endless_comparisons() {
    let dir = temp_dir("report-options");
    let out = dir.display().to_string();
    for (extra, wanted) in [
        (
            ["--compare-gates", "--seeds", "99999999"],
            "1 to 10000 seeds per gate",
        ),
        (
            [
                "--pool",
                "scenarios/worker-a-d-aimd.toml",
                "--compare-gates",
            ],
            "--pool is for a trace",
        ),
    ] {
        let mut args = vec!["report", "scenarios/worker-a-d.toml", "--out", &out];
        args.extend(extra);
        let run = quick(&args);
        assert_eq!(run.code, Some(2), "{extra:?}");
        assert!(run.stderr.contains(wanted), "{extra:?}: {}", run.stderr);
    }
}

#[test]
fn a_closed_pipe_ends_output_quietly_with_141() {
    let dir = temp_dir("pipe");
    let mut child = Command::new(env!("CARGO_BIN_EXE_paceline"))
        .args(["replay", "scenarios/worker-a-d.toml", "--out"])
        .arg(&dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    // As `| head -0` would: the reader is gone before the first line.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("ends");
    assert_eq!(out.status.code(), Some(141));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn traces_that_break_the_schema_are_refused_with_their_line() {
    for (name, body, wanted) in [
        (
            "header-only",
            HEADER.to_string(),
            "line 2: the trace has a header but no events",
        ),
        (
            "unknown-batch",
            format!("{HEADER}0,batch_start,0,,,,,rows=1\n5,dispatch,3,0,A,1,,\n"),
            "line 3: a dispatch event of batch 3, which has no batch_start before it",
        ),
        (
            "bad-detail",
            format!("{HEADER}0,batch_start,0,,,,,rows=lots\n"),
            "line 2: batch_start detail `rows` = \"lots\": expected a whole number of rows",
        ),
        (
            "duplicate-column",
            "t_us,event,row,t_us\n0,dispatch,0,0\n".to_string(),
            "line 1: the header names the column `t_us` twice",
        ),
        (
            "backwards",
            format!("{HEADER}5,batch_start,0,,,,,rows=1\n4,dispatch,0,0,A,1,,\n"),
            "line 3: t_us = 4 comes before the previous event's 5",
        ),
    ] {
        let run = check_trace(name, body.as_bytes(), &[]);
        assert_eq!(run.code, Some(2), "{name}: {}", run.stderr);
        assert!(run.stderr.contains(wanted), "{name}: {}", run.stderr);
    }
}

#[test]
fn a_duplicated_batch_end_is_a_violation_of_the_pool() {
    let body = format!(
        "{HEADER}0,batch_start,0,,,,,rows=1\n0,permit,0,0,A,1,,\n0,dispatch,0,0,A,1,,\n1,ok,0,0,A,1,,\n1,release,0,0,A,1,,\n1,emit,0,0,A,1,,result=ok\n1,batch_end,0,,,,,\n2,batch_end,0,,,,,\n"
    );
    let run = check_trace("double-end", body.as_bytes(), &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stdout.contains("batch 0 ended a second time"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_tolerance_near_the_maximum_does_not_overflow() {
    let body = b"t_us,event,row\n0,dispatch,0\n99800,dispatch,1\n";
    for tolerance in ["18446744073709551615", "18446744073709551000"] {
        let run = check_trace("tolerance", body, &["--tolerance-us", tolerance]);
        assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("I1 held"), "{}", run.stdout);
    }
}

#[test]
fn invalid_utf8_is_located_and_long_values_are_cut() {
    let mut body = format!("{HEADER}0,batch_start,0,,,,,rows=1\n5,dispatch,0,0,").into_bytes();
    let offset = body.len();
    body.extend_from_slice(b"\xff\xfe,1,,\n");
    let run = check_trace("utf8", &body, &[]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains(&format!(
            "line 3: not UTF-8 text: invalid byte at offset {offset}"
        )),
        "{}",
        run.stderr
    );
    let long = format!("{HEADER}{},dispatch,0,0,A,1,,\n", "7".repeat(1 << 20));
    let run = check_trace("long", long.as_bytes(), &["--max-value-bytes", "2000000"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.len() < 400,
        "{} bytes of message",
        run.stderr.len()
    );
    assert!(
        run.stderr.contains("(1048576 bytes in all)"),
        "{}",
        run.stderr
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_is_walked_once() {
    let dir = temp_dir("loop");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/worker-a-d.toml"),
        dir.join("worker-a-d.toml"),
    )
    .expect("copied");
    std::os::unix::fs::symlink(&dir, dir.join("loop")).expect("link");
    let run = quick(&["check", &dir.display().to_string()]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("1 passed, 0 failed"), "{}", run.stdout);
}

#[test]
fn report_exits_1_after_writing_pages_that_escape_ids() {
    let body = format!(
        "{HEADER}0,batch_start,0,,,,,rows=2\n0,dispatch,0,0,\"a|b\nc\",1,,\n10000,dispatch,0,1,<i>B</i>,1,,\n"
    );
    let (run, out) = report("escape", body.as_bytes());
    // The pages are written, then the exit code says the trace broke I1 (and I4).
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stdout.contains("FAIL: I1, I4 violated"),
        "{}",
        run.stdout
    );
    let md = std::fs::read_to_string(out.join("summary.md")).expect("written");
    let row = md
        .lines()
        .find(|l| l.starts_with("| I1 "))
        .expect("the I1 row");
    assert!(row.contains("a\\|b<br>c"), "{row}");
    assert!(row.ends_with(" |"), "{row}");
    let html = std::fs::read_to_string(out.join("index.html")).expect("written");
    assert!(
        html.contains("&lt;i&gt;B&lt;/i&gt;") && !html.contains("<i>B"),
        "escaped"
    );
}

#[test]
fn scenario_messages_name_indexed_paths_in_words() {
    let dir = temp_dir("paths");
    let file = write(
        &dir,
        "s.toml",
        b"name = \"x\"\n[[batches]]\nrows = [{ id = \"A\" }]\n[[batches]]\nrows = [{ id = \"B\" }, { id = \"C\", attempts = [\"ok\", { outcome = \"capacity\", status = 900 }] }]\n",
    );
    let run = quick(&["replay", &file, "--out", &dir.display().to_string()]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("key `batches[1].rows[1].attempts[1].status`: 900"),
        "{}",
        run.stderr
    );
    let file = write(
        &dir,
        "t.toml",
        b"name = \"x\"\nseed = -3\n[[batches]]\nrows = [{}]\n",
    );
    let run = quick(&["replay", &file, "--out", &dir.display().to_string()]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("expected a whole number (0 or more)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("u64"), "{}", run.stderr);
}

#[test]
fn every_sweep_is_capped() {
    for args in [
        vec!["mutants", "--seeds", "99999999"],
        vec!["explore", "--cases", "4000000000"],
        vec!["check", "scenarios", "--seeds", "0..99999999"],
    ] {
        let run = quick(&args);
        assert_eq!(run.code, Some(2), "{args:?}");
        assert!(
            run.stderr.contains("at most 1000000"),
            "{args:?}: {}",
            run.stderr
        );
    }
}
