//! The stable fuzz test: mutations of the library's scenario files and of traces the
//! simulator writes (byte flips, truncation, huge numbers, deep nesting, empty keys, long
//! strings, lines lost or repeated) through every reader (a trace also through the
//! report's gathering, and a few through its charts), asserting that each case ends
//! (no hang: a case has ten seconds), raises no panic, is judged as the reader promises
//! (`paceline_harness::fuzz`), and that memory stays bounded (the process's peak).
//!
//! CI runs 5000 cases in well under a minute. A longer campaign:
//! `PACELINE_FUZZ_SECONDS=1800 cargo test --release --test fuzz -- --nocapture`; it
//! prints how many cases ran and of which kind. A failing case is written to
//! `target/fuzz-failures/` with the seed that reproduces it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use paceline_harness::fuzz::{self, Case};
use paceline_harness::{check_run, panic_message};
use paceline_reports::figures::{Budget, Counts, Limits, Measure, Side};
use paceline_reports::{ReportInput, ReportSink};
use paceline_sim::Scenario;
use paceline_trace::{TraceReader, TraceSink};
use paceline_verify::{PoolTable, Report};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// A case that takes longer than this is a hang.
const CASE_TIMEOUT: Duration = Duration::from_secs(10);
/// Peak resident memory allowed for the whole test process.
const MAX_PEAK_BYTES: u64 = 2 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Scenario,
    Trace,
    Expect,
}

/// One change to an input.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, text: String },
    DeleteLine { line: usize },
    RepeatLine { line: usize, times: usize },
}

fn extreme_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("9223372036854775807".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("0".to_string()),
        Just("\"\" = 1\n".to_string()),
        Just("[expect]\nresults = { \"\" = \"ok\" }\n".to_string()),
        Just("[expect]\ndispatch_ms = { \"\" = [1] }\n".to_string()),
        (1usize..3000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
        (1usize..2000).prop_map(|n| format!("{}1{}", "{a=".repeat(n), "}".repeat(n))),
        (1usize..200_000).prop_map(|n| "x".repeat(n)),
        (1usize..2000).prop_map(|n| format!("\"{}\"", "é".repeat(n))),
        Just("\n[[batches]]\ngenerate = { count = 10000000 }\n".to_string()),
        Just("\n[[batches]]\nat_ms = 18446744073709551615\nrows = [{}]\n".to_string()),
        Just("\n[[events]]\nat_ms = 0\nshutdown = true\n".to_string()),
        Just("\n[service]\ncapacity_rate = 1.0\n".to_string()),
        Just(",batch_start,0,,,,0,rows=1000000000000\n".to_string()),
        Just("0,emit,0,0,A,1,0,result=ok\n".to_string()),
        Just("0,batch_end,0,,,,0,\n".to_string()),
        Just("\"a\nb\",".to_string()),
        Just("\u{0}\u{ff}".to_string()),
        "\\PC{0,40}",
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        1 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        4 => (any::<usize>(), extreme_text()).prop_map(|(at, text)| Mutation::Insert { at, text }),
        1 => any::<usize>().prop_map(|line| Mutation::DeleteLine { line }),
        1 => (any::<usize>(), 1usize..2000)
            .prop_map(|(line, times)| Mutation::RepeatLine { line, times }),
    ]
}

/// The largest input a case gets: past every reader's limit in these tests, so that the
/// size checks are fuzzed too, without the mutations themselves taking the time.
const MAX_INPUT: usize = 8 << 20;

fn apply(input: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for m in mutations {
        bytes.truncate(MAX_INPUT);
        let len = bytes.len().max(1);
        match m {
            Mutation::Flip { at, byte } => {
                if let Some(b) = bytes.get_mut(at % len) {
                    *b = *byte;
                }
            }
            Mutation::Truncate { at } => bytes.truncate(at % len),
            Mutation::Insert { at, text } => {
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, text.bytes());
            }
            Mutation::DeleteLine { line } | Mutation::RepeatLine { line, .. } => {
                let mut lines: Vec<Vec<u8>> =
                    bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                let i = line % lines.len();
                match m {
                    Mutation::RepeatLine { times, .. } => {
                        let copy = lines[i].clone();
                        lines.splice(i..i, std::iter::repeat_n(copy, *times));
                    }
                    _ => {
                        lines.remove(i);
                    }
                }
                bytes = lines.join(&b'\n');
            }
        }
    }
    bytes.truncate(MAX_INPUT);
    bytes
}

/// The inputs mutations start from: every scenario file of the library and the broken
/// corpus, traces the simulator writes for some of them, and `[expect]` bodies.
fn corpus() -> BTreeMap<Target, Vec<Vec<u8>>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["scenarios", "scenarios/defects", "tests/broken"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .expect("corpus folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        found.sort();
        files.extend(found);
    }
    let scenarios: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("readable"))
        .collect();
    let mut traces = Vec::new();
    for name in [
        "worker-a-d",
        "shutdown-mid-batch",
        "overlapping-batches",
        "retry-budget-exhausted",
        "permanent-mixed",
    ] {
        let path = root.join(format!("scenarios/{name}.toml"));
        let scenario = Scenario::load(&path).expect("library scenario");
        let mut csv = Vec::new();
        check_run(&scenario, scenario.seed, Some(&mut csv)).expect("in memory");
        traces.push(csv);
    }
    let expects = scenarios
        .iter()
        .filter_map(|s| {
            let text = String::from_utf8_lossy(s);
            text.split_once("[expect]\n")
                .map(|(_, body)| body.as_bytes().to_vec())
        })
        .collect();
    BTreeMap::from([
        (Target::Scenario, scenarios),
        (Target::Trace, traces),
        (Target::Expect, expects),
    ])
}

/// The report's gathering (charts' series, figures, budgets) over a mutated trace, as far
/// as it reads; and, for one trace in twenty of the small ones, its charts drawn: neither
/// may panic, whatever the times and values.
fn report_of(bytes: &[u8]) {
    let pool = PoolTable {
        pool_size: 4,
        min_dispatch_delay_ms: 100,
        max_dispatch_delay_ms: 5000,
        requests_per_minute: Some(60),
        tokens_per_minute: Some(1000),
        ..PoolTable::default()
    };
    let limits = Limits {
        budgets: vec![Budget {
            name: "fuzz".into(),
            side: Side::Client,
            measure: Measure::Requests,
            counts: Counts::All,
            amount: 60,
            per_us: 60_000_000,
        }],
        ..Limits::default()
    };
    let Ok(mut reader) = TraceReader::new(bytes) else {
        return;
    };
    let mut sink = ReportSink::new(&pool, limits.clone());
    while let Some(Ok(row)) = reader.next_record() {
        let _ = sink.record(&row);
    }
    let gathered = sink.finish(None);
    if bytes.len() < 20_000 && bytes.len().is_multiple_of(20) {
        let dir = std::env::temp_dir().join(format!("paceline-fuzz-report-{}", std::process::id()));
        let verdicts = Report::default();
        let input = ReportInput {
            title: "fuzz",
            description: "",
            pool: &pool,
            verdicts: &verdicts,
            trace: Path::new("fuzz.csv"),
            ending: None,
            limits: &limits,
        };
        let _ = gathered.write(&input, &dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Peak resident memory of this process, from the kernel.
fn peak_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Run one case on its own thread: a panic or a hang is reported with its input saved.
/// A campaign also keeps each case's input in `last-case.bin` while it runs, so that an
/// abort (a stack overflow ends the process) leaves the input behind.
fn judge(target: Target, input: Vec<u8>, seed: u64, keep: bool) -> Result<Case, TestCaseError> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    if keep {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("last-case-{target:?}.bin")), &input);
    }
    let (tx, rx) = mpsc::channel();
    let bytes = input.clone();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(|| match target {
            Target::Scenario => fuzz::scenario(&bytes),
            Target::Trace => {
                let case = fuzz::trace(&bytes);
                report_of(&bytes);
                case
            }
            Target::Expect => fuzz::expect(&bytes),
        });
        let _ = tx.send(result.map_err(|payload| panic_message(&*payload)));
    });
    let failure = match rx.recv_timeout(CASE_TIMEOUT) {
        Ok(Ok(case)) => return Ok(case),
        Ok(Err(panic)) => format!("panicked: {panic}"),
        Err(_) => format!("no answer within {CASE_TIMEOUT:?}: a hang"),
    };
    let _ = std::fs::create_dir_all(&dir);
    let saved = dir.join(format!("{target:?}-{seed}.bin").to_lowercase());
    let _ = std::fs::write(&saved, &input);
    Err(TestCaseError::fail(format!(
        "{target:?} case (seed {seed}) {failure}; input saved to {}",
        saved.display()
    )))
}

/// Run `cases` cases per batch until `budget` has passed (or once, without a budget).
fn campaign(cases_per_batch: u32, budget: Option<Duration>) {
    let corpus = corpus();
    let started = Instant::now();
    let mut tally: BTreeMap<(Target, String), u64> = BTreeMap::new();
    let mut total = 0u64;
    let mut failures = Vec::new();
    for seed in 0u64.. {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: cases_per_batch,
                failure_persistence: None,
                max_shrink_iters: 0,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &key),
        );
        let inputs = corpus.clone();
        let strategy = (
            prop_oneof![
                2 => Just(Target::Scenario),
                2 => Just(Target::Trace),
                1 => Just(Target::Expect),
            ],
            any::<prop::sample::Index>(),
            prop::collection::vec(mutation(), 1..5),
        );
        let batch = std::cell::RefCell::new(Vec::<(Target, String)>::new());
        let result = runner.run(&strategy, |(target, pick, mutations)| {
            let seeds = &inputs[&target];
            let input = apply(&seeds[pick.index(seeds.len())], &mutations);
            let case = judge(target, input, seed, budget.is_some())?;
            let kind = match case {
                Case::Accepted => "accepted".to_string(),
                Case::Refused(kind) => format!("refused: {kind}"),
            };
            batch.borrow_mut().push((target, kind));
            Ok(())
        });
        if let Err(e) = result {
            // A campaign notes the failure (its input is saved) and goes on; CI stops.
            failures.push(format!("fuzz batch {seed}: {e}"));
            if budget.is_none() {
                break;
            }
        }
        let batch = batch.into_inner();
        total += batch.len() as u64;
        for k in batch {
            *tally.entry(k).or_default() += 1;
        }
        if budget.is_some() {
            eprintln!(
                "batch {seed}: {total} cases, {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
        let peak = peak_bytes();
        assert!(
            peak < MAX_PEAK_BYTES,
            "peak memory {peak} bytes after {total} cases"
        );
        if budget.is_none_or(|b| started.elapsed() >= b) {
            break;
        }
    }
    eprintln!(
        "fuzz: {total} cases in {:.1} s, peak memory {} MB, {} failing",
        started.elapsed().as_secs_f64(),
        peak_bytes() >> 20,
        failures.len()
    );
    for ((target, kind), n) in &tally {
        eprintln!("  {target:?} {kind}: {n}");
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn fuzzed_inputs_end_without_panic_in_bounded_memory() {
    match std::env::var("PACELINE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seconds) => campaign(500, Some(Duration::from_secs(seconds))),
        None => campaign(5000, None),
    }
}
