//! The names of trace events: spelled here and nowhere else.

use std::fmt;

/// What happened, as the `event` column of a trace names it.
///
/// The four answers of the API (`ok`, `capacity`, `retryable`, `permanent`) are events
/// too: they are the outcomes of attempts, and scenario scripts use the same words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum EventName {
    /// A batch left the single-flight queue; its rows entered the pool.
    BatchStart,
    /// A row's work became available.
    Ready,
    /// A row took a permit.
    Permit,
    /// A row could not pass the gate at once.
    GateWait,
    /// The gate admitted a row: an attempt was sent.
    Dispatch,
    /// The API answered an attempt with success.
    Ok,
    /// The API said "slow down" (429, 503, 529 and the like).
    Capacity,
    /// Network or server trouble: try again.
    Retryable,
    /// An answer never worth retrying.
    Permanent,
    /// A row cools down without a permit.
    Backoff,
    /// A row gave its permit back.
    Release,
    /// A row's retry budget ran out.
    RetryTimeout,
    /// A row ended because the pool shut down.
    Shutdown,
    /// The reorder buffer returned a row's entry.
    Emit,
    /// Every entry of a batch was returned.
    BatchEnd,
}

impl EventName {
    /// Every event name, in the order of a row's life.
    pub const ALL: [EventName; 15] = [
        EventName::BatchStart,
        EventName::Ready,
        EventName::Permit,
        EventName::GateWait,
        EventName::Dispatch,
        EventName::Ok,
        EventName::Capacity,
        EventName::Retryable,
        EventName::Permanent,
        EventName::Backoff,
        EventName::Release,
        EventName::RetryTimeout,
        EventName::Shutdown,
        EventName::Emit,
        EventName::BatchEnd,
    ];

    /// The answers an attempt can get, which scenario scripts also name.
    pub const ANSWERS: [EventName; 4] = [
        EventName::Ok,
        EventName::Capacity,
        EventName::Retryable,
        EventName::Permanent,
    ];

    /// The spelling in traces and scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::BatchStart => "batch_start",
            EventName::Ready => "ready",
            EventName::Permit => "permit",
            EventName::GateWait => "gate_wait",
            EventName::Dispatch => "dispatch",
            EventName::Ok => "ok",
            EventName::Capacity => "capacity",
            EventName::Retryable => "retryable",
            EventName::Permanent => "permanent",
            EventName::Backoff => "backoff",
            EventName::Release => "release",
            EventName::RetryTimeout => "retry_timeout",
            EventName::Shutdown => "shutdown",
            EventName::Emit => "emit",
            EventName::BatchEnd => "batch_end",
        }
    }

    /// The event a name spells, if any.
    pub fn parse(name: &str) -> Option<EventName> {
        EventName::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// An answer of the API to an attempt.
    pub fn is_answer(self) -> bool {
        EventName::ANSWERS.contains(&self)
    }

    /// An answer after which the row may retry (and the throttle may record a failure).
    pub fn is_failure(self) -> bool {
        matches!(self, EventName::Capacity | EventName::Retryable)
    }

    /// An event that ends a row.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            EventName::Ok | EventName::Permanent | EventName::RetryTimeout | EventName::Shutdown
        )
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_and_no_two_share_a_spelling() {
        let mut seen = std::collections::BTreeSet::new();
        for e in EventName::ALL {
            assert_eq!(EventName::parse(e.as_str()), Some(e));
            assert!(seen.insert(e.as_str()), "{e} spelled twice");
        }
        assert_eq!(EventName::parse("Dispatch"), None);
        assert!(EventName::Capacity.is_answer() && EventName::Capacity.is_failure());
        assert!(EventName::Ok.is_terminal() && !EventName::Capacity.is_terminal());
    }
}
