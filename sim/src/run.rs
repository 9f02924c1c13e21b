//! The discrete-event simulator: a scenario, a seed, and the core's [`Pool`] on virtual
//! time.
//!
//! The simulator owns only what is outside the pool: the clock (the event queue), the
//! simulated API, batch calls and shutdowns from the scenario, and the trace. Every rule
//! (gate, throttle, permits, budgets, ordering) is the pool's own. The run ends when
//! every batch has been called and has ended (quiescence), when nothing is left to happen
//! but rows remain (a deadlock), or at the horizon with work still scheduled (unfinished).

use paceline_core::Waiting;
use paceline_core::{BatchId, BatchStats, EventKind, Outcome, Pool};
use std::collections::BTreeMap;
use std::io;

use paceline_trace::{Ending, ResultKind, Stuck, TraceSink};

use crate::queue::EventQueue;
use crate::record::{record_of, result_kind};
use crate::scenario::Scenario;
use crate::service::Service;
use crate::time::{ceil_us, time, us};

/// What a run did, for summaries and expectations.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub scenario: String,
    pub seed: u64,
    pub rows: u64,
    pub events: u64,
    pub dispatches: u64,
    /// Dispatches of a second or later attempt.
    pub retries: u64,
    pub outcomes: BTreeMap<ResultKind, u64>,
    pub final_delay_ms: f64,
    /// Virtual time of the last event.
    pub end_us: u64,
    /// Statistics of each batch, in scenario order, for batches that ended.
    pub batch_stats: Vec<Option<BatchStats>>,
    pub ending: Ending,
    /// Dispatch times of rows with an id, in microseconds.
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
        outcome: Outcome,
        status: Option<u16>,
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
    Simulation::new(scenario, seed).run(sink)
}

struct Simulation<'s> {
    scenario: &'s Scenario,
    pool: Pool,
    queue: EventQueue<SimEvent>,
    service: Service<'s>,
    /// Scenario batch index of each pool batch id, in call order.
    batch_of: Vec<usize>,
    wake_at: Option<u64>,
    /// Pool events at the current instant, and how many make a livelock.
    same_instant: (u64, u64),
    livelock_at: u64,
    summary: RunSummary,
    detail: String,
}

impl<'s> Simulation<'s> {
    fn new(scenario: &'s Scenario, seed: u64) -> Self {
        let mut queue = EventQueue::new(seed);
        for (i, batch) in scenario.batches.iter().enumerate() {
            queue.push(batch.at_us, SimEvent::CallBatch(i));
        }
        for &at in &scenario.shutdowns_us {
            queue.push(at, SimEvent::Shutdown);
        }
        let pool = Pool::new(scenario.pool.clone());
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
        }
    }

    fn run<S: TraceSink>(mut self, sink: &mut S) -> io::Result<RunSummary> {
        let total_batches = self.scenario.batches.len();
        loop {
            if self.batch_of.len() == total_batches && self.pool.is_idle() {
                break;
            }
            let Some((at, event)) = self.queue.pop() else {
                let waiting = self.stuck();
                self.summary.ending = Ending::Deadlock {
                    at_us: self.summary.end_us,
                    waiting,
                };
                break;
            };
            if at > self.scenario.horizon_us {
                let waiting = self.stuck();
                self.summary.ending = Ending::Unfinished {
                    horizon_us: self.scenario.horizon_us,
                    waiting,
                };
                break;
            }
            self.summary.end_us = at;
            let now = time(at);
            match event {
                SimEvent::CallBatch(i) => {
                    let rows = &self.scenario.batches[i].rows;
                    let ready = (0..rows.len()).map(|r| time(rows.ready_us(r))).collect();
                    self.pool.call_batch(now, ready);
                    self.batch_of.push(i);
                }
                SimEvent::Answer {
                    batch,
                    row,
                    outcome,
                    status,
                } => {
                    // The pool dispatched this attempt and nothing else answers it.
                    let _ = self.pool.attempt_done(now, batch, row, outcome, status);
                }
                SimEvent::Shutdown => self.pool.shutdown(now),
                SimEvent::Wake => {
                    if self.wake_at == Some(at) {
                        self.wake_at = None;
                    }
                }
            }
            self.drain(at, sink)?;
            if self.same_instant.1 > self.livelock_at {
                self.summary.ending = Ending::Livelock {
                    at_us: at,
                    events: self.same_instant.1,
                };
                break;
            }
            if let Some(wake) = self.pool.next_wake().map(ceil_us)
                && wake > at
                && self.wake_at.is_none_or(|w| wake < w)
            {
                self.queue.push(wake, SimEvent::Wake);
                self.wake_at = Some(wake);
            }
        }
        self.summary.final_delay_ms = self.pool.delay_ms();
        Ok(self.summary)
    }

    /// Act on every event the pool has at `at_us`.
    fn drain<S: TraceSink>(&mut self, at_us: u64, sink: &mut S) -> io::Result<()> {
        let now = time(at_us);
        if self.same_instant.0 != at_us {
            self.same_instant = (at_us, 0);
        }
        while let Some(event) = self.pool.poll(now) {
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
            sink.record(&record_of(&event, us(event.at), id, &mut self.detail))?;
            match &event.kind {
                EventKind::Dispatch => {
                    let (Some(row), Some(attempt)) = (event.row, event.attempt) else {
                        continue;
                    };
                    self.summary.dispatches += 1;
                    if attempt > 1 {
                        self.summary.retries += 1;
                    }
                    if !id.is_empty() {
                        self.summary
                            .dispatch_us
                            .entry(id.to_string())
                            .or_default()
                            .push(at_us);
                    }
                    let answer = self.service.answer(at_us, rows.script(row, attempt));
                    self.queue.push(
                        at_us.saturating_add(answer.latency_us),
                        SimEvent::Answer {
                            batch: event.batch,
                            row,
                            outcome: answer.outcome,
                            status: answer.status,
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

    fn stuck(&self) -> Vec<Stuck> {
        let mut stuck: Vec<Stuck> = self
            .pool
            .waiting()
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
        // Batches never called still have every row to do.
        for batch in 0..self.scenario.batches.len() {
            if !self.batch_of.contains(&batch) {
                let rows = &self.scenario.batches[batch].rows;
                stuck.extend((0..rows.len()).map(|row| Stuck {
                    batch,
                    row,
                    id: rows.id(row).to_string(),
                    waiting_for: "its batch to be called".to_string(),
                }));
            }
        }
        stuck
    }
}
