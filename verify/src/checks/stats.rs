//! I7 stats: the statistics a batch reports at its end equal those recomputed from its
//! events: failures the throttle recorded, successes, peak `D`, time spent at the gate
//! and in backoff, most permits held at once, and `D` at completion.

use std::collections::BTreeMap;

use paceline_trace::Invariant;

use super::violation;
use crate::verdict::{Findings, Verdict};
use paceline_trace::{EventName, key};

use crate::step::Step;

#[derive(Debug, Default, Clone)]
struct Recount {
    capacity_retries: u64,
    successes: u64,
    peak_delay_ms: f64,
    throttle_us: u64,
    /// Intervals summed into `throttle_us`, for the tolerance of real runs.
    intervals: u64,
    max_concurrent: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    batches: BTreeMap<u64, Recount>,
    compared: bool,
    findings: Findings,
}

impl Stats {
    pub(crate) fn on(&mut self, step: &Step<'_>) {
        let ev = step.ev;
        if step.batch_closed {
            // I4 reports anything after a batch ended; its statistics were compared.
            return;
        }
        if ev.kind == EventName::BatchStart {
            self.batches.insert(
                ev.batch,
                Recount {
                    peak_delay_ms: step.d_ms,
                    ..Recount::default()
                },
            );
        }
        let r = self.batches.entry(ev.batch).or_default();
        r.peak_delay_ms = r.peak_delay_ms.max(step.d_ms);
        let t = ev.t_us;
        let add = |from: u64, r: &mut Recount| {
            r.throttle_us = r.throttle_us.saturating_add(t.saturating_sub(from));
            r.intervals += 1;
        };
        let row = step.row;
        match ev.kind {
            EventName::Ok => r.successes += 1,
            EventName::Capacity | EventName::Retryable if step.recorded => r.capacity_retries += 1,
            EventName::Permit => {
                r.max_concurrent = r.max_concurrent.max(step.permits_held);
                if let Some((_, length)) = row.and_then(|w| w.backoff) {
                    r.throttle_us = r.throttle_us.saturating_add(length);
                    r.intervals += 1;
                }
            }
            EventName::Dispatch | EventName::Release => {
                if let Some(since) = row.and_then(|w| w.gate_since) {
                    add(since, r);
                }
            }
            EventName::RetryTimeout | EventName::Shutdown => {
                if let Some(since) = row.and_then(|w| w.gate_since) {
                    add(since, r);
                }
                if let Some((start, length)) = row.and_then(|w| w.backoff) {
                    r.throttle_us = r
                        .throttle_us
                        .saturating_add(length.min(t.saturating_sub(start)));
                    r.intervals += 1;
                }
            }
            EventName::BatchEnd => self.compare(step),
            _ => {}
        }
    }

    fn compare(&mut self, step: &Step<'_>) {
        let Some(r) = self.batches.remove(&step.ev.batch) else {
            return;
        };
        let ev = step.ev;
        let number = |key: &str| ev.detail(key).and_then(|v| v.parse::<f64>().ok());
        let slack = step.tolerance_us.saturating_mul(r.intervals) as f64;
        let expected: [(&str, f64, f64); 6] = [
            (key::CAPACITY_RETRIES, r.capacity_retries as f64, 0.0),
            (key::SUCCESSES, r.successes as f64, 0.0),
            (key::PEAK_DELAY_MS, r.peak_delay_ms, 1e-9),
            (key::TOTAL_THROTTLE_TIME_US, r.throttle_us as f64, slack),
            (key::MAX_CONCURRENT, r.max_concurrent as f64, 0.0),
            (key::DELAY_AT_COMPLETION_MS, step.d_ms, 1e-9),
        ];
        for (key, recount, slack) in expected {
            let Some(reported) = number(key) else {
                continue;
            };
            self.compared = true;
            if (reported - recount).abs() > slack {
                self.findings.push(violation(
                    Invariant::I7,
                    step,
                    format!(
                        "batch {} reports {key} = {reported}, the trace gives {recount}",
                        ev.batch
                    ),
                ));
            }
        }
    }

    pub(crate) fn finish(self) -> Verdict {
        if !self.compared {
            return Verdict::Skipped {
                reason: "no batch_end event reports statistics".into(),
            };
        }
        self.findings.verdict(None)
    }
}
