//! I4 completeness: every row ends with exactly one terminal result, nothing happens to
//! a row after it ended, every batch that starts ends, and the run reaches quiescence.

use std::collections::BTreeMap;

use paceline_trace::{Ending, Invariant};

use super::violation;
use crate::verdict::{Findings, RowRef, Verdict, Violation};
use paceline_trace::{EventName, key};

use crate::step::{RowTrack, Step};

#[derive(Debug, Default)]
pub(crate) struct Completeness {
    /// Per batch: rows declared by `batch_start`, and whether it ended.
    batches: BTreeMap<u64, (Option<usize>, bool)>,
    last_t: u64,
    findings: Findings,
}

impl Completeness {
    pub(crate) fn on(&mut self, step: &Step<'_>) {
        let ev = step.ev;
        self.last_t = ev.t_us;
        match ev.kind {
            EventName::BatchStart => {
                let declared = ev.detail(key::ROWS).and_then(|v| v.parse().ok());
                self.batches.insert(ev.batch, (declared, false));
            }
            EventName::BatchEnd => {
                self.batches.entry(ev.batch).or_insert((None, false)).1 = true;
            }
            _ => {}
        }
        let Some((ended, at)) = step.row.and_then(|r| r.terminal) else {
            return;
        };
        let message = if ev.kind.is_terminal() {
            Some(format!(
                "a second result ({}) after it ended with {} at {} ms",
                ev.kind.as_str(),
                ended.as_str(),
                paceline_trace::ms(at)
            ))
        } else if !matches!(ev.kind, EventName::Release | EventName::Emit) {
            Some(format!(
                "{} after it ended with {}",
                ev.kind.as_str(),
                ended.as_str()
            ))
        } else {
            None
        };
        if let Some(message) = message {
            self.findings.push(violation(Invariant::I4, step, message));
        }
    }

    pub(crate) fn finish(
        mut self,
        rows: &BTreeMap<u64, Vec<RowTrack>>,
        ending: Option<&Ending>,
    ) -> Verdict {
        // A run cut off by its horizon with work still scheduled is unfinished, not
        // incomplete: its rows left and open batches are no violation.
        let unfinished = match ending {
            Some(Ending::Unfinished {
                horizon_us,
                waiting,
            }) => Some(format!(
                "unfinished: {} left at the horizon ({} ms) with work still scheduled",
                paceline_trace::counted(waiting.len() as u64, "row"),
                paceline_trace::ms(*horizon_us)
            )),
            _ => None,
        };
        let empty = Vec::new();
        for (&batch, &(declared, ended)) in &self.batches {
            if unfinished.is_some() {
                break;
            }
            let tracks = rows.get(&batch).unwrap_or(&empty);
            let count = declared.unwrap_or(0).max(tracks.len());
            for row in 0..count {
                let track = tracks.get(row);
                if track.is_some_and(|t| t.terminal.is_some()) {
                    continue;
                }
                let last = track.and_then(|t| t.last);
                let seen = match last {
                    Some((kind, t)) => format!(
                        "last seen at {} ms ({})",
                        paceline_trace::ms(t),
                        kind.as_str()
                    ),
                    None => "never seen in the trace".to_string(),
                };
                self.findings.push(Violation {
                    invariant: Invariant::I4,
                    t_us: last.map_or(self.last_t, |(_, t)| t),
                    rows: vec![RowRef {
                        batch,
                        row,
                        id: track.map(|t| t.id.clone()).unwrap_or_default(),
                        attempt: None,
                    }],
                    message: format!("the row has no terminal result; {seen}"),
                });
            }
            if !ended {
                self.findings.push(Violation {
                    invariant: Invariant::I4,
                    t_us: self.last_t,
                    rows: Vec::new(),
                    message: format!("batch {batch} started but never ended"),
                });
            }
        }
        let stuck = match ending {
            Some(Ending::Deadlock { at_us, waiting }) => {
                Some(("deadlock: nothing more could happen", *at_us, waiting))
            }
            _ => None,
        };
        if let Some(Ending::Livelock { at_us, events }) = ending {
            self.findings.push(Violation {
                invariant: Invariant::I4,
                t_us: *at_us,
                rows: Vec::new(),
                message: format!("livelock: {events} events at one instant without time moving"),
            });
        }
        if let Some((what, at, waiting)) = stuck {
            let list: Vec<String> = waiting
                .iter()
                .take(5)
                .map(|s| {
                    let name = if s.id.is_empty() {
                        format!("row {}", s.row)
                    } else {
                        s.id.clone()
                    };
                    format!("{name} of batch {} waits for {}", s.batch, s.waiting_for)
                })
                .collect();
            let more = waiting.len().saturating_sub(5);
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            self.findings.push(Violation {
                invariant: Invariant::I4,
                t_us: at,
                rows: Vec::new(),
                message: format!("{what}; {}{tail}", list.join("; ")),
            });
        }
        self.findings.verdict(unfinished)
    }
}
