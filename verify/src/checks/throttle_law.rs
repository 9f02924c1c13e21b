//! I6 throttle law: every `D` the trace reports equals the reference throttle's, and
//! stays within `[min, max]`.

use paceline_trace::Invariant;

use super::violation;
use crate::step::Step;
use crate::verdict::{Findings, Verdict};

#[derive(Debug, Default)]
pub(crate) struct ThrottleLaw {
    saw_delay: bool,
    findings: Findings,
}

impl ThrottleLaw {
    pub(crate) fn on(&mut self, step: &Step<'_>) {
        let Some(reported) = step.ev.delay_ms else {
            return;
        };
        self.saw_delay = true;
        let (min, max) = (step.rules.min_ms, step.rules.max_ms);
        let message = if reported < min || reported > max {
            Some(format!("D = {reported} ms is outside [{min}, {max}] ms"))
        } else if (reported - step.d_ms).abs() > 1e-9 * step.d_ms.abs().max(1.0) {
            Some(format!(
                "D = {reported} ms after {}, but the reference throttle has {} ms",
                step.ev.kind.as_str(),
                step.d_ms
            ))
        } else {
            None
        };
        if let Some(message) = message {
            self.findings.push(violation(Invariant::I6, step, message));
        }
    }

    pub(crate) fn finish(self) -> Verdict {
        if !self.saw_delay {
            return Verdict::Skipped {
                reason: "the trace has no delay_ms values".into(),
            };
        }
        self.findings.verdict(None)
    }
}
