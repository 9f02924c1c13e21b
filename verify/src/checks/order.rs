//! I3 order: each batch returns its own rows, each exactly once, in row order, each with
//! the result the row actually ended with.

use std::collections::BTreeMap;

use paceline_trace::Invariant;

use super::violation;
use crate::verdict::{Findings, Verdict};
use paceline_trace::{EventName, ResultKind, key};

use crate::step::Step;

#[derive(Debug, Default)]
pub(crate) struct Order {
    /// Per open batch: the next row due (dropped when the batch ends).
    next_due: BTreeMap<u64, u64>,
    saw_emit: bool,
    findings: Findings,
}

impl Order {
    pub(crate) fn on(&mut self, step: &Step<'_>) {
        let ev = step.ev;
        let declared = step.batch.and_then(|b| b.declared);
        match ev.kind {
            EventName::BatchStart if !step.batch_closed => {
                self.next_due.insert(ev.batch, 0);
            }
            // I4 reports anything after a batch ended.
            EventName::Emit if step.batch_closed => self.saw_emit = true,
            EventName::Emit => {
                self.saw_emit = true;
                let next = self.next_due.entry(ev.batch).or_insert(0);
                let Some(row) = ev.row else {
                    self.findings.push(violation(
                        Invariant::I3,
                        step,
                        "an entry without a row".into(),
                    ));
                    return;
                };
                let row = row as u64;
                let mut problems = Vec::new();
                if let Some(n) = declared.filter(|&n| row >= n) {
                    problems.push(format!("returned a row outside its batch of {n} rows"));
                } else if row != *next {
                    problems.push(format!("returned row {row} when row {next} was due"));
                }
                *next = (*next).max(row.saturating_add(1));
                let ended = step.row.and_then(|r| r.terminal).map(|(k, _)| k);
                let claimed = ev.detail(key::RESULT);
                if let (Some(claimed), Some(ended)) = (claimed, ended)
                    && !result_matches(claimed, ended)
                {
                    problems.push(format!(
                        "returned result {claimed} but the row ended with {}",
                        ended.as_str()
                    ));
                }
                if step.finished || step.row.is_some_and(|r| r.emitted) {
                    problems.push("returned twice".to_string());
                }
                for p in problems {
                    self.findings.push(violation(Invariant::I3, step, p));
                }
            }
            EventName::BatchEnd if !step.batch_closed => {
                let next = self.next_due.remove(&ev.batch).unwrap_or(0);
                if let Some(declared) = declared
                    && next != declared
                {
                    self.findings.push(violation(
                        Invariant::I3,
                        step,
                        format!(
                            "batch {} ended with {next} of {declared} entries returned",
                            ev.batch
                        ),
                    ));
                }
            }
            _ => {}
        }
    }

    pub(crate) fn finish(self) -> Verdict {
        if !self.saw_emit {
            return Verdict::Skipped {
                reason: "the trace has no emit events".into(),
            };
        }
        self.findings.verdict(None)
    }
}

fn result_matches(claimed: &str, ended: EventName) -> bool {
    ResultKind::of_event(ended).is_none_or(|kind| kind.as_str() == claimed)
}
