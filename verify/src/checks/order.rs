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
    /// Per batch: rows declared by `batch_start` and the next row due.
    batches: BTreeMap<u64, (Option<usize>, usize)>,
    saw_emit: bool,
    findings: Findings,
}

impl Order {
    pub(crate) fn on(&mut self, step: &Step<'_>) {
        let ev = step.ev;
        match ev.kind {
            EventName::BatchStart => {
                let declared = ev.detail(key::ROWS).and_then(|v| v.parse().ok());
                self.batches.insert(ev.batch, (declared, 0));
            }
            EventName::Emit => {
                self.saw_emit = true;
                let (declared, next) = self.batches.entry(ev.batch).or_insert((None, 0));
                let Some(row) = ev.row else {
                    self.findings.push(violation(
                        Invariant::I3,
                        step,
                        "an entry without a row".into(),
                    ));
                    return;
                };
                let mut problems = Vec::new();
                if declared.is_some_and(|n| row >= n) {
                    problems.push(format!(
                        "returned a row outside its batch of {} rows",
                        declared.unwrap_or(0)
                    ));
                } else if row != *next {
                    problems.push(format!("returned row {row} when row {next} was due"));
                }
                *next = (*next).max(row + 1);
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
                if step.row.is_some_and(|r| r.emitted) {
                    problems.push("returned twice".to_string());
                }
                for p in problems {
                    self.findings.push(violation(Invariant::I3, step, p));
                }
            }
            EventName::BatchEnd => {
                if let Some(&(Some(declared), next)) = self.batches.get(&ev.batch)
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
