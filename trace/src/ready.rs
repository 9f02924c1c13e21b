//! Rows a trace has only made ready, kept as runs rather than one entry each.
//!
//! A batch of a million generated rows makes every row ready at its start (or one every
//! few milliseconds, faster than the pool takes them), so most of a big batch is "ready,
//! nothing else yet" for most of a run. Consecutive rows made ready at evenly spaced
//! times (the same time included) are one run: a first row, a length, a first time and a
//! step; rows leaving from a run's front (the usual order) change it in place. The
//! verifier and the planning figures both keep such rows here, and rebuild a row's state
//! from its run when its next event comes.

use std::collections::BTreeMap;

/// A row of a batch: (batch, row).
pub type RowKey = (u64, usize);

/// Rows `first + skip..first + len` of a batch (`first` is the run's key), row
/// `first + skip + i` made ready at `t0 + i * step`.
///
/// Rows usually leave a run from its front, in order: `skip` counts the rows gone from
/// the front, so that taking one changes the run in place instead of keying it anew.
/// The rows `first..first + skip` are no run's: no other run starts among them (an
/// insertion there keys the run at its first row still here), so the run with the
/// greatest key at or before a row is the only one that can hold it.
#[derive(Debug, Clone, Copy)]
struct Run {
    skip: usize,
    len: usize,
    t0_us: u64,
    step_us: u64,
}

impl Run {
    /// When row `first + offset` was made ready (`offset >= skip`).
    fn at(&self, offset: usize) -> u64 {
        self.t0_us
            .saturating_add(self.step_us.saturating_mul((offset - self.skip) as u64))
    }

    /// A run of one row.
    fn single(t0_us: u64) -> Self {
        Run {
            skip: 0,
            len: 1,
            t0_us,
            step_us: 0,
        }
    }

    /// Take in the row right after the run, made ready at `t_us`, if that keeps the
    /// run's step (a run of one row takes any later time as its step).
    fn grow(&mut self, t_us: u64) -> bool {
        if self.len - self.skip == 1 && t_us >= self.t0_us {
            self.step_us = t_us - self.t0_us;
        } else if self.at(self.len) != t_us {
            return false;
        }
        self.len += 1;
        true
    }

    /// Whether row `first + offset` is here.
    fn holds(&self, offset: usize) -> bool {
        (self.skip..self.len).contains(&offset)
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

    /// The run keyed at or before `key`, in its batch, with its key's row.
    fn before(&mut self, (batch, row): RowKey) -> Option<(usize, &mut Run)> {
        // Rows mostly leave from the front of the first run, and join the end of the
        // only one: found without a search. The spans `first..first + len` of two runs
        // never overlap, so a run whose span holds `row` is the one keyed last at or
        // before it.
        if let Some((&(b, first), run)) = self.runs.first_key_value()
            && b == batch
            && first <= row
            && (row - first < run.len || self.runs.len() == 1)
        {
            return self.runs.first_entry().map(|run| (first, run.into_mut()));
        }
        let (&(b, first), run) = self.runs.range_mut(..=(batch, row)).next_back()?;
        (b == batch).then_some((first, run))
    }

    /// When `key` was made ready, if it is here.
    pub fn get(&self, (batch, row): RowKey) -> Option<u64> {
        let (&(b, first), run) = self.runs.range(..=(batch, row)).next_back()?;
        (b == batch && run.holds(row - first)).then(|| run.at(row - first))
    }

    /// `key` was made ready at `t_us` and nothing else (again, if it was here).
    pub fn insert(&mut self, key: RowKey, t_us: u64) {
        let (batch, row) = key;
        // The usual way first: the row comes right after a run (one search).
        if let Some((first, run)) = self.before(key)
            && row - first == run.len
        {
            if !run.grow(t_us) {
                self.runs.insert(key, Run::single(t_us));
            }
            return;
        }
        self.take(key);
        if let Some((first, run)) = self.before(key)
            && row - first < run.skip
        {
            // Among the rows gone from the run's front: key the run at its first row
            // still here, so that the new run does not start inside it.
            let rekeyed = Run {
                skip: 0,
                len: run.len - run.skip,
                ..*run
            };
            let live = first + run.skip;
            self.runs.remove(&(batch, first));
            self.runs.insert((batch, live), rekeyed);
        }
        if let Some((first, run)) = self.before(key)
            && row - first == run.len
            && run.grow(t_us)
        {
            return;
        }
        self.runs.insert(key, Run::single(t_us));
    }

    /// Take `key` out, with when it was made ready.
    pub fn take(&mut self, key: RowKey) -> Option<u64> {
        let (first, run) = self.before(key)?;
        let (batch, row) = key;
        let offset = row - first;
        if !run.holds(offset) {
            return None;
        }
        let t_us = run.at(offset);
        if offset == run.skip {
            // From the front, the usual way: the run changes in place.
            run.skip += 1;
            run.t0_us = run.t0_us.saturating_add(run.step_us);
            if run.skip == run.len {
                self.runs.remove(&(batch, first));
            }
            return Some(t_us);
        }
        // From further in: the rows after it make a run of their own.
        let after = Run {
            skip: 0,
            len: run.len - offset - 1,
            t0_us: run.at(offset + 1),
            step_us: run.step_us,
        };
        run.len = offset;
        if after.len > 0 {
            self.runs.insert((batch, row + 1), after);
        }
        Some(t_us)
    }

    /// The rows of `batch` here, in row order, with when each was made ready.
    pub fn of_batch(&self, batch: u64) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.runs
            .range((batch, 0)..=(batch, usize::MAX))
            .flat_map(|(&(_, first), run)| (run.skip..run.len).map(move |i| (first + i, run.at(i))))
    }

    /// How many rows of `batch` are here.
    pub fn count_in(&self, batch: u64) -> u64 {
        self.runs
            .range((batch, 0)..=(batch, usize::MAX))
            .map(|(_, run)| (run.len - run.skip) as u64)
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

    /// Random insertions and takings over a few rows of two batches, at times that often
    /// keep a step, give the answers of a plain map of rows, and never keep more runs
    /// than rows.
    #[test]
    fn runs_answer_as_a_map_of_rows_would() {
        let mut next = crate::draws::draws();
        for _ in 0..2000 {
            let mut runs = ReadyRuns::default();
            let mut rows = std::collections::BTreeMap::new();
            for _ in 0..40 {
                let key = (next(2), next(12) as usize);
                match next(3) {
                    0 => {
                        let t = [0, key.1 as u64 * 3, next(50)][next(3) as usize];
                        runs.insert(key, t);
                        rows.insert(key, t);
                    }
                    1 => assert_eq!(runs.take(key), rows.remove(&key), "take {key:?}"),
                    _ => assert_eq!(runs.get(key), rows.get(&key).copied(), "get {key:?}"),
                }
                for batch in 0..2 {
                    let mine: Vec<(usize, u64)> = rows
                        .range((batch, 0)..=(batch, usize::MAX))
                        .map(|(&(_, row), &t)| (row, t))
                        .collect();
                    assert_eq!(runs.of_batch(batch).collect::<Vec<_>>(), mine);
                    assert_eq!(runs.count_in(batch), mine.len() as u64);
                }
                assert!(runs.runs() <= rows.len());
            }
        }
    }

    #[test]
    fn rows_taken_from_the_front_in_order_leave_one_run() {
        let mut r = ReadyRuns::default();
        for row in 0..100 {
            r.insert((0, row), 0);
        }
        for row in 0..99 {
            assert_eq!(r.take((0, row)), Some(0));
            assert_eq!(r.runs(), 1);
        }
        // A row made ready again among those gone from the front stands alone.
        r.insert((0, 3), 9);
        assert_eq!(r.runs(), 2);
        assert_eq!(r.of_batch(0).collect::<Vec<_>>(), vec![(3, 9), (99, 0)]);
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
