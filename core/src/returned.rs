//! What a batch call gives back, whichever driver ran it (the threaded executor or the
//! async pool): one [`Entry`] per row in submission order, each a value or a
//! [`RowError`], the [`CallError`] a user's function answers with, and the [`Observer`]
//! that sees every event.

use std::fmt;
use std::time::Duration;

use crate::event::{BatchStats, EntryMeta, Event};
use crate::row::Outcome;

/// Why one call of the user's function failed, and whether the pool may retry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    outcome: Outcome,
    status: Option<u16>,
    retry_after: Option<Duration>,
    message: String,
}

impl CallError {
    /// The API asked to slow down (429, 503, 529...): the throttle backs off, the row retries.
    pub fn capacity(status: Option<u16>, message: impl Into<String>) -> Self {
        CallError::new(Outcome::Capacity, status, message)
    }
    /// Network or server trouble: the row retries.
    pub fn retryable(message: impl Into<String>) -> Self {
        CallError::new(Outcome::Retryable, None, message)
    }
    /// Never retried.
    pub fn permanent(message: impl Into<String>) -> Self {
        CallError::new(Outcome::Permanent, None, message)
    }
    fn new(outcome: Outcome, status: Option<u16>, message: impl Into<String>) -> Self {
        CallError {
            outcome,
            status,
            retry_after: None,
            message: message.into(),
        }
    }
    /// The same error with the server's requested wait (`Retry-After`,
    /// `retry-after-ms`): on a capacity error it pauses the whole pool (see
    /// `PoolConfig::honour_retry_after`).
    pub fn with_retry_after(self, wait: Duration) -> Self {
        CallError {
            retry_after: Some(wait),
            ..self
        }
    }
    /// A permanent failure with an HTTP status (a quota 429, say).
    pub fn permanent_status(status: u16, message: impl Into<String>) -> Self {
        CallError::new(Outcome::Permanent, Some(status), message)
    }
    /// The server's requested wait, if it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
    /// `Capacity`, `Retryable` or `Permanent`.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }
    /// The HTTP status, where the API gave one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }
    /// What went wrong, in the API's or the caller's words.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.outcome {
            Outcome::Ok => "no error",
            Outcome::Capacity => "over capacity",
            Outcome::Retryable => "retryable failure",
            Outcome::Permanent => "permanent failure",
        })?;
        if let Some(status) = self.status {
            write!(f, " ({status})")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for CallError {}

/// Why a row has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RowError {
    /// The API refused for good.
    #[error("{0}")]
    Permanent(CallError),
    /// The user's call panicked; the message it panicked with.
    #[error("the call panicked: {0}")]
    Panicked(String),
    /// The retry budget ran out; `last_error` carries the status of a capacity error.
    #[error("retry budget of {budget:?} exhausted after {elapsed:?}; last error: {last_error}")]
    RetryTimeout {
        /// The last failure.
        last_error: CallError,
        /// Time since the budget started.
        elapsed: Duration,
        /// The budget.
        budget: Duration,
    },
    /// The pool shut down before the row finished.
    #[error("the pool shut down before the row finished")]
    Shutdown,
    /// The row's tokens exceed the pool's token budget per minute: it was never sent.
    #[error("the row's {tokens} tokens exceed tokens_per_minute: it can never be sent")]
    TooLarge {
        /// The row's tokens.
        tokens: u64,
    },
}

/// What a batch returns for one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<O> {
    /// Ordering metadata: indexes and times.
    pub meta: EntryMeta,
    /// The call's value, or why there is none.
    pub result: Result<O, RowError>,
}

/// A batch's entries in row order, with its statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch<O> {
    /// One entry per row, in row order.
    pub entries: Vec<Entry<O>>,
    /// The batch's statistics.
    pub stats: BatchStats,
}

/// Sees every event of the pool, in order, while the pool's lock is held.
pub type Observer = Box<dyn Fn(&Event) + Send + Sync>;
