//! How a row ended, by the names expectations, summaries and `emit` details use.

use std::fmt;

use crate::event::EventName;

/// A row's final result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ResultKind {
    /// The API accepted an attempt.
    Ok,
    /// The API refused for good (or the row could never fit a budget).
    Permanent,
    /// The row's retry budget ran out.
    RetryTimeout,
    /// The pool shut down before the row finished.
    Shutdown,
}

impl ResultKind {
    /// Every result, in the order summaries list them.
    pub const ALL: [ResultKind; 4] = [
        ResultKind::Ok,
        ResultKind::Permanent,
        ResultKind::RetryTimeout,
        ResultKind::Shutdown,
    ];

    /// The terminal event that ends a row with this result: the two share a spelling.
    pub fn event(self) -> EventName {
        match self {
            ResultKind::Ok => EventName::Ok,
            ResultKind::Permanent => EventName::Permanent,
            ResultKind::RetryTimeout => EventName::RetryTimeout,
            ResultKind::Shutdown => EventName::Shutdown,
        }
    }

    /// The result a terminal event gives, `None` for other events.
    pub fn of_event(event: EventName) -> Option<ResultKind> {
        ResultKind::ALL.into_iter().find(|k| k.event() == event)
    }

    /// The spelling in scenario files, traces and summaries.
    pub fn as_str(self) -> &'static str {
        self.event().as_str()
    }

    /// The result a name spells, if any.
    pub fn parse(s: &str) -> Option<ResultKind> {
        EventName::parse(s).and_then(ResultKind::of_event)
    }
}

impl fmt::Display for ResultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
