//! The discrete-event simulator: a scenario, a seed, and the core's [`Pool`] on virtual
//! time.
//!
//! The simulator owns only what is outside the pool: the clock (the event queue), the
//! simulated API, batch calls and shutdowns from the scenario, and the trace. Every rule
//! (gate, throttle, permits, budgets, ordering) is the pool's own. The run ends when
//! every batch has been called and has ended (quiescence), when nothing is left to happen
//! but rows remain (a deadlock), at the horizon with work still scheduled (unfinished), or
//! when it reaches the scenario's event budget (cut). Memory does not grow with events:
//! dispatch times are kept per row id only up to [`DISPATCH_TIMES_KEPT`] (or one more
//! than an expectation lists).

use paceline_core::Waiting;
use paceline_core::{ApiAnswer, BatchId, BatchRows, BatchStats, Cause, EventKind, Pool};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use paceline_trace::{Ending, NoTrace, ResultKind, STUCK_LISTED, Stuck, TraceSink};

use crate::digest::EventDigest;
use crate::queue::EventQueue;
use crate::races::SeededRaces;
use crate::record::{record_of, result_kind};
use crate::scenario::{Rows, Scenario, ServiceModel};
use crate::service::{Answer, RowLoad, Service, draw};
use crate::time::{ceil_us, time, us};

/// Dispatch times kept per row id: enough for any expectation (one more than it lists,
/// if it lists more) to tell a match from a mismatch, without growing with a retry storm.
pub const DISPATCH_TIMES_KEPT: usize = 10_000;

/// What a run did, for summaries and expectations.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The scenario's name.
    pub scenario: String,
    /// The seed the run used.
    pub seed: u64,
    /// Rows over all batches.
    pub rows: u64,
    /// Events of the pool.
    pub events: u64,
    /// Attempts dispatched.
    pub dispatches: u64,
    /// Dispatches of a second or later attempt.
    pub retries: u64,
    /// Rows per final result.
    pub outcomes: BTreeMap<ResultKind, u64>,
    /// The throttle's `D` when the run ended.
    pub final_delay_ms: f64,
    /// Virtual time of the last event.
    pub end_us: u64,
    /// Statistics of each batch, in scenario order, for batches that ended.
    pub batch_stats: Vec<Option<BatchStats>>,
    /// How the run ended.
    pub ending: Ending,
    /// Dispatch times of rows with an id, in microseconds: the first
    /// [`DISPATCH_TIMES_KEPT`] of each row (more where an expectation lists more).
    pub dispatch_us: BTreeMap<String, Vec<u64>>,
    /// Final results of rows with an id.
    pub results: BTreeMap<String, ResultKind>,
}

#[derive(Debug, Clone, Copy)]
enum SimEvent {
    CallBatch(usize),
    Answer {
        batch: BatchId,
        row: usize,
        answer: Answer,
    },
    Shutdown,
    Wake,
}

/// Replay `scenario` under `seed`, writing every event to `sink`.
pub fn simulate<S: TraceSink>(
    scenario: &Scenario,
    seed: u64,
    sink: &mut S,
) -> io::Result<RunSummary> {
    Ok(Simulation::new(scenario, seed).run(sink)?.0)
}

/// [`simulate`], and a digest of the trace written: its hash and its number of records.
/// Equal digests stand for equal trace bytes within a process: I8 compares two runs'.
pub fn simulate_digested<S: TraceSink>(
    scenario: &Scenario,
    seed: u64,
    sink: &mut S,
) -> io::Result<(RunSummary, (u64, u64))> {
    digested(scenario, seed, sink, true)
}

/// The digest [`simulate_digested`] gives, taken from the pool's events with no record
/// formatted: for a run that only checks another's determinism, at the cost of the
/// simulation alone.
pub fn trace_digest(scenario: &Scenario, seed: u64) -> io::Result<(u64, u64)> {
    Ok(digested(scenario, seed, &mut NoTrace, false)?.1)
}

/// A run that digests its records, and formats them for `sink` if `formats`.
fn digested<S: TraceSink>(
    scenario: &Scenario,
    seed: u64,
    sink: &mut S,
    formats: bool,
) -> io::Result<(RunSummary, (u64, u64))> {
    let mut run = Simulation::new(scenario, seed);
    run.digest = Some(EventDigest::default());
    run.formats = formats;
    let (summary, digest) = run.run(sink)?;
    // A run given a digest hands it back: `run` only reads it out.
    Ok((summary, digest.expect("the digest given to the run")))
}

struct Simulation<'s> {
    scenario: &'s Scenario,
    pool: Pool,
    queue: EventQueue<SimEvent>,
    service: Service<&'s ServiceModel>,
    /// Scenario batch index of each pool batch id, in call order.
    batch_of: Vec<usize>,
    /// The earliest wake-up scheduled: (time, cause).
    wake_at: Option<(u64, u64)>,
    /// Pool events at the current instant, and how many make a livelock.
    same_instant: (u64, u64),
    livelock_at: u64,
    summary: RunSummary,
    detail: String,
    /// What refused the answer just handed to the pool: (batch, row, limit name).
    refused: Option<(BatchId, usize, &'static str)>,
    /// Draws generated rows' tokens.
    tokens_rng: ChaCha8Rng,
    /// The digest of the records, where asked for.
    digest: Option<EventDigest>,
    /// Whether records are formatted for the sink (not when only digested).
    formats: bool,
}

impl<'s> Simulation<'s> {
    fn new(scenario: &'s Scenario, seed: u64) -> Self {
        let mut queue = EventQueue::new(seed);
        for (i, batch) in scenario.batches.iter().enumerate() {
            queue.push(batch.at_us, 0, SimEvent::CallBatch(i));
        }
        for &at in &scenario.shutdowns_us {
            queue.push(at, 0, SimEvent::Shutdown);
        }
        let mut pool = Pool::new(scenario.pool.clone());
        if let Some(races) = SeededRaces::new(seed, scenario.timer_slack_us) {
            pool = pool.with_races(Box::new(races));
        }
        Simulation {
            summary: RunSummary {
                scenario: scenario.name.clone(),
                seed,
                rows: scenario.row_count(),
                events: 0,
                dispatches: 0,
                retries: 0,
                outcomes: ResultKind::ALL.into_iter().map(|k| (k, 0)).collect(),
                final_delay_ms: pool.delay_ms(),
                end_us: 0,
                batch_stats: vec![None; scenario.batches.len()],
                ending: Ending::Quiescent,
                dispatch_us: BTreeMap::new(),
                results: BTreeMap::new(),
            },
            scenario,
            pool,
            queue,
            service: Service::new(&scenario.service, seed),
            batch_of: Vec::with_capacity(scenario.batches.len()),
            wake_at: None,
            same_instant: (0, 0),
            // Generous: a row has a handful of events per instant in a healthy pool.
            livelock_at: scenario
                .row_count()
                .saturating_mul(16)
                .saturating_add(10_000),
            detail: String::new(),
            refused: None,
            tokens_rng: {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                // Apart from the service's and the queue's draws under the same seed.
                rng.set_stream(2);
                rng
            },
            digest: None,
            formats: true,
        }
    }

    fn row_load(&self, batch: usize, row: usize) -> RowLoad {
        match self.scenario.batches.get(batch) {
            Some(spec) => row_load(&spec.rows, &self.tokens_rng, batch, row),
            None => RowLoad::default(),
        }
    }

    /// Batch `i`'s rows as the pool takes them: generated rows described (nothing stored
    /// per row; tokens drawn when the pool asks), listed rows listed.
    fn batch_rows(&self, i: usize) -> BatchRows {
        let rows = &self.scenario.batches[i].rows;
        match rows {
            Rows::Generated {
                count,
                ready_every_us,
                tokens,
                ..
            } => {
                let paced = BatchRows::paced(*count, Duration::from_micros(*ready_every_us));
                if tokens.is_none() {
                    return paced;
                }
                // Generated rows hold no per-row data: the clone is a few numbers.
                let spec = rows.clone();
                let rng = self.tokens_rng.clone();
                paced.with_tokens(move |row| row_load(&spec, &rng, i, row).tokens)
            }
            Rows::Listed(_) => {
                let ready = (0..rows.len()).map(|r| time(rows.ready_us(r))).collect();
                let tokens = rows.counts_tokens().then(|| {
                    (0..rows.len())
                        .map(|r| self.row_load(i, r).tokens)
                        .collect()
                });
                BatchRows::listed(ready, tokens)
            }
        }
    }

    /// The run to its end: its summary, and its digest where one was asked for.
    fn run<S: TraceSink>(mut self, sink: &mut S) -> io::Result<(RunSummary, Option<(u64, u64)>)> {
        let total_batches = self.scenario.batches.len();
        loop {
            if self.batch_of.len() == total_batches && self.pool.is_idle() {
                break;
            }
            let Some((at, event)) = self.queue.pop() else {
                let (waiting, left) = self.stuck();
                self.summary.ending = Ending::Deadlock {
                    at_us: self.summary.end_us,
                    waiting,
                    left,
                };
                break;
            };
            if at > self.scenario.horizon_us {
                let (waiting, left) = self.stuck();
                self.summary.ending = Ending::Unfinished {
                    horizon_us: self.scenario.horizon_us,
                    waiting,
                    left,
                };
                break;
            }
            self.summary.end_us = at;
            let now = time(at);
            match event {
                SimEvent::CallBatch(i) => {
                    let rows = self.batch_rows(i);
                    self.pool.call_batch_rows(now, rows);
                    self.batch_of.push(i);
                }
                SimEvent::Answer { batch, row, answer } => {
                    self.refused = answer.refused_by.map(|by| (batch, row, by));
                    let reply = ApiAnswer::new(answer.outcome)
                        .with_status(answer.status)
                        .with_retry_after(answer.retry_after_ms.map(Duration::from_millis));
                    // The pool dispatched this attempt and nothing else answers it.
                    let _ = self.pool.attempt_done(now, batch, row, reply);
                }
                SimEvent::Shutdown => self.pool.shutdown(now),
                SimEvent::Wake => {
                    if self.wake_at.is_some_and(|(w, _)| w == at) {
                        self.wake_at = None;
                    }
                }
            }
            self.drain(at, sink)?;
            if matches!(self.summary.ending, Ending::EventBudget { .. }) {
                break;
            }
            if self.same_instant.1 > self.livelock_at {
                self.summary.ending = Ending::Livelock {
                    at_us: at,
                    events: self.same_instant.1,
                };
                break;
            }
            if let Some((wake, cause)) = self
                .pool
                .next_wake_caused(now)
                .map(|w| (ceil_us(w.at), cause_key(w.cause)))
                && wake > at
                && self.wake_at.is_none_or(|w| (wake, cause) < w)
            {
                self.queue.push(wake, cause, SimEvent::Wake);
                self.wake_at = Some((wake, cause));
            }
        }
        self.summary.final_delay_ms = self.pool.delay_ms();
        Ok((self.summary, self.digest.map(|d| d.fingerprint())))
    }

    /// Act on every event the pool has at `at_us`.
    fn drain<S: TraceSink>(&mut self, at_us: u64, sink: &mut S) -> io::Result<()> {
        let now = time(at_us);
        if self.same_instant.0 != at_us {
            self.same_instant = (at_us, 0);
        }
        while let Some(event) = self.pool.poll(now) {
            if self.summary.events >= self.scenario.max_events {
                self.summary.ending = Ending::EventBudget {
                    at_us,
                    events: self.scenario.max_events,
                };
                return Ok(());
            }
            self.summary.events += 1;
            self.same_instant.1 += 1;
            if self.same_instant.1 > self.livelock_at {
                return Ok(());
            }
            let index = self
                .batch_of
                .get(event.batch as usize)
                .copied()
                .unwrap_or(0);
            let rows = &self.scenario.batches[index].rows;
            let id = event.row.map_or("", |r| rows.id(r));
            // What refused an answer, for the answer's own record only.
            let refused_by = match (&event.kind, self.refused) {
                (EventKind::Answer { .. }, Some((b, r, by)))
                    if b == event.batch && Some(r) == event.row =>
                {
                    self.refused = None;
                    Some(by)
                }
                _ => None,
            };
            let t_us = us(event.at);
            if let Some(digest) = &mut self.digest {
                digest.event(&event, t_us, id, refused_by);
            }
            if self.formats {
                sink.record(&record_of(&event, t_us, id, refused_by, &mut self.detail))?;
            }
            match &event.kind {
                EventKind::Dispatch { .. } => {
                    let (Some(row), Some(attempt)) = (event.row, event.attempt) else {
                        continue;
                    };
                    self.summary.dispatches += 1;
                    if attempt > 1 {
                        self.summary.retries += 1;
                    }
                    if !id.is_empty() {
                        let kept = self
                            .scenario
                            .expect
                            .dispatch_ms
                            .get(id)
                            .map_or(0, |expected| expected.len() + 1)
                            .max(DISPATCH_TIMES_KEPT);
                        let times = self.summary.dispatch_us.entry(id.to_string()).or_default();
                        if times.len() < kept {
                            times.push(at_us);
                        }
                    }
                    let load = self.row_load(index, row);
                    let answer = self.service.answer(at_us, rows.script(row, attempt), load);
                    self.queue.push(
                        at_us.saturating_add(answer.latency_us),
                        answer_cause(at_us),
                        SimEvent::Answer {
                            batch: event.batch,
                            row,
                            answer,
                        },
                    );
                }
                EventKind::Emit(meta) => {
                    let kind = result_kind(meta.end);
                    *self.summary.outcomes.entry(kind).or_default() += 1;
                    if !id.is_empty() {
                        self.summary.results.insert(id.to_string(), kind);
                    }
                }
                EventKind::BatchEnd(stats) => {
                    if let Some(slot) = self.summary.batch_stats.get_mut(index) {
                        *slot = Some(**stats);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The first rows left (at most [`STUCK_LISTED`]) and how many are left in all.
    fn stuck(&self) -> (Vec<Stuck>, u64) {
        let mut stuck: Vec<Stuck> = self
            .pool
            .waiting_first(STUCK_LISTED)
            .into_iter()
            .map(|w: Waiting| {
                let batch = self.batch_of.get(w.batch as usize).copied().unwrap_or(0);
                Stuck {
                    batch,
                    row: w.row,
                    id: self.scenario.batches[batch].rows.id(w.row).to_string(),
                    waiting_for: w.state.to_string(),
                }
            })
            .collect();
        let mut left = self.pool.rows_left();
        // Batches never called still have every row to do.
        let called: std::collections::BTreeSet<usize> = self.batch_of.iter().copied().collect();
        for batch in 0..self.scenario.batches.len() {
            if !called.contains(&batch) {
                let rows = &self.scenario.batches[batch].rows;
                left += rows.len() as u64;
                let room = STUCK_LISTED.saturating_sub(stuck.len());
                stuck.extend((0..rows.len()).take(room).map(|row| Stuck {
                    batch,
                    row,
                    id: rows.id(row).to_string(),
                    waiting_for: "its batch to be called".to_string(),
                }));
            }
        }
        (stuck, left)
    }
}

/// A row's tokens: as written, or drawn from the run's seed (`base`) on the row's own
/// stream, so every attempt of a row (and the pool's budget) sees the same numbers.
fn row_load(rows: &Rows, base: &ChaCha8Rng, batch: usize, row: usize) -> RowLoad {
    let (tokens, output_tokens) = rows.tokens(row, &mut |d, stream| {
        let mut rng = base.clone();
        rng.set_stream(((batch as u64) << 44) ^ stream ^ (1 << 63));
        draw(d, &mut rng)
    });
    RowLoad {
        tokens,
        output_tokens,
    }
}

/// Under seed 0, simultaneous events happen in the order they were caused. A key per
/// cause, four to a microsecond so that within the instant of causing the gate's alarm
/// comes first, then a row's readiness (caused when its batch started), then a timer
/// (caused when armed), then an answer (caused by its dispatch): a dispatch at `t`
/// follows the batch start and the failures handled at `t`.
fn cause_key(cause: Cause) -> u64 {
    match cause {
        Cause::Gate => 0,
        Cause::Ready(at) => us(at).saturating_mul(4).saturating_add(1),
        Cause::Timer(at) => us(at).saturating_mul(4).saturating_add(2),
    }
}

/// The cause key of an answer to an attempt dispatched at `dispatched_us`.
fn answer_cause(dispatched_us: u64) -> u64 {
    dispatched_us.saturating_mul(4).saturating_add(3)
}
