//! What the pool reports as it works: one [`Event`] per step of a row's life.
//!
//! The same events drive the threaded executor (a `Dispatch` means "call the API now"),
//! the simulator (which schedules the answer) and traces (one CSV row each), so a trace
//! is the pool's own account of what it did, not a reconstruction.

use std::time::Duration;

use crate::Time;
use crate::row::{Outcome, RowEnd};

/// A batch's number, in call order from 0.
pub type BatchId = u64;

/// What the API said to one attempt, as a driver reports it to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiAnswer {
    /// Success, slow down, try again, or never.
    pub outcome: Outcome,
    /// The HTTP status, where there was one.
    pub status: Option<u16>,
    /// The server's requested wait (`Retry-After`, `retry-after-ms`), where it gave one.
    pub retry_after: Option<Duration>,
}

impl ApiAnswer {
    /// An answer with no status and no wait.
    pub fn new(outcome: Outcome) -> Self {
        ApiAnswer {
            outcome,
            status: None,
            retry_after: None,
        }
    }

    /// The same answer with an HTTP status.
    pub fn with_status(self, status: Option<u16>) -> Self {
        ApiAnswer { status, ..self }
    }

    /// The same answer with the server's requested wait.
    pub fn with_retry_after(self, retry_after: Option<Duration>) -> Self {
        ApiAnswer {
            retry_after,
            ..self
        }
    }
}

/// One step of the pool, stamped with the time and the throttle's `D` after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it happened.
    pub at: Time,
    /// The batch it belongs to.
    pub batch: BatchId,
    /// The row's index in its batch, for row events.
    pub row: Option<usize>,
    /// The attempt the event belongs to, from 1, where one applies.
    pub attempt: Option<u32>,
    /// `D` after the event, in milliseconds.
    pub delay_ms: f64,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
///
/// Deliberately not `#[non_exhaustive]`: every driver (the simulator, the executors, the
/// trace writer) must handle every event the pool emits, and a new kind must break their
/// build rather than fall silently into a wildcard arm.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The batch left the single-flight queue and its rows entered the pool.
    BatchStart {
        /// Rows in the batch.
        rows: usize,
    },
    /// The row's work became available; it queues for a permit.
    Ready,
    /// The row took a permit and went to the gate.
    Permit,
    /// The row could not pass the gate at once and waits in line.
    GateWait,
    /// The gate admitted the row: call the API now.
    Dispatch {
        /// The row's input tokens, where the batch counts tokens.
        tokens: Option<u64>,
    },
    /// The API answered the attempt.
    Answer {
        /// What it said.
        outcome: Outcome,
        /// The HTTP status, where it gave one.
        status: Option<u16>,
        /// The wait it asked for, as given (before clamping), where it gave one.
        retry_after: Option<Duration>,
    },
    /// The row gave its permit back.
    Release,
    /// The row cools down without a permit.
    Backoff {
        /// How long.
        length: Duration,
    },
    /// The row's retry budget ran out.
    RetryTimeout {
        /// Time since the budget started.
        elapsed: Duration,
        /// The budget.
        budget: Duration,
    },
    /// The row ended because the pool shut down.
    Shutdown,
    /// The row ended at its ready time: its tokens exceed the token budget per minute.
    TooLarge {
        /// The row's tokens.
        tokens: u64,
    },
    /// The reorder buffer released the row's entry. (Boxed, like the statistics below:
    /// events are moved often, and these two would double the size of every one.)
    Emit(Box<EntryMeta>),
    /// Every entry of the batch was released.
    BatchEnd(Box<BatchStats>),
}

/// A row's entry as the batch returns it, without the user's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntryMeta {
    /// The row's index in its batch.
    pub submit_index: usize,
    /// The row's place in the order of completion within its batch, from 0.
    pub complete_index: usize,
    /// When `execute_batch` was called.
    pub submitted_at: Time,
    /// When the row ended.
    pub completed_at: Time,
    /// When the reorder buffer released the entry.
    pub emitted_at: Time,
    /// How the row ended.
    pub end: RowEnd,
}

impl EntryMeta {
    /// How long the entry waited in the reorder buffer for rows before it.
    pub fn buffer_wait(&self) -> Duration {
        self.emitted_at.saturating_sub(self.completed_at)
    }
}

/// Per-batch statistics; they reset when a batch starts, while `D` carries over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchStats {
    /// Failures recorded by the throttle.
    pub capacity_retries: u64,
    /// Successful attempts.
    pub successes: u64,
    /// Highest `D` in force during the batch, starting from `D` at its start.
    pub peak_delay_ms: f64,
    /// Time rows spent waiting at the gate plus time spent in backoff.
    pub total_throttle_time: Duration,
    /// Most permits held at once.
    pub max_concurrent: usize,
    /// `D` when the batch ended.
    pub delay_at_completion_ms: f64,
}

impl BatchStats {
    /// Fresh statistics for a batch starting with delay `delay_ms`.
    pub fn starting_at(delay_ms: f64) -> Self {
        BatchStats {
            capacity_retries: 0,
            successes: 0,
            peak_delay_ms: delay_ms,
            total_throttle_time: Duration::ZERO,
            max_concurrent: 0,
            delay_at_completion_ms: delay_ms,
        }
    }
}
