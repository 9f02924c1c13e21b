//! I1 spacing: consecutive dispatches of the pool are at least the required spacing
//! apart: the floor under `gate = "min"`, the reference `D` in force under `aimd`.

use paceline_trace::Invariant;

use super::violation;
use crate::verdict::{Findings, RowRef, Verdict};
use paceline_trace::EventName;
use paceline_trace::ms;

use crate::step::Step;

#[derive(Debug, Default)]
pub(crate) struct Spacing {
    last: Option<(u64, Option<RowRef>)>,
    server_side: bool,
    findings: Findings,
}

impl Spacing {
    pub(crate) fn on(&mut self, step: &Step<'_>) {
        if step.ev.kind != EventName::Dispatch {
            return;
        }
        self.server_side = step.server_side;
        let t = step.ev.t_us;
        if let Some((last_t, last_row)) = &self.last {
            let gap_us = t.saturating_sub(*last_t);
            // A server sees answers before the client does, so it cannot know `D` as the
            // client held it: arrivals are spaced by the floor, which `D` never undercuts.
            let required_ms = if step.server_side {
                step.rules.min_ms
            } else {
                step.rules.spacing_ms(step.d_ms)
            };
            // Integer microseconds against fractional milliseconds: allow float noise only.
            if gap_us.saturating_add(step.tolerance_us) as f64 + 1e-6 < required_ms * 1000.0 {
                let mut v = violation(
                    Invariant::I1,
                    step,
                    format!(
                        "dispatches {} ms apart, but the spacing required was {} ms",
                        ms(gap_us),
                        required_ms
                    ),
                );
                v.rows.splice(0..0, last_row.clone());
                self.findings.push(v);
            }
        }
        self.last = Some((t, step.ev.row_ref()));
    }

    pub(crate) fn finish(self) -> Verdict {
        let note = self.server_side.then(|| {
            "server-side: arrival gaps against min_dispatch_delay_ms (the pool's D is the client's)"
                .to_string()
        });
        self.findings.verdict(note)
    }
}
