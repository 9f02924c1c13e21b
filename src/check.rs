//! `paceline check`: every scenario under the paths, over seeds, on all cores.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use paceline_sim::Scenario;
use paceline_verify::run::{check_run, judge};
use rayon::prelude::*;

use crate::outcome::Outcome;
use crate::print;

/// Scenario files under `paths`: files as given, folders searched for `*.toml`, sorted.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect(path, &mut files)?;
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!("{}: no such file or folder", path.display()));
        }
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err("no scenario files (*.toml) under the given paths".into());
    }
    Ok(files)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|x| x == "toml") {
            files.push(path);
        }
    }
    Ok(())
}

/// `N` (seeds 0..N) or `A..B` (seeds A to B-1).
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let bad = || format!("--seeds {text:?}: write a count such as 100, or a range such as 0..100");
    let (from, to) = match text.split_once("..") {
        Some((a, b)) => (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        ),
        None => (0, text.trim().parse().map_err(|_| bad())?),
    };
    if from >= to {
        return Err(format!("--seeds {text:?}: the range is empty"));
    }
    if to - from > 1_000_000 {
        return Err(format!(
            "--seeds {text:?}: at most 1000000 seeds in one run"
        ));
    }
    Ok((from..to).collect())
}

/// `K/N` with 1 <= K <= N.
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--shard {text:?}: write K/N with 1 <= K <= N, such as 2/4");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

struct Case {
    file: usize,
    seed: u64,
}

/// One run: its scenario, the failure reports (empty when it passed), and its time.
struct CaseOutcome {
    file: usize,
    result: Result<Vec<String>, String>,
    seconds: f64,
}

/// The result of one scenario over its seeds.
struct ScenarioResult {
    seeds: u64,
    failures: Vec<String>,
    seconds: f64,
}

pub fn run(
    paths: &[PathBuf],
    seeds: Option<&str>,
    shard: Option<&str>,
    junit: Option<&Path>,
) -> Outcome {
    let files = match scenario_files(paths) {
        Ok(f) => f,
        Err(e) => return Outcome::Refused(e),
    };
    let mut scenarios = Vec::new();
    let mut refused = Vec::new();
    for file in &files {
        match Scenario::load(file) {
            Ok(s) => scenarios.push(s),
            Err(e) => refused.push(e.to_string()),
        }
    }
    if !refused.is_empty() {
        return Outcome::Refused(refused.join("\n"));
    }
    let extra = match seeds.map(parse_seeds).transpose() {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => return Outcome::Refused(e),
    };
    let (k, n) = match shard.map(parse_shard).transpose() {
        Ok(s) => s.unwrap_or((1, 1)),
        Err(e) => return Outcome::Refused(e),
    };
    let mut cases = Vec::new();
    for (file, scenario) in scenarios.iter().enumerate() {
        let mut seeds = vec![scenario.seed];
        seeds.extend(extra.iter().copied().filter(|&s| s != scenario.seed));
        cases.extend(seeds.into_iter().map(|seed| Case { file, seed }));
    }
    let cases: Vec<Case> = cases
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i as u64 % n == k - 1)
        .map(|(_, c)| c)
        .collect();

    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(cases.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs {elapsed} (eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let outcomes: Vec<CaseOutcome> = cases
        .par_iter()
        .map(|case| {
            let t0 = Instant::now();
            let scenario = &scenarios[case.file];
            let result = check_run(scenario, case.seed, None)
                .map(|run| {
                    let failures = judge(scenario, &run);
                    if failures.is_empty() {
                        Vec::new()
                    } else {
                        vec![print::failures(
                            &files[case.file],
                            &scenario.name,
                            case.seed,
                            &failures,
                        )]
                    }
                })
                .map_err(|e| e.to_string());
            progress.inc(1);
            CaseOutcome {
                file: case.file,
                result,
                seconds: t0.elapsed().as_secs_f64(),
            }
        })
        .collect();
    progress.finish_and_clear();

    let mut results: BTreeMap<usize, ScenarioResult> = BTreeMap::new();
    let mut errors = Vec::new();
    for CaseOutcome {
        file,
        result,
        seconds,
    } in outcomes
    {
        let entry = results.entry(file).or_insert(ScenarioResult {
            seeds: 0,
            failures: Vec::new(),
            seconds: 0.0,
        });
        entry.seeds += 1;
        entry.seconds += seconds;
        match result {
            Ok(f) => entry.failures.extend(f),
            Err(e) => errors.push(format!("{}: {e}", files[file].display())),
        }
    }
    if !errors.is_empty() {
        return Outcome::Refused(errors.join("\n"));
    }
    let mut failed = 0;
    for (&file, result) in &results {
        let name = &scenarios[file].name;
        if result.failures.is_empty() {
            println!("ok   {name} ({} seeds)", result.seeds);
        } else {
            failed += 1;
            println!(
                "FAIL {name} ({} of {} seeds failed)",
                result.failures.len(),
                result.seeds
            );
            for f in result.failures.iter().take(3) {
                print!("{f}");
            }
        }
    }
    println!(
        "{} passed, {} failed ({} runs in {:.1} s, shard {k}/{n})",
        results.len() - failed,
        failed,
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = junit {
        let xml = junit_xml(&files, &scenarios, &results);
        if let Err(e) = std::fs::write(path, xml) {
            return Outcome::Refused(format!("cannot write {}: {e}", path.display()));
        }
    }
    Outcome::of(failed == 0)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one test case per scenario; a failure carries the failing seeds' reports,
/// each ending with the command that reproduces it.
fn junit_xml(
    files: &[PathBuf],
    scenarios: &[Scenario],
    results: &BTreeMap<usize, ScenarioResult>,
) -> String {
    let failures = results.values().filter(|r| !r.failures.is_empty()).count();
    let seconds: f64 = results.values().map(|r| r.seconds).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"paceline\" tests=\"{}\" failures=\"{failures}\" time=\"{seconds:.3}\">",
        results.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"paceline check\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{seconds:.3}\">",
        results.len()
    );
    for (&file, result) in results {
        let _ = write!(
            xml,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(&files[file].display().to_string()),
            escape(&scenarios[file].name),
            result.seconds
        );
        if result.failures.is_empty() {
            xml.push_str("/>\n");
        } else {
            let _ = writeln!(
                xml,
                ">\n      <failure message=\"{} of {} seeds failed\">{}</failure>\n    </testcase>",
                result.failures.len(),
                result.seeds,
                escape(&result.failures.join("\n"))
            );
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}
