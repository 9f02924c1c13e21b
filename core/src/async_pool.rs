//! The pool for tokio users: [`AsyncPool`] drives the same [`Pool`] as the threaded
//! executor, with tasks instead of threads.
//!
//! One lock holds the pool and the called batches; it is never held across an `.await`.
//! A driver task sleeps until the pool's next wake-up (a gate opening, a backoff or a
//! pause ending, a deadline) or until something changes, and acts on the pool's events;
//! each `Dispatch` spawns a task that awaits the user's call and reports its answer. The
//! rules (spacing, permits, backoff, server pauses, budgets) are all the pool's: this
//! file only feeds it the time and the answers.
//!
//! Time is tokio's clock (`tokio::time::Instant`), so a test under
//! `tokio::time::pause()` runs the pool on virtual time.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Time;
use crate::config::PoolConfig;
use crate::event::BatchId;
use crate::pool::Pool;
use crate::returned::{Batch, CallError, Observer};
use crate::slots::{self, Answer, Slots, panic_message};

/// A paced pool running the user's async function `F` on tokio tasks.
///
/// `execute_batch` must be awaited inside a tokio runtime with its time driver enabled
/// (`#[tokio::main]` and `#[tokio::test]` have it); the pool's tasks run on the runtime
/// of its first batch, so keep a pool within one runtime. Batches are single-flight, as
/// on the threaded executor: a second caller waits until the running batch is done.
///
/// **Cancellation.** Dropping the future of [`AsyncPool::execute_batch`] does not wedge
/// the pool and does not cancel the batch: the pool is one state machine shared by every
/// caller, and its rows hold permits and places at the gate. The batch runs on to its end
/// on the pool's own tasks (attempts in flight are answered and recorded, rows not yet
/// dispatched are still dispatched, with every rule applied), its entries are dropped,
/// and the next batch starts after it. To stop calling the API, call
/// [`AsyncPool::shutdown`]: rows not in flight end at once with `shutdown`, rows in
/// flight when answered. Dropping the `AsyncPool` itself stops its driver: attempts in
/// flight run to their answer, nothing more is dispatched.
pub struct AsyncPool<I, O, F> {
    shared: Arc<Shared<I, O, F>>,
}

struct Shared<I, O, F> {
    call: F,
    observer: Option<Observer>,
    origin: Instant,
    state: Mutex<State<I, O>>,
    changed: Notify,
}

struct State<I, O> {
    pool: Pool,
    batches: Slots<I, O>,
    /// The runtime the pool's tasks run on: the one of the first `execute_batch`.
    runtime: Option<Handle>,
    driver: Option<JoinHandle<()>>,
    closing: bool,
}

impl<I, O, F, Fut> AsyncPool<I, O, F>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
    F: Fn(&I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, CallError>> + Send + 'static,
{
    /// A pool calling `call` for each attempt. Nothing runs until the first batch.
    pub fn new(config: PoolConfig, call: F) -> Self {
        AsyncPool::with_observer(config, call, None)
    }

    /// Like [`AsyncPool::new`], with `observer` told of every event, in order: the
    /// trace of a real run, for `paceline check-trace` or a test.
    pub fn with_observer(config: PoolConfig, call: F, observer: Option<Observer>) -> Self {
        AsyncPool {
            shared: Arc::new(Shared {
                call,
                observer,
                origin: Instant::now(),
                state: Mutex::new(State {
                    pool: Pool::new(config),
                    batches: Slots::new(),
                    runtime: None,
                    driver: None,
                    closing: false,
                }),
                changed: Notify::new(),
            }),
        }
    }

    /// Run every row through the pool and return one entry per row, in row order.
    pub async fn execute_batch(&self, rows: Vec<I>) -> Batch<O> {
        self.run_batch(rows, None).await
    }

    /// Like [`AsyncPool::execute_batch`], for rows with a token count (`tokens` says
    /// each row's input tokens): the pool's `tokens_per_minute` budget counts them, and a
    /// row over that budget ends at once with
    /// [`RowError::TooLarge`](crate::RowError::TooLarge).
    pub async fn execute_batch_with_tokens(
        &self,
        rows: Vec<I>,
        tokens: impl Fn(&I) -> u64,
    ) -> Batch<O> {
        let counts = rows.iter().map(tokens).collect();
        self.run_batch(rows, Some(counts)).await
    }

    async fn run_batch(&self, rows: Vec<I>, tokens: Option<Vec<u64>>) -> Batch<O> {
        let shared = &self.shared;
        let id = {
            let mut state = shared.lock();
            let now = shared.now();
            let st = &mut *state;
            let id = match st.batches.call(&mut st.pool, now, rows, tokens) {
                Ok(id) => id,
                Err(empty) => return empty,
            };
            if st.runtime.is_none() {
                st.runtime = Some(Handle::current());
            }
            if st.driver.is_none() {
                let driver = Arc::clone(shared);
                st.driver = Some(tokio::spawn(driver.run_driver()));
            }
            shared.drive(&mut state, now);
            id
        };
        // If this future is dropped, the batch runs on and its entries are dropped.
        let mut waiting = Waiting {
            shared,
            id,
            done: false,
        };
        loop {
            let mut changed = pin!(shared.changed.notified());
            changed.as_mut().enable();
            if let Some(batch) = shared.lock().batches.take(id) {
                waiting.done = true;
                return batch;
            }
            changed.await;
        }
    }

    /// Stop the pool. Rows not in flight end with `shutdown` at once; rows in flight end
    /// when answered; later batches return `shutdown` for every row.
    pub fn shutdown(&self) {
        let mut state = self.shared.lock();
        let now = self.shared.now();
        state.pool.shutdown(now);
        drop(state);
        // The driver applies it (rows end, entries are released) on its next turn.
        self.shared.changed.notify_waiters();
    }

    /// Permits not held by any row; `pool_size` between batches.
    pub fn free_permits(&self) -> usize {
        self.shared.lock().pool.free_permits()
    }

    /// The throttle's current delay `D`, in milliseconds.
    pub fn delay_ms(&self) -> f64 {
        self.shared.lock().pool.delay_ms()
    }
}

/// A caller waiting for batch `id`; dropped unfinished, it tells the pool nobody waits.
struct Waiting<'a, I, O, F> {
    shared: &'a Shared<I, O, F>,
    id: BatchId,
    done: bool,
}

impl<I, O, F> Drop for Waiting<'_, I, O, F> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.lock().batches.abandon(self.id);
        }
    }
}

impl<I, O, F> Drop for AsyncPool<I, O, F> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closing = true;
        if let Some(driver) = state.driver.take() {
            driver.abort();
        }
    }
}

impl<I, O, F> Shared<I, O, F> {
    fn now(&self) -> Time {
        self.origin.elapsed()
    }

    /// The pool's lock. Nothing panics while holding it (the user's code runs outside
    /// it, and an observer that panics is caught nowhere else either), so a poisoned lock
    /// still guards consistent state.
    fn lock(&self) -> MutexGuard<'_, State<I, O>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<I, O, F, Fut> Shared<I, O, F>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
    F: Fn(&I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, CallError>> + Send + 'static,
{
    /// Sleep until the pool's next wake-up or a change, apply what is due, repeat.
    async fn run_driver(self: Arc<Self>) {
        loop {
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            let wake = {
                let mut state = self.lock();
                if state.closing {
                    return;
                }
                let now = self.now();
                self.drive(&mut state, now);
                state.pool.next_wake(now)
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(self.origin + at) => {}
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// Apply everything due at `now`; each dispatch becomes a task calling the API.
    fn drive(self: &Arc<Self>, state: &mut State<I, O>, now: Time) {
        let mut dispatches = Vec::new();
        let observer = self.observer.as_ref();
        let changed = slots::drive(
            &mut state.pool,
            &mut state.batches,
            observer,
            now,
            |b, r| dispatches.push((b, r)),
        );
        if !state.closing
            && let Some(runtime) = &state.runtime
        {
            for (batch, row) in dispatches {
                if let Some(items) = state.batches.items(batch) {
                    runtime.spawn(Arc::clone(self).attempt(batch, row, items));
                }
            }
        }
        if changed {
            self.changed.notify_waiters();
        }
    }

    /// One attempt: call the API, report the answer, act on what follows.
    async fn attempt(self: Arc<Self>, batch: BatchId, row: usize, items: Arc<Vec<I>>) {
        let Some(item) = items.get(row) else { return };
        let answer = call_caught(&self.call, item).await;
        let mut state = self.lock();
        let now = self.now();
        let st = &mut *state;
        st.batches.answered(&mut st.pool, now, batch, row, answer);
        self.drive(&mut state, now);
    }
}

/// Await `call(item)`, turning a panic (in the call or while polling its future) into an
/// answer, as the threaded executor does.
async fn call_caught<I, O, F, Fut>(call: &F, item: &I) -> Answer<O>
where
    F: Fn(&I) -> Fut,
    Fut: Future<Output = Result<O, CallError>>,
{
    let future = match catch_unwind(AssertUnwindSafe(|| call(item))) {
        Ok(future) => future,
        Err(panic) => return Answer::Panic(panic_message(panic.as_ref())),
    };
    let mut future = pin!(future);
    let result = std::future::poll_fn(|cx| {
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await;
    Answer::of(result)
}
