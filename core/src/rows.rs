//! A batch's rows as the pool takes them in: when each becomes ready and how many input
//! tokens it carries, read when needed rather than copied up front.
//!
//! A listed batch gives every row's ready offset (any order; the pool sorts them once).
//! A paced batch is `count` rows, row `i` ready at `i * every`, its tokens from a
//! function of the row: nothing is stored per row, so a batch of ten million rows costs
//! the pool what a batch of ten costs, plus the rows actually at work.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Time;

/// Input tokens of a row of a paced batch, computed when the pool asks.
type TokensOf = Arc<dyn Fn(usize) -> u64 + Send + Sync>;

/// The rows of one batch call: see [`crate::Pool::call_batch_rows`].
#[derive(Clone)]
pub struct BatchRows(Source);

#[derive(Clone)]
enum Source {
    Listed {
        ready_after: Vec<Duration>,
        tokens: Option<Vec<u64>>,
    },
    Paced {
        count: usize,
        every: Duration,
        tokens: Option<TokensOf>,
    },
}

impl BatchRows {
    /// Row `i` becomes ready `ready_after[i]` after the batch starts and carries
    /// `tokens[i]` input tokens (none where `tokens` is `None` or shorter).
    pub fn listed(ready_after: Vec<Duration>, tokens: Option<Vec<u64>>) -> Self {
        BatchRows(Source::Listed {
            ready_after,
            tokens,
        })
    }

    /// `count` rows, row `i` ready `i * every` after the batch starts, carrying no
    /// tokens; nothing is stored per row.
    pub fn paced(count: usize, every: Duration) -> Self {
        BatchRows(Source::Paced {
            count,
            every,
            tokens: None,
        })
    }

    /// A paced batch whose row `i` carries `tokens(i)` input tokens. The function is
    /// called whenever the pool needs the number (the same row may be asked more than
    /// once), so it must give the same answer each time. A listed batch is unchanged.
    pub fn with_tokens(self, tokens: impl Fn(usize) -> u64 + Send + Sync + 'static) -> Self {
        match self.0 {
            Source::Paced { count, every, .. } => BatchRows(Source::Paced {
                count,
                every,
                tokens: Some(Arc::new(tokens)),
            }),
            listed @ Source::Listed { .. } => BatchRows(listed),
        }
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        match &self.0 {
            Source::Listed { ready_after, .. } => ready_after.len(),
            Source::Paced { count, .. } => *count,
        }
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `row`'s input tokens, where the batch counts tokens.
    pub(crate) fn tokens(&self, row: usize) -> Option<u64> {
        match &self.0 {
            Source::Listed { tokens, .. } => tokens.as_ref().and_then(|t| t.get(row)).copied(),
            Source::Paced { tokens, .. } => tokens.as_ref().map(|f| f(row)),
        }
    }

    fn ready_after(&self, row: usize) -> Duration {
        match &self.0 {
            Source::Listed { ready_after, .. } => ready_after.get(row).copied().unwrap_or_default(),
            Source::Paced { every, .. } => {
                let nanos = every.as_nanos().saturating_mul(row as u128);
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
        }
    }

    /// D3: this batch's rows followed by `other`'s, whose offsets count from `after`,
    /// as one listed batch.
    #[cfg(feature = "mutants")]
    pub(crate) fn followed_by(&self, other: &BatchRows, after: Duration) -> BatchRows {
        let ready = (0..self.len())
            .map(|r| self.ready_after(r))
            .chain((0..other.len()).map(|r| after.saturating_add(other.ready_after(r))))
            .collect();
        let tokens = [self, other]
            .iter()
            .any(|b| match &b.0 {
                Source::Listed { tokens, .. } => tokens.is_some(),
                Source::Paced { tokens, .. } => tokens.is_some(),
            })
            .then(|| {
                let of = |b: &BatchRows| -> Vec<u64> {
                    (0..b.len()).map(|r| b.tokens(r).unwrap_or(0)).collect()
                };
                [of(self), of(other)].concat()
            });
        BatchRows::listed(ready, tokens)
    }
}

impl fmt::Debug for BatchRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::Listed { ready_after, .. } => {
                write!(f, "BatchRows::listed({} rows)", ready_after.len())
            }
            Source::Paced { count, every, .. } => {
                write!(f, "BatchRows::paced({count} rows every {every:?})")
            }
        }
    }
}

/// A started batch's rows that are not ready yet, in the order they become ready (rows
/// ready at the same instant in row order).
#[derive(Debug)]
pub(crate) struct NotReady {
    rows: BatchRows,
    started_at: Time,
    /// A listed batch's rows sorted by ready time; empty for a paced batch, whose row
    /// order is its ready order.
    order: Vec<usize>,
    /// How many rows, in ready order, have been taken.
    taken: usize,
}

impl NotReady {
    pub(crate) fn new(rows: BatchRows, started_at: Time) -> Self {
        let order = match &rows.0 {
            Source::Listed { ready_after, .. } => {
                let mut order: Vec<usize> = (0..ready_after.len()).collect();
                order.sort_by_key(|&row| (rows.ready_after(row), row));
                order
            }
            Source::Paced { .. } => Vec::new(),
        };
        NotReady {
            rows,
            started_at,
            order,
            taken: 0,
        }
    }

    pub(crate) fn rows(&self) -> &BatchRows {
        &self.rows
    }

    /// D3: the same place in a longer list of rows that begins with these.
    #[cfg(feature = "mutants")]
    pub(crate) fn with_rows(&self, rows: BatchRows) -> NotReady {
        NotReady {
            taken: self.taken,
            ..NotReady::new(rows, self.started_at)
        }
    }

    fn row_at(&self, rank: usize) -> Option<usize> {
        match &self.rows.0 {
            Source::Listed { .. } => self.order.get(rank).copied(),
            Source::Paced { count, .. } => (rank < *count).then_some(rank),
        }
    }

    /// The next row to become ready and when.
    pub(crate) fn front(&self) -> Option<(Time, usize)> {
        let row = self.row_at(self.taken)?;
        Some((
            self.started_at.saturating_add(self.rows.ready_after(row)),
            row,
        ))
    }

    pub(crate) fn pop_front(&mut self) {
        self.taken = self.taken.saturating_add(1).min(self.rows.len());
    }

    /// Every row still to become ready, in ready order.
    pub(crate) fn remaining(&self) -> impl Iterator<Item = usize> + '_ {
        (self.taken..self.rows.len()).filter_map(|rank| self.row_at(rank))
    }

    /// How many rows are still to become ready.
    pub(crate) fn remaining_count(&self) -> usize {
        self.rows.len().saturating_sub(self.taken)
    }

    /// No row will become ready any more.
    pub(crate) fn clear(&mut self) {
        self.taken = self.rows.len();
    }
}
