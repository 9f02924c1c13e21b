//! I2 concurrency: permits held and attempts in flight never exceed `pool_size`; a row
//! dispatches only on a permit it holds, releases only a permit it holds, and holds none
//! in backoff.

use paceline_trace::Invariant;

use super::violation;
use crate::verdict::{Findings, Verdict};
use paceline_trace::EventName;

use crate::step::Step;

#[derive(Debug, Default)]
pub(crate) struct Concurrency {
    saw_permits: bool,
    findings: Findings,
}

impl Concurrency {
    pub(crate) fn on(&mut self, step: &Step<'_>) {
        let size = step.rules.pool_size;
        let holds = step.row.is_some_and(|r| r.holds_permit);
        let message = match step.ev.kind {
            EventName::Permit => {
                self.saw_permits = true;
                (step.permits_held > size)
                    .then(|| format!("{} permits held, pool_size is {size}", step.permits_held))
            }
            EventName::Release if !holds => Some("released a permit it did not hold".to_string()),
            EventName::Dispatch if step.in_flight > size => Some(format!(
                "{} attempts in flight, pool_size is {size}",
                step.in_flight
            )),
            EventName::Dispatch if self.saw_permits && !holds => {
                Some("dispatched without holding a permit".to_string())
            }
            EventName::Backoff if holds => Some("in backoff while holding a permit".to_string()),
            _ => None,
        };
        if let Some(message) = message {
            self.findings.push(violation(Invariant::I2, step, message));
        }
    }

    pub(crate) fn finish(self) -> Verdict {
        let note = (!self.saw_permits)
            .then(|| "the trace has no permit events: attempts in flight checked only".to_string());
        self.findings.verdict(note)
    }
}
