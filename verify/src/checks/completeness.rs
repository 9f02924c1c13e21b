//! I4 completeness: every row ends with exactly one terminal result, nothing happens to
//! a row after it ended or to a batch after it ended, every batch that starts ends, and
//! the run reaches quiescence.
//!
//! Rows missing at the end are counted, not enumerated: a `batch_start` may claim a
//! trillion rows, and at most [`LISTED`] of a batch's missing rows are named.

use std::borrow::Cow;

use paceline_trace::{Ending, EventName, Invariant, RowKey, ms};

use super::violation;

/// A missing row to name: its number and what the trace showed of it, if anything.
type Missing<'a> = (usize, Option<Cow<'a, RowTrack>>);
use crate::step::{BatchTrack, RowTrack, Step, Tracks};
use crate::verdict::{Findings, RowRef, Verdict, Violation};

/// How many missing rows of one batch are named; the rest are counted.
const LISTED: usize = 5;

#[derive(Debug, Default)]
pub(crate) struct Completeness {
    last_t: u64,
    saw_start: bool,
    findings: Findings,
}

impl Completeness {
    pub(crate) fn on(&mut self, step: &Step<'_>) {
        let ev = step.ev;
        self.last_t = ev.t_us;
        if ev.kind == EventName::BatchStart {
            self.saw_start = true;
        }
        let message = if step.batch_closed {
            Some(if ev.kind == EventName::BatchEnd {
                format!("batch {} ended a second time", ev.batch)
            } else {
                format!("{} after batch {} ended", ev.kind.as_str(), ev.batch)
            })
        } else if step.finished {
            match ev.kind {
                EventName::Release => None,
                EventName::Emit => None, // I3 reports a second entry
                k if k.is_terminal() => Some(format!(
                    "a second result ({}) after the row ended and was returned",
                    k.as_str()
                )),
                k => Some(format!(
                    "{} after the row ended and was returned",
                    k.as_str()
                )),
            }
        } else {
            let Some((ended, at)) = step.row.and_then(|r| r.terminal) else {
                return;
            };
            if ev.kind.is_terminal() {
                Some(format!(
                    "a second result ({}) after it ended with {} at {} ms",
                    ev.kind.as_str(),
                    ended.as_str(),
                    ms(at)
                ))
            } else if !matches!(ev.kind, EventName::Release | EventName::Emit) {
                Some(format!(
                    "{} after it ended with {}",
                    ev.kind.as_str(),
                    ended.as_str()
                ))
            } else {
                None
            }
        };
        if let Some(message) = message {
            self.findings.push(violation(Invariant::I4, step, message));
        }
    }

    pub(crate) fn finish(mut self, tracks: &Tracks, ending: Option<&Ending>) -> Verdict {
        if matches!(ending, Some(Ending::EventBudget { .. })) {
            return Verdict::Skipped {
                reason:
                    "the run was cut at its event budget: whether every row would end is unknown"
                        .into(),
            };
        }
        if !self.saw_start && ending.is_none() && self.findings.is_empty() {
            return Verdict::Skipped {
                reason: "the trace has no batch_start events: completeness needs them".into(),
            };
        }
        // A run cut off by its horizon with work still scheduled is unfinished, not
        // incomplete: its rows left and open batches are no violation.
        let unfinished = match ending {
            Some(Ending::Unfinished {
                horizon_us, left, ..
            }) => Some(format!(
                "unfinished: {} left at the horizon ({} ms) with work still scheduled",
                paceline_trace::counted(*left, "row"),
                ms(*horizon_us)
            )),
            _ => None,
        };
        let open_batches = tracks
            .batches
            .iter()
            .filter(|(_, b)| b.started && unfinished.is_none());
        // Every open row once, in (batch, row) order: each batch takes its slice, so
        // the cost is one sort however many batches ended with rows open.
        let open_rows = tracks.rows.sorted();
        for (&batch, track) in open_batches {
            let from = open_rows.partition_point(|&((b, _), _)| b < batch);
            let to = open_rows.partition_point(|&((b, _), _)| b <= batch);
            let of_batch = open_rows.get(from..to).unwrap_or_default();
            self.missing_rows(tracks, batch, track, of_batch);
            if !tracks.closed.contains(batch) {
                self.findings.push(Violation {
                    invariant: Invariant::I4,
                    t_us: self.last_t,
                    rows: Vec::new(),
                    message: format!("batch {batch} started but never ended"),
                });
            }
        }
        self.ending(ending);
        self.findings.verdict(unfinished)
    }

    /// Rows of `batch` with no terminal result: the first few named, the rest counted.
    /// `open`: the batch's open rows, by row.
    fn missing_rows<'a>(
        &mut self,
        tracks: &'a Tracks,
        batch: u64,
        track: &BatchTrack,
        open: &[(RowKey, &'a RowTrack)],
    ) {
        let open = open.iter().map(|&((_, row), t)| (row, t));
        let (count, listed): (u64, Vec<Missing<'a>>) = match track.declared {
            None => {
                // Rows only made ready have no result either: merged in row order.
                let kept = open
                    .clone()
                    .filter(|(_, t)| t.terminal.is_none())
                    .map(|(row, t)| (row, Cow::Borrowed(t)));
                let ready = tracks
                    .ready
                    .of_batch(batch)
                    .map(|(row, at)| (row, Cow::Owned(RowTrack::ready_at(at))));
                let mut listed: Vec<Missing<'a>> = kept
                    .take(LISTED)
                    .chain(ready.take(LISTED))
                    .map(|(row, t)| (row, Some(t)))
                    .collect();
                listed.sort_by_key(|(row, _)| *row);
                listed.truncate(LISTED);
                let count = open.filter(|(_, t)| t.terminal.is_none()).count() as u64
                    + tracks.ready.count_in(batch);
                (count, listed)
            }
            Some(declared) => {
                let ended_open = open
                    .filter(|&(row, t)| t.terminal.is_some() && (row as u64) < declared)
                    .count() as u64;
                let count = declared
                    .saturating_sub(track.finished.count_below(declared))
                    .saturating_sub(ended_open);
                (count, first_missing(tracks, batch, track, declared))
            }
        };
        for (row, t) in &listed {
            let row = *row;
            let last = t.as_ref().and_then(|t| t.last);
            let seen = match last {
                Some((kind, at)) => format!("last seen at {} ms ({})", ms(at), kind.as_str()),
                None => "never seen in the trace".to_string(),
            };
            self.findings.push(Violation {
                invariant: Invariant::I4,
                t_us: last.map_or(self.last_t, |(_, at)| at),
                rows: vec![RowRef {
                    batch,
                    row,
                    id: t.as_ref().map(|t| t.id.clone()).unwrap_or_default(),
                    attempt: None,
                }],
                message: format!("the row has no terminal result; {seen}"),
            });
        }
        let more = count.saturating_sub(listed.len() as u64);
        if more > 0 {
            self.findings.push_counted(
                Violation {
                    invariant: Invariant::I4,
                    t_us: self.last_t,
                    rows: Vec::new(),
                    message: format!(
                        "{more} more rows of batch {batch} have no terminal result (of {count} missing)"
                    ),
                },
                more,
            );
        }
    }

    fn ending(&mut self, ending: Option<&Ending>) {
        let stuck = match ending {
            Some(Ending::Deadlock {
                at_us,
                waiting,
                left,
            }) => Some((
                "deadlock: nothing more could happen",
                *at_us,
                waiting,
                *left,
            )),
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
        if let Some((what, at, waiting, left)) = stuck {
            let list: Vec<String> = waiting
                .iter()
                .take(LISTED)
                .map(|s| {
                    let name = if s.id.is_empty() {
                        format!("row {}", s.row)
                    } else {
                        s.id.clone()
                    };
                    format!("{name} of batch {} waits for {}", s.batch, s.waiting_for)
                })
                .collect();
            let more = left.saturating_sub(list.len() as u64);
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
    }
}

/// The first few rows below `declared` that neither finished nor have a terminal event,
/// found by skipping over the ranges of finished rows.
fn first_missing<'a>(
    tracks: &'a Tracks,
    batch: u64,
    track: &BatchTrack,
    declared: u64,
) -> Vec<Missing<'a>> {
    let mut listed = Vec::new();
    let mut at = 0u64;
    while listed.len() < LISTED {
        let Some(row) = track.finished.next_missing(at) else {
            break;
        };
        if row >= declared {
            break;
        }
        let index = usize::try_from(row).unwrap_or(usize::MAX);
        let open = tracks.track((batch, index));
        if open.as_ref().is_none_or(|t| t.terminal.is_none()) {
            listed.push((index, open));
        }
        at = row.saturating_add(1);
        if at == 0 {
            break;
        }
    }
    listed
}
