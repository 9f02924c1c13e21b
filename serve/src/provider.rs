//! The provider behind the endpoint: the scenario's `[service]` (paceline-sim's
//! `Service`) on a clock that runs `speed` times wall time, deciding answers one request
//! at a time in arrival order, and recording each request and answer in the trace.
//!
//! Times: the service decides on *virtual* time (wall time since the server started,
//! times `speed`), so phases, limit windows and latencies follow the scenario's timeline;
//! everything on the wire and in the trace is *wall* time, as the client lives it: a
//! latency is slept for `latency / speed`, a wait `R` is sent as `R / speed` (rounded up
//! to the millisecond), and trace times are wall microseconds since the server started.
//! At `speed = 1` the two coincide.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paceline_core::Outcome;
use paceline_sim::{Distribution, Remaining, RowLoad, Rows, Scenario, Service, ServiceModel};
use paceline_trace::{DetailWriter, EventName, SERVER_VANTAGE, TraceRow, key};

use crate::recorder::Recorder;
use crate::request::Call;

/// What the server did, counted as it went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Chat completion requests answered by the provider model (bad requests excluded).
    pub requests: u64,
    /// Answers by HTTP status (200 for successes).
    pub by_status: BTreeMap<u16, u64>,
    /// Requests refused as unreadable (400), at a wrong path (404) or method (405).
    pub bad_requests: u64,
    /// Records written to the trace.
    pub trace_records: u64,
}

/// One request's answer as decided at its arrival, in wall units.
#[derive(Debug, Clone)]
pub(crate) struct Decided {
    /// The request's number: its `row` in the trace.
    pub number: usize,
    pub outcome: Outcome,
    pub status: u16,
    /// How long to wait before answering (the model's latency / speed).
    pub latency: Duration,
    /// The wait sent back, wall milliseconds, where the answer asks for one.
    pub retry_after_ms: Option<u64>,
    /// `requests`, `tokens` or `outage`: what refused it, if anything did.
    pub refused_by: Option<&'static str>,
    /// What the limits in force had left after this request.
    pub remaining: Remaining,
    pub tokens: u64,
    pub output_tokens: u64,
}

/// The provider's state, behind one lock.
pub(crate) struct Provider {
    service: Service<Arc<ServiceModel>>,
    /// Drawn for a request that does not say its output tokens.
    output_tokens: Option<Distribution>,
    origin: Instant,
    speed: f64,
    next: usize,
    recorder: Recorder,
    summary: Summary,
    detail: String,
}

impl Provider {
    /// The provider of `scenario` under `seed`, its clock starting now; the trace's
    /// first record (`batch_start` saying the trace is the server's) is written at once.
    pub(crate) fn new(scenario: &Scenario, seed: u64, speed: f64, recorder: Recorder) -> Self {
        let output_tokens = scenario.batches.iter().find_map(|b| match &b.rows {
            Rows::Generated { output_tokens, .. } => *output_tokens,
            Rows::Listed(_) => None,
        });
        let mut detail = String::new();
        DetailWriter::new(&mut detail).text(key::VANTAGE, SERVER_VANTAGE);
        recorder.record(TraceRow {
            t_us: 0,
            event: EventName::BatchStart,
            batch: Some(0),
            row: None,
            id: String::new(),
            attempt: None,
            delay_ms: None,
            detail: detail.clone(),
        });
        Provider {
            service: Service::new(Arc::new(scenario.service.clone()), seed),
            output_tokens,
            origin: Instant::now(),
            speed,
            next: 0,
            recorder,
            summary: Summary::default(),
            detail,
        }
    }

    fn wall_us(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// A request arrived: number it, record its dispatch, and decide its answer as of
    /// now on the scenario's timeline.
    pub(crate) fn arrive(&mut self, call: &Call) -> Decided {
        let wall_us = self.wall_us();
        // Exact in f64 up to 2^53 us (285 years of wall time at speed 1).
        let virtual_us = (wall_us as f64 * self.speed) as u64;
        let number = self.next;
        self.next += 1;
        self.summary.requests += 1;
        DetailWriter::new(&mut self.detail).int(key::TOKENS, call.tokens);
        self.recorder.record(TraceRow {
            t_us: wall_us,
            event: EventName::Dispatch,
            batch: Some(0),
            row: Some(number),
            id: call.id.clone(),
            attempt: Some(call.attempt),
            delay_ms: None,
            detail: self.detail.clone(),
        });
        let output_tokens = match (call.output_tokens, &self.output_tokens) {
            (Some(n), _) => n,
            (None, Some(d)) => self.service.draw(d),
            (None, None) => 0,
        };
        let load = RowLoad {
            tokens: call.tokens,
            output_tokens,
        };
        let answer = self.service.answer(virtual_us, None, load);
        let status = match answer.outcome {
            Outcome::Ok => 200,
            Outcome::Capacity => answer.status.unwrap_or(503),
            Outcome::Retryable => answer.status.unwrap_or(500),
            Outcome::Permanent => answer.status.unwrap_or(400),
        };
        Decided {
            number,
            outcome: answer.outcome,
            status,
            // Beyond what a Duration holds (a speed near zero), "never" is the answer.
            latency: Duration::try_from_secs_f64(answer.latency_us as f64 / 1e6 / self.speed)
                .unwrap_or(Duration::MAX),
            retry_after_ms: answer
                .retry_after_ms
                .map(|ms| (ms as f64 / self.speed).ceil() as u64),
            refused_by: answer.refused_by,
            remaining: self.service.remaining(virtual_us),
            tokens: call.tokens,
            output_tokens,
        }
    }

    /// The answer to request `decided` goes out now: record it.
    pub(crate) fn answered(&mut self, call: &Call, decided: &Decided) {
        let t_us = self.wall_us();
        *self.summary.by_status.entry(decided.status).or_default() += 1;
        let mut detail = DetailWriter::new(&mut self.detail);
        if decided.outcome != Outcome::Ok {
            detail.int(key::STATUS, decided.status);
        }
        if let Some(ms) = decided.retry_after_ms {
            detail.int(key::RETRY_AFTER_MS, ms);
        }
        if let Some(by) = decided.refused_by {
            detail.text(key::LIMIT, by);
        }
        self.recorder.record(TraceRow {
            t_us,
            event: paceline_sim::answer_name(decided.outcome),
            batch: Some(0),
            row: Some(decided.number),
            id: call.id.clone(),
            attempt: Some(call.attempt),
            delay_ms: None,
            detail: self.detail.clone(),
        });
    }

    /// A request refused before it reached the model.
    pub(crate) fn bad_request(&mut self) {
        self.summary.bad_requests += 1;
    }

    /// What it did so far.
    pub(crate) fn summary(&self) -> Summary {
        self.summary.clone()
    }
}
