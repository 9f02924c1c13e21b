//! What every real-time driver of a [`Pool`] shares (the threaded executor, the async
//! pool): the batches it has called, each row's last answer from the user's function,
//! and the pool's events turned into the entries a batch returns. The rules stay in the
//! pool; this is bookkeeping, kept once so the drivers cannot drift apart.

use std::any::Any;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::Time;
use crate::event::{ApiAnswer, BatchId, BatchStats, Event, EventKind};
use crate::pool::{BatchCall, Pool};
use crate::returned::{Batch, CallError, Entry, Observer, RowError};
use crate::row::{Outcome, RowEnd};
use crate::sync::Arc;

/// What one call of the user's function gave.
pub(crate) enum Answer<O> {
    Value(O),
    Error(CallError),
    Panic(String),
}

impl<O> Answer<O> {
    /// A call's result, or the panic it raised.
    pub(crate) fn of(result: std::thread::Result<Result<O, CallError>>) -> Self {
        match result {
            Ok(Ok(value)) => Answer::Value(value),
            Ok(Err(error)) => Answer::Error(error),
            Err(panic) => Answer::Panic(panic_message(panic.as_ref())),
        }
    }

    /// What the pool is told of it.
    fn reply(&self) -> ApiAnswer {
        match self {
            Answer::Value(_) => ApiAnswer::new(Outcome::Ok),
            Answer::Error(e) => ApiAnswer::new(e.outcome())
                .with_status(e.status())
                .with_retry_after(e.retry_after()),
            // A panic is the user's bug, not the API's: never retried, throttle untouched.
            Answer::Panic(_) => ApiAnswer::new(Outcome::Permanent),
        }
    }
}

/// The text a panic was raised with.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// One called batch: its rows, each row's last answer, and the entries released so far.
struct Slot<I, O> {
    items: Arc<Vec<I>>,
    answers: Vec<Option<Answer<O>>>,
    entries: Vec<Entry<O>>,
    stats: Option<BatchStats>,
    /// Its caller stopped waiting: dropped as soon as it ends.
    abandoned: bool,
}

/// The batches a driver has called and not yet handed back.
pub(crate) struct Slots<I, O> {
    batches: BTreeMap<BatchId, Slot<I, O>>,
}

impl<I, O> Slots<I, O> {
    pub(crate) fn new() -> Self {
        Slots {
            batches: BTreeMap::new(),
        }
    }

    /// Call a batch of `rows` on `pool` at `now`: its id, or at once the result of an
    /// empty batch.
    pub(crate) fn call(
        &mut self,
        pool: &mut Pool,
        now: Time,
        rows: Vec<I>,
        tokens: Option<Vec<u64>>,
    ) -> Result<BatchId, Batch<O>> {
        let len = rows.len();
        let ready = vec![Duration::ZERO; len];
        let id = match pool.call_batch_with_tokens(now, ready, tokens) {
            BatchCall::Queued(id) => id,
            BatchCall::Done(stats) => {
                return Err(Batch {
                    entries: Vec::new(),
                    stats,
                });
            }
        };
        self.batches.insert(
            id,
            Slot {
                items: Arc::new(rows),
                answers: (0..len).map(|_| None).collect(),
                entries: Vec::with_capacity(len),
                stats: None,
                abandoned: false,
            },
        );
        Ok(id)
    }

    /// The rows of `batch`, to call one of them outside any lock.
    pub(crate) fn items(&self, batch: BatchId) -> Option<Arc<Vec<I>>> {
        self.batches.get(&batch).map(|slot| Arc::clone(&slot.items))
    }

    /// The user's function answered `row` of `batch`: keep the answer for the row's
    /// entry and tell the pool.
    pub(crate) fn answered(
        &mut self,
        pool: &mut Pool,
        now: Time,
        batch: BatchId,
        row: usize,
        answer: Answer<O>,
    ) {
        let reply = answer.reply();
        if let Some(slot) = self.batches.get_mut(&batch)
            && let Some(last) = slot.answers.get_mut(row)
        {
            *last = Some(answer);
        }
        // The pool dispatched this attempt and only this driver answers it.
        let _ = pool.attempt_done(now, batch, row, reply);
    }

    /// The finished batch `id`, if it has ended.
    pub(crate) fn take(&mut self, id: BatchId) -> Option<Batch<O>> {
        let stats = self.batches.get(&id)?.stats?;
        let entries = self.batches.remove(&id)?.entries;
        Some(Batch { entries, stats })
    }

    /// Nobody waits for batch `id` any more: drop it now if it ended, else when it ends.
    /// (The async pool's callers can stop waiting; the threaded executor's cannot.)
    #[cfg_attr(not(all(feature = "tokio", not(loom))), allow(dead_code))]
    pub(crate) fn abandon(&mut self, id: BatchId) {
        if let Some(slot) = self.batches.get_mut(&id) {
            if slot.stats.is_some() {
                self.batches.remove(&id);
            } else {
                slot.abandoned = true;
            }
        }
    }

    /// Act on one event of the pool; a `Dispatch` is returned as `(batch, row)` for the
    /// driver to call.
    fn apply(&mut self, event: Event) -> Option<(BatchId, usize)> {
        let slot = self.batches.get_mut(&event.batch)?;
        match event.kind {
            EventKind::Dispatch { .. } => return event.row.map(|row| (event.batch, row)),
            EventKind::Emit(meta) => {
                let answer = slot
                    .answers
                    .get_mut(meta.submit_index)
                    .and_then(Option::take);
                let result = entry_result(meta.end, answer);
                slot.entries.push(Entry {
                    meta: *meta,
                    result,
                });
            }
            EventKind::BatchEnd(stats) => {
                if slot.abandoned {
                    self.batches.remove(&event.batch);
                } else {
                    slot.stats = Some(*stats);
                }
            }
            _ => {}
        }
        None
    }
}

/// Apply everything due at `now`: every event goes to `observer`, then to `slots`;
/// `dispatch` is called for each attempt to start. Whether anything happened.
pub(crate) fn drive<I, O>(
    pool: &mut Pool,
    slots: &mut Slots<I, O>,
    observer: Option<&Observer>,
    now: Time,
    mut dispatch: impl FnMut(BatchId, usize),
) -> bool {
    let mut changed = false;
    while let Some(event) = pool.poll(now) {
        changed = true;
        if let Some(observer) = observer {
            observer(&event);
        }
        if let Some((batch, row)) = slots.apply(event) {
            dispatch(batch, row);
        }
    }
    changed
}

/// The user-facing result of a row, from how it ended and its last answer.
fn entry_result<O>(end: RowEnd, answer: Option<Answer<O>>) -> Result<O, RowError> {
    let last_error = |answer: Option<Answer<O>>| match answer {
        Some(Answer::Error(e)) => e,
        _ => CallError::retryable("no answer recorded"),
    };
    match (end, answer) {
        (RowEnd::Shutdown, _) => Err(RowError::Shutdown),
        (RowEnd::TooLarge { tokens }, _) => Err(RowError::TooLarge { tokens }),
        (_, Some(Answer::Panic(message))) => Err(RowError::Panicked(message)),
        (RowEnd::Ok, Some(Answer::Value(value))) => Ok(value),
        (
            RowEnd::RetryTimeout {
                elapsed, budget, ..
            },
            answer,
        ) => Err(RowError::RetryTimeout {
            last_error: last_error(answer),
            elapsed,
            budget,
        }),
        (RowEnd::Ok | RowEnd::Permanent { .. }, answer) => {
            Err(RowError::Permanent(last_error(answer)))
        }
    }
}
