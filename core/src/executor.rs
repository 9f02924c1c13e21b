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
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::Time;
use crate::clock::Clock;
use crate::config::PoolConfig;
use crate::event::BatchId;
use crate::pool::Pool;
use crate::returned::{Batch, CallError, Observer};
use crate::slots::{self, Answer, Slots};
use crate::sync::{self, Arc, Condvar, Mutex, thread};

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
