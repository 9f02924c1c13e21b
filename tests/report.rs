//! Reports as a user gets them: every file written, non-trivial, text embedded.

use std::fs::File;
use std::path::{Path, PathBuf};

use paceline_harness::{check_run, replay_under_gates, table_of};
use paceline_reports::compare::{self, MeasureSink, RunMeasures};
use paceline_reports::figures::Limits;
use paceline_reports::{CHARTS, ReportInput, write_report};
use paceline_sim::Scenario;
use paceline_trace::TraceReader;
use paceline_verify::{PoolTable, verify_rows};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("paceline-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn library(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::load(&path).expect("library scenario")
}

/// Replay `scenario` into `out` and report it there.
fn replay_and_report(scenario: &Scenario, out: &Path) -> Vec<PathBuf> {
    let trace = out.join("trace.csv");
    let mut file = File::create(&trace).expect("trace file");
    let run = check_run(scenario, scenario.seed, Some(&mut file)).expect("replay");
    drop(file);
    let input = ReportInput {
        title: &scenario.name,
        description: &scenario.description,
        pool: &table_of(&scenario.pool),
        verdicts: &run.report,
        trace: &trace,
        ending: Some(&run.summary.ending),
        limits: &Limits::default(),
    };
    write_report(&input, out).expect("report written")
}

#[test]
fn a_replay_report_has_every_chart_in_both_formats_and_both_pages() {
    let out = dir("wad");
    let written = replay_and_report(&library("worker-a-d.toml"), &out);
    assert_eq!(written.len(), 12, "{written:?}");
    for (stem, _) in CHARTS {
        let png = std::fs::read(out.join(format!("{stem}.png"))).expect("png written");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{stem}.png is a PNG");
        assert!(png.len() > 10_000, "{stem}.png has {} bytes", png.len());
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).expect("svg written");
        assert!(
            svg.contains("<svg") && svg.contains("<text"),
            "{stem}.svg has text"
        );
    }
    let title = |stem: &str| std::fs::read_to_string(out.join(format!("{stem}.svg"))).expect("svg");
    assert!(title("timeline").contains("Timeline: one lane per row"));
    assert!(
        title("timeline").contains("waiting at the gate"),
        "legend drawn"
    );
    assert!(title("gaps").contains("Gaps between consecutive dispatches"));
    assert!(
        title("gaps").contains("time (ms)") && title("gaps").contains("gap (ms)"),
        "axes have units"
    );
    assert!(title("delay").contains("Throttle delay D over time"));
    assert!(title("delay").contains("min_dispatch_delay_ms = 100"));
    assert!(title("concurrency").contains("Permits in use and attempts in flight"));
    assert!(title("concurrency").contains("pool_size = 4"));
    // Worker A-D's rows end at 100, 200, 490 and 590 ms.
    assert!(title("latency").contains("Row latency from submit to result"));
    assert!(title("latency").contains("p50 = 200 ms") && title("latency").contains("p95 = 590 ms"));
    let page = std::fs::read_to_string(out.join("index.html")).expect("page");
    for (stem, _) in CHARTS {
        assert!(
            page.contains(&format!("src=\"{stem}.png\"")),
            "{stem} on the page"
        );
    }
    assert!(page.contains("href=\"trace.csv\""));
    assert!(
        page.contains("<td>I1</td><td>spacing</td><td class=\"held\">held</td>"),
        "{page}"
    );
    assert!(page.contains("<th>gate</th><td>min</td>"));
    assert!(page.contains("capacity_retries"), "batch statistics listed");
    assert!(
        page.contains("<tr><th>makespan</th><td>590 ms</td></tr>"),
        "planning figures lead the page"
    );
    assert!(page.contains("p50 200 ms, p95 590 ms, p99 590 ms, max 590 ms"));
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary");
    assert!(
        md.starts_with("# worker-a-d")
            && md.contains("| I4 | completeness | held |")
            && md.contains("| makespan | 590 ms |"),
        "{md}"
    );
}

#[test]
fn a_spacing_violation_is_drawn_red_and_labelled() {
    let out = dir("violation");
    let trace = out.join("trace.csv");
    std::fs::write(
        &trace,
        "t_us,event,batch,row,id\n0,batch_start,0,,\n0,dispatch,0,0,A\n10000,dispatch,0,1,B\n200000,dispatch,0,2,C\n",
    )
    .expect("trace written");
    let pool = PoolTable {
        pool_size: 2,
        min_dispatch_delay_ms: 100,
        gate: "min".into(),
        ..PoolTable::default()
    };
    let rows: Vec<_> = {
        let mut reader = TraceReader::new(File::open(&trace).expect("open")).expect("header");
        std::iter::from_fn(|| reader.next_row())
            .map(|r| r.expect("row"))
            .collect()
    };
    let verdicts = verify_rows(pool.rules(), &rows, None);
    let input = ReportInput {
        title: "hand-made",
        description: "two dispatches 10 ms apart under a 100 ms spacing",
        pool: &pool,
        verdicts: &verdicts,
        trace: &trace,
        ending: None,
        limits: &Limits::default(),
    };
    write_report(&input, &out).expect("report written");
    let svg = std::fs::read_to_string(out.join("gaps.svg")).expect("svg");
    assert!(svg.contains("I1: 10 ms apart"), "the violation is labelled");
    assert!(svg.contains("gap below the spacing (I1 violation)"));
    let page = std::fs::read_to_string(out.join("index.html")).expect("page");
    assert!(
        page.contains("class=\"VIOLATED\""),
        "the verdict table shows it"
    );
}

#[test]
fn gate_policies_are_compared_side_by_side() {
    let out = dir("compare");
    let scenario = library("rate-limited-429-storm.toml");
    let runs = replay_under_gates(&scenario, 4, MeasureSink::default).expect("replays");
    let measured = |i: usize| -> (&str, Vec<RunMeasures>) {
        let (gate, runs) = &runs[i];
        (
            gate.as_str(),
            runs.iter().map(|(m, _)| m.measures()).collect(),
        )
    };
    let (min, aimd) = (measured(0), measured(1));
    assert_eq!((min.0, aimd.0), ("min", "aimd"));
    assert_eq!(min.1.len(), 4);
    // Spacing the whole pool by D draws far fewer 429s than spacing by the floor.
    let errors = |runs: &[RunMeasures]| runs.iter().map(|r| r.capacity_errors).sum::<f64>();
    assert!(
        errors(&aimd.1) * 5.0 < errors(&min.1),
        "{} vs {}",
        errors(&aimd.1),
        errors(&min.1)
    );
    let files = compare::write(&scenario.name, &[min, aimd], &out).expect("written");
    assert_eq!(files.len(), 3);
    let svg = std::fs::read_to_string(out.join("compare.svg")).expect("svg");
    for measure in [
        "dispatch rate",
        "smallest gap",
        "capacity errors drawn",
        "rows out of budget",
        "completion time",
    ] {
        assert!(svg.contains(measure), "{measure} panel");
    }
    assert!(svg.contains("gate min") && svg.contains("gate aimd"));
}

#[test]
fn a_large_run_aggregates_its_timeline_by_worker() {
    let out = dir("large");
    let scenario = library("saturated-pool.toml");
    replay_and_report(&scenario, &out);
    let svg = std::fs::read_to_string(out.join("timeline.svg")).expect("svg");
    // Forty rows fit as lanes; the library's 100 000-row run would not (see the README).
    assert!(svg.contains("one lane per row"));
    let out = dir("large-gen");
    let scenario = library("generated-100k.toml");
    replay_and_report(&scenario, &out);
    let svg = std::fs::read_to_string(out.join("timeline.svg")).expect("svg");
    assert!(svg.contains("one lane per worker"));
    assert!(svg.contains("worker 16") && !svg.contains("worker 17"));
    assert!(
        svg.contains("share of time in flight"),
        "aggregated per column"
    );
    assert!(
        svg.len() < 3_000_000,
        "the SVG stays small: {} bytes",
        svg.len()
    );
}
