//! I10 server pause: under `honour_retry_after`, after a capacity event at `t` carrying
//! `retry_after_ms = R`, no dispatch that comes later in the trace happens before
//! `t + min(R, max_retry_after_ms)`. "Later" is trace order: a dispatch at the same
//! instant listed before the answer was sent before the answer arrived.

use std::collections::VecDeque;

use paceline_trace::{EventName, Invariant, key, ms};

use super::violation;
use crate::step::Step;
use crate::verdict::{Findings, RowRef, Verdict};

/// The pause in force: until when, and which answer asked for it.
#[derive(Debug, Clone)]
struct InForce {
    until_us: u64,
    from_us: u64,
    asked_ms: u64,
    by: Option<RowRef>,
}

#[derive(Debug, Default)]
pub(crate) struct Pause {
    in_force: Option<InForce>,
    /// Server-side: pauses asked for less than the tolerance ago, owed from then on.
    crossing: VecDeque<InForce>,
    saw_wait: bool,
    findings: Findings,
}

impl Pause {
    pub(crate) fn on(&mut self, step: &Step<'_>) {
        let ev = step.ev;
        let t = ev.t_us;
        match ev.kind {
            EventName::Capacity => {
                let Some(asked_ms) = ev
                    .detail(key::RETRY_AFTER_MS)
                    .and_then(|v| v.parse::<u64>().ok())
                else {
                    return;
                };
                self.saw_wait = true;
                if !step.rules.honour_retry_after {
                    return;
                }
                let wait = asked_ms
                    .saturating_mul(1000)
                    .min(step.rules.max_retry_after_us);
                let pause = InForce {
                    until_us: t.saturating_add(wait),
                    from_us: t,
                    asked_ms,
                    by: ev.row_ref(),
                };
                if step.server_side && step.tolerance_us > 0 {
                    self.crossing.push_back(pause);
                } else {
                    self.settle(pause);
                }
            }
            EventName::Dispatch => {
                while let Some(p) = self.crossing.front()
                    && p.from_us.saturating_add(step.tolerance_us) <= t
                {
                    if let Some(p) = self.crossing.pop_front() {
                        self.settle(p);
                    }
                }
                let Some(p) = &self.in_force else { return };
                if t.saturating_add(step.tolerance_us) < p.until_us {
                    let by = p.by.as_ref().map_or(String::new(), |r| format!(" to {r}"));
                    let mut v = violation(
                        Invariant::I10,
                        step,
                        format!(
                            "dispatched {} ms before the pause ends at {} ms: the answer{by} at {} ms asked for retry_after_ms = {}",
                            ms(p.until_us - t),
                            ms(p.until_us),
                            ms(p.from_us),
                            p.asked_ms
                        ),
                    );
                    v.rows.extend(p.by.clone());
                    self.findings.push(v);
                }
            }
            _ => {}
        }
    }

    /// The pause owed from now on: the one that ends last.
    fn settle(&mut self, pause: InForce) {
        if self
            .in_force
            .as_ref()
            .is_none_or(|p| pause.until_us > p.until_us)
        {
            self.in_force = Some(pause);
        }
    }

    pub(crate) fn finish(self, complete_details: bool) -> Verdict {
        if !self.saw_wait {
            return if complete_details {
                Verdict::Held {
                    note: Some("no answer asked for a wait".into()),
                }
            } else {
                Verdict::Skipped {
                    reason: "the trace has no retry_after_ms details".into(),
                }
            };
        }
        self.findings.verdict(None)
    }

    /// Under `honour_retry_after = false` no pause is owed: the check holds trivially.
    pub(crate) fn not_owed() -> Verdict {
        Verdict::Held {
            note: Some("honour_retry_after = false: the pool owes no pause".into()),
        }
    }
}
