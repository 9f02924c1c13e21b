//! How a run ended, as its driver knows it: the one fact about a run that its events
//! alone cannot tell (a trace that stops could be finished, stuck or cut off).

/// How a run ended.
///
/// Only [`Ending::Deadlock`] and [`Ending::Livelock`] break an invariant (I4);
/// [`Ending::Unfinished`] is a run cut short by its horizon.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Ending {
    /// Every row of every batch ended.
    Quiescent,
    /// Nothing more could happen, yet rows were left.
    Deadlock {
        /// When the last event happened.
        at_us: u64,
        /// The first rows left (at most [`STUCK_LISTED`]) and what each waits for.
        waiting: Vec<Stuck>,
        /// How many rows were left in all.
        left: u64,
    },
    /// The horizon came while work was still scheduled: the run did not finish, and
    /// nothing says it never would. Not a broken invariant (I4 is about rows left with
    /// nothing scheduled that could finish them); the remedy is a longer `horizon_ms`.
    Unfinished {
        /// The horizon of the run.
        horizon_us: u64,
        /// The first rows left (at most [`STUCK_LISTED`]) and what each waits for.
        waiting: Vec<Stuck>,
        /// How many rows were left in all.
        left: u64,
    },
    /// Events kept coming without time moving (a storm of zero-delay retries, say).
    Livelock {
        /// The instant time stopped moving.
        at_us: u64,
        /// Events seen at that instant.
        events: u64,
    },
    /// The run reached its budget of events before it could end, and was cut there: a
    /// valid scenario can ask for billions of dispatches (a retry storm), and a run must
    /// end in bounded time and memory. Not a verdict on the pool: the harness refuses the
    /// run, naming the limit.
    EventBudget {
        /// When the last event within the budget happened.
        at_us: u64,
        /// The budget, in events.
        events: u64,
    },
}

/// Rows left that an ending names; the rest are counted. A run cut off with ten million
/// rows to go must not spend gigabytes saying so.
pub const STUCK_LISTED: usize = 100;

/// A row left when a run could not finish, and what it waits for.
#[derive(Debug, Clone, PartialEq)]
pub struct Stuck {
    /// The batch, in scenario order.
    pub batch: usize,
    /// The row's index in its batch.
    pub row: usize,
    /// The row's id, empty for generated rows.
    pub id: String,
    /// In words: "a permit", "the end of its backoff at ...".
    pub waiting_for: String,
}
