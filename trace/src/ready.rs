//! Rows a trace has only made ready, kept as runs rather than one entry each.
//!
//! A batch of a million generated rows makes every row ready at its start (or one every
//! few milliseconds, faster than the pool takes them), so most of a big batch is "ready,
//! nothing else yet" for most of a run. Consecutive rows made ready at evenly spaced
//! times (the same time included) are one run: a first row, a length, a first time and a
//! step. The verifier and the planning figures both keep such rows here, and rebuild a
//! row's state from its run when its next event comes.

use std::collections::BTreeMap;

/// A row of a batch: (batch, row).
pub type RowKey = (u64, usize);

/// Rows `first..first + len` of a batch, row `first + i` made ready at `t0 + i * step`.
#[derive(Debug, Clone, Copy)]
struct Run {
    len: usize,
    t0_us: u64,
    step_us: u64,
}

impl Run {
    fn at(&self, offset: usize) -> u64 {
        self.t0_us
            .saturating_add(self.step_us.saturating_mul(offset as u64))
    }
}

/// Rows made ready and nothing else yet, as runs; what it costs grows with the runs,
/// not the rows.
#[derive(Debug, Clone, Default)]
pub struct ReadyRuns {
    runs: BTreeMap<RowKey, Run>,
}

impl ReadyRuns {
    /// How many runs are kept: what this costs, whatever the rows.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The run holding `key`, by its first row.
    fn holding(&self, (batch, row): RowKey) -> Option<(usize, Run)> {
        let (&(b, first), &run) = self.runs.range(..=(batch, row)).next_back()?;
        (b == batch && row - first < run.len).then_some((first, run))
    }

    /// When `key` was made ready, if it is here.
    pub fn get(&self, key: RowKey) -> Option<u64> {
        self.holding(key).map(|(first, run)| run.at(key.1 - first))
    }

    /// `key` was made ready at `t_us` and nothing else (again, if it was here).
    pub fn insert(&mut self, (batch, row): RowKey, t_us: u64) {
        self.take((batch, row));
        if let Some(first) = row
            .checked_sub(1)
            .and_then(|before| self.holding((batch, before)).map(|(first, _)| first))
            && let Some(run) = self.runs.get_mut(&(batch, first))
            && first + run.len == row
        {
            if run.len == 1 && t_us >= run.t0_us {
                run.step_us = t_us - run.t0_us;
                run.len = 2;
                return;
            }
            if run.at(run.len) == t_us {
                run.len += 1;
                return;
            }
        }
        let run = Run {
            len: 1,
            t0_us: t_us,
            step_us: 0,
        };
        self.runs.insert((batch, row), run);
    }

    /// Take `key` out, with when it was made ready.
    pub fn take(&mut self, key: RowKey) -> Option<u64> {
        let (first, run) = self.holding(key)?;
        let (batch, row) = key;
        let offset = row - first;
        self.runs.remove(&(batch, first));
        if offset > 0 {
            let before = Run { len: offset, ..run };
            self.runs.insert((batch, first), before);
        }
        if offset + 1 < run.len {
            let after = Run {
                len: run.len - offset - 1,
                t0_us: run.at(offset + 1),
                step_us: run.step_us,
            };
            self.runs.insert((batch, row + 1), after);
        }
        Some(run.at(offset))
    }

    /// The rows of `batch` here, in row order, with when each was made ready.
    pub fn of_batch(&self, batch: u64) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.runs
            .range((batch, 0)..=(batch, usize::MAX))
            .flat_map(|(&(_, first), run)| (0..run.len).map(move |i| (first + i, run.at(i))))
    }

    /// How many rows of `batch` are here.
    pub fn count_in(&self, batch: u64) -> u64 {
        self.runs
            .range((batch, 0)..=(batch, usize::MAX))
            .map(|(_, run)| run.len as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_spaced_rows_make_one_run_and_leave_it_from_anywhere() {
        let mut r = ReadyRuns::default();
        for row in 0..1000 {
            r.insert((0, row), 5 + 2 * row as u64);
        }
        assert_eq!(r.runs(), 1);
        assert_eq!(r.get((0, 10)), Some(25));
        assert_eq!(r.take((0, 0)), Some(5));
        assert_eq!(r.take((0, 500)), Some(1005));
        assert_eq!(r.runs(), 2, "a row taken from the middle splits its run");
        assert_eq!(r.get((0, 501)), Some(1007));
        assert_eq!(r.get((0, 500)), None);
        assert_eq!(r.count_in(0), 998);
        assert_eq!(r.count_in(1), 0);
        let rows: Vec<(usize, u64)> = r.of_batch(0).take(2).collect();
        assert_eq!(rows, vec![(1, 7), (2, 9)]);
    }

    #[test]
    fn a_gap_a_new_time_or_another_batch_starts_a_run() {
        let mut r = ReadyRuns::default();
        r.insert((0, 0), 0);
        r.insert((0, 1), 0);
        r.insert((0, 2), 7); // off the step of 0
        r.insert((0, 4), 7); // a gap
        r.insert((1, 5), 7); // another batch
        assert_eq!(r.runs(), 4);
        assert_eq!(r.take((0, 2)), Some(7));
        assert_eq!(r.take((1, 5)), Some(7));
        assert_eq!(r.take((1, 5)), None);
        assert_eq!(r.take((0, 3)), None);
        assert_eq!(r.count_in(0), 3);
    }
}
