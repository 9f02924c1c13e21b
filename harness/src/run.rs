//! A scenario run under the verifier: the simulator's trace streams into the checks
//! (and, if asked, into a CSV file) while the simulator takes a digest of its records; a
//! second run with the same seed, beside the first, must give the same digest (I8). The
//! second run formats nothing: the simulator digests the pool's events as the records
//! they make ([`trace_digest`]).

use std::io::{self, Write};

use paceline_sim::{RunSummary, Scenario, simulate, simulate_digested, trace_digest};
use paceline_trace::{
    ChunkSender, CsvTrace, Ending, Invariant, NoTrace, Tee, TraceRecord, TraceSink, ms,
    pipeline_stages,
};
use paceline_verify::{Findings, Report, Verdict, Verifier, Violation};

use crate::config::{config_verdict, rules_of, table_of};
use crate::expect::{Mismatch, check_expectations};
use crate::recovery::RecoveryWatch;

/// Everything known about one scenario under one seed.
#[derive(Debug, Clone)]
pub struct CheckedRun {
    /// What the simulator did.
    pub summary: RunSummary,
    /// The verdict on every invariant.
    pub report: Report,
    /// Exact expectations (`dispatch_ms`, `results`, `outcomes`) the run missed.
    pub mismatches: Vec<Mismatch>,
    /// `expect.recovers`, if the run missed it: judged within the horizon, so it stands
    /// even for a run the horizon cut short.
    pub liveness: Option<Mismatch>,
    /// A digest of the trace's records and their count, taken as they were made (the
    /// trace is never stored): equal traces give equal digests within a process, so a
    /// sweep counts the distinct timelines its seeds produced. `None` where only one run
    /// was made ([`judged_run`]).
    pub trace_digest: Option<(u64, u64)>,
}

/// I8: two runs under one seed must write the same trace (the same records, so the same
/// bytes).
fn determinism_verdict(seed: u64, first: (u64, u64), second: (u64, u64)) -> Verdict {
    let mut findings = Findings::default();
    if first != second {
        findings.push(Violation {
            invariant: Invariant::I8,
            t_us: 0,
            rows: Vec::new(),
            message: format!(
                "two runs with seed {seed} wrote different traces ({} and {} events)",
                first.1, second.1
            ),
        });
    }
    findings.verdict(None)
}

/// `Err` naming the limit when a run was cut at its event budget: such a run is not a
/// verdict on the pool, and the harness refuses it as it refuses any input beyond a limit.
pub fn within_budget(summary: &RunSummary) -> io::Result<()> {
    match summary.ending {
        Ending::EventBudget { at_us, events } => Err(io::Error::other(format!(
            "{} (seed {}): the run reached its budget of {events} events at {} ms before it could end (raise it with --max-events)",
            summary.scenario,
            summary.seed,
            ms(at_us)
        ))),
        _ => Ok(()),
    }
}

/// Replay `scenario` under `seed` with every check on; the trace CSV also goes to
/// `trace` when given. A run cut at the scenario's event budget is an error
/// ([`within_budget`]).
pub fn check_run(
    scenario: &Scenario,
    seed: u64,
    trace: Option<&mut (dyn Write + Send)>,
) -> io::Result<CheckedRun> {
    check_run_with(scenario, seed, trace, &mut NoTrace, &mut NoTrace)
}

/// [`check_run`], with the first run's trace also streamed into two more sinks (the two
/// halves of a report, say): `checked` is fed beside the verifier and `written` beside
/// the CSV writer, each on a thread of its own in a large run (hence `Send`, and `trace`
/// too); without a CSV writer both are fed beside the verifier.
pub fn check_run_with<A: TraceSink + Send, B: TraceSink + Send>(
    scenario: &Scenario,
    seed: u64,
    trace: Option<&mut (dyn Write + Send)>,
    checked: &mut A,
    written: &mut B,
) -> io::Result<CheckedRun> {
    // The second run only digests its trace: it runs beside the first (on another core
    // when one is free), which carries the checks.
    let mut second = None;
    let first = rayon::in_place_scope(|scope| {
        scope.spawn(|_| second = Some(trace_digest(scenario, seed)));
        match trace {
            Some(out) => {
                let mut csv = CsvTrace::new(io::BufWriter::new(out))?;
                let mut beside_writer = Tee(written, &mut csv);
                let run = verified_run(scenario, seed, Some(&mut beside_writer), checked, true)?;
                csv.finish()?.flush()?;
                Ok(run)
            }
            None => verified_run(scenario, seed, None, &mut Tee(checked, written), true),
        }
    });
    let mut run = first?;
    within_budget(&run.summary)?;
    let second = second.unwrap_or_else(|| Err(io::Error::other("the second run did not end")))?;
    // Asked for above; never a default that would make two runs agree.
    let first = run
        .trace_digest
        .ok_or_else(|| io::Error::other("the first run took no digest"))?;
    run.report
        .set(Invariant::I8, determinism_verdict(seed, first, second));
    Ok(run)
}

/// One run under the verifier, its trace also streamed into `extra`: every invariant but
/// I8, which needs a second run (reported skipped). For searches that make many runs
/// and judge each by what it did (`tune`); `extra` is `Send` for the reason
/// [`check_run_with`] gives.
pub fn judged_run<S: TraceSink + Send>(
    scenario: &Scenario,
    seed: u64,
    extra: &mut S,
) -> io::Result<CheckedRun> {
    let mut run = verified_run(scenario, seed, None, extra, false)?;
    within_budget(&run.summary)?;
    run.report.set(
        Invariant::I8,
        Verdict::Skipped {
            reason: "one run per seed here: determinism is checked by replay and check".into(),
        },
    );
    Ok(run)
}

/// Runs of at least this many rows judge their trace on a thread of their own, beside
/// the simulator (see [`verified_run`]); smaller runs are not worth a thread.
pub const SIDE_BY_SIDE_ROWS: u64 = 20_000;

/// Simulate with the verifier and `far` on the trace, and `writer` too; I1-I7 and I9
/// judged, and the exact expectations; the trace's digest taken if `digest`.
///
/// A run of [`SIDE_BY_SIDE_ROWS`] rows or more is a pipeline: the simulator on this
/// thread (with the I8 digest); the verifier, the recovery watch and `far` (the planning
/// figures in a replay) on a second; `writer` (the CSV writer, with the charts' data in a
/// replay), if any, on a third; records passing in bounded chunks. Where cores are free
/// the stages overlap (so `far` and `writer` must be `Send`); measured on a million rows,
/// the writer and the file system's copy of its bytes were a third of the simulator's
/// thread when they shared it. Either way every sink sees every record in order until a
/// sink refuses one; in a pipeline the verifier's side may by then have taken in a few
/// chunks more than the writer's, and of two refusals in one chunk the verifier's side's
/// wins (one record at a time, the earlier record's would).
fn verified_run<F: TraceSink + Send>(
    scenario: &Scenario,
    seed: u64,
    writer: Option<&mut (dyn TraceSink + Send)>,
    far: &mut F,
    digest: bool,
) -> io::Result<CheckedRun> {
    let side_by_side = scenario.row_count() >= SIDE_BY_SIDE_ROWS;
    verified_run_in(scenario, seed, writer, far, side_by_side, digest)
}

/// Simulate into `sink`, with the trace's digest if `digest`.
fn simulate_into<S: TraceSink>(
    scenario: &Scenario,
    seed: u64,
    sink: &mut S,
    digest: bool,
) -> io::Result<(RunSummary, Option<(u64, u64)>)> {
    if digest {
        simulate_digested(scenario, seed, sink).map(|(summary, d)| (summary, Some(d)))
    } else {
        simulate(scenario, seed, sink).map(|summary| (summary, None))
    }
}

/// [`verified_run`], as a pipeline or on this thread alone.
fn verified_run_in<F: TraceSink + Send>(
    scenario: &Scenario,
    seed: u64,
    writer: Option<&mut (dyn TraceSink + Send)>,
    far: &mut F,
    side_by_side: bool,
    digest: bool,
) -> io::Result<CheckedRun> {
    let mut verifier = Verifier::new(rules_of(&scenario.pool), 0).with_complete_details();
    let mut watch = RecoveryWatch::new(scenario.expect.recovers);
    let mut judges = Tee(&mut verifier, Tee(&mut watch, far));
    let (summary, trace_digest) = match (side_by_side, writer) {
        (true, writer) => {
            let simulated =
                |sender: &mut ChunkSender<'_>| simulate_into(scenario, seed, sender, digest);
            let mut judge = |_, record: &TraceRecord<'_>| judges.record(record);
            match writer {
                Some(writer) => {
                    let mut write = |_, record: &TraceRecord<'_>| writer.record(record);
                    pipeline_stages(simulated, &mut [&mut judge, &mut write])?
                }
                None => pipeline_stages(simulated, &mut [&mut judge])?,
            }
        }
        (false, Some(writer)) => {
            simulate_into(scenario, seed, &mut Tee(&mut judges, writer), digest)?
        }
        (false, None) => simulate_into(scenario, seed, &mut judges, digest)?,
    };
    let mut report = verifier.finish(Some(&summary.ending));
    report.set(
        Invariant::I9,
        config_verdict(&table_of(&scenario.pool), true),
    );
    let mismatches = check_expectations(scenario, &summary);
    Ok(CheckedRun {
        summary,
        report,
        mismatches,
        liveness: watch.finish(),
        trace_digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i8_fires_when_two_runs_differ() {
        let (a, b) = ((1, 10), (2, 10));
        assert!(matches!(determinism_verdict(3, a, a), Verdict::Held { .. }));
        match determinism_verdict(3, a, b) {
            Verdict::Violated { first, .. } => assert!(first[0].message.contains("seed 3")),
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn a_pipelined_run_judges_and_digests_exactly_as_a_run_on_one_thread() {
        // Capacity errors with waits, a client budget and a recovery expectation: every
        // check and the watch have something to say.
        let text = r#"
name = "both-ways"
description = "the same run judged on one thread and in a pipeline"
[pool]
pool_size = 4
requests_per_minute = 6000
honour_retry_after = true
[service]
latency_ms = { min = 5, max = 40 }
capacity_rate = 0.05
[[service.limits]]
requests = 5000
per_ms = 60000
retry_after = "ms"
[[batches]]
generate = { count = 3000 }
[[batches]]
at_ms = 1000
rows = [{ id = "A" }, { id = "B", attempts = ["capacity", "ok"] }]
[expect]
recovers = { after_ms = 0, within_ms = 60000, rows_per_min = 10 }
"#;
        let scenario = Scenario::parse(std::path::Path::new("both-ways.toml"), text)
            .expect("a valid scenario");
        let csv = || CsvTrace::new(Vec::new()).expect("in memory");
        let run = |side_by_side| {
            let (mut written, mut far) = (csv(), csv());
            let run = verified_run_in(
                &scenario,
                7,
                Some(&mut written),
                &mut far,
                side_by_side,
                true,
            )
            .expect("runs");
            let bytes = |sink: CsvTrace<Vec<u8>>| sink.finish().expect("in memory");
            (run, bytes(written), bytes(far))
        };
        let (alone, written_a, far_a) = run(false);
        let (piped, written_p, far_p) = run(true);
        assert_eq!(written_a, written_p);
        assert_eq!(far_a, far_p, "the far side saw every record in order");
        assert_eq!(written_a, far_a);
        let records = written_a.iter().filter(|&&b| b == b'\n').count() as u64 - 1;
        assert!(records > 3000 * 6, "{records} records");
        // The digest counts every record written, taken in a pipeline or not, and a run
        // that formats nothing takes the same.
        let digest = alone.trace_digest.expect("asked for");
        assert_eq!(digest.1, records);
        assert_eq!(piped.trace_digest, Some(digest));
        assert_eq!(trace_digest(&scenario, 7).expect("runs"), digest);
        assert_ne!(trace_digest(&scenario, 8).expect("runs"), digest);
        assert_eq!(alone.summary, piped.summary);
        assert_eq!(format!("{:?}", alone.report), format!("{:?}", piped.report));
        assert_eq!(
            format!("{:?}", alone.liveness),
            format!("{:?}", piped.liveness)
        );
    }
}
