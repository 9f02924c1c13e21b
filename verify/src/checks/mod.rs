//! The invariant checks, one module each. Every check sees every event with the shared
//! state around it ([`Step`]) and concludes with a verdict.

mod budget;
mod client_budget;
mod completeness;
mod concurrency;
mod order;
mod pause;
mod spacing;
mod stats;
mod throttle_law;

use paceline_trace::{Ending, Invariant};

use crate::reference::PoolRules;
use crate::step::{Step, Tracks};
use crate::verdict::{Report, RowRef, Verdict, Violation};

/// All trace checks together.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    spacing: spacing::Spacing,
    concurrency: concurrency::Concurrency,
    order: order::Order,
    completeness: completeness::Completeness,
    budget: budget::Budget,
    throttle_law: throttle_law::ThrottleLaw,
    stats: stats::Stats,
    pause: pause::Pause,
    client_budget: client_budget::ClientBudget,
}

impl Checks {
    pub(crate) fn on(&mut self, step: &Step<'_>) {
        self.spacing.on(step);
        self.concurrency.on(step);
        self.order.on(step);
        self.completeness.on(step);
        self.budget.on(step);
        self.throttle_law.on(step);
        self.stats.on(step);
        self.pause.on(step);
        self.client_budget.on(step);
    }

    /// `complete_details`: the trace writes every detail key wherever it applies, so an
    /// absent key means the thing did not happen (paceline's own traces).
    /// `server_side`: the trace is the server's; the checks of the pool's own rows are
    /// skipped.
    pub(crate) fn finish(
        self,
        tracks: &Tracks,
        ending: Option<&Ending>,
        rules: &PoolRules,
        complete_details: bool,
        server_side: bool,
        report: &mut Report,
    ) {
        report.set(Invariant::I1, self.spacing.finish());
        report.set(Invariant::I2, self.concurrency.finish());
        report.set(Invariant::I3, self.order.finish());
        report.set(Invariant::I4, self.completeness.finish(tracks, ending));
        report.set(Invariant::I5, self.budget.finish());
        report.set(Invariant::I6, self.throttle_law.finish());
        report.set(Invariant::I7, self.stats.finish());
        report.set(
            Invariant::I10,
            if rules.honour_retry_after {
                self.pause.finish(complete_details)
            } else {
                pause::Pause::not_owed()
            },
        );
        report.set(
            Invariant::I11,
            self.client_budget.finish(
                rules.requests_per_minute,
                rules.tokens_per_minute,
                complete_details,
            ),
        );
        if server_side {
            for invariant in [
                Invariant::I3,
                Invariant::I4,
                Invariant::I5,
                Invariant::I6,
                Invariant::I7,
            ] {
                report.set(
                    invariant,
                    Verdict::Skipped {
                        reason: "a server-side trace: the server sees requests, not the pool's rows, permits, backoffs or entries (judge the client's own trace for it)".into(),
                    },
                );
            }
        }
    }
}

/// A violation of `invariant` at the step's event, naming the step's row.
pub(crate) fn violation(invariant: Invariant, step: &Step<'_>, message: String) -> Violation {
    Violation {
        invariant,
        t_us: step.ev.t_us,
        rows: step.ev.row_ref().into_iter().collect::<Vec<RowRef>>(),
        message,
    }
}
