//! `paceline tune` as a user runs it: the ranking on a timeline worked out by hand, the
//! best setting replayed with `replay --set` giving the figures of its row, output that
//! does not depend on the number of threads, and what it refuses.

mod common;

use common::{document, paceline, paceline_env, temp_dir, text};
use serde_json::{Value, json};

/// Worker A-D under both gates and pools of 1 and 4. Under `min` both pools give the
/// timeline of the scenario (A's retry at 590 ms). Under `aimd`, A's failure raises D to
/// 500 ms: with 4 permits B, C, D dispatch at 500, 600, 700 and A at 800; with 1 permit
/// B (holding it) goes at 500, A (back from backoff, first in line) at 600, C at 700 and
/// D at 800. Either way the last result is at 800 ms.
#[test]
fn tune_ranks_worker_a_d_settings_as_worked_out_by_hand() {
    let (code, doc) = document(&[
        "tune",
        "scenarios/worker-a-d.toml",
        "--vary",
        "pool.gate=min,aimd",
        "--vary",
        "pool.pool_size=1,4",
        "--seeds",
        "1",
        "--json",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(doc["schema"], "paceline/tune/1");
    assert_eq!(doc["goal"], "makespan");
    assert_eq!(doc["seeds"], json!([0]));
    assert_eq!(doc["runs"], 4);
    assert_eq!(
        doc["vary"],
        json!([
            { "key": "pool.gate", "values": ["min", "aimd"] },
            { "key": "pool.pool_size", "values": ["1", "4"] },
        ])
    );
    let measures = |makespan_s: f64| {
        let at = |v: f64| json!({ "median": v, "worst": v, "median_seed": 0 });
        json!({
            "makespan_s": at(makespan_s),
            "rows_per_min": at(4.0 * 60.0 / makespan_s),
            "failures": at(1.0),
            "p95_s": at(makespan_s),
            "rows_not_ok": at(0.0),
        })
    };
    // Ties go to the earlier setting of the grid.
    let expected = [
        (
            json!({ "pool.gate": "min", "pool.pool_size": "1" }),
            1,
            0.59,
        ),
        (
            json!({ "pool.gate": "min", "pool.pool_size": "4" }),
            2,
            0.59,
        ),
        (
            json!({ "pool.gate": "aimd", "pool.pool_size": "1" }),
            3,
            0.8,
        ),
        (
            json!({ "pool.gate": "aimd", "pool.pool_size": "4" }),
            4,
            0.8,
        ),
    ];
    let results = doc["results"].as_array().expect("results");
    assert_eq!(results.len(), 4);
    for (result, (setting, rank, makespan_s)) in results.iter().zip(expected) {
        assert_eq!(result["setting"], setting);
        assert_eq!(result["rank"], rank);
        assert_eq!(result["excluded"], Value::Null);
        assert_eq!(result["measures"], measures(makespan_s), "{setting}");
        assert_eq!(result["runs"][0]["seed"], 0);
        assert_eq!(result["runs"][0]["problems"], json!([]));
    }
    assert_eq!(
        doc["best"],
        json!({
            "setting": { "pool.gate": "min", "pool.pool_size": "1" },
            "seed": 0,
            "replay": "paceline replay scenarios/worker-a-d.toml --set pool.gate=min --set pool.pool_size=1 --seed 0",
        })
    );
}

#[test]
fn the_best_setting_replayed_with_set_gives_the_figures_of_its_row() {
    // 300 rows; the file's expectation of 60 ok rows is set aside.
    let search = [
        "tune",
        "scenarios/rate-limited-429-storm.toml",
        "--set",
        "batches.0.generate.count=300",
        "--set",
        "expect.outcomes={}",
        "--vary",
        "pool.min_dispatch_delay_ms=100..250/50",
        "--vary",
        "pool.gate=min,aimd",
        "--seeds",
        "3",
        "--json",
    ];
    let (code, doc) = document(&search);
    assert_eq!(code, Some(0));
    let best = &doc["results"][0];
    assert_eq!(best["rank"], 1);
    assert_eq!(doc["best"]["setting"], best["setting"]);
    let out = temp_dir("tune-replay");
    for run in best["runs"].as_array().expect("runs") {
        let seed = run["seed"].as_u64().expect("seed").to_string();
        let mut args = vec![
            "replay",
            "scenarios/rate-limited-429-storm.toml",
            "--set",
            "batches.0.generate.count=300",
            "--set",
            "expect.outcomes={}",
        ];
        let sets: Vec<String> = best["setting"]
            .as_object()
            .expect("setting")
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().expect("value text")))
            .collect();
        for s in &sets {
            args.extend(["--set", s]);
        }
        args.extend([
            "--seed",
            &seed,
            "--json",
            "--out",
            out.to_str().expect("utf-8"),
        ]);
        let (code, replayed) = document(&args);
        assert_eq!(code, Some(0), "{args:?}");
        assert_eq!(replayed["figures"], run["figures"], "seed {seed}");
    }
    // The median the table shows is the median seed's own makespan.
    let median_seed = best["measures"]["makespan_s"]["median_seed"].clone();
    let median_run = best["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["seed"] == median_seed)
        .expect("the median seed ran");
    assert_eq!(
        median_run["figures"]["makespan_ms"].as_f64().expect("ms") / 1000.0,
        best["measures"]["makespan_s"]["median"]
            .as_f64()
            .expect("s")
    );
}

#[test]
fn the_output_is_the_same_on_one_thread_and_on_all() {
    let args = [
        "tune",
        "scenarios/rate-limited-429-storm.toml",
        "--vary",
        "pool.pool_size=2,8",
        "--vary",
        "pool.min_dispatch_delay_ms=150..250/50",
        "--seeds",
        "4",
    ];
    let one = paceline_env(&args, &[("RAYON_NUM_THREADS", "1")]);
    let many = paceline_env(&args, &[("RAYON_NUM_THREADS", "4")]);
    assert_eq!(one.status.code(), Some(0));
    assert_eq!(text(&one.stdout), text(&many.stdout));
}

#[test]
fn unranked_settings_are_shown_with_why() {
    let run = paceline(&[
        "tune",
        "scenarios/worker-a-d.toml",
        "--vary",
        "horizon_ms=300,1000",
        "--seeds",
        "2",
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[2].starts_with("1     1000 "), "{stdout}");
    assert!(
        lines[3].starts_with("-     300 ")
            && lines[3].ends_with("no: 2 of 2 seeds (seed 0: 2 rows unfinished at the horizon)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("best by makespan: horizon_ms=1000"),
        "{stdout}"
    );
    // Nothing ranked: exit 1.
    let run = paceline(&[
        "tune",
        "scenarios/worker-a-d.toml",
        "--vary",
        "horizon_ms=300",
        "--seeds",
        "1",
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stdout).contains("nothing ranked"));
}

#[test]
fn out_writes_the_csv_the_json_and_the_chart() {
    let out = temp_dir("tune-out");
    let run = paceline(&[
        "tune",
        "scenarios/worker-a-d.toml",
        "--vary",
        "pool.gate=min,aimd",
        "--seeds",
        "2",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let csv = std::fs::read_to_string(out.join("tune.csv")).expect("csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "rank,pool.gate,seed,makespan_s,rows_per_min,failures,capacity_failures,p95_s,rows_ok,rows_unfinished,problems"
        )
    );
    assert_eq!(csv.lines().count(), 1 + 2 * 2, "one line per run");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tune.json")).expect("json"))
            .expect("a JSON document");
    assert_eq!(doc["schema"], "paceline/tune/1");
    let svg = std::fs::read_to_string(out.join("pareto.svg")).expect("svg");
    assert!(svg.contains("makespan against capacity failures"), "titled");
    assert!(svg.contains("best: gate=min"), "the best is labelled");
    let png = std::fs::read(out.join("pareto.png")).expect("png");
    assert!(png.starts_with(b"\x89PNG"));
}

#[test]
fn bad_searches_are_refused_with_exit_2() {
    for (args, fragment) in [
        (
            &[
                "--vary",
                "pool.min_dispatch_delay_ms=0..200/1",
                "--vary",
                "pool.pool_size=1..50/1",
                "--seeds",
                "1",
            ][..],
            "the grid is 10050 settings x 1 seed = 10050 runs; more than 10000 needs --yes",
        ),
        (&["--vary", "pool.pool_size=0,4"], "key `pool.pool_size`"),
        (
            &["--vary", "pool.pool_size=0,4"],
            "(from --vary pool.pool_size=0)",
        ),
        (&["--vary", "pool.pool_size"], "write KEY=VALUES"),
        (
            &["--vary", "pool.pool_size=1", "--vary", "pool.pool_size=2"],
            "varied twice",
        ),
        (
            &["--vary", "pool.pool_size=1", "--goal", "speed"],
            "the goals are",
        ),
        (&["--vary", "pool.pool_size=1", "--seeds", "x"], "--seeds"),
    ] {
        let mut all = vec!["tune", "scenarios/worker-a-d.toml"];
        all.extend(args);
        let run = paceline(&all);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{all:?}: {stderr}");
        assert!(stderr.contains(fragment), "{all:?}: {fragment} in {stderr}");
    }
}

/// The README's walk-through, smaller (500 rows, two seeds, one pool size): a search in
/// steps of 30 ms recommends a setting within 10% of the best a search in steps of 3 ms
/// finds. (On the walk-through's 5 000 rows: 1016.2 s against 1004.8 s, 1.1%.)
#[test]
fn a_coarse_grid_recommends_within_ten_percent_of_a_ten_times_finer_one() {
    let best_makespan = |step: u32| {
        let spacing = format!("pool.min_dispatch_delay_ms=0..300/{step}");
        let (code, doc) = document(&[
            "tune",
            "scenarios/rate-limited-429-storm.toml",
            "--set",
            "batches.0.generate.count=500",
            "--set",
            "expect.outcomes={}",
            "--vary",
            "pool.gate=min,aimd",
            "--vary",
            &spacing,
            "--seeds",
            "2",
            "--json",
        ]);
        assert_eq!(code, Some(0));
        assert_eq!(doc["results"][0]["rank"], 1);
        doc["results"][0]["measures"]["makespan_s"]["median"]
            .as_f64()
            .expect("seconds")
    };
    let coarse = best_makespan(30);
    let fine = best_makespan(3);
    assert!(fine <= coarse, "the fine grid holds the coarse one");
    assert!(coarse <= fine * 1.10, "{coarse} s against {fine} s");
}
