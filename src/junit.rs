//! JUnit XML for CI systems: one test case per scenario; a failure carries the failing
//! runs' reports, each ending with the command that reproduces it. The files of a sharded
//! run merge into one ([`merge`], `paceline junit-merge`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use paceline_harness::Entry;
use paceline_trace::counted;

use crate::outcome::Outcome;
use crate::pipe::outln;

/// The result of one scenario over its seeds and legs.
#[derive(Default)]
pub struct ScenarioResult {
    /// Runs made: seeds times legs.
    pub runs: u64,
    /// The failing runs' reports.
    pub failures: Vec<String>,
    /// Time spent on its runs, summed over threads.
    pub seconds: f64,
    /// Runs of the real core (one per seed).
    pub real_runs: u64,
    /// The distinct traces those runs wrote, by digest: the seeds' coverage.
    pub traces: BTreeSet<(u64, u64)>,
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

/// One test case as written: a scenario's file and name, its time, and its failure (a
/// message and the reports), if it failed.
struct TestCase {
    classname: String,
    name: String,
    seconds: f64,
    failure: Option<(String, String)>,
}

/// The XML of `cases`, one test suite.
fn write(cases: &[TestCase]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let seconds: f64 = cases.iter().map(|c| c.seconds).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"paceline\" tests=\"{}\" failures=\"{failures}\" time=\"{seconds:.3}\">",
        cases.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"paceline check\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{seconds:.3}\">",
        cases.len()
    );
    for case in cases {
        let _ = write!(
            xml,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(&case.classname),
            escape(&case.name),
            case.seconds
        );
        match &case.failure {
            None => xml.push_str("/>\n"),
            Some((message, text)) => {
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(message),
                    escape(text)
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// JUnit XML: one test case per scenario; a failure carries the failing runs' reports,
/// each ending with the command that reproduces it.
pub fn junit_xml(entries: &[Entry], results: &BTreeMap<usize, ScenarioResult>) -> String {
    let cases: Vec<TestCase> = results
        .iter()
        .map(|(&index, result)| {
            let entry = &entries[index];
            TestCase {
                classname: entry.path.display().to_string(),
                name: entry.name.clone(),
                seconds: result.seconds,
                failure: (!result.failures.is_empty()).then(|| {
                    (
                        format!(
                            "{} of {} failed",
                            result.failures.len(),
                            counted(result.runs, "run")
                        ),
                        result.failures.join("\n"),
                    )
                }),
            }
        })
        .collect();
    write(&cases)
}

/// What a merge of JUnit files found.
pub struct Merged {
    /// The merged XML.
    pub xml: String,
    /// Test cases (scenarios) in it.
    pub cases: usize,
    /// Those that failed in some file.
    pub failing: usize,
}

/// Merge the JUnit files of a sharded run (`check --shard K/N --junit FILE` in each job
/// of a CI matrix): one test case per scenario (by file and name), its time summed over
/// the files and its failures gathered from all of them. Each file is read whole, at
/// most `max_bytes`; an unreadable or malformed file is an error naming it.
pub fn merge(files: &[PathBuf], max_bytes: u64) -> Result<Merged, String> {
    // Per scenario (file, name): its time over the files and each failure's message and
    // reports.
    type Failures = Vec<(String, String)>;
    let mut cases: BTreeMap<(String, String), (f64, Failures)> = BTreeMap::new();
    for file in files {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", file.display());
        let size = std::fs::metadata(file).map_err(|e| at(&e))?.len();
        if size > max_bytes {
            return Err(at(&format!(
                "{size} bytes, larger than the limit of {max_bytes} bytes for a JUnit file"
            )));
        }
        let text = std::fs::read_to_string(file).map_err(|e| at(&e))?;
        let doc = roxmltree::Document::parse(&text).map_err(|e| at(&e))?;
        for testcase in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
            let attr = |name: &str| testcase.attribute(name).unwrap_or_default().to_string();
            let seconds = testcase
                .attribute("time")
                .map_or(Ok(0.0), str::parse::<f64>)
                .map_err(|_| {
                    at(&format!(
                        "line {}: a testcase's time is not a number",
                        doc.text_pos_at(testcase.range().start).row
                    ))
                })?;
            let case = cases.entry((attr("classname"), attr("name"))).or_default();
            case.0 += seconds;
            for failure in testcase.children().filter(|n| n.has_tag_name("failure")) {
                case.1.push((
                    failure.attribute("message").unwrap_or_default().to_string(),
                    failure.text().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    let cases: Vec<TestCase> = cases
        .into_iter()
        .map(|((classname, name), (seconds, failures))| TestCase {
            classname,
            name,
            seconds,
            failure: (!failures.is_empty()).then(|| {
                let (messages, texts): (Vec<String>, Vec<String>) = failures.into_iter().unzip();
                (messages.join("; "), texts.join("\n"))
            }),
        })
        .collect();
    let failing = cases.iter().filter(|c| c.failure.is_some()).count();
    Ok(Merged {
        xml: write(&cases),
        cases: cases.len(),
        failing,
    })
}

/// Largest JUnit file `junit-merge` reads: 256 MiB.
const MAX_JUNIT_BYTES: u64 = 256 << 20;

/// `paceline junit-merge FILES --out OUT`.
pub fn run_merge(files: &[PathBuf], out: &Path) -> Outcome {
    let merged = match merge(files, MAX_JUNIT_BYTES) {
        Ok(m) => m,
        Err(e) => return Outcome::Refused(e),
    };
    if let Err(e) = std::fs::write(out, &merged.xml) {
        return Outcome::Refused(format!("cannot write {}: {e}", out.display()));
    }
    outln!(
        "merged {} into {}: {}, {} failing",
        counted(files.len() as u64, "file"),
        out.display(),
        counted(merged.cases as u64, "test case"),
        merged.failing
    );
    Outcome::of(merged.failing == 0)
}
