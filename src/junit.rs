//! JUnit XML for CI systems: one test case per scenario; a failure carries the failing
//! runs' reports, each ending with the command that reproduces it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use paceline_harness::Entry;
use paceline_trace::counted;

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

/// JUnit XML: one test case per scenario; a failure carries the failing runs' reports,
/// each ending with the command that reproduces it.
pub fn junit_xml(entries: &[Entry], results: &BTreeMap<usize, ScenarioResult>) -> String {
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
    for (&index, result) in results {
        let entry = &entries[index];
        let _ = write!(
            xml,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(&entry.path.display().to_string()),
            escape(&entry.name),
            result.seconds
        );
        if result.failures.is_empty() {
            xml.push_str("/>\n");
        } else {
            let _ = writeln!(
                xml,
                ">\n      <failure message=\"{} of {} failed\">{}</failure>\n    </testcase>",
                result.failures.len(),
                counted(result.runs, "run"),
                escape(&result.failures.join("\n"))
            );
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}
