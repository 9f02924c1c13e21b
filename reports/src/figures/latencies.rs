//! Row latencies in bounded memory: every value kept exactly up to [`EXACT_ROWS`] rows,
//! and beyond that counted in log-linear buckets whose width is at most 1/1024 of their
//! values (under 0.1%), so a run of tens of millions of rows costs half a megabyte of
//! counts instead of eight bytes a row.

use rayon::slice::ParallelSliceMut;

/// Rows whose latencies are kept one by one: percentiles are then exact, and an actual
/// row's latency. 1 048 576 rows, 8 MiB.
pub const EXACT_ROWS: usize = 1 << 20;

/// Significant bits kept of a value beyond the exact range: values below 2^10 µs keep all
/// their bits, larger ones their top 10 bits (width of a bucket <= value / 1024).
const BITS: u32 = 10;
const SUB: usize = 1 << BITS;

/// The latencies of the rows that ended, in microseconds.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    /// Every value, while there are at most [`EXACT_ROWS`]; sorted once finished.
    exact: Vec<u64>,
    /// Counts per bucket, once there are more (then `exact` is empty).
    buckets: Vec<u64>,
    count: u64,
    max: u64,
}

/// The bucket of `value`: values below `SUB` are their own bucket; above, the exponent
/// and the top `BITS` bits below the leading one.
fn bucket_of(value: u64) -> usize {
    if value < SUB as u64 {
        return value as usize;
    }
    let shift = 63 - value.leading_zeros() - BITS;
    // `shift` is at most 53 and the top bits are below 2 * SUB: the index is below 55 * SUB.
    (shift as usize + 1) * SUB + ((value >> shift) as usize - SUB)
}

/// The smallest value of bucket `index`.
fn lower_bound(index: usize) -> u64 {
    if index < SUB {
        return index as u64;
    }
    let shift = (index / SUB - 1) as u32;
    ((SUB + index % SUB) as u64) << shift
}

impl Latencies {
    /// Count one row's latency.
    pub fn push(&mut self, value: u64) {
        self.count += 1;
        self.max = self.max.max(value);
        if self.buckets.is_empty() && self.exact.len() < EXACT_ROWS {
            self.exact.push(value);
            return;
        }
        if self.buckets.is_empty() {
            self.buckets = vec![0; bucket_of(u64::MAX) + 1];
            for v in std::mem::take(&mut self.exact) {
                self.add(v);
            }
        }
        self.add(value);
    }

    fn add(&mut self, value: u64) {
        if let Some(count) = self.buckets.get_mut(bucket_of(value)) {
            *count += 1;
        }
    }

    /// Sort what is kept exactly: the queries below read the values in order. A million
    /// values take tens of milliseconds at the end of a run, so the sort is shared among
    /// the cores.
    pub fn sort(&mut self) {
        self.exact.par_sort_unstable();
    }

    /// How many rows.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no row ended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether the values are exact (at most [`EXACT_ROWS`] rows).
    pub fn exact(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The slowest row's latency, exactly.
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// The latency at 0-based `rank` in increasing order, [`Latencies::sort`]ed first: the
    /// row's own value while exact, else its bucket's lower bound (at most 0.1% below),
    /// and the exact maximum for the last rank.
    pub fn at_rank(&self, rank: u64) -> Option<u64> {
        if rank >= self.count {
            return None;
        }
        if rank + 1 == self.count {
            return Some(self.max);
        }
        if self.exact() {
            return self.exact.get(usize::try_from(rank).ok()?).copied();
        }
        let mut seen = 0u64;
        for (index, &count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen > rank {
                return Some(lower_bound(index));
            }
        }
        None
    }

    /// The `p`-th percentile by the nearest-rank rule: the smallest value with at least
    /// `p`% of the rows at or below it. `None` when there are none.
    pub fn nearest_rank(&self, p: u64) -> Option<u64> {
        let index = (p * self.count).div_ceil(100).max(1) - 1;
        self.at_rank(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_narrower_than_a_thousandth_of_their_values() {
        for value in [
            0,
            1,
            1023,
            1024,
            1025,
            2047,
            2048,
            123_456_789,
            u64::MAX / 3,
            u64::MAX,
        ] {
            let lower = lower_bound(bucket_of(value));
            assert!(lower <= value, "{value}: lower bound {lower}");
            assert!(
                value - lower <= value / 1024,
                "{value}: lower bound {lower}"
            );
            assert_eq!(bucket_of(lower), bucket_of(value), "{value}");
        }
        // Consecutive buckets meet: no value falls between them.
        for index in 1000..3000 {
            assert_eq!(bucket_of(lower_bound(index + 1) - 1), index);
        }
    }

    #[test]
    fn exact_values_answer_exactly() {
        let mut l = Latencies::default();
        for v in [40, 10, 30, 20] {
            l.push(v);
        }
        l.sort();
        assert!(l.exact());
        assert_eq!(l.nearest_rank(50), Some(20));
        assert_eq!(l.nearest_rank(75), Some(30));
        assert_eq!(l.nearest_rank(76), Some(40));
        assert_eq!(l.max(), Some(40));
        assert_eq!(l.at_rank(4), None);
    }

    #[test]
    fn beyond_the_exact_rows_percentiles_stay_within_a_thousandth() {
        let mut l = Latencies::default();
        let n = EXACT_ROWS as u64 + 1000;
        // Row i took 1000 + 7 i µs: percentile p is near 1000 + 7 (p n / 100).
        for i in (0..n).rev() {
            l.push(1000 + 7 * i);
        }
        l.sort();
        assert!(!l.exact());
        assert_eq!(l.len(), n);
        for p in [1, 50, 95, 99] {
            let truth = 1000 + 7 * ((p * n).div_ceil(100) - 1);
            let got = l.nearest_rank(p).expect("rows");
            assert!(
                got <= truth && truth - got <= truth / 1024,
                "p{p}: {got} vs {truth}"
            );
        }
        assert_eq!(
            l.nearest_rank(100),
            Some(1000 + 7 * (n - 1)),
            "the maximum is exact"
        );
    }
}
