//! The pool on real threads: [`PooledExecutor`] drives a [`Pool`] with `pool_size` worker
//! threads and a [`Clock`].
//!
//! All rules stay in the `Pool`, behind one mutex; the bookkeeping of called batches is
//! shared with the async pool (`slots.rs`). A worker that finds a `Dispatch` calls
//! the user's function outside the lock and reports the answer; every change of state
//! notifies a condition variable, so a waiter at the gate re-reads `D` as soon as it
//! moves instead of trusting a sleep computed earlier. Waiting is always a sleep on the
//! clock that a notification can cut short, never a sleep that holds the lock.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use crate::Time;
use crate::clock::Clock;
use crate::config::PoolConfig;
use crate::event::{BatchId, BatchStats, EntryMeta, Event};
use crate::pool::Pool;
use crate::row::Outcome;
use crate::slots::{self, Answer, Slots};
use crate::sync::{self, Arc, Condvar, Mutex, thread};

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

/// A paced pool running the user's function `F` on `pool_size` threads.
pub struct PooledExecutor<C, I, O, F>
where
    C: Clock,
    I: Send + Sync + 'static,
    O: Send + 'static,
    F: Fn(&I) -> Result<O, CallError> + Send + Sync + 'static,
{
    shared: Arc<Shared<C, I, O, F>>,
    workers: Vec<thread::JoinHandle<()>>,
}

/// Sees every event of the pool, in order, while the pool's lock is held.
pub type Observer = Box<dyn Fn(&Event) + Send + Sync>;

struct Shared<C, I, O, F> {
    clock: C,
    call: F,
    observer: Option<Observer>,
    state: Mutex<State<I, O>>,
    changed: Condvar,
}

struct State<I, O> {
    pool: Pool,
    batches: Slots<I, O>,
    /// Dispatches waiting for a worker: at most the number of idle workers, since a
    /// dispatch needs a permit and there are as many workers as permits.
    jobs: VecDeque<(BatchId, usize)>,
    closing: bool,
}

impl<C, I, O, F> PooledExecutor<C, I, O, F>
where
    C: Clock,
    I: Send + Sync + 'static,
    O: Send + 'static,
    F: Fn(&I) -> Result<O, CallError> + Send + Sync + 'static,
{
    /// Start `pool_size` workers that call `call` for each attempt.
    pub fn new(config: PoolConfig, clock: C, call: F) -> std::io::Result<Self> {
        PooledExecutor::with_observer(config, clock, call, None)
    }

    /// Like [`PooledExecutor::new`], with `observer` told of every event: the trace of a
    /// real run, for `paceline check-trace` or a test.
    pub fn with_observer(
        config: PoolConfig,
        clock: C,
        call: F,
        observer: Option<Observer>,
    ) -> std::io::Result<Self> {
        let workers = config.pool_size();
        let shared = Arc::new(Shared {
            clock,
            call,
            observer,
            state: Mutex::new(State {
                pool: Pool::new(config),
                batches: Slots::new(),
                jobs: VecDeque::new(),
                closing: false,
            }),
            changed: Condvar::new(),
        });
        let mut executor = PooledExecutor {
            shared,
            workers: Vec::with_capacity(workers),
        };
        for n in 0..workers {
            let shared = Arc::clone(&executor.shared);
            // On failure, dropping `executor` stops the workers already started.
            let handle = sync::spawn(format!("paceline-worker-{n}"), move || shared.work())?;
            executor.workers.push(handle);
        }
        Ok(executor)
    }

    /// Run every row through the pool and return one entry per row, in row order.
    /// Batches are single-flight: a second caller waits until the running batch is done.
    pub fn execute_batch(&self, rows: Vec<I>) -> Batch<O> {
        self.run_batch(rows, None)
    }

    /// Like [`PooledExecutor::execute_batch`], for rows with a token count (`tokens`
    /// says each row's input tokens): the pool's `tokens_per_minute` budget counts them,
    /// and a row over that budget ends at once with [`RowError::TooLarge`].
    pub fn execute_batch_with_tokens(&self, rows: Vec<I>, tokens: impl Fn(&I) -> u64) -> Batch<O> {
        let counts = rows.iter().map(tokens).collect();
        self.run_batch(rows, Some(counts))
    }

    fn run_batch(&self, rows: Vec<I>, tokens: Option<Vec<u64>>) -> Batch<O> {
        let shared = &self.shared;
        let mut state = sync::lock(&shared.state);
        let now = shared.clock.now();
        let st = &mut *state;
        let id = match st.batches.call(&mut st.pool, now, rows, tokens) {
            Ok(id) => id,
            Err(empty) => return empty,
        };
        shared.drive(&mut state, now);
        loop {
            if let Some(batch) = state.batches.take(id) {
                return batch;
            }
            state = shared.clock.sleep_until(None, &shared.changed, state);
        }
    }

    /// Stop the pool. Rows not in flight end with `shutdown` at once; rows in flight end
    /// when answered; later batches return `shutdown` for every row.
    pub fn shutdown(&self) {
        let shared = &self.shared;
        let mut state = sync::lock(&shared.state);
        let now = shared.clock.now();
        state.pool.shutdown(now);
        shared.drive(&mut state, now);
    }

    /// Permits not held by any row; `pool_size` between batches.
    pub fn free_permits(&self) -> usize {
        sync::lock(&self.shared.state).pool.free_permits()
    }

    /// The throttle's current delay `D`, in milliseconds.
    pub fn delay_ms(&self) -> f64 {
        sync::lock(&self.shared.state).pool.delay_ms()
    }
}

impl<C, I, O, F> Drop for PooledExecutor<C, I, O, F>
where
    C: Clock,
    I: Send + Sync + 'static,
    O: Send + 'static,
    F: Fn(&I) -> Result<O, CallError> + Send + Sync + 'static,
{
    fn drop(&mut self) {
        sync::lock(&self.shared.state).closing = true;
        self.shared.changed.notify_all();
        for worker in self.workers.drain(..) {
            // A worker cannot panic (user panics are caught), so there is nothing to report.
            let _ = worker.join();
        }
    }
}

impl<C, I, O, F> Shared<C, I, O, F>
where
    C: Clock,
    F: Fn(&I) -> Result<O, CallError>,
{
    fn work(&self) {
        let mut state = sync::lock(&self.state);
        loop {
            if state.closing {
                return;
            }
            self.drive(&mut state, self.clock.now());
            if let Some((batch, row)) = state.jobs.pop_front() {
                let items = state.batches.items(batch);
                drop(state);
                let answer = items.and_then(|items| items.get(row).map(|item| self.call(item)));
                state = sync::lock(&self.state);
                if let Some(answer) = answer {
                    let now = self.clock.now();
                    let st = &mut *state;
                    st.batches.answered(&mut st.pool, now, batch, row, answer);
                    self.drive(&mut state, now);
                }
                continue;
            }
            let wake = state.pool.next_wake(self.clock.now());
            state = self.clock.sleep_until(wake, &self.changed, state);
        }
    }

    fn call(&self, item: &I) -> Answer<O> {
        Answer::of(catch_unwind(AssertUnwindSafe(|| (self.call)(item))))
    }

    /// Apply everything due at `now` and act on the pool's events.
    fn drive(&self, state: &mut State<I, O>, now: Time) {
        let State {
            pool,
            batches,
            jobs,
            ..
        } = state;
        let observer = self.observer.as_ref();
        if slots::drive(pool, batches, observer, now, |b, r| jobs.push_back((b, r))) {
            self.changed.notify_all();
        }
    }
}
