//! I5 retry budget: no retry is dispatched after its row's deadline (first permit plus
//! `max_capacity_retry_seconds`), and a timed-out row ends by its deadline, or when the
//! attempt in flight at the deadline is answered.

use paceline_trace::Invariant;

use super::violation;
use crate::verdict::{Findings, Verdict};
use paceline_trace::EventName;
use paceline_trace::ms;

use crate::step::Step;

#[derive(Debug, Default)]
pub(crate) struct Budget {
    findings: Findings,
}

impl Budget {
    pub(crate) fn on(&mut self, step: &Step<'_>) {
        let Some(row) = step.row else { return };
        let Some(start) = row.budget_start() else {
            return;
        };
        let deadline = start.saturating_add(step.rules.budget_us);
        let t = step.ev.t_us;
        let late = t > deadline.saturating_add(step.tolerance_us);
        let message = match step.ev.kind {
            EventName::Dispatch if row.dispatches > 0 && late => Some(format!(
                "retry dispatched {} ms after the deadline at {} ms",
                ms(t - deadline),
                ms(deadline)
            )),
            EventName::RetryTimeout if late && row.last_answer_us != Some(t) => Some(format!(
                "timed out {} ms after the deadline at {} ms with no attempt answered then",
                ms(t - deadline),
                ms(deadline)
            )),
            _ => None,
        };
        if let Some(message) = message {
            self.findings.push(violation(Invariant::I5, step, message));
        }
    }

    pub(crate) fn finish(self) -> Verdict {
        self.findings.verdict(None)
    }
}
