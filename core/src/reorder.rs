//! The reorder buffer: rows complete in any order, entries leave in row order.
//!
//! A completed row waits here until every row before it has completed too; then it and
//! every completed row behind it are released at once. One buffer belongs to one batch,
//! which is why batches are single-flight.

use std::collections::VecDeque;

/// Slots for one batch, released strictly in index order. Only the rows from the next one
/// to release up to the furthest completed one have a slot, so the buffer holds what
/// waits behind an unfinished row, never the whole batch.
#[derive(Debug, Clone)]
pub struct ReorderBuffer<T> {
    /// Slot `i` is row `next + i`.
    window: VecDeque<Option<T>>,
    next: usize,
    len: usize,
}

/// Why a completion was refused: each row completes exactly once, inside its batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReorderError {
    #[error("row {index} is outside a batch of {len} rows")]
    OutOfRange { index: usize, len: usize },
    #[error("row {index} completed twice")]
    Duplicate { index: usize },
}

impl<T> ReorderBuffer<T> {
    pub fn new(len: usize) -> Self {
        ReorderBuffer {
            window: VecDeque::new(),
            next: 0,
            len,
        }
    }

    /// D3: room for another batch's rows behind this one's.
    #[cfg(feature = "mutants")]
    pub fn grow(&mut self, extra: usize) {
        self.len += extra;
    }

    /// Record the completion of row `index`.
    pub fn insert(&mut self, index: usize, value: T) -> Result<(), ReorderError> {
        let len = self.len;
        if index >= len {
            return Err(ReorderError::OutOfRange { index, len });
        }
        let Some(offset) = index.checked_sub(self.next) else {
            return Err(ReorderError::Duplicate { index });
        };
        if self.window.len() <= offset {
            self.window.resize_with(offset + 1, || None);
        }
        match self.window.get_mut(offset) {
            Some(slot @ None) => {
                *slot = Some(value);
                Ok(())
            }
            _ => Err(ReorderError::Duplicate { index }),
        }
    }

    /// The next entry in row order, if it has completed.
    pub fn pop_ready(&mut self) -> Option<(usize, T)> {
        let value = self.window.front_mut()?.take()?;
        self.window.pop_front();
        let index = self.next;
        self.next += 1;
        Some((index, value))
    }

    /// Whether every row has been released.
    pub fn is_drained(&self) -> bool {
        self.next == self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_in_row_order_whatever_the_completion_order() {
        let mut b = ReorderBuffer::new(4);
        b.insert(2, "c").expect("fresh slot");
        b.insert(1, "b").expect("fresh slot");
        assert_eq!(b.pop_ready(), None, "row 0 holds everything back");
        b.insert(0, "a").expect("fresh slot");
        assert_eq!(b.pop_ready(), Some((0, "a")));
        assert_eq!(b.pop_ready(), Some((1, "b")));
        assert_eq!(b.pop_ready(), Some((2, "c")));
        assert_eq!(b.pop_ready(), None);
        assert!(!b.is_drained());
        b.insert(3, "d").expect("fresh slot");
        assert_eq!(b.pop_ready(), Some((3, "d")));
        assert!(b.is_drained());
    }

    #[test]
    fn refuses_duplicates_and_strangers() {
        let mut b = ReorderBuffer::new(2);
        b.insert(0, 1).expect("fresh slot");
        assert_eq!(b.insert(0, 2), Err(ReorderError::Duplicate { index: 0 }));
        assert_eq!(b.pop_ready(), Some((0, 1)));
        assert_eq!(b.insert(0, 3), Err(ReorderError::Duplicate { index: 0 }));
        assert_eq!(
            b.insert(5, 4),
            Err(ReorderError::OutOfRange { index: 5, len: 2 })
        );
    }
}
