//! A scenario run under the verifier: the simulator's trace streams into the checks
//! (and, if asked, into a CSV file) while a digest of its records is taken; a second run
//! with the same seed, beside the first, must give the same digest (I8).

use std::io::{self, Write};

use paceline_sim::{RunSummary, Scenario, simulate};
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
    /// A digest of the trace's records and their count, taken as they streamed by (the
    /// trace is never stored): equal traces give equal digests within a process, so a
    /// sweep counts the distinct timelines its seeds produced. `None` where only one run
    /// was made ([`judged_run`]).
    pub trace_digest: Option<(u64, u64)>,
}

/// A digest of every record of a trace as it streams by, and how many: the trace's CSV is
/// a function of its records, so equal digests stand for equal bytes without the text
/// being written (within a process: the mixing is fixed, not keyed).
#[derive(Debug, Default)]
struct RecordDigest {
    hash: u64,
    records: u64,
}

/// Three constants (digits of pi) that keep a folded multiply away from zero.
const K1: u64 = 0x243f_6a88_85a3_08d3;
const K2: u64 = 0x1319_8a2e_0370_7344;
const K3: u64 = 0xa409_3822_299f_31d0;

/// One 64 x 64 -> 128-bit multiply, its halves folded together (the step of foldhash
/// and wyhash).
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// One record's sixteen-byte blocks, each folded on its own with constants of its place in
/// the record and the results summed: the multiplies do not wait on each other, so a
/// record costs about one multiply's latency, not one per block.
#[derive(Default)]
struct Blocks {
    sum: u64,
    /// The next block's place in the record, times `K3`.
    place: u64,
}

impl Blocks {
    fn pair(&mut self, a: u64, b: u64) {
        let at = self.place;
        self.sum = self.sum.wrapping_add(fold(a ^ K1 ^ at, b ^ K2 ^ at));
        self.place = at.wrapping_add(K3);
    }

    /// Sixteen bytes as one block.
    fn block(&mut self, block: &[u8; 16]) {
        let both = u128::from_le_bytes(*block);
        self.pair(both as u64, (both >> 64) as u64);
    }

    /// Text, sixteen bytes a block; the last block of a text longer than sixteen bytes
    /// is its last sixteen bytes (overlapping the one before), and a shorter text is read
    /// the same way in words of eight, four or single bytes. Every byte is read, and with
    /// the length (which the caller folds in) the blocks spell the text.
    fn text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        if let Some(last) = bytes.last_chunk::<16>() {
            let (blocks, rest) = bytes.as_chunks::<16>();
            for block in blocks {
                self.block(block);
            }
            if !rest.is_empty() {
                self.block(last);
            }
        } else if let (Some(a), Some(b)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
            self.pair(u64::from_le_bytes(*a), u64::from_le_bytes(*b));
        } else if let (Some(a), Some(b)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
            self.pair(
                u64::from(u32::from_le_bytes(*a)),
                u64::from(u32::from_le_bytes(*b)),
            );
        } else if let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) {
            let middle = bytes.get(bytes.len() / 2).copied().unwrap_or(0);
            self.pair(
                u64::from(first) << 16 | u64::from(middle) << 8 | u64::from(last),
                0,
            );
        }
    }
}

impl RecordDigest {
    /// The hash and the number of records.
    fn fingerprint(&self) -> (u64, u64) {
        (self.hash, self.records)
    }
}

impl TraceSink for RecordDigest {
    fn record(&mut self, r: &TraceRecord<'_>) -> io::Result<()> {
        // Which optional fields are there, and the event, in one word.
        let present = u64::from(r.batch.is_some())
            | u64::from(r.row.is_some()) << 1
            | u64::from(r.attempt.is_some()) << 2
            | u64::from(r.delay_ms.is_some()) << 3;
        let event = r.event as u64;
        let mut blocks = Blocks::default();
        blocks.pair(
            r.t_us,
            present | event << 8 | u64::from(r.attempt.unwrap_or(0)) << 32,
        );
        blocks.pair(r.batch.unwrap_or(0), r.row.map_or(0, |row| row as u64));
        blocks.pair(r.delay_ms.map_or(0, f64::to_bits), self.records);
        // Most records have neither (an empty text adds no block): no call for them.
        if !r.id.is_empty() {
            blocks.text(r.id);
        }
        if !r.detail.is_empty() {
            blocks.text(r.detail);
        }
        // The lengths say where the id's blocks end and the detail's begin.
        blocks.pair(r.id.len() as u64, r.detail.len() as u64);
        // The records are chained: the same records in another order give another hash.
        self.hash = fold(self.hash ^ blocks.sum ^ K1, self.records ^ K2);
        self.records += 1;
        Ok(())
    }
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
        scope.spawn(|_| second = Some(trace_fingerprint(scenario, seed)));
        let mut digest = RecordDigest::default();
        let mut beside_checks = Tee(&mut digest, checked);
        let run = match trace {
            Some(out) => {
                let mut csv = CsvTrace::new(io::BufWriter::new(out))?;
                let mut beside_writer = Tee(written, &mut csv);
                let run =
                    verified_run(scenario, seed, Some(&mut beside_writer), &mut beside_checks)?;
                csv.finish()?.flush()?;
                run
            }
            None => verified_run(scenario, seed, None, &mut Tee(beside_checks, written))?,
        };
        io::Result::Ok((run, digest.fingerprint()))
    });
    let (mut run, first) = first?;
    within_budget(&run.summary)?;
    let second = second.unwrap_or_else(|| Err(io::Error::other("the second run did not end")))?;
    run.trace_digest = Some(first);
    run.report
        .set(Invariant::I8, determinism_verdict(seed, first, second));
    Ok(run)
}

/// The digest of the trace one run writes: what I8 compares.
fn trace_fingerprint(scenario: &Scenario, seed: u64) -> io::Result<(u64, u64)> {
    let mut digest = RecordDigest::default();
    simulate(scenario, seed, &mut digest)?;
    Ok(digest.fingerprint())
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
    let mut run = verified_run(scenario, seed, None, extra)?;
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
/// judged, and the exact expectations.
///
/// A run of [`SIDE_BY_SIDE_ROWS`] rows or more is a pipeline: the simulator on this
/// thread; the verifier, the recovery watch and `far` (the I8 digest, with the planning
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
) -> io::Result<CheckedRun> {
    let side_by_side = scenario.row_count() >= SIDE_BY_SIDE_ROWS;
    verified_run_in(scenario, seed, writer, far, side_by_side)
}

/// [`verified_run`], as a pipeline or on this thread alone.
fn verified_run_in<F: TraceSink + Send>(
    scenario: &Scenario,
    seed: u64,
    writer: Option<&mut (dyn TraceSink + Send)>,
    far: &mut F,
    side_by_side: bool,
) -> io::Result<CheckedRun> {
    let mut verifier = Verifier::new(rules_of(&scenario.pool), 0).with_complete_details();
    let mut watch = RecoveryWatch::new(scenario.expect.recovers);
    let mut judges = Tee(&mut verifier, Tee(&mut watch, far));
    let summary = match (side_by_side, writer) {
        (true, writer) => {
            let simulated = |sender: &mut ChunkSender<'_>| simulate(scenario, seed, sender);
            let mut judge = |_, record: &TraceRecord<'_>| judges.record(record);
            match writer {
                Some(writer) => {
                    let mut write = |_, record: &TraceRecord<'_>| writer.record(record);
                    pipeline_stages(simulated, &mut [&mut judge, &mut write])?
                }
                None => pipeline_stages(simulated, &mut [&mut judge])?,
            }
        }
        (false, Some(writer)) => simulate(scenario, seed, &mut Tee(&mut judges, writer))?,
        (false, None) => simulate(scenario, seed, &mut judges)?,
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
        trace_digest: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(records: &[TraceRecord<'_>]) -> (u64, u64) {
        let mut d = RecordDigest::default();
        for r in records {
            d.record(r).expect("in memory");
        }
        d.fingerprint()
    }

    /// Every byte of a text of any length is read, whichever word or block reads it, and
    /// the length counts: one byte changed, or one more byte, gives another digest.
    #[test]
    fn every_byte_of_a_text_counts() {
        let digest = |id: &str, detail: &str| {
            let mut d = RecordDigest::default();
            let record = TraceRecord {
                t_us: 1,
                event: paceline_trace::EventName::Emit,
                batch: Some(0),
                row: Some(0),
                id,
                attempt: None,
                delay_ms: Some(0.0),
                detail,
            };
            d.record(&record).expect("in memory");
            d.fingerprint()
        };
        for len in 0..50 {
            let text = "a".repeat(len);
            let base = digest("", &text);
            assert_ne!(base, digest("", &"a".repeat(len + 1)), "length {len}");
            if len > 0 {
                assert_ne!(base, digest(&text, ""), "the text in the id, length {len}");
            }
            for at in 0..len {
                let mut changed = text.clone().into_bytes();
                changed[at] = b'b';
                let changed = String::from_utf8(changed).expect("ASCII");
                assert_ne!(base, digest("", &changed), "byte {at} of {len}");
                assert_ne!(
                    digest(&text, ""),
                    digest(&changed, ""),
                    "id byte {at} of {len}"
                );
            }
        }
    }

    #[test]
    fn i8_fires_when_two_runs_differ() {
        let event = |row, id| TraceRecord {
            t_us: 0,
            event: paceline_trace::EventName::Dispatch,
            batch: Some(0),
            row: Some(row),
            id,
            attempt: Some(1),
            delay_ms: Some(0.0),
            detail: "",
        };
        let a = fingerprint(&[event(0, "A")]);
        let b = fingerprint(&[event(1, "B")]);
        // A byte moved from one field to the next makes another trace.
        let c = fingerprint(&[TraceRecord {
            detail: "x",
            ..event(0, "")
        }]);
        let d = fingerprint(&[TraceRecord {
            id: "x",
            ..event(0, "")
        }]);
        assert_ne!(c, d);
        // Texts that differ only past their ninth byte, or by a trailing byte, differ.
        let with_detail = |detail| {
            fingerprint(&[TraceRecord {
                detail,
                ..event(0, "")
            }])
        };
        assert_ne!(with_detail("ABCDEFGHI"), with_detail("ABCDEFGHI\u{3}"));
        assert_ne!(
            with_detail("ABCDEFGHIJKLMNOP"),
            with_detail("ABCDEFGHIJKLMNOQ")
        );
        // Blocks of one record summed, records chained: order counts at both levels.
        assert_ne!(
            with_detail("0123456789abcdefABCDEFGHIJKLMNOP"),
            with_detail("ABCDEFGHIJKLMNOP0123456789abcdef")
        );
        let (x, y) = (event(0, "A"), event(1, "B"));
        assert_ne!(fingerprint(&[x, y]), fingerprint(&[y, x]));
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
        let run = |side_by_side| {
            let (mut digest, mut far) = (RecordDigest::default(), RecordDigest::default());
            let run = verified_run_in(&scenario, 7, Some(&mut digest), &mut far, side_by_side)
                .expect("runs");
            (run, digest.fingerprint(), far.fingerprint())
        };
        let (alone, written_a, far_a) = run(false);
        let (piped, written_p, far_p) = run(true);
        assert_eq!(written_a, written_p);
        assert_eq!(far_a, far_p, "the far side saw every record in order");
        assert_eq!(written_a, far_a);
        assert!(written_a.1 > 3000 * 6, "{} records", written_a.1);
        assert_eq!(alone.summary, piped.summary);
        assert_eq!(format!("{:?}", alone.report), format!("{:?}", piped.report));
        assert_eq!(
            format!("{:?}", alone.liveness),
            format!("{:?}", piped.liveness)
        );
    }
}
